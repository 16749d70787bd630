"""Ingest health per source, read from the counters the ingestor commits with each batch
(``cert.pipeline.state``): rate, lag, errors, spool.

- rate: events stored per second over the last 5 minutes and the last hour (per-minute counts);
- lag: now - the newest ``@timestamp`` stored (how late the data is), and now - the last batch
  (how long the source has been silent); a file's backlog is its size minus the checkpoint;
- errors: dead letters in the last hour and in total, with the counts per reason;
- spool: batches waiting for the event store (embedded mode shares the data directory).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cert.core.config import Settings
from cert.pipeline.spool import Spool
from cert.pipeline.state import aware
from cert.storage.models.ingest import DeadLetterCount, IngestMinute, IngestSource

SILENT_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    count: int
    last_at: datetime | None


@dataclass(frozen=True)
class SourceHealth:
    id: int
    source: str
    parser: str
    lines: int
    events: int
    duplicates: int
    skipped: int
    dead_letters: int
    spooled: int
    rate_5m: float  # events stored per second
    rate_1h: float
    dead_letters_1h: int
    newest_event_at: datetime | None
    last_ingest_at: datetime | None
    event_lag: timedelta | None  # now - newest @timestamp
    ingest_lag: timedelta | None  # now - last batch
    file_offset: int | None
    backlog_bytes: int | None  # file size - checkpoint, when the file is visible from here
    reasons: list[ReasonCount] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``errors`` (dead letters in the last hour), ``spooling``, ``silent`` (no batch for
        15 minutes) or ``ok``."""
        if self.spooled:
            return "spooling"
        if self.dead_letters_1h:
            return "errors"
        if self.ingest_lag is not None and self.ingest_lag > SILENT_AFTER:
            return "silent"
        return "ok"


def _minute(dt: datetime) -> datetime:
    return dt.replace(second=0, microsecond=0)


def _sums(s: Session, since: datetime) -> dict[int, tuple[int, int]]:
    rows = s.execute(
        select(IngestMinute.source_id, func.sum(IngestMinute.events), func.sum(IngestMinute.dead_letters))
        .where(IngestMinute.minute >= since).group_by(IngestMinute.source_id)
    ).all()
    return {int(sid): (int(ev or 0), int(dl or 0)) for sid, ev, dl in rows}


def _rate(events: int, window_start: datetime, first: datetime | None, now: datetime) -> float:
    start = max(window_start, _minute(first)) if first is not None else window_start
    seconds = (now - start).total_seconds()
    return events / seconds if seconds > 0 else 0.0


def _backlog(row: IngestSource) -> int | None:
    if row.file_inode is None or not os.path.isabs(row.source):
        return None
    try:
        st = os.stat(row.source)
    except OSError:
        return None
    if st.st_ino != row.file_inode:
        return st.st_size  # rotated since: the new file is all to read
    return max(0, st.st_size - int(row.file_offset))


def ingest_health(s: Session, now: datetime | None = None, limit: int = 500) -> list[SourceHealth]:
    """Every source, most recently active first."""
    now = now or datetime.now(UTC)
    w5, w60 = _minute(now) - timedelta(minutes=4), _minute(now) - timedelta(minutes=59)
    sums5, sums60 = _sums(s, w5), _sums(s, w60)
    sources = list(s.scalars(select(IngestSource).order_by(IngestSource.last_ingest_at.desc().nulls_last(),
                                                           IngestSource.id).limit(limit)))
    reasons: dict[int, list[ReasonCount]] = {}
    if sources:
        for c in s.scalars(select(DeadLetterCount).where(DeadLetterCount.source_id.in_([r.id for r in sources]))
                           .order_by(DeadLetterCount.count.desc())):
            reasons.setdefault(c.source_id, []).append(ReasonCount(c.reason, int(c.count), aware(c.last_at)))
    out = []
    for row in sources:
        first, last, newest = aware(row.first_ingest_at), aware(row.last_ingest_at), aware(row.newest_event_at)
        ev5, _ = sums5.get(row.id, (0, 0))
        ev60, dl60 = sums60.get(row.id, (0, 0))
        out.append(SourceHealth(
            id=row.id, source=row.source, parser=row.parser, lines=int(row.lines), events=int(row.events),
            duplicates=int(row.duplicates), skipped=int(row.skipped), dead_letters=int(row.dead_letters),
            spooled=int(row.spooled), rate_5m=_rate(ev5, w5, first, now), rate_1h=_rate(ev60, w60, first, now),
            dead_letters_1h=dl60, newest_event_at=newest, last_ingest_at=last,
            event_lag=(now - newest) if newest else None, ingest_lag=(now - last) if last else None,
            file_offset=int(row.file_offset) if row.file_inode is not None else None, backlog_bytes=_backlog(row),
            reasons=reasons.get(row.id, []),
        ))
    return out


def dead_letter_counters(s: Session) -> list[tuple[str, str, str, int]]:
    """(source, parser, reason, count) of every dead-letter counter, largest first."""
    rows = s.execute(
        select(IngestSource.source, IngestSource.parser, DeadLetterCount.reason, DeadLetterCount.count)
        .join(IngestSource, IngestSource.id == DeadLetterCount.source_id)
        .order_by(DeadLetterCount.count.desc())
    ).all()
    return [(str(a), str(b), str(c), int(d)) for a, b, c, d in rows]


@dataclass(frozen=True)
class SpoolStatus:
    directory: str
    batches: int
    bytes: int
    limit: int


def spool_status(settings: Settings) -> SpoolStatus:
    spool = Spool(settings.data_dir / "spool", settings.spool_max_mb * 1024 * 1024)
    return SpoolStatus(str(spool.directory), spool.pending(), spool.size(), spool.max_bytes)


def health_json(items: list[SourceHealth], spool: SpoolStatus | None = None) -> dict[str, object]:
    """The health view as JSON (the REST API)."""
    def ts(dt: datetime | None) -> str | None:
        if dt is None:
            return None
        return (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).isoformat()  # the embedded database: UTC

    def secs(td: timedelta | None) -> float | None:
        return round(td.total_seconds(), 3) if td is not None else None

    return {
        "sources": [{
            "source": h.source, "parser": h.parser, "status": h.status, "lines": h.lines, "events": h.events,
            "duplicates": h.duplicates, "skipped": h.skipped, "dead_letters": h.dead_letters, "spooled": h.spooled,
            "rate_5m": round(h.rate_5m, 3), "rate_1h": round(h.rate_1h, 3), "dead_letters_1h": h.dead_letters_1h,
            "newest_event_at": ts(h.newest_event_at), "last_ingest_at": ts(h.last_ingest_at),
            "event_lag_seconds": secs(h.event_lag), "ingest_lag_seconds": secs(h.ingest_lag),
            "file_offset": h.file_offset, "backlog_bytes": h.backlog_bytes,
            "dead_letter_reasons": [{"reason": r.reason, "count": r.count, "last_at": ts(r.last_at)}
                                    for r in h.reasons],
        } for h in items],
        "spool": None if spool is None else {"batches": spool.batches, "bytes": spool.bytes, "limit": spool.limit},
    }
