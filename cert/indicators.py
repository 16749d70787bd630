"""The indicator store: known-bad IPs, networks, domains, URLs, hashes, e-mail addresses and TLS
fingerprints, each with its provenance (source, reference, TLP, confidence, tags, validity).

Values are normalised once, here, so that matching is a dictionary lookup: IPs in their
canonical text form, domains lower-case without the trailing dot (IDNA-encoded), hashes and JA3
lower-case hex. ``upsert`` is idempotent per (source, type, value) and bumps the store's
generation, which tells every matcher to reload. File formats live in
:mod:`cert.indicator_formats`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select
from sqlalchemy.orm import Session

from cert.errors import InvalidInput
from cert.indicator_models import Indicator, IndicatorGeneration
from cert.tlp import TLP

TYPES = ("ip", "cidr", "domain", "url", "md5", "sha1", "sha256", "email", "ja3", "ja3s")
HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "ja3": 32, "ja3s": 32}
MAX_TAGS = 30
MAX_VALUE = 2048

_HEX = re.compile(r"[0-9a-f]+")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_EMAIL_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")  # RFC 5322 dot-atom
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")
_NOT_IN_URL = frozenset('<>"`')
_HOSTNAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
                       r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?")
#: Observable types that are never IDS indicators (to_ids) unless an analyst says so.
NOT_IDS = frozenset({"user-agent", "user", "hostname"})
_DURATION = re.compile(r"(\d+)\s*([dhmw])")


def normalize_domain(text: str) -> str:
    d = text.strip().lower().rstrip(".")
    if d.startswith("*."):
        d = d[2:]
    if not d.isascii():
        try:
            d = d.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidInput(f"domain {text!r} is not a valid internationalised name: {exc}") from exc
    labels = d.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or len(d) > 253:
        raise InvalidInput(f"{text!r} is not a domain name (need at least two labels of letters, digits, - or _)")
    return d


def _host(text: str, whole: str) -> str:
    """The host of a URL (an IP, a bracketed IPv6 address, or a domain name), lower-case."""
    host = text.lower()
    if host.startswith("["):
        inner, bracket, rest = host[1:].partition("]")
        if not bracket or rest:
            raise InvalidInput(f"{whole!r} is not a URL (bad [IPv6] host)")
        try:
            return f"[{ipaddress.IPv6Address(inner)}]"
        except ValueError as exc:
            raise InvalidInput(f"{whole!r} is not a URL (bad [IPv6] host)") from exc
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    try:
        normalize_domain(host)
    except InvalidInput as exc:
        raise InvalidInput(f"{whole!r} is not a URL (its host {text!r} is neither an address nor a domain)") from exc
    return host


def normalize_url(text: str) -> str:
    """Scheme and host lower-case, ``http(s)://`` dropped, a bare trailing ``/`` dropped. The host
    must be an IP address or a domain name, the port a number; spaces, control characters and
    the characters a URL never holds unencoded (``<>"`` and the backtick) are refused."""
    u = text.strip()
    if not u or any(c.isspace() or c in _NOT_IN_URL or not c.isprintable() for c in u):
        raise InvalidInput(f"{text!r} is not a URL (empty or containing spaces, control characters or <>\"`)")
    if len(u) > MAX_VALUE:
        raise InvalidInput(f"URL longer than {MAX_VALUE} characters")
    scheme, sep, rest = u.partition("://")
    if not sep:
        scheme, rest = "", u
    elif not _SCHEME.fullmatch(scheme):
        raise InvalidInput(f"{text!r} is not a URL (bad scheme {scheme!r})")
    scheme = scheme.lower()
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, path = rest[:cut], rest[cut:]
    hostport = authority.rpartition("@")[2]
    host, port = hostport, ""
    if not hostport.endswith("]") and ":" in hostport:
        host, _, port = hostport.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidInput(f"{text!r} is not a URL (bad port {port!r})")
    if not host:
        raise InvalidInput(f"{text!r} is not a URL (no host)")
    authority = authority[: len(authority) - len(hostport)] + _host(host, text) + (f":{port}" if port else "")
    u = authority + path
    if scheme not in ("", "http", "https"):
        u = f"{scheme}://{u}"
    if u.endswith("/") and u.count("/") == 1:
        u = u[:-1]
    return u


def normalize_email(text: str) -> str:
    v = text.strip().lower().removeprefix("mailto:")
    local, at, domain = v.rpartition("@")
    if not at or not _EMAIL_LOCAL.fullmatch(local) or len(v) > 254:
        raise InvalidInput(f"{text!r} is not an e-mail address")
    try:
        return f"{local}@{normalize_domain(domain)}"
    except InvalidInput as exc:
        raise InvalidInput(f"{text!r} is not an e-mail address (bad domain)") from exc


def normalize(type_: str, text: str) -> tuple[str, str]:
    """(type, value) normalised; an ``ip`` with a prefix becomes a ``cidr`` and a /32 an ``ip``."""
    value = str(text).strip()
    if not value:
        raise InvalidInput(f"empty {type_} value")
    if type_ in ("ip", "cidr"):
        try:
            if "/" in value:
                net = ipaddress.ip_network(value, strict=False)
                if net.num_addresses == 1:
                    return "ip", str(net.network_address)
                return "cidr", str(net)
            return "ip", str(ipaddress.ip_address(value))
        except ValueError as exc:
            raise InvalidInput(f"{value!r} is not an IP address or network") from exc
    if type_ == "domain":
        return type_, normalize_domain(value)
    if type_ == "url":
        return type_, normalize_url(value)
    if type_ in HASH_LENGTHS:
        v = value.lower()
        if len(v) != HASH_LENGTHS[type_] or not _HEX.fullmatch(v):
            raise InvalidInput(f"{value!r} is not a {type_} (expected {HASH_LENGTHS[type_]} hex digits)")
        return type_, v
    if type_ == "email":
        return type_, normalize_email(value)
    raise InvalidInput(f"unknown indicator type {type_!r} (expected one of {', '.join(TYPES)})")


def _printable(type_: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidInput(f"{type_} longer than {limit} characters")
    if not value.isprintable():
        raise InvalidInput(f"{type_} {value!r} holds control characters")


def check_observable(type_: str, text: str) -> None:
    """InvalidInput, with the reason, when ``text`` is not a value of this observable type. IPs
    with ``ipaddress``; domains, URLs, hashes and e-mail addresses as the indicator store
    normalises them; host names as DNS or NetBIOS names; user names and user agents as printable
    text (a hostile user agent is still a user agent: it is evidence, shown escaped)."""
    value = str(text).strip()
    if not value:
        raise InvalidInput(f"empty {type_} value")
    if type_ == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise InvalidInput(f"{value[:100]!r} is not an IP address") from exc
    elif type_ == "hostname":
        if not _HOSTNAME.fullmatch(value):
            raise InvalidInput(f"{value[:100]!r} is not a host name (letters, digits, '-', '_', dot-separated)")
    elif type_ == "user":
        _printable(type_, value, 256)
    elif type_ == "user-agent":
        _printable(type_, value, 1024)
    else:
        normalize(type_, value)


def guess_type(value: str) -> str:
    """The type of a bare value in a plain list: IP/network, hash by length, e-mail, URL, domain."""
    v = value.strip()
    try:
        ipaddress.ip_network(v, strict=False)
        return "cidr" if "/" in v else "ip"
    except ValueError:
        pass
    low = v.lower()
    if _HEX.fullmatch(low):
        by_len = {32: "md5", 40: "sha1", 64: "sha256"}
        if len(low) in by_len:
            return by_len[len(low)]
    if "@" in v and "/" not in v:
        return "email"
    if "://" in v or "/" in v:
        return "url"
    return "domain"


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``2w``, ``30m`` (also combined: ``1w2d``)."""
    parts = _DURATION.findall(text.strip().lower())
    if not parts or _DURATION.sub("", text.strip().lower()).strip():
        raise InvalidInput(f"cannot read duration {text!r} (examples: 90d, 12h, 2w)")
    unit = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1), "w": timedelta(weeks=1)}
    return sum((int(n) * unit[u] for n, u in parts), timedelta())


def value_key(value: str) -> str:
    return hashlib.blake2b(value.encode("utf-8", "surrogateescape"), digest_size=20).hexdigest()


@dataclass
class IndicatorRecord:
    """One indicator read from a file, before it is stored (normalised by ``__post_init__``)."""

    type: str
    value: str
    tlp: TLP = TLP.AMBER
    confidence: int = 50
    tags: list[str] = field(default_factory=list)
    to_ids: bool = True
    reference: str = ""
    comment: str = ""
    first_seen: datetime | None = None
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        self.type, self.value = normalize(self.type.strip().lower(), self.value)
        if not 0 <= self.confidence <= 100:
            raise InvalidInput(f"confidence {self.confidence} is outside 0-100")
        self.tags = list(dict.fromkeys(t.strip() for t in self.tags if t and t.strip()))[:MAX_TAGS]


@dataclass
class LoadReport:
    source: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # entries of types we do not match (MISP comments, links...)
    errors: list[str] = field(default_factory=list)  # "file:line: reason"

    @property
    def stored(self) -> int:
        return self.inserted + self.updated + self.unchanged


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


ROW_FIELDS = ("tlp", "confidence", "to_ids", "tags", "reference", "comment", "first_seen", "expires_at")
_TABLE = cast(Table, Indicator.__table__)


def _row(rec: IndicatorRecord) -> dict[str, Any]:
    return {"tlp": rec.tlp.tag_value, "confidence": rec.confidence, "to_ids": rec.to_ids, "tags": rec.tags,
            "reference": rec.reference[:200], "comment": rec.comment[:5000], "first_seen": rec.first_seen,
            "expires_at": rec.expires_at}


def _same(stored: Sequence[Any], row: dict[str, Any]) -> bool:
    for k, cur in zip(ROW_FIELDS, stored, strict=True):
        v = row[k]
        if k in ("first_seen", "expires_at"):
            cur, v = _aware(cur), _aware(v)
        if cur != v:
            return False
    return True


def upsert(s: Session, source: str, records: Iterable[IndicatorRecord], report: LoadReport | None = None,
           chunk: int = 20_000) -> LoadReport:
    """Store records under ``source``: new (type, value) inserted, known ones updated in place."""
    source = source.strip()[:200]
    if not source:
        raise InvalidInput("indicators need a source name (--source)")
    report = report or LoadReport(source)
    known = s.scalar(select(Indicator.id).where(Indicator.source == source).limit(1)) is not None
    batch: dict[tuple[str, str], IndicatorRecord] = {}
    for rec in records:
        batch[(rec.type, rec.value)] = rec  # the last occurrence in a file wins
        if len(batch) >= chunk:
            _flush(s, source, batch, report, known)
            known = known or report.inserted > 0  # later chunks may repeat values of this one
            batch = {}
    _flush(s, source, batch, report, known)
    if report.inserted or report.updated:
        bump_generation(s)
    return report


def _flush(s: Session, source: str, batch: dict[tuple[str, str], IndicatorRecord], report: LoadReport,
           known: bool) -> None:
    """One chunk, with Core statements (bulk): an indicator store holds millions of rows."""
    if not batch:
        return
    existing: dict[tuple[str, str], Sequence[Any]] = {}
    if known:  # a source loaded before: find which of these values it already has
        by_type: dict[str, list[str]] = {}
        for type_, value in batch:
            by_type.setdefault(type_, []).append(value_key(value))
        cols = [_TABLE.c.id, _TABLE.c.type, _TABLE.c.value] + [_TABLE.c[f] for f in ROW_FIELDS]
        for type_, keys in by_type.items():  # (source, type, value_key): the unique index, fully used
            for i in range(0, len(keys), 5000):
                q = select(*cols).where(_TABLE.c.source == source, _TABLE.c.type == type_,
                                        _TABLE.c.value_key.in_(keys[i:i + 5000]))
                for found in s.execute(q):
                    existing[(found[1], found[2])] = found
    now = datetime.now(UTC)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for (type_, value), rec in batch.items():
        row = _row(rec)
        stored = existing.get((type_, value))
        if stored is None:
            inserts.append({"source": source, "type": type_, "value": value, "value_key": value_key(value),
                            "created_at": now, "updated_at": now, **row})
        elif _same(stored[3:], row):
            report.unchanged += 1
        else:
            updates.append({"_id": stored[0], "updated_at": now, **row})
    if inserts:
        s.execute(_TABLE.insert(), inserts)
        report.inserted += len(inserts)
    if updates:
        stmt = _TABLE.update().where(_TABLE.c.id == bindparam("_id")).values(
            {f: bindparam(f) for f in ("updated_at", *ROW_FIELDS)})
        s.execute(stmt, updates)
        report.updated += len(updates)


def bump_generation(s: Session) -> int:
    row = s.get(IndicatorGeneration, 1)
    if row is None:
        row = IndicatorGeneration(id=1, generation=0)
        s.add(row)
    row.generation = (row.generation or 0) + 1
    row.changed_at = datetime.now(UTC)
    s.flush()
    return row.generation


def generation(s: Session) -> int:
    return int(s.scalar(select(IndicatorGeneration.generation).where(IndicatorGeneration.id == 1)) or 0)


def remove_source(s: Session, source: str) -> int:
    """Delete every indicator of a source; returns how many."""
    n = len(s.scalars(select(Indicator.id).where(Indicator.source == source)).all())
    if n:
        s.execute(delete(Indicator).where(Indicator.source == source))
        bump_generation(s)
    return n


def count(s: Session) -> list[tuple[str, str, int]]:
    """(source, type, count) of the stored indicators."""
    q = (select(Indicator.source, Indicator.type, func.count()).group_by(Indicator.source, Indicator.type)
         .order_by(Indicator.source, Indicator.type))
    return [(str(a), str(b), int(c)) for a, b, c in s.execute(q)]


def listing(s: Session, source: str | None = None, type_: str | None = None, value: str | None = None,
            limit: int = 100) -> list[Indicator]:
    q = select(Indicator)
    if source:
        q = q.where(Indicator.source == source)
    if type_:
        q = q.where(Indicator.type == type_)
    if value:
        q = q.where(Indicator.value.contains(value.strip().lower()))
    return list(s.scalars(q.order_by(Indicator.id).limit(limit)))


def provenance(s: Session, ids: Sequence[int]) -> dict[int, Indicator]:
    out: dict[int, Indicator] = {}
    for i in range(0, len(ids), 500):
        for ind in s.scalars(select(Indicator).where(Indicator.id.in_(ids[i:i + 500]))):
            out[ind.id] = ind
    return out


def is_live(ind: Indicator, now: datetime | None = None) -> bool:
    """A matchable indicator: flagged for detection and not expired."""
    exp = _aware(ind.expires_at)
    return bool(ind.to_ids) and (exp is None or exp > (now or datetime.now(UTC)))
