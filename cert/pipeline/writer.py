"""The write side of the ingest pipeline: store a batch (or spool it), then commit its record.

``StoreWriter`` does it for one batch: write the events to the event store (an event the store
cannot serialise fails alone), or, when the store is unreachable, append the batch to the spool
and back off; then commit the batch's dead letters, counters and checkpoint in one transaction
(``cert.pipeline.state.commit_batch``); then hand the stored events to ``on_batch`` (streaming
detection). Before new events, batches waiting in the spool are replayed, oldest first. The two
halves can be apart: ``begin`` starts the store's write (in another thread if given one),
``finish`` waits for its answer and commits.

``WriterThread`` runs a ``StoreWriter`` beside the parsing loop, so that parsing the next batch
overlaps with the store taking earlier ones (the store's I/O releases the GIL). Batches are taken
in order from a queue of one; up to ``EventStore.write_concurrency`` of them are in the store at
once, and their records are committed strictly in the order they
were handed over, each after the store answered for it: memory stays bounded and checkpoints
follow the file. An error in the thread (a full spool, a store failure that is no outage) is
raised in the parsing thread at its next hand-over, with nothing acknowledged after the failing
batch. A store whose writes gain nothing beside parsing (``EventStore.write_beside_parsing``, the
embedded store) is written in the parsing thread itself.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cert.core.ecs import Event, format_ts, parse_ts
from cert.core.errors import StoreUnavailable
from cert.core.event_store import WriteResult
from cert.core.lines import FilePosition
from cert.core.parser import RECEIPT_TAG
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
    #: events may take their receive time (``ParserOptions.receive_time``): those tagged
    #: ``time_from_receipt`` get the ingestion time as ``@timestamp`` too
    receipt_times: bool = False


def _receipt_times(events: list[Event], ingested: str) -> None:
    """The events that took their receive time as ``@timestamp``: it is the ingestion time."""
    for ev in events:
        tags = ev.get("tags")
        if isinstance(tags, list) and RECEIPT_TAG in tags:
            ev["@timestamp"] = ingested


def raw_bytes(raw: str) -> bytes:
    """The bytes a line was read from (undecodable bytes were kept as surrogates)."""
    try:
        return raw.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates no byte produced (a decoded network payload)
        return raw.encode("utf-8", "surrogatepass")


#: Runs ``StoreWriter._store`` on the events in another thread: ``ThreadPoolExecutor.submit``.
Submit = Callable[[Callable[[list[Event]], WriteResult], list[Event]], "Future[WriteResult]"]


@dataclass
class PendingWrite:
    """A batch whose events the store is taking (``StoreWriter.begin``), its record not yet
    committed: the store's answer is ``result`` (written here), ``answer`` (written in another
    thread) or ``unavailable`` (the store could not be tried: the batch goes to the spool)."""

    batch: Batch
    record: BatchRecord
    events: list[Event] = field(default_factory=list)
    result: WriteResult | None = None
    answer: Future[WriteResult] | None = None
    unavailable: StoreUnavailable | None = None


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
        self.finish(self.begin(b, summary), summary)

    @property
    def replay_due(self) -> bool:
        """Whether the next ``begin`` replays the spool first (batches wait there)."""
        return self._spool_dirty

    def begin(self, b: Batch, summary: IngestSummary, submit: Submit | None = None) -> PendingWrite:
        """Stamp the batch's events with their ingestion time, replay the spool, and start the
        store's write of the events: through ``submit`` (another thread), else here. Nothing is
        committed: ``finish`` does it."""
        pending = PendingWrite(b, BatchRecord(b.source, b.parser, position=b.position, lines=b.lines,
                                              skipped=b.skipped, dead=list(b.dead), newest=b.newest))
        if b.events:
            at = datetime.now(UTC)
            pending.record.at = at
            ingested = format_ts(at)
            events = pending.events = [ev for _, _, ev in b.events]
            for ev in events:
                ev["event"]["ingested"] = ingested  # when the store takes it, for `cert detect` windows
            if b.receipt_times:
                _receipt_times(events, ingested)
            try:
                self._replay_spool(summary)
                if submit is None:
                    pending.result = self._store(events)
                else:
                    pending.answer = submit(self._store, events)
            except StoreUnavailable as exc:
                pending.unavailable = exc
        return pending

    def finish(self, pending: PendingWrite, summary: IngestSummary) -> None:
        """Wait for the store's answer for the batch (or spool the batch when the store was
        unavailable), then commit its record; SpoolFull acknowledges nothing."""
        b, record = pending.batch, pending.record
        stored: list[Event] = []
        if b.events:
            try:
                if pending.unavailable is not None:
                    raise pending.unavailable
                result = pending.answer.result() if pending.answer is not None else pending.result
                assert result is not None
            except StoreUnavailable as exc:
                self._store_down(exc)
                items = [(f"{b.unit} {n}", raw, ev) for n, raw, ev in b.events]
                unspoolable = self.spool.append(b.source, b.parser, items)
                for (pos, raw, _), why in unspoolable:
                    record.dead.append((pos, f"spool: {why}", raw_bytes(raw)))
                record.spooled = len(items) - len(unspoolable)
                self._spool_dirty = True
            else:
                self._store_up()
                stored = self._settle(b.events, result, record, pending.events, b.unit)
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
    def _settle(items: Sequence[tuple[object, str, Event]], result: WriteResult, record: BatchRecord,
                events: list[Event], unit: str = "") -> list[Event]:
        """The events stored (``events``: those of ``items``, in order); the rejected ones become
        dead letters at their position (``unit`` and the position, or the position alone)."""
        record.written, record.duplicates = result.written, result.duplicates
        if not result.failed:
            return events
        failed = {id(ev): reason for ev, reason in result.failed}
        stored = []
        for pos, raw, ev in items:
            rejected = failed.get(id(ev))
            if rejected is None:
                stored.append(ev)
            else:
                record.dead.append((f"{unit} {pos}" if unit else str(pos), f"store: {rejected}", raw_bytes(raw)))
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
            _receipt_times(events, ingested)
            result = self._store(events)
            record = BatchRecord(segment.source, segment.parser, spooled=-len(events), at=at,
                                 newest=max((parse_ts(str(ev["@timestamp"])) for ev in events), default=None))
            stored = self._settle(segment.items, result, record, events)
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
    """A ``StoreWriter`` fed batch after batch, in order, by the parsing loop of one ingest.

    A store that says writing beside the parser does not pay (``write_beside_parsing``) is
    written in the parsing thread itself, batch after batch.

    Up to ``depth`` batches (the event store's ``write_concurrency`` unless given) are in the
    store at once, written by as many threads; this thread commits each one's record, oldest
    first, once the store answered for it, so records and checkpoints follow the order of the
    hand-overs whatever order the store answers in."""

    def __init__(self, writer: StoreWriter, summary: IngestSummary,
                 progress: Callable[[int, int], None] | None, depth: int | None = None) -> None:
        self.writer = writer
        self.summary = summary
        self.progress = progress
        self.depth = depth
        self.error: BaseException | None = None
        self._queue: queue.Queue[Batch | str] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        store = self.writer.platform.events  # opened here, before any thread of the pool uses it
        depth = max(1, self.depth if self.depth is not None else store.write_concurrency)
        pool = ThreadPoolExecutor(depth, thread_name_prefix="ingest-store") if depth > 1 else None
        in_flight: deque[PendingWrite] = deque()
        try:
            while True:
                job = self._queue.get()
                if self.error is None:  # after a failure nothing more is acknowledged; the caller raises it
                    try:
                        self._handle(job, in_flight, depth, pool)
                    except BaseException as exc:  # noqa: BLE001 - handed to the parsing thread, which raises it
                        self.error = exc
                        wait([p.answer for p in in_flight if p.answer is not None])  # written, not acknowledged
                        in_flight.clear()
                if job == _STOP:
                    return
        finally:
            if pool is not None:
                pool.shutdown()

    def _handle(self, job: Batch | str, in_flight: deque[PendingWrite], depth: int,
                pool: ThreadPoolExecutor | None) -> None:
        """Commit the batches the store answered for, oldest first, then take ``job``: a batch is
        started once fewer than ``depth`` are in flight (and none while the spool is replayed); a
        stop or an idle source first commits every batch in flight."""
        while in_flight and (in_flight[0].answer is None or in_flight[0].answer.done()):
            self._finish(in_flight.popleft())
        if not isinstance(job, Batch):
            while in_flight:
                self._finish(in_flight.popleft())
            if job == _IDLE:
                self.writer.idle(self.summary)
            return
        while in_flight and (len(in_flight) >= depth or self.writer.replay_due):
            self._finish(in_flight.popleft())
        pending = self.writer.begin(job, self.summary, None if pool is None else pool.submit)
        if pool is None:
            self._finish(pending)
        else:
            in_flight.append(pending)

    def _finish(self, pending: PendingWrite) -> None:
        self.writer.finish(pending, self.summary)
        if self.progress is not None:
            self.progress(pending.batch.progress_bytes, pending.batch.lines)

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def _inline(self) -> bool:
        """Whether batches are written here, in the parsing thread (the store's choice, unless a
        ``depth`` was given)."""
        return self.depth is None and not self.writer.platform.events.write_beside_parsing

    def submit(self, batch: Batch) -> None:
        self._check()
        if self._inline():
            self.writer.write(batch, self.summary)
            if self.progress is not None:
                self.progress(batch.progress_bytes, batch.lines)
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
            self._thread.start()
        self._queue.put(batch)

    def idle(self) -> None:
        """Commit every batch handed over, then replay the spool if it is due."""
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
