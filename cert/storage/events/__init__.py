"""Event stores: the interface and the factory choosing a backend from the settings."""

from __future__ import annotations

from cert.core.config import Settings
from cert.core.event_store import EventQuery, EventStore, WriteResult

__all__ = ["EventQuery", "EventStore", "WriteResult", "open_event_store"]


def open_event_store(settings: Settings) -> EventStore:
    """Elasticsearch when ``elasticsearch_url`` is set, else the embedded SQLite store."""
    if settings.elasticsearch_url:
        from cert.storage.events.elasticsearch import ElasticsearchEventStore

        return ElasticsearchEventStore(settings.elasticsearch_url, prefix=settings.index_prefix)
    from cert.storage.events.embedded import EmbeddedEventStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return EmbeddedEventStore(settings.embedded_events_path)
