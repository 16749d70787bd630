"""Step ``sinkhole_domain``: sinkhole a domain, and every name under it, on the constituency's
Unbound resolver, driven with ``unbound-control`` (docs/response.md, "Sinkhole a domain (Unbound)").

The sinkhole is a local zone of the resolver: ``redirect`` with records at its apex pointing to
the configured sinkhole addresses (``response_unbound_sinkhole_a``, ``response_unbound_sinkhole_aaaa``),
or ``always_nxdomain`` when no address is configured. ``unbound-control`` changes the running
resolver only, so each sinkhole is also written to a file Vigie owns (``response_unbound_zones_file``)
that unbound.conf includes: the sinkholes survive a restart of the resolver. The undo removes the
zone from both.

Unbound has no per-zone timeout: the expiry is enforced by the playbook engine, which undoes the
sinkhole on schedule. Domain names are normalised (lower case, IDNA ``xn--`` labels, no trailing
dot) and checked (letters, digits, ``-`` and ``_`` only; not a public suffix) before they reach
``unbound-control``, which is run with an argument list, never through a shell.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from publicsuffixlist import PublicSuffixList

from cert.core.errors import N_, InvalidInput
from cert.core.observables import normalize_domain
from cert.response.actions import Action, ActionFailed, Described, Target
from cert.response.playbooks import steps

#: the TTL of the sinkhole's answers: short, so that clients stop using them soon after the undo
TTL = 60
REDIRECT = "redirect"
NXDOMAIN = "always_nxdomain"
#: the zone types this step creates, and so the only ones its undo removes
SINKHOLE_TYPES = frozenset({REDIRECT, NXDOMAIN})
#: what unbound-control answers when the resolver could not be reached: worth retrying
_TRANSIENT = re.compile(r"connection refused|timed? ?out|connection reset|no route to host|network is unreachable"
                        r"|temporarily unavailable|broken pipe", re.IGNORECASE)
#: the prefix of unbound-control's own log lines on stderr ("[1700000000] unbound-control[12:0] ")
_LOG_PREFIX = re.compile(r"^\[\d+\] unbound-control\[\d+:\d+\] ")
_ANSWER_LIMIT = 300

_HEADER = ("# Domains sinkholed by Vigie (setting response_unbound_zones_file), included by unbound.conf.\n"
           "# Vigie rewrites this file when it sinkholes a domain or removes a sinkhole: do not edit it.\n"
           "server:\n")
_ZONE_LINE = re.compile(r'\s*local-zone:\s*"([a-z0-9_.-]+?)\.?"\s+([a-z_]+)\s*')
_DATA_LINE = re.compile(r'\s*local-data:\s*"([a-z0-9_.-]+?)\.?\s+\d+\s+IN\s+(A|AAAA)\s+([0-9a-fA-F.:]+)"\s*')

Record = tuple[str, str]  # (type, address): ("A", "0.0.0.0")


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def sinkhole_name(value: str, step: str = "sinkhole_domain") -> str:
    """The domain as Unbound is given it: lower case, IDNA, no trailing dot. Raises
    ``InvalidInput`` for anything else (an address, spaces, quotes, ``;``, a public suffix)."""
    shown = value[:100]
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(value.strip())
        raise InvalidInput(N_("[%(step)s] %(domain)s is an address, not a domain name."), step=step, domain=shown)
    try:
        domain = normalize_domain(value)
    except InvalidInput:
        raise InvalidInput(N_("[%(step)s] %(domain)s is not a domain name (labels of letters, digits, - and _, "
                              "at least two)."), step=step, domain=shown) from None
    if _psl().is_public(domain):
        raise InvalidInput(N_("[%(step)s] %(domain)s is a public suffix: sinkholing it would cut off every domain "
                              "registered under it."), step=step, domain=shown)
    return domain


def _address(text: str) -> str:
    return str(ipaddress.ip_address(text))


@dataclass(frozen=True)
class Zone:
    """A sinkhole as the resolver holds it: its zone type and the address records at its apex."""

    type: str
    records: frozenset[Record] = frozenset()


class UnboundControl:
    """``unbound-control`` with the configured options, run as an argument list."""

    def __init__(self, command: str, timeout: int, step: str) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise ActionFailed(N_("[%(step)s] the setting response_unbound_control cannot be read: %(error)s"),
                               step=step, error=str(exc)) from None
        if not self.argv:
            raise ActionFailed(N_("[%(step)s] the setting response_unbound_control is empty."), step=step)
        self.timeout = timeout
        self.step = step

    def run(self, *args: str) -> str:
        """The answer of one command; ``ActionFailed`` when unbound-control fails or answers an error."""
        try:
            done = subprocess.run([*self.argv, *args], capture_output=True, text=True, errors="replace",
                                  timeout=self.timeout, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ActionFailed(N_("[%(step)s] unbound-control %(command)s gave no answer within %(seconds)s s."),
                               transient=True, step=self.step, command=args[0], seconds=self.timeout) from None
        except OSError as exc:
            raise ActionFailed(N_("[%(step)s] cannot run %(program)s: %(error)s"), step=self.step,
                               program=self.argv[0], error=exc.strerror or str(exc)) from None
        first = done.stdout.lstrip().partition("\n")[0]
        if done.returncode != 0 or first.startswith("error"):
            answer = _trim(done.stderr, done.stdout) or f"exit status {done.returncode}"
            raise ActionFailed(N_("[%(step)s] unbound-control %(command)s failed: %(answer)s"),
                               transient=bool(_TRANSIENT.search(answer)), step=self.step, command=args[0],
                               answer=answer)
        return done.stdout

    def zone_type(self, domain: str) -> str | None:
        """The type of the local zone named exactly ``domain``; None when there is none."""
        apex = f"{domain}."
        for line in self.run("list_local_zones").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].lower() == apex:
                return parts[1]
        return None

    def records(self, domain: str) -> frozenset[Record]:
        """The A and AAAA records the resolver holds for ``domain`` itself."""
        apex, found = f"{domain}.", set()
        for line in self.run("list_local_data").splitlines():
            parts = line.split()
            if len(parts) == 5 and parts[0].lower() == apex and parts[2] == "IN" and parts[3] in ("A", "AAAA"):
                with contextlib.suppress(ValueError):
                    found.add((parts[3], _address(parts[4])))
        return frozenset(found)


def _trim(*outputs: str) -> str:
    """unbound-control's answer on one line, without its log prefixes, cut to a readable length."""
    lines = [_LOG_PREFIX.sub("", line).strip() for out in outputs for line in out.splitlines()]
    answer = " / ".join(line for line in lines if line)
    return answer if len(answer) <= _ANSWER_LIMIT else answer[:_ANSWER_LIMIT - 1] + "…"


class ZonesFile:
    """The include file of Vigie's sinkholes: read back from its own lines, rewritten whole
    (a temporary file renamed over it) under an exclusive lock, so two workers lose nothing."""

    def __init__(self, path: Path, step: str) -> None:
        self.path = path
        self.step = step

    def read(self) -> dict[str, Zone]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise self._failed(exc) from None
        types: dict[str, str] = {}
        records: dict[str, set[Record]] = {}
        for line in text.splitlines():
            if zone := _ZONE_LINE.fullmatch(line):
                types[zone[1]] = zone[2]
            elif (data := _DATA_LINE.fullmatch(line)) and data[1] in types:
                with contextlib.suppress(ValueError):
                    records.setdefault(data[1], set()).add((data[2], _address(data[3])))
        return {name: Zone(kind, frozenset(records.get(name, ()))) for name, kind in types.items()}

    def put(self, domain: str, zone: Zone | None) -> None:
        """Record ``zone`` for ``domain`` (None: remove it); the file is left alone when it already says so."""
        try:
            with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                zones = self.read()
                if zones.get(domain) == zone:
                    return
                if zone is None:
                    del zones[domain]
                else:
                    zones[domain] = zone
                self._write(zones)
        except OSError as exc:
            raise self._failed(exc) from None

    def _write(self, zones: dict[str, Zone]) -> None:
        lines = [_HEADER]
        for name in sorted(zones):
            zone = zones[name]
            lines.append(f'    local-zone: "{name}." {zone.type}\n')
            lines.extend(f'    local-data: "{name}. {TTL} IN {kind} {address}"\n'
                         for kind, address in sorted(zone.records))
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write("".join(lines))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)  # read by the resolver's own account; it holds no secret
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _failed(self, exc: OSError) -> ActionFailed:
        return ActionFailed(N_("[%(step)s] cannot update the sinkholes file %(file)s: %(error)s"), step=self.step,
                            file=str(self.path), error=exc.strerror or str(exc))


@steps.register
class SinkholeDomain(Action):
    name = "sinkhole_domain"
    target_type = "domain"
    countermeasure = "sinkhole"
    undo_label = "remove the sinkhole"

    @property
    def _control(self) -> UnboundControl:
        settings = self.ctx.platform.settings
        return UnboundControl(settings.response_unbound_control, settings.response_unbound_timeout_seconds,
                              self.name)

    @property
    def _file(self) -> ZonesFile | None:
        path = self.ctx.platform.settings.response_unbound_zones_file
        return ZonesFile(path, self.name) if path is not None else None

    def _wanted(self) -> Zone:
        """The zone a sinkhole is: ``redirect`` to the configured addresses, else ``always_nxdomain``."""
        settings = self.ctx.platform.settings
        records: set[Record] = set()
        for setting, kind, family in (("response_unbound_sinkhole_a", "A", ipaddress.IPv4Address),
                                      ("response_unbound_sinkhole_aaaa", "AAAA", ipaddress.IPv6Address)):
            value = str(getattr(settings, setting)).strip()
            if not value:
                continue
            try:
                records.add((kind, str(family(value))))
            except ValueError:
                raise ActionFailed(N_("[%(step)s] the setting %(setting)s is not an %(kind)s address: %(value)s"),
                                   step=self.name, setting=setting, kind=kind, value=value[:100]) from None
        return Zone(REDIRECT, frozenset(records)) if records else Zone(NXDOMAIN)

    def where(self) -> str:
        command = self.ctx.platform.settings.response_unbound_control
        with contextlib.suppress(ValueError):  # shown as configured when it cannot be split
            command = shlex.join(shlex.split(command))
        return f"Unbound ({command})"

    def describe(self, target: Target, expires: datetime | None) -> Described:
        domain = sinkhole_name(target.value, self.name)
        zone = self._wanted()
        params: dict[str, object] = {"step": self.name, "domain": domain, "where": self.where()}
        if zone.type == REDIRECT:
            params["addresses"] = ", ".join(address for _kind, address in sorted(zone.records))
        if expires is not None:
            params["expires"] = expires.isoformat(timespec="minutes")
            message = (N_("[%(step)s] Sinkhole %(domain)s and every name under it on %(where)s: they answer "
                          "%(addresses)s until %(expires)s, when Vigie removes the sinkhole.")
                       if zone.type == REDIRECT else
                       N_("[%(step)s] Sinkhole %(domain)s and every name under it on %(where)s: they answer "
                          "NXDOMAIN (no such name) until %(expires)s, when Vigie removes the sinkhole."))
        else:
            message = (N_("[%(step)s] Sinkhole %(domain)s and every name under it on %(where)s: they answer "
                          "%(addresses)s.")
                       if zone.type == REDIRECT else
                       N_("[%(step)s] Sinkhole %(domain)s and every name under it on %(where)s: they answer "
                          "NXDOMAIN (no such name)."))
        return Described(message, params)

    def applied(self, target: Target) -> bool:
        domain = sinkhole_name(target.value, self.name)
        wanted, control = self._wanted(), self._control
        if control.zone_type(domain) != wanted.type:
            return False
        if wanted.type == REDIRECT and control.records(domain) != wanted.records:
            return False
        zones_file = self._file
        return zones_file is None or zones_file.read().get(domain) == wanted

    def apply(self, target: Target, expires: datetime | None) -> None:
        """Sinkhole the domain in the running resolver, then in the include file. ``expires`` is not
        given to Unbound, which has no timeout for a local zone: the engine undoes on schedule."""
        domain = sinkhole_name(target.value, self.name)
        wanted, control = self._wanted(), self._control
        if control.zone_type(domain) != wanted.type:
            control.run("local_zone", domain, wanted.type)
        held = control.records(domain)
        if held != wanted.records:
            if held:
                control.run("local_data_remove", domain)
            for kind, address in sorted(wanted.records):
                control.run("local_data", f"{domain}. {TTL} IN {kind} {address}")
        zones_file = self._file
        if zones_file is not None:
            zones_file.put(domain, wanted)

    def revert(self, target: Target) -> None:
        """Remove the sinkhole from the include file (a restart no longer brings it back), then from
        the running resolver; a zone of that name of another type (the resolver's own) is left alone."""
        domain = sinkhole_name(target.value, self.name)
        zones_file = self._file
        if zones_file is not None:
            zones_file.put(domain, None)
        control = self._control
        if control.zone_type(domain) in SINKHOLE_TYPES:
            control.run("local_data_remove", domain)
            control.run("local_zone_remove", domain)
