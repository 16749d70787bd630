"""Aggregations answered by each store's own engine (SQL GROUP BY in the embedded store, composite
aggregations on a real Elasticsearch node) against the reference computed in Python from a scan:
the same rows, the same column types, in chunks that never split a group."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cert.core.aggregate import AggregateQuery, Metric, reference_aggregate
from cert.core.ecs import format_ts
from cert.core.lines import read_lines
from cert.pipeline.ingestor import finalize
from cert.storage.events import EventStore
from cert.storage.events import aggregation as agg_frames
from cert.storage.events.elasticsearch import ElasticsearchEventStore
from cert.storage.events.embedded import EmbeddedEventStore
from ingest.parsers.zeek import ZeekParser

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
CONN = "anomaly/network/derived_conn_njrat-cc-injected-into-ctu-normal-40.labeled.log.gz"
DAY = (datetime(2022, 6, 12, tzinfo=UTC), datetime(2022, 6, 14, tzinfo=UTC))


def conn_events(corpora: Path) -> list[dict[str, Any]]:
    path = str(corpora / CONN)
    parser = ZeekParser().for_source(path)
    events = []
    for _, line in read_lines(path):
        event = parser.parse(line)
        if event is not None:
            events.append(finalize(event, parser, line, path))
    return events


def edge(i: int, seconds: int, src: object, port: object, sent: object = 10, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "@timestamp": format_ts(T0 + timedelta(seconds=seconds)),
        "event": {"id": f"edge-{i}", "dataset": "test.edge"},
        "source": {"ip": src, "bytes": sent},
        "destination": {"ip": "198.51.100.7", "port": port},
        "network": {"transport": "tcp" if i % 3 else "udp"},
    }
    if src is None:
        del event["source"]["ip"]
    event.update(extra)
    return event


EDGES = [
    edge(1, 5, "10.0.0.1", 443, 100),
    edge(2, 65, "10.0.0.1", 443, 300),
    edge(3, 70, "10.0.0.1", 8443, "12"),  # a number written as text: summed as 12
    edge(4, 130, "10.0.0.2", 80, None),  # no bytes: 0 in the sum, none for the minimum
    edge(5, 10, ["10.0.0.3", "10.0.0.4"], 80, 5),  # a list in a group field: left out
    edge(6, 11, None, 80, 5),  # no source address: left out
    edge(7, 4000, "10.0.0.1", 443, 1),  # in a later bucket
    edge(8, 3 * 86400, "10.0.0.1", 443, 1),  # after the range
    edge(9, -3600, "10.0.0.9", 22, 7),  # before the range
    edge(10, 7205, "10.0.0.10", 22, 2**40),  # huge byte count
    edge(11, 7206, "2001:db8::1", 22, 3),
    edge(12, 7207, "10.0.0.2", 443, 0),
]


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "embedded":
        s: EventStore = EmbeddedEventStore(tmp_path / "events.sqlite3")
    else:
        s = ElasticsearchEventStore(request.getfixturevalue("es_url"), prefix=f"t{uuid.uuid4().hex[:10]}")
    yield s
    s.close()


def answer(chunks: Iterator[pd.DataFrame], query: AggregateQuery) -> pd.DataFrame:
    """The chunks joined, after checking that none splits a group; sorted by group and bucket (the
    stores may order the groups differently: Elasticsearch orders addresses as addresses)."""
    parts = list(chunks)
    seen: set[tuple[Any, ...]] = set()
    for part in parts:
        groups = set(part[list(query.group)].itertuples(index=False, name=None))
        assert not groups & seen, "a group is split between two chunks"
        seen |= groups
    if not parts:
        return agg_frames.frame(query, [])
    keys = [*query.group, *(["bucket"] if query.bucket_seconds else [])]
    joined = pd.concat(parts, ignore_index=True)
    return joined.sort_values(keys, kind="stable", key=lambda c: c.astype(str) if c.dtype == object else c) \
        .reset_index(drop=True)


def same(store: EventStore, query: AggregateQuery) -> pd.DataFrame:
    got = answer(store.aggregate(query), query)
    want = answer(reference_aggregate(store, query), query)
    pd.testing.assert_frame_equal(got, want, check_dtype=True)
    return got


def test_conn_logs_grouped_by_pair_and_bucket_as_the_reference(store: EventStore, corpora: Path) -> None:
    events = conn_events(corpora)
    assert store.write(events).failed == []
    store.refresh()
    pairs = AggregateQuery(*DAY, group=("source.ip", "destination.ip", "destination.port"), bucket_seconds=3600,
                           metrics=(Metric("conns", "count"), Metric("sent", "sum", "source.bytes"),
                                    Metric("least", "min", "destination.bytes"),
                                    Metric("most", "max", "source.bytes"),
                                    Metric("ports", "cardinality", "source.port")))
    got = same(store, pairs)
    c2 = got[(got["destination.ip"] == "41.108.179.197") & (got["destination.port"] == 1177)]
    c2_events = [e for e in events if e["destination"]["ip"] == "41.108.179.197" and e["destination"]["port"] == 1177]
    assert len(c2_events) > 200 and all(e["zeek"]["connection"]["label"] == "Malicious" for e in c2_events)
    assert int(c2["conns"].sum()) == len(c2_events) and set(c2["source.ip"]) == {"147.32.81.167"}
    assert got["conns"].sum() == len(events)
    assert str(got["bucket"].dtype).endswith(", UTC]") and got["destination.port"].dtype == "int64"
    by_host = AggregateQuery(*DAY, group=("source.ip",),
                             metrics=(Metric("peers", "cardinality", "destination.ip"),
                                      Metric("dports", "cardinality", "destination.port")),
                             terms={"network.transport": ["tcp"]})
    hosts = same(store, by_host)
    assert hosts["peers"].max() > 10


def test_edge_cases_missing_fields_lists_numbers_as_text_and_buckets(store: EventStore) -> None:
    store.write(EDGES)
    store.refresh()
    q = AggregateQuery(T0, T0 + timedelta(days=1), group=("source.ip", "network.transport"), bucket_seconds=60,
                       metrics=(Metric("n", "count"), Metric("sent", "sum", "source.bytes"),
                                Metric("least", "min", "source.bytes"), Metric("ports", "cardinality",
                                                                                "destination.port")))
    got = same(store, q)
    rows = {(r["source.ip"], r["network.transport"], r["bucket"].to_pydatetime()): (r["n"], r["sent"])
            for _, r in got.iterrows()}
    assert rows[("10.0.0.1", "tcp", T0 + timedelta(minutes=1))] == (1, 300.0)
    assert rows[("10.0.0.1", "udp", T0 + timedelta(minutes=1))] == (1, 12.0)
    assert rows[("10.0.0.10", "tcp", T0 + timedelta(hours=2))] == (1, float(2**40))
    assert "10.0.0.3" not in set(got["source.ip"]) and "10.0.0.9" not in set(got["source.ip"])
    assert len(got) == 8 and got["n"].sum() == 8
    nobytes = got[got["source.ip"] == "10.0.0.2"]
    assert pd.isna(nobytes["least"].iloc[0]) and nobytes["sent"].iloc[0] == 0.0
    ports = same(store, AggregateQuery(T0, T0 + timedelta(days=1), group=("destination.port",),
                                       terms={"source.ip": ["10.0.0.1", "10.0.0.2"]}))
    assert ports.to_dict("records") == [{"destination.port": 80, "events": 1}, {"destination.port": 443, "events": 4},
                                        {"destination.port": 8443, "events": 1}]
    empty = AggregateQuery(T0 + timedelta(days=5), T0 + timedelta(days=6), group=("source.ip",))
    assert list(store.aggregate(empty)) == [] and list(reference_aggregate(store, empty)) == []


def test_a_large_answer_comes_in_chunks_that_never_split_a_group(store: EventStore, monkeypatch:
                                                                  pytest.MonkeyPatch) -> None:
    events = [edge(100 + i, i * 7, f"10.1.{i % 13}.{i % 7}", 443 + i % 3, i) for i in range(600)]
    store.write(events)
    store.refresh()
    import cert.storage.events.es_composite as es_module

    monkeypatch.setattr(es_module, "COMPOSITE_PAGE", 17)  # many pages of groups
    q = AggregateQuery(T0, T0 + timedelta(days=1), group=("source.ip",), bucket_seconds=300)
    parts = list(agg_frames.stream(q, (row for part in store.aggregate(q) for row in
                                       part.assign(bucket=part["bucket"].astype("int64") // 10**9)
                                       .itertuples(index=False, name=None)), size=20))
    assert len(parts) > 3 and all(len(p) >= 20 for p in parts[:-1])
    same(store, q)


def test_numbers_and_text_in_one_group_field_do_not_crash(tmp_path: Path) -> None:
    """The embedded store holds any JSON: a port as a number in one event and as text in another
    are two groups, numbers first, in the SQL answer as in the reference."""
    store = EmbeddedEventStore(tmp_path / "events.sqlite3")
    store.write([edge(1, 1, "10.0.0.1", 443), edge(2, 2, "10.0.0.1", "443"), edge(3, 3, "10.0.0.1", "http"),
                 edge(4, 4, "10.0.0.1", True), edge(5, 5, "10.0.0.1", {"a": 1}), edge(6, 6, "10.0.0.1", 1.5)])
    q = AggregateQuery(T0, T0 + timedelta(days=1), group=("destination.port",),
                       metrics=(Metric("n", "count"), Metric("s", "sum", "destination.port")))
    got = pd.concat(list(store.aggregate(q)), ignore_index=True)
    want = pd.concat(list(reference_aggregate(store, q)), ignore_index=True)
    pd.testing.assert_frame_equal(got, want)
    assert got["destination.port"].tolist() == [1, 1.5, 443, "443", "http"]


@pytest.mark.elasticsearch
def test_elasticsearch_cuts_a_large_range_into_slices_with_the_same_answer(es_url: str, corpora: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The node is asked slice by slice (values packed up to a number of events, a value with more
    events cut by the next group field, then by time): the answer is the one a single composite
    aggregation gives, in the same order, lists and all."""
    import cert.storage.events.es_composite as es_composite

    store = ElasticsearchEventStore(es_url, prefix=f"t{uuid.uuid4().hex[:10]}")
    try:
        events = conn_events(corpora)
        listed = [edge(900 + i, 40 * i, [f"10.9.0.{i % 4}", "147.32.81.167"], 443, i) for i in range(30)]
        for e in listed:
            e["@timestamp"] = format_ts(DAY[0] + timedelta(hours=12, seconds=int(e["source"]["bytes"]) * 40))
        assert store.write(events + listed).failed == []
        store.refresh()
        pairs = AggregateQuery(*DAY, group=("source.ip", "destination.ip", "destination.port"), bucket_seconds=1,
                               metrics=(Metric("conns", "count"), Metric("sent", "sum", "source.bytes")))
        whole = [row for part in store.aggregate(pairs) for row in part.itertuples(index=False, name=None)]
        searches: list[dict[str, Any]] = []
        original = store._search

        def counted(**kwargs: Any) -> Any:
            searches.append(kwargs)
            return original(**kwargs)

        monkeypatch.setattr(store, "_search", counted)
        monkeypatch.setattr(es_composite, "SLICE_EVENTS", 40)
        monkeypatch.setattr(es_composite, "PLAN_PAGE", 7)
        sliced = [row for part in store.aggregate(pairs) for row in part.itertuples(index=False, name=None)]
        assert sliced == whole
        filters = [str(s["query"]) for s in searches]
        assert sum("'term': {'source.ip': '147.32.81.167'}" in f for f in filters) > 1  # the busy host cut again
        assert any("'term': {'destination.port'" in f and "'range'" in f.split("'term': {'destination.port'")[1]
                   for f in filters)  # a group with more events than a slice, cut by time
        got = answer(iter([pd.DataFrame.from_records(sliced, columns=pairs.columns)]), pairs)
        assert int(got["conns"].sum()) == len(events)  # the listed events are left out, as the reference does
        same(store, AggregateQuery(*DAY, group=("source.ip",), metrics=(Metric("peers", "cardinality",
                                                                               "destination.ip"),)))
    finally:
        store.close()
