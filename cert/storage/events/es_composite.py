"""An ``AggregateQuery`` answered by Elasticsearch's composite aggregation, in slices.

A composite aggregation is read a page of groups at a time (``after_key``), and each page visits
every event its query matches: one request over the whole range costs the events times the
pages, which grows with the square of the range when groups are as many as events (one bucket
per pair and second, as the beacon detector asks). So the range is cut into slices of at most
``SLICE_EVENTS`` events first, by the values of the group fields in order: a planning
composite on the first group field counts the events of each value, consecutive values are
packed into slices, and a value with more events than a slice holds is cut again by the next
group field, then by time. Each slice is one composite aggregation over only its events (a
``terms`` filter), so the node visits each event a few times whatever the range. The slices come
in the order of the group fields, so the rows stream sorted as one composite aggregation would
give them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cert.core.ecs import format_ts
from cert.core.event_store import AggregateQuery

#: groups per composite-aggregation request
COMPOSITE_PAGE = 5000
#: values per planning request (one terms source, a doc count each)
PLAN_PAGE = 10_000
#: events one aggregation request covers at most (a single group's may be more)
SLICE_EVENTS = 50_000
#: slices asked of the node at once
AHEAD = 2
CARDINALITY_PRECISION = 40000  # the highest: counts below it are exact (HyperLogLog++ above)
#: groups per request by cardinality metric: each reserves tens of kB per group on the node
CARDINALITY_PAGE = 1000

Search = Callable[..., Any]
Row = tuple[Any, ...]
#: rebuilds a group whose events hold a list in a group field: (query, bucket) -> rows
Fallback = Callable[[AggregateQuery, dict[str, Any]], Iterator[Row]]


@dataclass(frozen=True)
class Slice:
    """The events one aggregation request covers: ``where``, whose group fields hold the
    ``fixed`` (index, value) pairs and, when ``values`` is set, one of them in field ``level``;
    ``lists`` when some of its events hold a list in a group field."""

    where: dict[str, Any]
    fixed: tuple[tuple[int, Any], ...]
    level: int
    values: frozenset[Any] | None
    lists: bool


def _and(where: dict[str, Any], *more: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"filter": [where, *more]}}


class CompositeReader:
    """The rows of one query (group values, bucket start in seconds, metrics), sorted by group."""

    def __init__(self, search: Search, query: AggregateQuery, where: dict[str, Any], fallback: Fallback,
                 slice_events: int | None = None) -> None:
        self.search, self.query, self.where, self.fallback = search, query, where, fallback
        self.slice_events = slice_events or SLICE_EVENTS
        self.sources: list[dict[str, Any]] = [{f"g{i}": {"terms": {"field": f}}} for i, f in enumerate(query.group)]
        if query.bucket_seconds:
            self.sources.append({"b": {"date_histogram": {"field": "@timestamp",
                                                          "fixed_interval": f"{int(query.bucket_seconds)}s"}}})
        self.keys = [f"g{i}" for i in range(len(query.group))]
        #: each metric's sub-aggregation (None: the bucket's doc count)
        self.values: list[str | None] = [None if m.op == "count" else f"m{j}" for j, m in enumerate(query.metrics)]
        self.metrics: dict[str, Any] = {}
        for j, m in enumerate(query.metrics):
            if m.op == "cardinality":
                self.metrics[f"m{j}"] = {"cardinality": {"field": m.field,
                                                         "precision_threshold": CARDINALITY_PRECISION}}
            elif m.op != "count":
                self.metrics[f"m{j}"] = {m.op: {"field": m.field}}
        # with the values of each group field in the group: more than its events when one holds a list
        self.checked = {**self.metrics, **{f"n{i}": {"value_count": {"field": f}} for i, f in enumerate(query.group)}}
        distinct = sum(m.op == "cardinality" for m in query.metrics)
        self.page = max(50, min(COMPOSITE_PAGE, CARDINALITY_PAGE // distinct)) if distinct else COMPOSITE_PAGE

    def rows(self) -> Iterator[Row]:
        """Slices planned in this thread and read by ``AHEAD`` others, in order: the node answers
        the next slices while this one's rows are used."""
        pool = ThreadPoolExecutor(AHEAD, thread_name_prefix="es-aggregate")
        pending: deque[Future[list[Row]]] = deque()
        try:
            for part in self._plan(self.where, 0, ()):
                pending.append(pool.submit(self._read, part))
                if len(pending) >= AHEAD:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)

    def _plan(self, where: dict[str, Any], level: int, fixed: tuple[tuple[int, Any], ...]) -> Iterator[Slice]:
        """The slices of the events of ``where`` (whose group fields before ``level`` hold the
        ``fixed`` values): consecutive values of group field ``level`` up to ``slice_events``
        events, a value with more cut again by the next field, or by time at the last."""
        field = self.query.group[level]
        packed: list[Any] = []
        events, lists = 0, False
        for value, count, listed in self._values(field, where):
            if count > self.slice_events:
                if packed:
                    yield Slice(_and(where, {"terms": {field: packed}}), fixed, level, frozenset(packed), lists)
                    packed, events, lists = [], 0, False
                inner = _and(where, {"term": {field: value}})
                if level + 1 < len(self.query.group):
                    yield from self._plan(inner, level + 1, (*fixed, (level, value)))
                else:
                    for part in self._in_time(inner, count):
                        yield Slice(part, (*fixed, (level, value)), level, None, listed)
                continue
            if packed and events + count > self.slice_events:
                yield Slice(_and(where, {"terms": {field: packed}}), fixed, level, frozenset(packed), lists)
                packed, events, lists = [], 0, False
            packed.append(value)
            events += count
            lists = lists or listed
        if packed:
            yield Slice(_and(where, {"terms": {field: packed}}), fixed, level, frozenset(packed), lists)

    def _values(self, field: str, where: dict[str, Any]) -> Iterator[tuple[Any, int, bool]]:
        """Each value of ``field`` among the events of ``where``, in the composite's order, with
        how many events hold it and whether some of them hold a list in a group field (more
        values of a field than events with the field)."""
        group = self.query.group
        checks: dict[str, Any] = {}
        for i, f in enumerate(group):
            checks[f"c{i}"] = {"value_count": {"field": f}}
            checks[f"e{i}"] = {"filter": {"exists": {"field": f}}}
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {"size": PLAN_PAGE, "sources": [{"v": {"terms": {"field": field}}}]}
            if after is not None:
                composite["after"] = after
            resp = self.search(query=where, size=0, aggs={"values": {"composite": composite, "aggs": checks}})
            found = (resp.get("aggregations") or {}).get("values") or {}
            buckets = found.get("buckets", [])
            for b in buckets:
                listed = any(b[f"c{i}"]["value"] != b[f"e{i}"]["doc_count"] for i in range(len(group)))
                yield b["key"]["v"], int(b["doc_count"]), listed
            after = found.get("after_key")
            if after is None or len(buckets) < PLAN_PAGE:
                return

    def _in_time(self, where: dict[str, Any], count: int) -> Iterator[dict[str, Any]]:
        """One group's events, its range cut in parts of whole buckets (as many as slices its
        events fill), oldest first: the rows stay in bucket order."""
        q = self.query
        step = int(q.bucket_seconds or 0)
        parts = math.ceil(count / self.slice_events)
        if not step or parts < 2:
            yield where
            return
        first = int(q.start.timestamp()) // step
        last = -(-math.ceil(q.end.timestamp()) // step)
        width = max(1, -(-(last - first) // parts))
        for lo in range(first, last, width):
            start = datetime.fromtimestamp(max(lo * step, q.start.timestamp()), UTC)
            end = min(q.end, datetime.fromtimestamp((lo + width) * step, UTC))
            if start < end:
                yield _and(where, {"range": {"@timestamp": {"gte": format_ts(start), "lt": format_ts(end)}}})

    def _read(self, part: Slice) -> list[Row]:
        """A slice's rows: one composite aggregation over its events, paged by ``after_key``."""
        aggs = self.checked if part.lists else self.metrics
        out: list[Row] = []
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {"size": self.page, "sources": self.sources}
            if after is not None:
                composite["after"] = after
            resp = self.search(query=part.where, size=0, aggs={"groups": {"composite": composite, "aggs": aggs}})
            groups = (resp.get("aggregations") or {}).get("groups") or {}
            buckets = groups.get("buckets", [])
            if part.lists:
                out.extend(self._checked_rows(part, buckets))
            else:
                out.extend(map(self._row, buckets))
            after = groups.get("after_key")
            if after is None or len(buckets) < self.page:
                return out

    def _checked_rows(self, part: Slice, buckets: list[dict[str, Any]]) -> Iterator[Row]:
        """The rows of a slice some of whose events hold a list in a group field: such an event
        matches the slice for each of its values (the groups of the values outside the slice are
        another slice's), and a group holding one is measured again without it."""
        width = len(self.query.group)
        for bucket in buckets:
            key = bucket["key"]
            if any(key[f"g{i}"] != v for i, v in part.fixed):
                continue
            if part.values is not None and key[f"g{part.level}"] not in part.values:
                continue
            if all(bucket[f"n{i}"]["value"] == bucket["doc_count"] for i in range(width)):
                yield self._row(bucket)
            else:
                yield from self.fallback(self.query, bucket)

    def _row(self, bucket: dict[str, Any]) -> Row:
        key = bucket["key"]
        row = [key[g] for g in self.keys]
        if self.query.bucket_seconds:
            row.append(key["b"] // 1000)
        row.extend(bucket["doc_count"] if name is None else bucket[name]["value"] for name in self.values)
        return tuple(row)


def bucket_range(query: AggregateQuery, bucket: dict[str, Any]) -> tuple[datetime, datetime]:
    """The part of the query's range a composite bucket covers."""
    if not query.bucket_seconds:
        return query.start, query.end
    at = datetime.fromtimestamp(int(bucket["key"]["b"]) / 1000, UTC)
    return max(query.start, at), min(query.end, at + timedelta(seconds=int(query.bucket_seconds)))
