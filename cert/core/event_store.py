"""The event-store interface. Two real backends implement it: embedded (SQLite) and Elasticsearch.

Events are ECS documents (nested dicts) that carry ``event.id``; writing an event whose id is
already stored is a no-op, so a replay never duplicates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from cert.core.ecs import Event

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class WriteResult:
    written: int = 0
    duplicates: int = 0
    failed: list[tuple[Event, str]] = field(default_factory=list)


#: Where a scan stopped: the sort values of the last event of a page (the store's own).
ResumeKey = tuple[Any, ...]


@dataclass(frozen=True)
class EventQuery:
    """A search: time range on ``@timestamp`` (start inclusive, end exclusive), optional range on
    ``event.ingested``, exact matches on ECS fields (any of the values; on array fields any
    element), newest first unless ``oldest_first``. ``after`` resumes a scan: only the events
    that sort after the last one of the previous page, whose key ``EventStore.page`` returned."""

    start: datetime | None = None
    end: datetime | None = None
    ingested_after: datetime | None = None
    ingested_until: datetime | None = None
    terms: dict[str, Sequence[str | int]] = field(default_factory=dict)
    limit: int = 100
    oldest_first: bool = False
    after: ResumeKey | None = None


MetricOp = Literal["count", "sum", "min", "max", "cardinality"]
#: the column holding each row's time bucket
BUCKET = "bucket"


@dataclass(frozen=True)
class Metric:
    """A column of the answer: ``count`` of events, ``sum``/``min``/``max`` of a numeric field
    (events without it count as 0 for the sum and are skipped by min and max), ``cardinality``:
    distinct values of a field."""

    name: str
    op: MetricOp
    field: str | None = None

    def __post_init__(self) -> None:
        if self.op != "count" and not self.field:
            raise ValueError(f"metric {self.name}: {self.op} needs a field")
        if self.name in ("", BUCKET):
            raise ValueError(f"metric name {self.name!r} is reserved")


@dataclass(frozen=True)
class AggregateQuery:
    """The events of ``[start, end)`` whose ``terms`` fields hold one of the values given, grouped
    by ``group`` (ECS field names) and, with ``bucket_seconds``, by the bucket of ``@timestamp``
    (buckets start at multiples of ``bucket_seconds`` since the Unix epoch)."""

    start: datetime
    end: datetime
    group: tuple[str, ...]
    metrics: tuple[Metric, ...] = (Metric("events", "count"),)
    bucket_seconds: int | None = None
    terms: Mapping[str, Sequence[str | int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.group:
            raise ValueError("an aggregation groups by one field at least")
        names = [*self.group, *(m.name for m in self.metrics)]
        if len(set(names)) != len(names) or BUCKET in self.group:
            raise ValueError(f"column names repeat or use {BUCKET!r}: {names}")
        if self.bucket_seconds is not None and self.bucket_seconds < 1:
            raise ValueError("bucket_seconds must be at least 1")

    @property
    def columns(self) -> list[str]:
        """The answer's columns, in order."""
        return [*self.group, *([BUCKET] if self.bucket_seconds else []), *(m.name for m in self.metrics)]


class EventStore(ABC):
    backend: str = "abstract"
    #: How many ``write`` calls may run at once from different threads, each on its own
    #: connection (the ingest writer keeps that many batches in flight); 1: one at a time.
    write_concurrency: int = 1
    #: Whether ingest writes from a thread beside the parsing loop: worth it when ``write`` mostly
    #: waits (a network round trip) and parsing can go on meanwhile; not when ``write`` mostly
    #: holds the interpreter lock, where the hand-overs between the two threads only add time.
    write_beside_parsing: bool = True

    @abstractmethod
    def write(self, events: Sequence[Event]) -> WriteResult:
        """Store events; an id already present counts as a duplicate, not an error. With
        ``write_concurrency`` above 1, calls from as many threads may overlap."""

    @abstractmethod
    def get(self, ids: Iterable[str]) -> list[Event]:
        """The events with these ids, in the order asked; unknown ids are left out."""

    @abstractmethod
    def search(self, query: EventQuery) -> list[Event]:
        """Events matching the query."""

    @abstractmethod
    def page(self, query: EventQuery) -> tuple[list[Event], ResumeKey | None]:
        """At most ``query.limit`` events matching the query, in its order, after ``query.after``;
        and the key to pass as ``after`` for the next page (None when this page is the last)."""

    def scan(self, query: EventQuery, batch: int = 5000) -> Iterator[list[Event]]:
        """Every event matching the query, in its order, ``batch`` at a time: memory holds one
        batch, however many events match."""
        after = query.after
        while True:
            events, after = self.page(replace(query, limit=batch, after=after))
            if events:
                yield events
            if after is None:
                return

    def aggregate(self, query: AggregateQuery) -> Iterator[pd.DataFrame]:
        """The events of the query grouped and measured, as DataFrames that never split a group
        (``cert.core.aggregate`` says what they hold; its ``reference_aggregate`` computes them
        from ``scan``, what a store's own implementation is tested against)."""
        raise NotImplementedError(f"the {self.backend} store does not aggregate")

    @abstractmethod
    def count(self, query: EventQuery | None = None) -> int:
        """How many events match (all events when ``query`` is None)."""

    def refresh(self) -> None:  # noqa: B027 - optional hook
        """Make recent writes visible to search (a no-op where writes are visible at once)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""

    def ping(self) -> bool:
        return True

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
