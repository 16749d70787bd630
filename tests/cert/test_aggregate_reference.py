"""The reference aggregation (cert.core.aggregate.reference_aggregate), by hand on a few events:
groups, time buckets, every metric, left-out events, and chunks that never split a group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from cert.core.aggregate import AggregateQuery, Metric, chunks, reference_aggregate
from cert.storage.events.embedded import EmbeddedEventStore

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def event(i: int, seconds: int, src: object, dst: str, port: int, sent: object) -> dict[str, object]:
    return {"@timestamp": (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
            "event": {"id": f"e{i}", "dataset": "zeek.connection"},
            "source": {"ip": src, "bytes": sent}, "destination": {"ip": dst, "port": port}}


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedEventStore:
    s = EmbeddedEventStore(tmp_path / "events.sqlite3")
    s.write([
        event(1, 5, "10.0.0.1", "198.51.100.7", 443, 100),
        event(2, 65, "10.0.0.1", "198.51.100.7", 443, 300),
        event(3, 70, "10.0.0.1", "198.51.100.8", 443, "12"),
        event(4, 130, "10.0.0.2", "198.51.100.7", 80, None),
        event(5, 10, ["10.0.0.3", "10.0.0.4"], "198.51.100.7", 80, 5),  # a list: left out
        event(6, 4000, "10.0.0.1", "198.51.100.7", 443, 1),  # after the range
    ])
    return s


def test_groups_buckets_and_metrics(store: EmbeddedEventStore) -> None:
    q = AggregateQuery(T0, T0 + timedelta(hours=1), group=("source.ip",), bucket_seconds=60,
                       metrics=(Metric("n", "count"), Metric("sent", "sum", "source.bytes"),
                                Metric("most", "max", "source.bytes"), Metric("dsts", "cardinality", "destination.ip")))
    frame = pd.concat(list(reference_aggregate(store, q)), ignore_index=True)
    assert list(frame.columns) == ["source.ip", "bucket", "n", "sent", "most", "dsts"]
    rows = [(r["source.ip"], r["bucket"].to_pydatetime(), r["n"], r["sent"], r["dsts"]) for _, r in frame.iterrows()]
    assert rows == [
        ("10.0.0.1", T0, 1, 100.0, 1),
        ("10.0.0.1", T0 + timedelta(minutes=1), 2, 312.0, 2),
        ("10.0.0.2", T0 + timedelta(minutes=2), 1, 0.0, 1),
    ]
    assert frame["most"].tolist()[:2] == [100.0, 300.0] and pd.isna(frame["most"].tolist()[2])


def test_terms_and_no_bucket(store: EmbeddedEventStore) -> None:
    q = AggregateQuery(T0, T0 + timedelta(hours=2), group=("destination.ip", "destination.port"),
                       terms={"destination.port": [443]})
    frame = pd.concat(list(reference_aggregate(store, q)), ignore_index=True)
    assert frame.to_dict("records") == [
        {"destination.ip": "198.51.100.7", "destination.port": 443, "events": 3},
        {"destination.ip": "198.51.100.8", "destination.port": 443, "events": 1},
    ]
    assert list(reference_aggregate(store, AggregateQuery(T0 - timedelta(days=2), T0, group=("source.ip",)))) == []


def test_chunks_end_on_group_boundaries() -> None:
    frame = pd.DataFrame({"k": ["a"] * 3 + ["b"] * 4 + ["c"], "v": range(8)})
    parts = list(chunks(frame, ["k"], rows=2))
    assert [p["k"].tolist() for p in parts] == [["a"] * 3, ["b"] * 4, ["c"]]


def test_query_is_checked() -> None:
    with pytest.raises(ValueError, match="one field at least"):
        AggregateQuery(T0, T0, group=())
    with pytest.raises(ValueError, match="needs a field"):
        Metric("s", "sum")
    with pytest.raises(ValueError, match="repeat or use"):
        AggregateQuery(T0, T0, group=("bucket",))
