"""Rows of an aggregation, as a store reads them sorted by group, turned into the answer's
DataFrames (``cert.core.aggregate``): typed like ``reference_aggregate``'s and cut into chunks of
about ``CHUNK_ROWS`` rows that end on a group boundary, while the rows stream in. Memory holds one
chunk, however many groups the store returns.

A row is a tuple: the group values, the bucket's start in seconds since the epoch (when the query
has a bucket), then the metrics in the query's order (None where a minimum or maximum saw no
number).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from cert.core.aggregate import CHUNK_ROWS
from cert.core.event_store import BUCKET, AggregateQuery

if TYPE_CHECKING:
    import pandas as pd


def frame(query: AggregateQuery, rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The DataFrame of ``rows``, with the answer's column types: counts and cardinalities int64,
    sums, minimums and maximums float64 (NaN for no number), the bucket UTC datetime64."""
    import pandas as pd

    out = pd.DataFrame.from_records(rows, columns=query.columns) if rows else \
        pd.DataFrame({c: [] for c in query.columns})
    if query.bucket_seconds:
        out[BUCKET] = pd.to_datetime(out[BUCKET].astype("int64"), unit="s", utc=True)
    for m in query.metrics:
        if m.op in ("count", "cardinality"):
            out[m.name] = out[m.name].astype("int64")
        else:
            out[m.name] = pd.to_numeric(out[m.name], errors="coerce").astype("float64")
    return out


def stream(query: AggregateQuery, rows: Iterable[tuple[Any, ...]], size: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The answer's chunks from rows sorted by group: a chunk is cut at the first group boundary
    after ``size`` rows, as ``cert.core.aggregate.chunks`` cuts a whole answer."""
    width = len(query.group)
    buffer: list[tuple[Any, ...]] = []
    previous: tuple[Any, ...] | None = None
    for row in rows:
        key = row[:width]
        if len(buffer) >= size and key != previous:
            yield frame(query, buffer)
            buffer = []
        buffer.append(row)
        previous = key
    if buffer:
        yield frame(query, buffer)
