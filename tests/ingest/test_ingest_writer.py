"""The write side of the pipeline: what is acknowledged, when, and what a bad event costs."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest
from ingest_support import make_apache_file
from sqlalchemy import select

from cert.pipeline.health import ingest_health
from cert.pipeline.ingestor import Ingestor
from cert.pipeline.spool import SpoolFull
from cert.pipeline.state import load_checkpoint
from cert.pipeline.writer import Batch, IngestSummary, StoreWriter
from cert.runtime.platform import Platform
from cert.storage.events.elasticsearch import ElasticsearchEventStore
from cert.storage.events.embedded import EmbeddedEventStore
from cert.storage.models import DeadLetter
from cert.storage.models.ingest import IngestSource


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def unreachable(p: Platform) -> None:
    """Point the platform at an Elasticsearch that refuses connections (a real client)."""
    p.__dict__["events"] = ElasticsearchEventStore(f"http://127.0.0.1:{closed_port()}", prefix="down")


def test_an_event_the_store_cannot_take_fails_alone(ingest_platform: Platform) -> None:
    writer = StoreWriter(ingest_platform)
    good = [{"@timestamp": f"2026-11-21T10:00:0{i}.000Z", "event": {"id": f"id{i}"}} for i in range(6)]
    bad = {"@timestamp": "2026-11-21T10:00:09.000Z", "event": {"id": "bad"}, "tags": {"a", "set"}}
    batch = Batch("api://test", "ecs", "line", events=[(i + 1, f"raw {i}", ev) for i, ev in enumerate(good[:3])])
    batch.events += [(4, "raw bad", bad)] + [(i + 5, f"raw {i}", ev) for i, ev in enumerate(good[3:])]
    batch.lines = 7
    summary = IngestSummary()
    writer.write(batch, summary)
    assert summary.ingested == 6 and summary.dead_lettered == 1
    assert ingest_platform.events.count() == 6
    with ingest_platform.db.session() as s:
        letter = s.scalars(select(DeadLetter)).one()
    assert (letter.position, letter.raw) == ("line 4", b"raw bad")
    assert letter.reason.startswith("store: cannot store the event: TypeError")


def test_store_down_spools_acknowledges_and_replays_once(ingest_platform: Platform, tmp_path: Path) -> None:
    log = make_apache_file(tmp_path / "access.log", 2500, bad_every=1000)
    unreachable(ingest_platform)
    ingestor = Ingestor(ingest_platform, "web.access", batch_size=600)
    summary = ingestor.ingest_file(str(log.path))
    assert summary.spooled == len(log.event_ids) and summary.ingested == 0 and summary.dead_lettered == 2
    assert load_checkpoint(ingest_platform.db, str(log.path), "web.access").offset == log.path.stat().st_size
    with ingest_platform.db.session() as s:
        health = {h.source: h for h in ingest_health(s)}[str(log.path)]
    assert health.status == "spooling" and health.spooled == len(log.event_ids) and health.events == 0

    # the store comes back: the spool is replayed, once
    ingest_platform.__dict__["events"] = EmbeddedEventStore(tmp_path / "events.sqlite3")
    replayed = ingestor.drain_spool()
    assert replayed.replayed == len(log.event_ids) and ingestor.spool.pending() == 0
    assert ingestor.drain_spool().replayed == 0
    assert ingest_platform.events.count() == len(log.event_ids)
    with ingest_platform.db.session() as s:
        row = s.scalars(select(IngestSource).where(IngestSource.source == str(log.path))).one()
        assert (row.events, row.spooled, row.lines, row.dead_letters) == (len(log.event_ids), 0, 2500, 2)
        assert row.newest_event_at is not None


def test_a_full_spool_acknowledges_nothing(ingest_platform: Platform, tmp_path: Path) -> None:
    ingest_platform.settings = replace(ingest_platform.settings, spool_max_mb=1)
    log = make_apache_file(tmp_path / "access.log", 20_000)
    unreachable(ingest_platform)
    ingestor = Ingestor(ingest_platform, "web.access", batch_size=200)
    with pytest.raises(SpoolFull, match="Nothing was lost"):
        ingestor.ingest_file(str(log.path))
    position = load_checkpoint(ingest_platform.db, str(log.path), "web.access")
    assert position is not None and 0 < position.offset < log.path.stat().st_size
    assert position.line == 200 * ingestor.spool.pending(), "acknowledged exactly what the spool holds"


def test_the_embedded_store_is_written_from_the_parsing_thread(ingest_platform: Platform, tmp_path: Path) -> None:
    """SQLite inserts hold the interpreter lock for most of their time: `cert ingest` writes the
    embedded store in its own thread, Elasticsearch from a writer beside it."""
    import threading

    threads: set[str] = set()
    store = ingest_platform.events
    write = store.write

    def recording(events: list[dict[str, object]]) -> object:
        threads.add(threading.current_thread().name)
        return write(events)

    store.write = recording  # type: ignore[method-assign,assignment]
    log = make_apache_file(tmp_path / "access.log", 4500)
    summary = Ingestor(ingest_platform, "web.access", batch_size=1000).ingest_file(str(log.path))
    assert summary.ingested == 4500 and store.count() == 4500
    assert threads == {threading.current_thread().name}
    assert EmbeddedEventStore.write_beside_parsing is False and ElasticsearchEventStore.write_beside_parsing is True
