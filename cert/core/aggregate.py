"""Aggregations over stored events: what anomaly detectors read instead of the events themselves.

An ``AggregateQuery`` groups the events of a time range by ECS fields (and, optionally, by a time
bucket of ``@timestamp``) and computes metrics per group: how many events, the sum, minimum or
maximum of a numeric field, the number of distinct values of a field. Each store answers it its
own way (Elasticsearch with composite aggregations, the embedded store in SQL); the answer is the
same: pandas DataFrames whose columns are the group fields (named as in the query), ``bucket``
(UTC ``datetime64``, the bucket's start, when the query has one) and the metrics, sorted by the
group fields then the bucket, in chunks that never split a group (all the buckets of one group
come in one chunk). Events missing a group field, or holding a list or an object there, are left
out, as Elasticsearch's composite aggregation leaves them out.

``reference_aggregate`` answers any store from its ``scan``, in Python: the behaviour the stores'
own implementations are tested against.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cert.core.ecs import get, parse_ts
from cert.core.event_store import BUCKET, AggregateQuery, EventQuery, EventStore, Metric

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BUCKET", "CHUNK_ROWS", "AggregateQuery", "Metric", "bucket_time", "chunks", "empty", "reference_aggregate"]

#: a chunk holds about this many rows (more when one group has more buckets)
CHUNK_ROWS = 50_000


def _scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, (list, dict))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _order(column: pd.Series) -> pd.Series:
    """A group column's sort key: numbers before text when a column mixes them (as SQLite orders
    them), the values themselves otherwise."""
    if column.dtype != object or all(isinstance(v, str) for v in column) \
            or not any(isinstance(v, str) for v in column):
        return column
    return column.map(lambda v: (1, v) if isinstance(v, str) else (0, v))


def chunks(frame: pd.DataFrame, group: Sequence[str], rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """A sorted answer cut into chunks of about ``rows`` rows, each ending on a group boundary."""
    n = len(frame)
    start = 0
    keys = frame[list(group)].itertuples(index=False, name=None) if n else iter(())
    previous: tuple[Any, ...] | None = None
    for i, key in enumerate(keys):
        if i - start >= rows and key != previous:
            yield frame.iloc[start:i].reset_index(drop=True)
            start = i
        previous = key
    if start < n:
        yield frame.iloc[start:n].reset_index(drop=True)


def bucket_time(value: Any) -> datetime:
    """A ``bucket`` value of an answer (a pandas timestamp, naive meaning UTC) as an aware datetime."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    moment: datetime = stamp.to_pydatetime()
    return moment


def empty(query: AggregateQuery) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: [] for c in query.columns})


def reference_aggregate(store: EventStore, query: AggregateQuery, batch: int = 5000,
                        rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The answer computed in Python from ``store.scan``: every event read once, partial sums
    merged batch by batch (memory holds the answer and one batch)."""
    import pandas as pd

    keys = [*query.group, *([BUCKET] if query.bucket_seconds else [])]
    sums = [m for m in query.metrics if m.op != "cardinality"]
    distinct = [m for m in query.metrics if m.op == "cardinality"]
    partial: pd.DataFrame | None = None
    pairs: dict[str, pd.DataFrame] = {}
    how = {"count": "sum", "sum": "sum", "min": "min", "max": "max"}
    scan = EventQuery(start=query.start, end=query.end, terms=dict(query.terms), oldest_first=True)
    for events in store.scan(scan, batch=batch):
        records: list[list[Any]] = []
        for event in events:
            values = [get(event, f) for f in query.group]
            if not all(_scalar(v) for v in values):
                continue
            if query.bucket_seconds:
                at = parse_ts(str(get(event, "@timestamp"))).timestamp()
                values.append(int(at // query.bucket_seconds * query.bucket_seconds))
            for m in sums:
                if m.op == "count":
                    values.append(1.0)
                else:
                    number = _number(get(event, m.field or ""))
                    values.append(0.0 if number is None and m.op == "sum" else number)
            for m in distinct:
                v = get(event, m.field or "")
                values.append(v if _scalar(v) else None)
            records.append(values)
        if not records:
            continue
        frame = pd.DataFrame(records, columns=[*keys, *(m.name for m in sums), *(m.name for m in distinct)])
        if sums:
            part = frame.groupby(keys, sort=False, dropna=False).agg({m.name: how[m.op] for m in sums}).reset_index()
        else:
            part = frame[keys].drop_duplicates()
        part_all = part if partial is None else pd.concat([partial, part], ignore_index=True)
        partial = (part_all.groupby(keys, sort=False).agg({m.name: how[m.op] for m in sums}).reset_index()
                   if sums else part_all.drop_duplicates())
        for m in distinct:
            seen = frame.loc[frame[m.name].notna(), [*keys, m.name]].drop_duplicates()
            pairs[m.name] = seen if m.name not in pairs else \
                pd.concat([pairs[m.name], seen], ignore_index=True).drop_duplicates()
    if partial is None:
        yield from ()
        return
    for m in distinct:
        counted = pairs[m.name].groupby(keys).size().rename(m.name).reset_index() if m.name in pairs else None
        if counted is None or counted.empty:
            partial[m.name] = 0
        else:
            partial = partial.merge(counted, on=keys, how="left")
            partial[m.name] = partial[m.name].fillna(0)
        partial[m.name] = partial[m.name].astype("int64")
    for m in sums:
        if m.op == "count":
            partial[m.name] = partial[m.name].astype("int64")
    if query.bucket_seconds:
        partial[BUCKET] = pd.to_datetime(partial[BUCKET], unit="s", utc=True)
    partial = partial.sort_values(keys, kind="stable", key=_order).reset_index(drop=True)[query.columns]
    yield from chunks(partial, query.group, rows)
