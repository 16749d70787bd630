"""Action ``block_ip``: drop the traffic of an address or network on a Linux gateway with nftables.

Vigie owns one table on the gateway (setting ``response_nft_table``, ``inet vigie`` by default)
holding two named sets with timeouts, ``blocked4`` (``ipv4_addr``) and ``blocked6``
(``ipv6_addr``), both ``flags interval, timeout`` so that a network is one element and each
element may carry its own expiry, and two base chains, ``input`` and ``forward``, that drop
what comes from an address of the sets::

    table inet vigie {
        set blocked4 { type ipv4_addr; flags interval, timeout; }
        set blocked6 { type ipv6_addr; flags interval, timeout; }
        chain input { type filter hook input priority filter - 10; policy accept;
                      ip saddr @blocked4 drop; ip6 saddr @blocked6 drop; }
        chain forward { ... the same ... }
    }

``ensure`` adds whichever of these is missing and nothing else: no flush, no other table read
or changed. Blocking adds the target to its family's set (with ``timeout`` when the block has
an expiry, which nftables enforces itself); unblocking deletes it.

``nft`` runs through the command of ``response_nft_command`` (``nft``, ``ip netns exec gw
nft``, ``ssh -i KEY root@gw nft``), split like a shell would split it and run without one. The
arguments after the command are fixed words and validated names only (an ``ssh`` prefix hands
them to the remote shell); addresses travel in the script on ``nft -f -``'s standard input,
written from the parsed address, never from the text received.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cert.core.errors import N_, InvalidInput
from cert.response.actions import Action, ActionFailed, Described, Target
from cert.response.playbooks import StepContext, steps

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: the set of each address family, its element type and the rule matching it
SETS = {4: "blocked4", 6: "blocked6"}
SET_TYPES = {4: "ipv4_addr", 6: "ipv6_addr"}
PAYLOADS = {4: "ip", 6: "ip6"}
#: the address families each nftables table family filters
TABLE_FAMILIES = {"inet": (4, 6), "ip": (4,), "ip6": (6,)}
CHAINS = ("input", "forward")
CHAIN_PRIORITY = "filter - 10"
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")
#: nftables' longest element timeout is a little over 10 years; a longer block never expires
MAX_TIMEOUT_SECONDS = 3650 * 86400
#: the characters of nft's error kept in a failure's message
MAX_ERROR = 500
#: where nft locates an error in its input ("/dev/stdin:3:35-45: ")
POSITION = re.compile(r"\S+:\d+:\d+(?:-\d+)?: ")


@dataclass(frozen=True)
class Blocked:
    """One element of a blocked set: an address, a network or a range, with its timeout and the
    seconds left before it expires (None: no expiry)."""

    first: Address
    last: Address
    timeout: int | None = None
    expires: int | None = None

    @property
    def text(self) -> str:
        if self.first == self.last:
            return str(self.first)
        size = int(self.last) - int(self.first) + 1
        if size & (size - 1) == 0 and int(self.first) % size == 0:  # exactly one network
            return f"{self.first}/{self.first.max_prefixlen - size.bit_length() + 1}"
        return f"{self.first}-{self.last}"

    def overlaps(self, network: Network) -> bool:
        return int(self.first) <= int(network[-1]) and int(network[0]) <= int(self.last)

    def equals(self, network: Network) -> bool:
        return self.first == network[0] and self.last == network[-1]


def _bound(value: Any) -> tuple[Address, Address]:
    """The first and last address of an element as ``nft -j`` writes it."""
    if isinstance(value, str):
        address = ipaddress.ip_address(value)
        return address, address
    if isinstance(value, dict) and "prefix" in value:
        network = ipaddress.ip_network(f"{value['prefix']['addr']}/{value['prefix']['len']}", strict=False)
        return network[0], network[-1]
    if isinstance(value, dict) and "range" in value:
        first, last = value["range"]
        return ipaddress.ip_address(first), ipaddress.ip_address(last)
    raise ValueError(f"unexpected set element {value!r}")


def parse_elements(raw: list[Any]) -> list[Blocked]:
    """The elements of a set in ``nft -j list`` output (addresses, prefixes, ranges, each
    possibly wrapped in an ``elem`` object with its timeout and expiry)."""
    out = []
    for item in raw:
        if isinstance(item, dict) and "elem" in item:
            elem = item["elem"]
            first, last = _bound(elem["val"])
            timeout, expires = elem.get("timeout"), elem.get("expires")
            out.append(Blocked(first, last, None if timeout is None else int(timeout),
                               None if expires is None else int(expires)))
        else:
            out.append(Blocked(*_bound(item)))
    return out


def target_network(step: str, target: Target) -> Network:
    """The target as an address or network, validated again: anything else is refused before
    a command runs."""
    value = target.value
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InvalidInput(N_("[%(step)s] %(target)s is not an IP address or network."),
                           step=step, target=value[:100]) from None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.scope_id:
        raise InvalidInput(N_("[%(step)s] %(target)s is not an IP address or network."),
                           step=step, target=value[:100])
    return network


def element(network: Network) -> str:
    """The element as nft reads it, written from the parsed network."""
    if network.prefixlen == network.max_prefixlen:
        return network.network_address.compressed
    return f"{network.network_address.compressed}/{network.prefixlen}"


def nft_duration(seconds: int) -> str:
    """A timeout in nft's ``1d2h3m4s`` form (a large number of plain seconds is refused)."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d{hours}h{minutes}m{secs}s"


@steps.register
class BlockIp(Action):
    name = "block_ip"
    target_type = "ip"
    countermeasure = "block-ip"
    undo_label = "unblock"

    def __init__(self, ctx: StepContext) -> None:
        super().__init__(ctx)
        settings = ctx.platform.settings
        self.command = shlex.split(settings.response_nft_command)
        self.table = settings.response_nft_table.strip()
        self.timeout = settings.response_nft_timeout_seconds
        self.gateway = settings.response_nft_gateway
        words = self.table.split()
        if (not self.command or len(words) != 2 or words[0] not in TABLE_FAMILIES
                or not NAME.match(words[1])):
            raise ActionFailed(N_("[%(step)s] The nftables settings are not usable: the command must not be "
                                  "empty, the table is \"FAMILY NAME\" with a family among inet, ip and ip6 "
                                  "(the table set is %(table)s)."), step=self.name, table=self.table[:100])
        self.family, self.table_name = words[0], words[1]

    # ---- what people see ----
    def where(self) -> str:
        sets = "/".join(SETS[v] for v in TABLE_FAMILIES[self.family])
        on = f" on {self.gateway}" if self.gateway else ""
        return f"nftables table {self.table}, set {sets}{on}"

    def describe(self, target: Target, expires: datetime | None) -> Described:
        network = target_network(self.name, target)
        params: dict[str, Any] = {"step": self.name, "target": element(network), "where": self.where()}
        if expires is None:
            return Described(N_("[%(step)s] Drop the traffic of %(target)s in %(where)s, with no expiry."), params)
        params["expires"] = expires.isoformat()
        return Described(N_("[%(step)s] Drop the traffic of %(target)s in %(where)s until %(expires)s."), params)

    # ---- the gateway's state ----
    def blocked(self, version: int) -> list[Blocked]:
        """The elements of the set of IP ``version`` (4 or 6); none when the set does not exist."""
        output = self._nft(["-j", "list", "set", self.family, self.table_name, SETS[version]], missing_ok=True)
        if output is None:
            return []
        for obj in self._objects(output):
            if "set" in obj:
                return parse_elements(obj["set"].get("elem", []))
        return []

    def applied(self, target: Target) -> bool:
        network = target_network(self.name, target)
        self._family_supported(network)
        return any(b.equals(network) for b in self.blocked(network.version))

    def ensure(self) -> list[str]:
        """Create whichever of the table, sets, chains and rules is missing; returns the nft
        commands run (none when everything is there)."""
        script = self._missing(self._table_state())
        if script:
            self._nft(["-f", "-"], script="\n".join(script) + "\n")
        return script

    # ---- the changes ----
    def apply(self, target: Target, expires: datetime | None) -> None:
        network = target_network(self.name, target)
        self._family_supported(network)
        timeout = ""
        if expires is not None:
            if expires.tzinfo is None:  # as the database gives it back: UTC
                expires = expires.replace(tzinfo=UTC)
            seconds = math.ceil((expires - datetime.now(UTC)).total_seconds())
            if seconds <= 0:
                raise InvalidInput(N_("[%(step)s] The block of %(target)s would expire at %(expires)s, which "
                                      "has already passed."), step=self.name, target=element(network),
                                   expires=expires.isoformat())
            if seconds <= MAX_TIMEOUT_SECONDS:
                timeout = f" timeout {nft_duration(seconds)}"
        state = self._table_state()
        script = self._missing(state)
        set_name = SETS[network.version]
        for other in state.get("elements", {}).get(set_name, []):
            if other.overlaps(network) and not other.equals(network):
                raise ActionFailed(N_("[%(step)s] %(target)s overlaps %(element)s, already in the set %(set)s: "
                                      "unblock %(element)s first, or leave it blocked by it."),
                                   step=self.name, target=element(network), element=other.text, set=set_name)
        where = f"{self.family} {self.table_name} {set_name}"
        value = element(network)
        # one transaction: present whatever it was, removed, then added with the timeout asked
        script += [f"add element {where} {{ {value} }}",
                   f"delete element {where} {{ {value} }}",
                   f"add element {where} {{ {value}{timeout} }}"]
        self._nft(["-f", "-"], script="\n".join(script) + "\n")

    def revert(self, target: Target) -> None:
        network = target_network(self.name, target)
        if network.version not in TABLE_FAMILIES[self.family]:
            return
        set_name = SETS[network.version]
        if not any(b.equals(network) for b in self.blocked(network.version)):
            return
        script = f"delete element {self.family} {self.table_name} {set_name} {{ {element(network)} }}\n"
        try:
            self._nft(["-f", "-"], script=script)
        except ActionFailed:
            if any(b.equals(network) for b in self.blocked(network.version)):
                raise  # still there: the deletion really failed (else it expired meanwhile)

    # ---- nft ----
    def _family_supported(self, network: Network) -> None:
        if network.version not in TABLE_FAMILIES[self.family]:
            raise ActionFailed(N_("[%(step)s] The table %(table)s filters no IPv%(version)s traffic: %(target)s "
                                  "cannot be blocked there."), step=self.name, table=self.table,
                               version=network.version, target=element(network))

    def _table_state(self) -> dict[str, Any]:
        """Vigie's table as it stands: whether it exists, its sets' elements, its chains' rules."""
        output = self._nft(["-j", "list", "table", self.family, self.table_name], missing_ok=True)
        state: dict[str, Any] = {"table": output is not None, "elements": {}, "rules": {}}
        for obj in self._objects(output or ""):
            if "set" in obj:
                state["elements"][obj["set"]["name"]] = parse_elements(obj["set"].get("elem", []))
            elif "chain" in obj:
                state["rules"].setdefault(obj["chain"]["name"], [])
            elif "rule" in obj:
                state["rules"].setdefault(obj["rule"]["chain"], []).append(obj["rule"].get("expr"))
        return state

    def _missing(self, state: dict[str, Any]) -> list[str]:
        """The nft commands that add what Vigie's table lacks."""
        table = f"{self.family} {self.table_name}"
        script = [] if state["table"] else [f"add table {table}"]
        script += [f"add set {table} {SETS[version]} {{ type {SET_TYPES[version]}; flags interval, timeout; }}"
                   for version in TABLE_FAMILIES[self.family] if SETS[version] not in state["elements"]]
        for chain in CHAINS:
            rules = state["rules"].get(chain)
            if rules is None:
                script.append(f"add chain {table} {chain} {{ type filter hook {chain} priority {CHAIN_PRIORITY}; "
                              "policy accept; }")
                rules = []
            for version in TABLE_FAMILIES[self.family]:
                wanted = [{"match": {"op": "==", "left": {"payload": {"protocol": PAYLOADS[version], "field": "saddr"}},
                                     "right": f"@{SETS[version]}"}}, {"drop": None}]
                if wanted not in rules:
                    script.append(f"add rule {table} {chain} {PAYLOADS[version]} saddr @{SETS[version]} drop")
        return script

    def _objects(self, output: str) -> list[dict[str, Any]]:
        if not output.strip():
            return []
        try:
            data = json.loads(output)
            return [o for o in data["nftables"] if isinstance(o, dict)]
        except (ValueError, KeyError, TypeError):
            raise ActionFailed(N_("[%(step)s] nft gave an answer that is not its JSON listing: %(output)s"),
                               step=self.name, output=output.strip()[:200]) from None

    def _nft(self, args: list[str], *, script: str | None = None, missing_ok: bool = False) -> str | None:
        """Run nft with ``args`` (and ``script`` on its standard input); its output, or None when
        ``missing_ok`` and nft says the table or set does not exist."""
        argv = [*self.command, *args]
        try:
            done = subprocess.run(argv, input=script if script is not None else "", capture_output=True,
                                  text=True, timeout=self.timeout, check=False, env={**os.environ, "LC_ALL": "C"})
        except subprocess.TimeoutExpired:
            raise ActionFailed(N_("[%(step)s] nft gave no answer within %(seconds)s seconds (%(where)s)."),
                               transient=True, step=self.name, seconds=self.timeout, where=self.where()) from None
        except OSError as exc:
            raise ActionFailed(N_("[%(step)s] Cannot run %(program)s: %(error)s."), step=self.name,
                               program=self.command[0], error=exc.strerror or str(exc)) from None
        if done.returncode == 0:
            return done.stdout
        error = _trimmed(done.stderr) or f"exit status {done.returncode}"
        if missing_ok and "Error: No such file or directory" in done.stderr:
            return None
        # ssh exits with 255 when it cannot reach or log into the gateway: worth retrying
        unreachable = os.path.basename(self.command[0]) == "ssh" and done.returncode == 255
        raise ActionFailed(N_("[%(step)s] nft refused (%(where)s): %(error)s"), transient=unreachable,
                           step=self.name, where=self.where(), error=error)


def _trimmed(stderr: str) -> str:
    """nft's error on one line: each message once, without its position in the script, the
    script's line it quotes and the line underlining the faulty word."""
    kept: list[str] = []
    quoted = False
    for raw in stderr.splitlines():
        line = raw.strip()
        if not line or not line.strip("^~ \t"):
            continue
        located = POSITION.match(line)
        if located:
            line, quoted = line[located.end():], True
        elif quoted:  # the script's line nft quotes after a located message
            quoted = False
            continue
        if line not in kept:
            kept.append(line)
    return " | ".join(kept)[:MAX_ERROR]
