"""The event-store interface. Two real backends implement it: embedded (SQLite) and Elasticsearch.

Events are ECS documents (nested dicts) that carry ``event.id``; writing an event whose id is
already stored is a no-op, so a replay never duplicates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from cert.core.ecs import Event


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


class EventStore(ABC):
    backend: str = "abstract"

    @abstractmethod
    def write(self, events: Sequence[Event]) -> WriteResult:
        """Store events; an id already present counts as a duplicate, not an error."""

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
