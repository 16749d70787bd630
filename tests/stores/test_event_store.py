"""One interface suite, run against both real backends: embedded SQLite and an Elasticsearch node."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cert.core.ecs import event_id, format_ts
from cert.storage.events import EventQuery, EventStore
from cert.storage.events.elasticsearch import ElasticsearchEventStore
from cert.storage.events.embedded import EmbeddedEventStore

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def make_event(i: int, ip: str = "203.0.113.5", user: str = "root", minutes: int = 0) -> dict:
    raw = f"line {i} {ip} {user}"
    ts = T0 + timedelta(minutes=minutes or i)
    return {
        "@timestamp": format_ts(ts),
        "event": {"id": event_id("test", raw), "dataset": "test", "ingested": format_ts(ts + timedelta(seconds=5)),
                  "original": raw},
        "source": {"ip": ip, "port": 40000 + i},
        "user": {"name": user},
        "related": {"ip": [ip, "10.10.4.21"], "user": [user]},
        "message": f"<script>alert({i})</script>",
    }


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "embedded":
        s: EventStore = EmbeddedEventStore(tmp_path / "events.sqlite3")
    else:
        url = request.getfixturevalue("es_url")
        s = ElasticsearchEventStore(url, prefix=f"t{uuid.uuid4().hex[:10]}")
    yield s
    s.close()


def test_write_then_get_returns_the_same_documents(store: EventStore) -> None:
    events = [make_event(i) for i in range(5)]
    res = store.write(events)
    store.refresh()
    assert (res.written, res.duplicates, res.failed) == (5, 0, [])
    ids = [e["event"]["id"] for e in reversed(events)]
    got = store.get([*ids, "no-such-id"])
    assert [g["event"]["id"] for g in got] == ids
    assert got[-1] == events[0]


def test_replay_never_duplicates(store: EventStore) -> None:
    events = [make_event(i) for i in range(20)]
    store.write(events[:12])
    res = store.write(events)
    store.refresh()
    assert (res.written, res.duplicates) == (8, 12)
    assert store.count() == 20


def test_search_filters_by_time_and_terms_newest_first(store: EventStore) -> None:
    events = [make_event(i, ip="203.0.113.5" if i % 2 else "198.51.100.9", user=f"u{i % 3}") for i in range(1, 13)]
    store.write(events)
    store.refresh()
    found = store.search(EventQuery(terms={"source.ip": ["198.51.100.9"]}))
    assert [e["source"]["port"] for e in found] == [40012, 40010, 40008, 40006, 40004, 40002]
    # array field: any element matches
    assert store.count(EventQuery(terms={"related.ip": ["10.10.4.21"]})) == 12
    window = EventQuery(start=T0 + timedelta(minutes=3), end=T0 + timedelta(minutes=6), oldest_first=True)
    assert [e["source"]["port"] for e in store.search(window)] == [40003, 40004, 40005]
    both = EventQuery(terms={"source.ip": ["203.0.113.5"], "user.name": ["u0"]})
    assert sorted(e["source"]["port"] for e in store.search(both)) == [40003, 40009]
    assert store.search(EventQuery(terms={"user.name": []})) == []


def test_search_by_ingestion_time_and_limit(store: EventStore) -> None:
    store.write([make_event(i) for i in range(1, 31)])
    store.refresh()
    since = T0 + timedelta(minutes=10, seconds=5)
    q = EventQuery(ingested_after=since, oldest_first=True, limit=1000)
    assert [e["source"]["port"] for e in store.search(q)][:3] == [40011, 40012, 40013]
    assert len(store.search(EventQuery(limit=7))) == 7


def test_a_bad_event_is_reported_not_stored(store: EventStore) -> None:
    good = make_event(1)
    bad = make_event(2)
    bad["@timestamp"] = "not a time"
    res = store.write([good, bad])
    store.refresh()
    assert res.written == 1
    assert len(res.failed) == 1 and res.failed[0][0] is bad and "timestamp" in res.failed[0][1]
    assert store.count() == 1


def test_a_large_batch_with_repeats_counts_each_event_once(store: EventStore) -> None:
    """Batches bigger than one INSERT statement: the rows of every statement are written, and an
    event already stored, or twice in the batch, is a duplicate."""
    first = [make_event(n) for n in range(600)]
    assert store.write(first).written == 600
    again = [make_event(n) for n in range(300, 900)] + [make_event(899)]
    res = store.write(again)
    store.refresh()
    assert (res.written, res.duplicates, res.failed) == (300, 301, [])
    assert store.count() == 900


@pytest.mark.parametrize("stamp", ["2026-02-30T08:00:00.000Z", "2026-13-01T08:00:00.000Z", "2026-01-01T25:00:00.000Z"])
def test_a_timestamp_in_the_stored_form_that_is_no_date_is_refused(store: EventStore, stamp: str) -> None:
    """Text shaped like the stores' own timestamps is still checked to be a real date."""
    good, bad = make_event(1), make_event(2)
    bad["@timestamp"] = stamp
    res = store.write([good, bad])
    store.refresh()
    assert res.written == 1 and [ev for ev, _ in res.failed] == [bad] and "timestamp" in res.failed[0][1]
    assert store.count() == 1


def test_scan_reads_every_event_once_in_time_order_a_batch_at_a_time(store: EventStore) -> None:
    """A scan in batches of 7 over 50 events, 10 of them sharing one timestamp (the resume key
    must break ties by event id), returns each event once, oldest first, in pages of at most 7;
    the newest-first scan is its reverse."""
    events = [make_event(i, minutes=(i if i >= 10 else 3)) for i in range(50)]
    store.write(events)
    store.refresh()
    q = EventQuery(oldest_first=True)
    pages = list(store.scan(q, batch=7))
    assert all(1 <= len(p) <= 7 for p in pages)
    ids = [e["event"]["id"] for p in pages for e in p]
    assert len(ids) == len(set(ids)) == 50
    expected = [e["event"]["id"] for e in sorted(events, key=lambda e: (e["@timestamp"], e["event"]["id"]))]
    assert ids == expected
    newest = [e["event"]["id"] for p in store.scan(EventQuery(), batch=7) for e in p]
    assert newest == expected[::-1]
    window = [e for p in store.scan(EventQuery(start=T0 + timedelta(minutes=20), oldest_first=True), batch=4) for e in p]
    assert len(window) == 30
