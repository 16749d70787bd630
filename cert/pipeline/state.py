"""What the ingestor commits after each batch: the file checkpoint, the dead letters, and the
counters the ingest health view reads (per source, per minute, per dead-letter reason).

Everything of one batch is written in ONE transaction, after the event store acknowledged the
batch (or the spool holds it). A crash before the commit replays the batch from the previous
checkpoint: its events are stored once (deterministic ids) and its dead letters and counters are
written once, because they were never committed the first time.

Why a SQL table rather than a file next to the data: the database is the one durable store
shared by every process of an installation, in both modes (the embedded SQLite file under the
data directory, or PostgreSQL in production, where the ingestors and the console run in
different containers): the console reads the checkpoints' progress and the counters from it,
and a batch's dead letters and its checkpoint can only be atomic if they live in the same
database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cert.core.lines import FilePosition
from cert.storage.db import Database
from cert.storage.models import DeadLetter
from cert.storage.models.ingest import DeadLetterCount, IngestMinute, IngestSource

MINUTES_KEPT = timedelta(days=2)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_LONG_NUMBER = re.compile(r"\d{5,}")
# sizes, counts, offsets and record numbers: "message of 1031 bytes", "announces 3 records",
# "at offset 28", "length 9", "record 3"
_MEASURE = re.compile(r"\b\d+(?= (?:bytes?|records?)\b)|(?<=\b(?:offset|length|record) )\d+")


def reason_class(reason: str) -> str:
    """The counter key of a dead-letter reason: quoted values, long numbers and sizes elided, so
    that ``bad timestamp '99/Foo/2026'`` and ``bad timestamp '32/Jan/2026'`` count together, and
    so do ``message of 1031 bytes exceeds the limit of 480 bytes`` and ``message of 2000 bytes…``."""
    return _MEASURE.sub("N", _LONG_NUMBER.sub("N", _QUOTED.sub("'…'", reason)))[:300]


def aware(dt: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; every time here is UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass
class BatchRecord:
    """One batch's outcome, as the ingestor commits it."""

    source: str
    parser: str
    position: FilePosition | None = None
    lines: int = 0
    written: int = 0
    duplicates: int = 0
    skipped: int = 0
    spooled: int = 0  # added to the spool (negative: replayed from it)
    dead: list[tuple[str, str, bytes]] = field(default_factory=list)  # (position, reason, raw bytes)
    newest: datetime | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


def source_id(db: Database, source: str, parser: str) -> int:
    """The ``ingest_sources`` row of (source, parser), created when first seen."""
    source = source[:500]
    with db.session() as s:
        found = s.scalar(select(IngestSource.id).where(IngestSource.source == source, IngestSource.parser == parser))
        if found is not None:
            return int(found)
    try:
        with db.session() as s:
            row = IngestSource(source=source, parser=parser, file_offset=0, file_line=0, file_fingerprint="",
                               lines=0, events=0, duplicates=0, skipped=0, dead_letters=0, spooled=0)
            s.add(row)
            s.flush()
            return int(row.id)
    except IntegrityError:  # created by another process meanwhile
        with db.session() as s:
            return int(s.scalars(select(IngestSource.id).where(
                IngestSource.source == source, IngestSource.parser == parser)).one())


def load_checkpoint(db: Database, source: str, parser: str) -> FilePosition | None:
    with db.session() as s:
        row = s.scalar(select(IngestSource).where(IngestSource.source == source[:500], IngestSource.parser == parser))
        if row is None or row.file_inode is None:
            return None
        return FilePosition(int(row.file_inode), int(row.file_offset), int(row.file_line), row.file_fingerprint)


def commit_batch(db: Database, sid: int, record: BatchRecord) -> None:
    """Dead letters, counters and checkpoint of one batch, in one transaction."""
    with db.session() as s:
        row = s.get(IngestSource, sid)
        if row is None:  # deleted meanwhile (an admin reset the source): recreate it
            sid = source_id(db, record.source, record.parser)
            row = s.get(IngestSource, sid)
            assert row is not None
        _update_source(row, record)
        if record.dead:
            _dead_letters(s, sid, record)
        if record.written or record.dead:
            _minute(s, sid, record)


def _update_source(row: IngestSource, r: BatchRecord) -> None:
    if r.position is not None:
        row.file_inode = r.position.inode
        row.file_offset = r.position.offset
        row.file_line = r.position.line
        row.file_fingerprint = r.position.fingerprint
    row.lines += r.lines
    row.events += r.written
    row.duplicates += r.duplicates
    row.skipped += r.skipped
    row.dead_letters += len(r.dead)
    row.spooled = max(0, row.spooled + r.spooled)
    if r.newest is not None and r.written:
        newest = aware(row.newest_event_at)
        if newest is None or r.newest > newest:
            row.newest_event_at = r.newest
    if r.lines or r.written or r.spooled:
        row.first_ingest_at = row.first_ingest_at or r.at
        row.last_ingest_at = r.at


def _dead_letters(s: Session, sid: int, r: BatchRecord) -> None:
    s.add_all(DeadLetter(source=r.source[:500], parser=r.parser, position=pos[:60], reason=reason[:500], raw=raw,
                         at=r.at) for pos, reason, raw in r.dead)
    counts: dict[str, int] = {}
    for _, reason, _ in r.dead:
        key = reason_class(reason)
        counts[key] = counts.get(key, 0) + 1
    existing = {c.reason: c for c in s.scalars(
        select(DeadLetterCount).where(DeadLetterCount.source_id == sid, DeadLetterCount.reason.in_(counts)))}
    for reason, n in counts.items():
        row = existing.get(reason)
        if row is None:
            s.add(DeadLetterCount(source_id=sid, reason=reason, count=n, last_at=r.at))
        else:
            row.count += n
            row.last_at = r.at


def _minute(s: Session, sid: int, r: BatchRecord) -> None:
    minute = r.at.replace(second=0, microsecond=0)
    row = s.get(IngestMinute, (sid, minute))
    if row is None:
        old = minute - MINUTES_KEPT
        s.execute(delete(IngestMinute).where(IngestMinute.source_id == sid, IngestMinute.minute < old))
        s.add(IngestMinute(source_id=sid, minute=minute, events=r.written, dead_letters=len(r.dead)))
    else:
        row.events += r.written
        row.dead_letters += len(r.dead)
