"""The indicator store: known-bad IPs, networks, domains, URLs, hashes, e-mail addresses and TLS
fingerprints, each with its provenance (source, reference, TLP, confidence, tags, validity).

Values are normalised once, here, so that matching is a dictionary lookup: IPs in their
canonical text form, domains lower-case without the trailing dot (IDNA-encoded), hashes and JA3
lower-case hex. ``upsert`` is idempotent per (source, type, value) and bumps the store's
generation, which tells every matcher to reload. File formats live in
:mod:`cert.detection.indicators.formats`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select
from sqlalchemy.orm import Session

from cert.core.errors import InvalidInput
from cert.core.observables import normalize
from cert.core.tlp import TLP
from cert.storage.models.indicators import Indicator, IndicatorGeneration

MAX_TAGS = 30
_DURATION = re.compile(r"(\d+)\s*([dhmw])")


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


def remove_reference(s: Session, source: str, reference: str,
                     keep: frozenset[tuple[str, str]] = frozenset()) -> int:
    """Delete the indicators a source stored under one reference (a MISP event, a STIX object)
    except the (type, value) pairs of ``keep``; returns how many."""
    rows = s.execute(select(Indicator.id, Indicator.type, Indicator.value).where(
        Indicator.source == source, Indicator.reference == reference[:200])).all()
    ids = [i for i, type_, value in rows if (type_, value) not in keep]
    for start in range(0, len(ids), 500):
        s.execute(delete(Indicator).where(Indicator.id.in_(ids[start:start + 500])))
    if ids:
        bump_generation(s)
    return len(ids)


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
