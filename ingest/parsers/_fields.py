"""Small ECS helpers shared by the parsers: addresses, numbers, URLs, firewall verdicts, times.

Every value written to an ``*.ip`` field is a valid address (the Elasticsearch mapping types them
``ip`` and ``related.ip`` is built from them): anything else goes to ``*.domain`` or stays in
``*.address`` only.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit
from zoneinfo import ZoneInfo

from cert.core.ecs import Event, format_ts, put
from cert.core.parser import ParseError

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$")
MAX_PORT = 65535
MAX_LONG = 2**63 - 1


@lru_cache(maxsize=4096)
def normalize_ip(text: str) -> str | None:
    """The canonical text of an IP address (IPv4-mapped IPv6 as IPv4, zone id dropped), or None."""
    candidate = text.strip("[]")
    if "%" in candidate:
        candidate = candidate.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def put_address(ev: Event, side: str, text: str | None) -> None:
    """``<side>.address`` and, for an IP, ``<side>.ip``; for a host name, ``<side>.domain``."""
    if not text or text == "-":
        return
    ip = normalize_ip(text)
    if ip is not None:
        put(ev, f"{side}.address", ip)
        put(ev, f"{side}.ip", ip)
        return
    put(ev, f"{side}.address", text)
    if _HOSTNAME.match(text) and not text.replace(".", "").isdigit():
        put(ev, f"{side}.domain", text.rstrip("."))


def put_event(ev: Event, **fields: Any) -> None:
    """Set several ``event.*`` fields at once (the hot path of every sub-parser)."""
    current = ev.get("event")
    if isinstance(current, dict):
        current.update(fields)
    else:
        ev["event"] = dict(fields)


def put_ip(ev: Event, field: str, text: str | None) -> bool:
    """Set an ``ip``-typed field only when the text is an IP address."""
    ip = normalize_ip(text) if text else None
    if ip is None:
        return False
    put(ev, field, ip)
    return True


def to_int(text: str | None, limit: int = MAX_LONG) -> int | None:
    """A non-negative decimal integer no larger than ``limit``, or None."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if value <= limit else None


def put_port(ev: Event, field: str, text: str | None) -> None:
    port = to_int(text, MAX_PORT)
    if port is not None:
        put(ev, field, port)


def put_url(ev: Event, target: str) -> None:
    """``url.original`` and its decoded parts."""
    put(ev, "url.original", target)
    try:
        split = urlsplit(target)
        hostname = split.hostname
    except ValueError:  # a malformed IPv6 netloc ("http://[::1") or a bad port
        return
    put(ev, "url.path", unquote(split.path))
    if split.query:
        put(ev, "url.query", unquote_plus(split.query))
    if hostname:
        put(ev, "url.domain", hostname)
    if split.scheme:
        put(ev, "url.scheme", split.scheme.lower())
    last = split.path.rsplit("/", 1)[-1]
    if "." in last:
        put(ev, "url.extension", last.rsplit(".", 1)[-1].lower()[:16])


_DENY = re.compile(r"block|drop|deny|denied|reject|refuse|discard|prevent|kill|reset", re.I)
_ALLOW = re.compile(r"accept|allow|permit|\bpass|\bclose\b|\bstart\b", re.I)


def verdict(text: str) -> str | None:
    """'denied' or 'allowed' from a firewall action or log prefix (``[UFW BLOCK]``, ``nft-drop``,
    ``act=deny``, ``action=Accept``), None when the text says neither. Denial words win."""
    if _DENY.search(text):
        return "denied"
    if _ALLOW.search(text):
        return "allowed"
    return None


TRANSPORTS = {"1": "icmp", "2": "igmp", "6": "tcp", "17": "udp", "47": "gre", "50": "esp", "51": "ah",
              "58": "ipv6-icmp", "132": "sctp"}
_IANA = {v: k for k, v in TRANSPORTS.items()}


def put_transport(ev: Event, proto: str | None) -> None:
    """``network.transport`` (lower case, ECS names) and ``network.iana_number`` from a protocol
    name or number."""
    if not proto:
        return
    name = proto.lower()
    if name.isdigit():
        put(ev, "network.iana_number", name)
        name = TRANSPORTS.get(name, name)
    elif name in ("icmpv6", "ipv6-icmp"):
        name = "ipv6-icmp"
    put(ev, "network.transport", name)
    if name in _IANA:
        put(ev, "network.iana_number", _IANA[name])


def timestamp(dt: datetime) -> str:
    """``format_ts`` that turns an out-of-range date (year 1 minus an offset) into a ParseError."""
    try:
        return format_ts(dt)
    except (OverflowError, ValueError) as exc:
        raise ParseError(f"timestamp out of range: {dt!r}") from exc


@lru_cache(maxsize=256)
def fixed_zone(sign: str, hours: str, minutes: str) -> tzinfo:
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta >= timedelta(hours=24):
        raise ParseError(f"bad UTC offset {sign}{hours}:{minutes}")
    return timezone(-delta if sign == "-" else delta)


@lru_cache(maxsize=256)
def named_zone(name: str) -> tzinfo | None:
    """UTC, GMT, a ``GMT+01:00`` style offset or an IANA zone name; None when unknown."""
    upper = name.upper()
    if upper in ("UTC", "GMT", "Z", "UT"):
        return UTC
    m = re.fullmatch(r"(?:GMT|UTC)?([+-])(\d{1,2}):?(\d\d)?", name.strip())
    if m:
        try:
            return fixed_zone(m[1], m[2], m[3] or "00")
        except ParseError:
            return None
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}", name):
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return None


MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}


def yearless(month: int, day: int, hour: int, minute: int, second: int, micro: int,
             tz: tzinfo = UTC, now: datetime | None = None) -> datetime:
    """A date written without its year (RFC 3164, some CEF times): this year, or last year when that
    would put it more than a day in the future (December lines read in January)."""
    now = now or datetime.now(UTC)
    for year in (now.year, now.year - 1):
        try:
            ts = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        except ValueError:
            continue  # Feb 29 outside a leap year: try the year before
        if ts - now < timedelta(days=1):
            return ts
    raise ParseError(f"bad date {month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}")
