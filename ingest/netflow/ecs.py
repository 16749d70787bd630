"""A decoded flow record (the JSON line of ``records.FlowRecord``) -> an ECS event.

The mapping follows Filebeat's netflow input, so dashboards and rules written for it read our
events: ``source.*``/``destination.*``, ``network.*`` (transport from the IANA protocol number,
bytes and packets of both directions, community id), ``event.start``/``end``/``duration``,
``observer.ip`` (the exporter), and every decoded element under ``netflow.*`` in snake case
(``netflow.octet_delta_count``), with the exporter under ``netflow.exporter.*``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cert.core.ecs import Event, format_ts, put

# IANA "Protocol Numbers" registry (https://www.iana.org/assignments/protocol-numbers), keywords in
# lower case as ECS network.transport wants them; the protocols flow exporters report in practice.
IANA_PROTOCOLS: dict[int, str] = {
    0: "hopopt", 1: "icmp", 2: "igmp", 4: "ipv4", 6: "tcp", 8: "egp", 17: "udp", 41: "ipv6", 43: "ipv6-route",
    44: "ipv6-frag", 46: "rsvp", 47: "gre", 50: "esp", 51: "ah", 58: "ipv6-icmp", 59: "ipv6-nonxt",
    60: "ipv6-opts", 88: "eigrp", 89: "ospfigp", 103: "pim", 112: "vrrp", 115: "l2tp", 132: "sctp",
    136: "udplite", 137: "mpls-in-ip",
}
ICMP, TCP, UDP, ICMP6, SCTP = 1, 6, 17, 58, 132
# Community ID v1: ICMP message types that have a reply, so that both directions hash alike
ICMP_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17, 9: 10, 10: 9}
ICMP6_PAIRS = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130, 144: 145,
               145: 144}

_CAMEL = re.compile(r"IPv4|IPv6|VRF|ID|[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


@lru_cache(maxsize=4096)
def snake(name: str) -> str:
    """IANA element name -> Filebeat's field name: sourceIPv4Address -> source_ipv4_address."""
    return "_".join(part.lower() for part in _CAMEL.findall(name)) or name.lower()


def to_ecs(record: dict[str, Any]) -> Event:
    exporter: dict[str, Any] = record["exporter"]
    fields: dict[str, Any] = record.get("fields") or {}
    kind = "options" if record.get("type") == "options" else "flow"
    ev: Event = {"@timestamp": format_ts(_parse(exporter["timestamp"]))}
    put(ev, "event.kind", "event")
    put(ev, "event.category", ["network"])
    put(ev, "event.action", f"netflow_{kind}")
    put(ev, "observer.ip", exporter["ip"])
    netflow: dict[str, Any] = {"type": f"netflow_{kind}", "exporter": {
        k: v for k, v in exporter.items() if k in ("address", "version", "source_id", "observation_domain_id",
                                                    "timestamp", "uptime_millis", "engine_type", "engine_id")}}
    if record.get("template_id") is not None:
        netflow["template_id"] = record["template_id"]
    if kind == "options":
        put(ev, "event.type", ["info"])
        netflow["options"] = {snake(k): v for k, v in fields.items()}
        netflow["scope"] = {snake(k): v for k, v in (record.get("scope") or {}).items()}
        ev["netflow"] = netflow
        return ev
    put(ev, "event.type", ["connection"])
    netflow.update({snake(k): v for k, v in fields.items()})
    ev["netflow"] = netflow
    _times(ev, record)
    _endpoints(ev, fields)
    return ev


def _parse(text: str) -> datetime:
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _times(ev: Event, record: dict[str, Any]) -> None:
    start = _parse(record["start"]) if record.get("start") else None
    end = _parse(record["end"]) if record.get("end") else None
    if start:
        put(ev, "event.start", format_ts(start))
    if end:
        put(ev, "event.end", format_ts(end))
    if start and end:
        delta = end - start
        nanos = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
        if 0 <= nanos < 1 << 63:  # a long in the stores: about 292 years
            put(ev, "event.duration", nanos)


def _first(fields: dict[str, Any], *names: str) -> Any:
    for name in names:
        if fields.get(name) is not None:
            return fields[name]
    return None


def _endpoints(ev: Event, f: dict[str, Any]) -> None:
    source: dict[str, Any] = {}
    dest: dict[str, Any] = {}
    src_ip = _first(f, "sourceIPv4Address", "sourceIPv6Address")
    dst_ip = _first(f, "destinationIPv4Address", "destinationIPv6Address")
    src_port = _first(f, "sourceTransportPort", "tcpSourcePort", "udpSourcePort")
    dst_port = _first(f, "destinationTransportPort", "tcpDestinationPort", "udpDestinationPort")
    for target, ip, port, mac in ((source, src_ip, src_port, "sourceMacAddress"),
                                  (dest, dst_ip, dst_port, "destinationMacAddress")):
        if ip is not None:
            target["ip"] = ip
        if isinstance(port, int):
            target["port"] = port
        if f.get(mac):
            target["mac"] = f[mac]
    network: dict[str, Any] = {}
    proto = f.get("protocolIdentifier")
    if isinstance(proto, int):
        network["iana_number"] = str(proto)
        if proto in IANA_PROTOCOLS:
            network["transport"] = IANA_PROTOCOLS[proto]
    for unit in ("bytes", "packets"):
        word = "Octet" if unit == "bytes" else "Packet"
        forward = _first(f, f"{word.lower()}DeltaCount", f"{word.lower()}TotalCount", f"initiator{word}s")
        reverse = _first(f, f"reverse{word}DeltaCount", f"reverse{word}TotalCount", f"responder{word}s")
        if isinstance(forward, int):
            source[unit] = forward
        if isinstance(reverse, int):
            dest[unit] = reverse
        if isinstance(forward, int) or isinstance(reverse, int):
            network[unit] = (forward if isinstance(forward, int) else 0) + (reverse if isinstance(reverse, int) else 0)
    if isinstance(src_ip, str):
        network["type"] = "ipv6" if ":" in src_ip else "ipv4"
    direction = f.get("flowDirection")
    network["direction"] = {0: "ingress", 1: "egress"}.get(direction, "unknown") if isinstance(direction, int) \
        else "unknown"
    if f.get("biflowDirection") == 2 and source and dest:  # RFC 5103: the reverse side initiated
        source, dest = dest, source
    if isinstance(proto, int) and isinstance(src_ip, str) and isinstance(dst_ip, str):
        cid = community_id(src_ip, dst_ip, proto, src_port, dst_port, _icmp_type_code(f, proto, dst_port))
        if cid:
            network["community_id"] = cid
    if source:
        ev["source"] = source
    if dest:
        ev["destination"] = dest
    ev["network"] = network


def _icmp_type_code(f: dict[str, Any], proto: int, dst_port: Any) -> tuple[int, int] | None:
    if proto not in (ICMP, ICMP6):
        return None
    suffix = "IPv4" if proto == ICMP else "IPv6"
    combined = _first(f, f"icmpTypeCode{suffix}")
    if not isinstance(combined, int) and isinstance(f.get(f"icmpType{suffix}"), int):
        return f[f"icmpType{suffix}"], int(f.get(f"icmpCode{suffix}") or 0)
    if not isinstance(combined, int):
        combined = dst_port  # NetFlow v5 and many v9 exporters put type * 256 + code in the port
    if not isinstance(combined, int):
        return None
    return (combined >> 8) & 0xFF, combined & 0xFF


def _packed(ip: str) -> bytes | None:
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
    except (OSError, ValueError):
        return None


def community_id(src_ip: str, dst_ip: str, proto: int, src_port: Any, dst_port: Any,
                 icmp: tuple[int, int] | None = None, seed: int = 0) -> str | None:
    """Community ID v1 (https://github.com/corelight/community-id-spec), as Zeek and Suricata
    write it, so flows pivot to their alerts and logs."""
    saddr, daddr = _packed(src_ip), _packed(dst_ip)
    if saddr is None or daddr is None or len(saddr) != len(daddr) or not 0 <= proto <= 255:
        return None  # a protocol number is one octet; a template may give the field more
    one_way = False
    if proto in (ICMP, ICMP6):
        if icmp is None:
            return None
        sport, code = icmp
        pairs = ICMP_PAIRS if proto == ICMP else ICMP6_PAIRS
        if sport in pairs:
            dport = pairs[sport]
        else:
            dport, one_way = code, True
    elif proto in (TCP, UDP, SCTP):
        if not isinstance(src_port, int) or not isinstance(dst_port, int):
            return None
        sport, dport = src_port, dst_port
    else:
        sport = dport = -1
    if not one_way and (saddr, sport) > (daddr, dport):
        saddr, daddr, sport, dport = daddr, saddr, dport, sport
    data = seed.to_bytes(2, "big") + saddr + daddr + bytes([proto, 0])
    if sport >= 0:
        data += (sport & 0xFFFF).to_bytes(2, "big") + (dport & 0xFFFF).to_bytes(2, "big")
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()  # noqa: S324 - the spec's hash
