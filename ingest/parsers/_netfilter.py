"""Netfilter packet logs (iptables/ip6tables ``LOG``, nftables ``log``, UFW, Ubiquiti EdgeOS) -> ECS,
with Filebeat's ``iptables`` module field names.

The kernel writes ``[uptime] <prefix>IN=<if> OUT=<if> [MAC=dst:src:type] SRC= DST= LEN= TOS= ...
PROTO=TCP SPT= DPT= WINDOW= RES= SYN URGP=0``; the prefix is the rule's ``--log-prefix`` /
``log prefix`` (``[UFW BLOCK] ``, ``nft-drop: ``, ``[WAN_LOCAL-default-D]``). The verdict is guessed
from the prefix: a denial word (block, drop, deny, reject...) gives ``event.action`` ``drop`` (or
``reject``) and ``event.type`` denied, an acceptance word (accept, allow, permit...) ``accept``
and allowed; otherwise the action is ``log`` and the type only ``connection``.

An ICMP error (destination unreachable, time exceeded...) quotes the header of the packet that
caused it in brackets: ``PROTO=ICMP TYPE=3 CODE=3 [SRC= DST= LEN= ... PROTO=UDP SPT= DPT= LEN=]``.
The event describes the ICMP packet itself (``source``/``destination``, ``network.transport``
``icmp``, ``iptables.icmp.type``/``code``); the quoted packet goes to ``iptables.icmp.inner``
(``source_ip``, ``destination_ip``, ``transport``, ``source_port``, ``destination_port``,
``length``, ``ttl``, ``id``), never to ``source``/``destination``. ``network.community_id`` is set
when the five-tuple (or ICMP addresses, type and code) is known. The host of the syslog header is
the firewall that logged the packet: it goes to ``observer.*``, not ``host.*``.
"""

from __future__ import annotations

import re

from cert.core.ecs import Event, get, put
from ingest.parsers._fields import put_address, put_port, put_transport, to_int, verdict
from ingest.parsers._flow import put_community_id

LINE = re.compile(r"(?:\[\s*\d+\.\d+\]\s?)?(?P<prefix>.*?)\s*\bIN=(?P<in>\S*) OUT=(?P<out>\S*)"
                  r"(?P<rest>(?: .*)?)$", re.S)
# the quoted header of the packet an ICMP error is about
INNER = re.compile(r"\s\[(SRC=[^\[\]]*)\]")
UBIQUITI = re.compile(r"\[(?P<set>[^\]]*)-(?P<number>[^-\]]*)-(?P<act>[ADR])\]")
_UBIQUITI_ACTIONS = {"A": "accept", "D": "drop", "R": "reject"}
_ETHER_TYPES = {"08:00": "ipv4", "86:dd": "ipv6", "08:06": "arp"}
# numeric fields of the IP header (before PROTO=) and of the payload (after it)
_IP_INT = {"LEN": "iptables.length", "TTL": "iptables.ttl", "HOPLIMIT": "iptables.ttl", "ID": "iptables.id",
           "FLOWLBL": "iptables.flow_label"}
_IP_HEX = {"TOS": "iptables.tos", "TC": "iptables.tos", "PREC": "iptables.precedence_bits", "MARK": "iptables.mark"}
_PAYLOAD_INT = {"WINDOW": "iptables.tcp.window", "URGP": "iptables.tcp.urgent_pointer", "SEQ": "iptables.tcp.seq",
                "ACK": "iptables.tcp.ack", "TYPE": "iptables.icmp.type", "CODE": "iptables.icmp.code",
                "UID": "iptables.uid", "GID": "iptables.gid"}
_ECHO_OR_UDP = {"ID": "iptables.icmp.id", "SEQ": "iptables.icmp.seq", "LEN": "iptables.udp.length"}


def looks_like(message: str) -> bool:
    return "IN=" in message and " SRC=" in message


def parse(ev: Event, message: str) -> bool:
    m = LINE.match(message)
    if m is None:
        return False
    prefix = m["prefix"].strip()
    host = ev.pop("host", None)  # the syslog header's host is the firewall: the observer
    if isinstance(host, dict):
        for key in ("hostname", "ip"):
            if host.get(key):
                put(ev, f"observer.{key}", host[key])
    put(ev, "event.kind", "event")
    put(ev, "event.category", ["network"])
    put(ev, "observer.type", "firewall")
    if prefix:
        put(ev, "rule.name", prefix.strip("[]: ") or prefix)
    _verdict(ev, prefix)
    if m["in"]:
        put(ev, "observer.ingress.interface.name", m["in"])
        put(ev, "iptables.input_device", m["in"])
    if m["out"]:
        put(ev, "observer.egress.interface.name", m["out"])
        put(ev, "iptables.output_device", m["out"])
    if m["in"] and not m["out"]:
        put(ev, "network.direction", "ingress")
    elif m["out"] and not m["in"]:
        put(ev, "network.direction", "egress")
    rest = m["rest"]
    inner = INNER.search(rest)
    if inner is not None:
        _inner(ev, inner[1].split())
        rest = rest[:inner.start()] + rest[inner.end():]
    _fields(ev, rest.split())
    put_community_id(ev, (get(ev, "iptables.icmp.type"), get(ev, "iptables.icmp.code")))
    return True


_INNER_FIELDS = (("source.ip", "source_ip"), ("destination.ip", "destination_ip"),
                 ("network.transport", "transport"), ("source.port", "source_port"),
                 ("destination.port", "destination_port"), ("iptables.length", "length"),
                 ("iptables.ttl", "ttl"), ("iptables.id", "id"))


def _inner(ev: Event, tokens: list[str]) -> None:
    """The packet an ICMP error quotes, read as a packet of its own, to ``iptables.icmp.inner``."""
    quoted: Event = {}
    _fields(quoted, tokens)
    inner = {name: value for field, name in _INNER_FIELDS if (value := get(quoted, field)) is not None}
    if inner:
        put(ev, "iptables.icmp.inner", inner)


def _verdict(ev: Event, prefix: str) -> None:
    types = ["connection"]
    ubnt = UBIQUITI.search(prefix)
    if ubnt is not None:
        action: str | None = _UBIQUITI_ACTIONS[ubnt["act"]]
        put(ev, "rule.name", ubnt["set"])
        put(ev, "rule.id", ubnt["number"])
    else:
        seen = verdict(prefix)
        action = None if seen is None else "accept" if seen == "allowed" else \
            "reject" if "reject" in prefix.lower() else "drop"
    put(ev, "event.action", action or "log")
    if action == "accept":
        types.append("allowed")
        put(ev, "event.outcome", "success")
    elif action is not None:
        types.append("denied")
        put(ev, "event.outcome", "failure")
    put(ev, "event.type", types)


def _hex(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None


def _fields(ev: Event, tokens: list[str]) -> None:
    transport: str | None = None  # set once PROTO= is read: what follows describes the payload
    ip_flags: list[str] = []
    tcp_flags: list[str] = []
    for token in tokens:
        key, eq, value = token.partition("=")
        if not eq:
            (tcp_flags if transport is not None else ip_flags).append(token)
        elif key == "PROTO":
            put_transport(ev, value)
            transport = value.lower()
        elif key in ("SRC", "DST"):
            put_address(ev, "source" if key == "SRC" else "destination", value)
            put(ev, "network.type", "ipv6" if ":" in value else "ipv4")
        elif key in ("SPT", "DPT"):
            put_port(ev, "source.port" if key == "SPT" else "destination.port", value)
        elif key == "MAC":
            _mac(ev, value)
        elif key in ("PHYSIN", "PHYSOUT"):
            put(ev, f"iptables.{key.lower()}", value)
        elif key == "RES":
            _put_int(ev, "iptables.tcp.reserved_bits", _hex(value))
        elif key in _IP_HEX:
            _put_int(ev, _IP_HEX[key], _hex(value))
        elif transport is None:
            if key in _IP_INT:
                _put_int(ev, _IP_INT[key], to_int(value))
        elif key in _ECHO_OR_UDP and (key == "LEN" or transport.startswith("icmp")):
            _put_int(ev, _ECHO_OR_UDP[key], to_int(value))
        elif key in _PAYLOAD_INT:
            _put_int(ev, _PAYLOAD_INT[key], to_int(value))
    flags = [f for f in ip_flags if f in ("CE", "DF", "MF")]
    if flags:
        put(ev, "iptables.fragment_flags", flags)
    tcp = [f for f in tcp_flags if f in ("CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN")]
    if tcp:
        put(ev, "iptables.tcp.flags", tcp)


def _put_int(ev: Event, field: str, value: int | None) -> None:
    if value is not None and value < 2**63:
        put(ev, field, value)


def _mac(ev: Event, value: str) -> None:
    octets = value.split(":")
    if len(octets) < 12 or not all(len(o) == 2 for o in octets[:14]):
        return
    put(ev, "destination.mac", "-".join(octets[0:6]).upper())
    put(ev, "source.mac", "-".join(octets[6:12]).upper())
    if len(octets) >= 14:
        ether = ":".join(octets[12:14]).lower()
        _put_int(ev, "iptables.ether_type", _hex(ether.replace(":", "")))
        if ether in _ETHER_TYPES:
            put(ev, "network.type", _ETHER_TYPES[ether])
