"""Helpers shared by the network sensor and firewall parsers (Suricata, Zeek, BIND, netfilter, CEF):
the Community ID flow hash and UTC timestamps from ISO 8601 strings, both cheap per event, and text
made storable as UTF-8."""

from __future__ import annotations

import binascii
import hashlib
import socket
import struct
from datetime import UTC, datetime
from typing import Any

from cert.core.ecs import format_ts
from cert.core.parser import ParseError

# IANA protocol numbers of the transports a Community ID hashes with ports.
PROTO_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "ipv6-icmp": 58, "icmpv6": 58, "icmp6": 58, "sctp": 132}
_ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
_ICMP6_PAIRS = {128: 129, 129: 128, 130: 131, 131: 130, 133: 134, 134: 133, 135: 136, 136: 135,
                139: 140, 140: 139, 144: 145, 145: 144}
_TAIL = struct.Struct("!BxHH")  # protocol, one byte of padding, the two ports
_AF = (socket.AF_INET, socket.AF_INET6)


def community_id(transport: str, saddr: object, daddr: object, sport: object, dport: object,
                 seed: int = 0) -> str | None:
    """Community ID v1 (https://github.com/corelight/community-id-spec) of a flow, or None when
    the tuple is incomplete or not an IP flow. For ICMP, ``sport``/``dport`` are type and code."""
    proto = PROTO_NUMBERS.get(transport)
    if proto is None or saddr.__class__ is not str or daddr.__class__ is not str:
        return None
    if sport.__class__ is not int or dport.__class__ is not int or not (0 <= sport < 65536 and 0 <= dport < 65536):
        return None
    try:
        src = socket.inet_pton(_AF[":" in saddr], saddr)
        dst = socket.inet_pton(_AF[":" in daddr], daddr)
    except (OSError, ValueError):
        return None
    if len(src) != len(dst):
        return None
    if proto == 1 or proto == 58:
        pairs = _ICMP4_PAIRS if proto == 1 else _ICMP6_PAIRS
        if sport in pairs:
            dport = pairs[sport]
        else:  # one-way ICMP: never reordered
            return _render(seed, src, dst, proto, sport, dport)
    if src > dst or (src == dst and sport > dport):
        return _render(seed, dst, src, proto, dport, sport)
    return _render(seed, src, dst, proto, sport, dport)


def _render(seed: int, src: bytes, dst: bytes, proto: int, sport: object, dport: object) -> str:
    data = seed.to_bytes(2, "big") + src + dst + _TAIL.pack(proto, sport, dport)
    digest = hashlib.sha1(data, usedforsecurity=False).digest()  # the spec's hash, not a security use
    return "1:" + binascii.b2a_base64(digest, newline=False).decode()


_CID_CACHE: dict[tuple[str, object, object, object, object], str | None] = {}


def cached_community_id(transport: str, saddr: object, daddr: object, sport: object, dport: object) -> str | None:
    """``community_id`` through a bounded cache: many records share a flow (its alerts, dns, http,
    files, flow records), so each flow is hashed once."""
    if sport.__class__ is not int or dport.__class__ is not int:
        return None  # as community_id says; and True or 80.0 must not hit the entry of 1 or 80
    key = (transport, saddr, daddr, sport, dport)
    try:
        return _CID_CACHE[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable value (a list where an IP should be): no Community ID
        return None
    if len(_CID_CACHE) >= 65536:
        _CID_CACHE.clear()
    cid = _CID_CACHE[key] = community_id(transport, saddr, daddr, sport, dport)
    return cid


def is_ip(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
    except (OSError, ValueError):
        return False
    return True


def clean_text(text: str) -> str:
    """``text`` with what cannot be stored as UTF-8 (the lone surrogates that stand for undecodable
    bytes of a log line) replaced by U+FFFD."""
    try:  # the common case: nothing to replace
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return text
    try:  # the undecodable bytes read_lines kept (U+DC80..U+DCFF) back to bytes, each to one U+FFFD
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # other lone surrogates
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


_MINUTES: dict[str, str] = {}


def utc_iso(text: object) -> str:
    """``@timestamp`` (UTC, milliseconds, ``Z``) of an ISO 8601 string such as Suricata's
    ``2018-03-24T14:37:19.037299-0600``. A time without an offset is taken as UTC. Offsets are
    whole minutes, so the conversion is cached per minute: seconds and fraction are copied."""
    if text.__class__ is str and len(text) == 31 and text[26] in "+-":  # Suricata's: fast path
        minute = _MINUTES.get(text[:16] + text[26:])
        digits = text[17:19] + text[20:26]
        if (minute is not None and text[19] == "." and text[16] == ":" and digits.isascii() and digits.isdigit()
                and digits < "60"):
            return f"{minute}{text[16:23]}Z"
    if not isinstance(text, str):
        raise ParseError("no timestamp" if text is None else f"timestamp is not a string: {str(text)[:64]!r}")
    if text.endswith("Z"):
        zone = "Z"
    elif len(text) > 25 and text[-5] in "+-":
        zone = text[-5:]
    elif len(text) > 26 and text[-6] in "+-":
        zone = text[-6:]
    else:
        zone = ""
    frac = text[20:len(text) - len(zone)]
    secs = text[17:19]
    if (len(frac) >= 3 and text[19:20] == "." and text[16:17] == ":" and frac.isascii() and frac.isdigit()
            and secs.isascii() and secs.isdigit() and secs < "60"):
        key = text[:16] + zone
        minute = _MINUTES.get(key)
        if minute is None:
            minute = _minute(text[:16], zone)
            if len(_MINUTES) > 4096:
                _MINUTES.clear()
            _MINUTES[key] = minute
        return f"{minute}{text[16:20]}{frac[:3]}Z"
    try:
        return format_ts(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError as exc:
        raise ParseError(f"bad timestamp {text[:64]!r}") from exc


def _minute(prefix: str, zone: str) -> str:
    try:
        dt = datetime.fromisoformat(prefix + ("+00:00" if zone in ("", "Z") else zone))
    except ValueError as exc:
        raise ParseError(f"bad timestamp {prefix + zone!r}") from exc
    return dt.astimezone(UTC).isoformat()[:16]  # not strftime: its %Y drops the zeros of years before 1000


def put_community_id(ev: dict[str, Any], icmp: tuple[object, object] | None = None) -> None:
    """``network.community_id`` of an ECS event from its ``network.transport``, ``source.ip``,
    ``destination.ip`` and ports (for ICMP, ``icmp`` gives type and code); nothing when the
    tuple is incomplete or the event already has one."""
    network = ev.get("network")
    if type(network) is not dict or network.get("community_id"):
        return
    transport = network.get("transport")
    source, dest = ev.get("source"), ev.get("destination")
    if not isinstance(transport, str) or type(source) is not dict or type(dest) is not dict:
        return
    if transport in ("icmp", "ipv6-icmp"):
        if icmp is None:
            return
        cid = community_id(transport, source.get("ip"), dest.get("ip"), icmp[0], icmp[1])
    else:
        cid = cached_community_id(transport, source.get("ip"), dest.get("ip"), source.get("port"), dest.get("port"))
    if cid is not None:
        network["community_id"] = cid
