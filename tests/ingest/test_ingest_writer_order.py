"""Batches in the store at once (``EventStore.write_concurrency``): whatever order the store
answers in, records and checkpoints are committed in file order, each after its own write."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ingest_support import make_apache_file

from cert.core.ecs import Event
from cert.core.errors import StoreUnavailable
from cert.core.event_store import WriteResult
from cert.pipeline import writer as writer_module
from cert.pipeline.ingestor import Ingestor
from cert.pipeline.spool import Segment, read_segment
from cert.pipeline.state import BatchRecord, load_checkpoint
from cert.runtime.platform import Platform
from cert.storage.db import Database
from cert.storage.events.embedded import EmbeddedEventStore

BATCH = 100
LINES = 10 * BATCH


def line_of(event: Event) -> int:
    """The file line of an event of ``make_apache_file`` (its ident field is ``r<n>``, line n+1)."""
    return int(str(event["event"]["original"]).split(" ", 2)[1][1:]) + 1


class ReorderingStore(EmbeddedEventStore):
    """Two writes at a time, answered out of order: a call listed in ``hold`` returns 0.2 s after
    the next call has returned (or after 5 s); a call listed in ``fail`` then raises its error."""

    write_concurrency = 2
    write_beside_parsing = True  # a network store's answers, out of order

    def __init__(self, path: Path, hold: set[int], fail: dict[int, BaseException] | None = None) -> None:
        super().__init__(path)
        self.hold = hold
        self.fail = fail or {}
        self._guard = threading.Lock()
        self._calls = 0
        self._returned: dict[int, threading.Event] = {}
        self.stored: set[int] = set()  # lines whose events a write took
        self.order: list[int] = []  # call numbers, as they returned

    def _gate(self, n: int) -> threading.Event:
        with self._guard:
            return self._returned.setdefault(n, threading.Event())

    def taken(self) -> set[int]:
        with self._guard:
            return set(self.stored)

    def write(self, events: Sequence[Event]) -> WriteResult:
        with self._guard:
            n = self._calls
            self._calls += 1
        try:
            if n in self.hold:
                self._gate(n + 1).wait(timeout=5)
                time.sleep(0.2)  # the next batch is handed over meanwhile, its write answered long ago
            if n in self.fail:
                raise self.fail[n]
            result = super().write(events)
            with self._guard:
                self.stored.update(line_of(ev) for ev in events)
            return result
        finally:
            with self._guard:
                self.order.append(n)
            self._gate(n).set()


@dataclass
class Commits:
    """(checkpoint line, lines the store had taken then) of every batch record committed."""

    store: ReorderingStore | None = None
    seen: list[tuple[int, set[int]]] = field(default_factory=list)

    @property
    def lines(self) -> list[int]:
        return [line for line, _ in self.seen]


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> Commits:
    found = Commits()
    real = writer_module.commit_batch

    def recording(db: Database, sid: int, record: BatchRecord) -> None:
        if record.position is not None and found.store is not None:
            found.seen.append((record.position.line, found.store.taken()))
        real(db, sid, record)

    monkeypatch.setattr(writer_module, "commit_batch", recording)
    return found


def use(platform: Platform, store: ReorderingStore, commits: Commits) -> None:
    platform.__dict__["events"] = store
    commits.store = store


def test_records_follow_the_file_when_the_store_answers_out_of_order(
        ingest_platform: Platform, tmp_path: Path, commits: Commits) -> None:
    log = make_apache_file(tmp_path / "access.log", LINES)
    store = ReorderingStore(tmp_path / "events.sqlite3", hold=set(range(0, 10, 2)))
    use(ingest_platform, store, commits)
    summary = Ingestor(ingest_platform, "web.access", batch_size=BATCH).ingest_file(str(log.path))

    assert summary.ingested == LINES and store.count() == LINES
    assert store.order[:2] == [1, 0], "two writes were in the store at once, answered out of order"
    assert commits.lines == list(range(BATCH, LINES + 1, BATCH)), "committed in file order"
    for line, stored in commits.seen:
        assert set(range(1, line + 1)) <= stored, f"checkpoint {line} committed before the store took its lines"
    assert load_checkpoint(ingest_platform.db, str(log.path), "web.access").line == LINES  # type: ignore[union-attr]


def test_a_failed_batch_acknowledges_nothing_after_it_though_the_next_was_written(
        ingest_platform: Platform, tmp_path: Path, commits: Commits) -> None:
    log = make_apache_file(tmp_path / "access.log", LINES)
    store = ReorderingStore(tmp_path / "events.sqlite3", hold={2}, fail={2: RuntimeError("disk on fire")})
    use(ingest_platform, store, commits)
    with pytest.raises(RuntimeError, match="disk on fire"):
        Ingestor(ingest_platform, "web.access", batch_size=BATCH).ingest_file(str(log.path))

    assert set(range(3 * BATCH + 1, 4 * BATCH + 1)) <= store.stored, "the batch after the failure was written"
    assert commits.lines == [BATCH, 2 * BATCH]
    position = load_checkpoint(ingest_platform.db, str(log.path), "web.access")
    assert position is not None and position.line == 2 * BATCH, "nothing acknowledged after the failing batch"


def test_a_batch_the_store_refuses_is_spooled_and_committed_in_its_place(
        ingest_platform: Platform, tmp_path: Path, commits: Commits, monkeypatch: pytest.MonkeyPatch) -> None:
    log = make_apache_file(tmp_path / "access.log", LINES)
    store = ReorderingStore(tmp_path / "events.sqlite3", hold={2}, fail={2: StoreUnavailable("node gone")})
    use(ingest_platform, store, commits)
    ingestor = Ingestor(ingest_platform, "web.access", batch_size=BATCH)
    segments: list[list[str]] = []
    real_replay = ingestor.spool.replay

    def replay(handle: Callable[[Segment], None]) -> int:
        segments.extend([item[0] for item in s.items] for p in sorted(ingestor.spool.directory.glob("*.batch"))
                        if (s := read_segment(p)) is not None)
        return real_replay(handle)

    monkeypatch.setattr(ingestor.spool, "replay", replay)
    summary = ingestor.ingest_file(str(log.path))

    assert store.order[:4] == [0, 1, 3, 2], "the batch after the refused one was written first"
    assert segments and segments[0] == [f"line {n}" for n in range(2 * BATCH + 1, 3 * BATCH + 1)]
    assert summary.spooled == BATCH and summary.replayed == BATCH and summary.ingested == LINES - BATCH
    assert commits.lines == list(range(BATCH, LINES + 1, BATCH)), "committed in file order"
    assert store.count() == LINES and ingestor.spool.pending() == 0
