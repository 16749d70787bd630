"""The write side of the ingest pipeline: store a batch (or spool it), then commit its record.

``StoreWriter`` does it for one batch: write the events to the event store (an event the store
cannot serialise fails alone), or, when the store is unreachable, append the batch to the spool
and back off; then commit the batch's dead letters, counters and checkpoint in one transaction
(``cert.pipeline.state.commit_batch``); then hand the stored events to ``on_batch`` (streaming
detection). Before new events, batches waiting in the spool are replayed, oldest first.

``WriterThread`` runs a ``StoreWriter`` beside the parsing loop, so that parsing the next batch
overlaps with the store taking this one (the store's I/O releases the GIL). Batches are taken
in order, one at a time, from a queue of one: memory stays bounded and checkpoints are
committed in file order. An error in the thread (a full spool) is raised in the parsing thread
at its next hand-over, with nothing acknowledged after the failing batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cert.core.ecs import Event, format_ts, parse_ts
from cert.core.errors import StoreUnavailable
from cert.core.event_store import WriteResult
from cert.core.lines import FilePosition
from cert.pipeline.spool import Segment, Spool
from cert.pipeline.state import BatchRecord, commit_batch, reason_class, source_id

if TYPE_CHECKING:
    from cert.runtime.platform import Platform

log = logging.getLogger(__name__)
MAX_BACKOFF = 15.0
MAX_ERRORS = 1000  # per-line errors a summary keeps (all are in the dead letters)


@dataclass
class IngestSummary:
    read: int = 0
    ingested: int = 0
    duplicates: int = 0
    skipped: int = 0
    spooled: int = 0  # events the store could not take, kept in the spool
    replayed: int = 0  # events stored from the spool
    dead_letters: Counter[str] = field(default_factory=Counter)  # by reason (quoted values elided)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (position, reason): the first MAX_ERRORS
    new_event_ids: list[str] = field(default_factory=list)  # only with Ingestor(collect_ids=True)

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())


@dataclass
class Batch:
    """What the parsing loop hands over: events (with their position and raw line), dead
    letters, counts, and where the file stands once this batch is acknowledged."""

    source: str
    parser: str
    unit: str
    events: list[tuple[int, str, Event]] = field(default_factory=list)
    dead: list[tuple[str, str, bytes]] = field(default_factory=list)
    lines: int = 0
    skipped: int = 0
    newest: datetime | None = None
    #: the newest fast-path ``@timestamp`` (fixed-width UTC text), folded into ``newest`` when
    #: the batch is handed over
    newest_stamp: str | None = None
    position: FilePosition | None = None
    progress_bytes: int = 0


def raw_bytes(raw: str) -> bytes:
    """The bytes a line was read from (undecodable bytes were kept as surrogates)."""
    try:
        return raw.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates no byte produced (a decoded network payload)
        return raw.encode("utf-8", "surrogatepass")


class StoreWriter:
    def __init__(self, platform: Platform, on_batch: Callable[[list[Event]], None] | None = None,
                 collect_ids: bool = False) -> None:
        self.platform = platform
        self.on_batch = on_batch
        self.collect_ids = collect_ids
        settings = platform.settings
        self.spool = Spool(settings.data_dir / "spool", settings.spool_max_mb * 1024 * 1024)
        self.spool.remove_stale_temporaries()
        self._spool_dirty = True  # segments may be left from an earlier run
        self._down_until = 0.0  # monotonic time before which the store is not tried again
        self._backoff = 0.0
        self._sids: dict[tuple[str, str], int] = {}

    def sid(self, source: str, parser: str) -> int:
        key = (source, parser)
        found = self._sids.get(key)
        if found is None:
            found = self._sids[key] = source_id(self.platform.db, source, parser)
        return found

    # -- one batch ------------------------------------------------------------------------------
    def write(self, b: Batch, summary: IngestSummary) -> None:
        """Store (or spool) the batch, then commit its record; SpoolFull acknowledges nothing."""
        record = BatchRecord(b.source, b.parser, position=b.position, lines=b.lines, skipped=b.skipped,
                             dead=list(b.dead), newest=b.newest)
        stored: list[Event] = []
        if b.events:
            at = datetime.now(UTC)
            record.at = at
            ingested = format_ts(at)
            items = [(f"{b.unit} {n}", raw, ev) for n, raw, ev in b.events]
            for _, _, ev in items:
                ev["event"]["ingested"] = ingested  # when the store takes it, for `cert detect` windows
            try:
                self._replay_spool(summary)
                result = self._store([ev for _, _, ev in items])
            except StoreUnavailable as exc:
                self._store_down(exc)
                unspoolable = self.spool.append(b.source, b.parser, items)
                for (pos, raw, _), why in unspoolable:
                    record.dead.append((pos, f"spool: {why}", raw_bytes(raw)))
                record.spooled = len(items) - len(unspoolable)
                self._spool_dirty = True
            else:
                self._store_up()
                stored = self._settle(items, result, record)
        commit_batch(self.platform.db, self.sid(b.source, b.parser), record)
        summary.read += b.lines
        summary.skipped += b.skipped
        summary.ingested += record.written
        summary.duplicates += record.duplicates
        summary.spooled += record.spooled
        for pos, reason, _ in record.dead:
            summary.dead_letters[reason_class(reason)] += 1
            if len(summary.errors) < MAX_ERRORS:
                summary.errors.append((pos, reason))
        if self.collect_ids:
            summary.new_event_ids.extend(str(ev["event"]["id"]) for ev in stored)
        if stored and self.on_batch is not None:
            self.on_batch(stored)

    @staticmethod
    def _settle(items: list[tuple[str, str, Event]], result: WriteResult, record: BatchRecord) -> list[Event]:
        failed = {id(ev): reason for ev, reason in result.failed}
        stored = []
        for pos, raw, ev in items:
            rejected = failed.get(id(ev))
            if rejected is None:
                stored.append(ev)
            else:
                record.dead.append((pos, f"store: {rejected}", raw_bytes(raw)))
        record.written, record.duplicates = result.written, result.duplicates
        return stored

    def _store(self, events: list[Event]) -> WriteResult:
        """Write to the store; an event it cannot serialise fails alone (bisection), not the batch."""
        if time.monotonic() < self._down_until:
            raise StoreUnavailable("the event store was unreachable a moment ago; retrying later")
        try:
            return self.platform.events.write(events)
        except StoreUnavailable:
            raise
        except (TypeError, ValueError, OverflowError) as exc:
            if len(events) == 1:
                return WriteResult(failed=[(events[0], f"cannot store the event: {type(exc).__name__}: {exc}")])
            half = len(events) // 2
            a, b = self._store(events[:half]), self._store(events[half:])
            return WriteResult(a.written + b.written, a.duplicates + b.duplicates, a.failed + b.failed)

    def _store_down(self, exc: StoreUnavailable) -> None:
        if time.monotonic() >= self._down_until:
            self._backoff = min(max(self._backoff * 2, 1.0), MAX_BACKOFF)
            self._down_until = time.monotonic() + self._backoff
            log.warning("event store unavailable (%s): spooling to %s, next try in %.0f s", exc,
                        self.spool.directory, self._backoff)

    def _store_up(self) -> None:
        if self._backoff:
            log.warning("event store available again")
        self._backoff = 0.0
        self._down_until = 0.0

    # -- the spool ------------------------------------------------------------------------------
    def idle(self, summary: IngestSummary) -> None:
        """While following, replay the spool once the store may be back."""
        if self._spool_dirty and time.monotonic() >= self._down_until:
            try:
                self._replay_spool(summary)
            except StoreUnavailable as exc:
                self._store_down(exc)
            else:
                self._store_up()

    def drain_spool(self) -> IngestSummary:
        """Replay the spool now (end of a one-shot ingest); StoreUnavailable when still down."""
        summary = IngestSummary()
        self._down_until = 0.0
        self._spool_dirty = True
        self._replay_spool(summary)
        return summary

    def _replay_spool(self, summary: IngestSummary) -> None:
        """Replay the spool, oldest batch first; StoreUnavailable when the store is (still) down."""
        if not self._spool_dirty:
            return
        if time.monotonic() < self._down_until:
            raise StoreUnavailable("the event store was unreachable a moment ago; retrying later")

        def replay(segment: Segment) -> None:
            at = datetime.now(UTC)
            ingested = format_ts(at)
            events = [ev for _, _, ev in segment.items]
            for ev in events:
                ev["event"]["ingested"] = ingested
            result = self._store(events)
            record = BatchRecord(segment.source, segment.parser, spooled=-len(events), at=at,
                                 newest=max((parse_ts(str(ev["@timestamp"])) for ev in events), default=None))
            stored = self._settle(segment.items, result, record)
            commit_batch(self.platform.db, self.sid(segment.source, segment.parser), record)
            summary.replayed += result.written
            for _, reason, _ in record.dead:
                summary.dead_letters[reason_class(reason)] += 1
            if stored and self.on_batch is not None:
                self.on_batch(stored)

        self.spool.replay(replay)
        self._spool_dirty = self.spool.pending() > 0


_IDLE = "idle"
_STOP = "stop"


class WriterThread:
    """A ``StoreWriter`` fed batch after batch, in order, by the parsing loop of one ingest."""

    def __init__(self, writer: StoreWriter, summary: IngestSummary,
                 progress: Callable[[int, int], None] | None) -> None:
        self.writer = writer
        self.summary = summary
        self.progress = progress
        self.error: BaseException | None = None
        self._queue: queue.Queue[Batch | str] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job == _STOP:
                return
            if self.error is not None:
                continue  # after a failure nothing more is acknowledged; the caller raises it
            try:
                if isinstance(job, Batch):
                    self.writer.write(job, self.summary)
                    if self.progress is not None:
                        self.progress(job.progress_bytes, job.lines)
                else:
                    self.writer.idle(self.summary)
            except BaseException as exc:  # noqa: BLE001 - handed to the parsing thread, which raises it
                self.error = exc

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def submit(self, batch: Batch) -> None:
        self._check()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
            self._thread.start()
        self._queue.put(batch)

    def idle(self) -> None:
        self._check()
        if self._thread is None:  # nothing was handed over yet: do it here
            self.writer.idle(self.summary)
            return
        self._queue.put(_IDLE)

    def close(self) -> None:
        """Wait for every batch handed over; raise the writer's error, if any."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        self._check()
