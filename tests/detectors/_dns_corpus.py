"""DNS events for the anomaly detectors' tests, made the way Vigie stores them: BIND query log lines
parsed by Vigie's own parser (``bind.query``), then finalised as the ingestor does."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from cert.core.ecs import Event
from cert.pipeline.ingestor import finalize
from ingest.parsers.bind_query import BindQueryParser


def bind_events(queries: Iterable[tuple[datetime, str, str, str]]) -> list[Event]:
    """One stored event per (time, client address, name, record type)."""
    parser = BindQueryParser()
    events = []
    for i, (at, client, name, rtype) in enumerate(queries):
        stamp = at.strftime("%d-%b-%Y %H:%M:%S.") + f"{at.microsecond // 1000:03d}"
        line = (f"{stamp} queries: info: client @0x7f3a2c0b1d60 {client}#{1024 + i % 60000} ({name}): "
                f"query: {name} IN {rtype} +E(0) (192.0.2.53)")
        event = parser.parse(line)
        assert event is not None
        events.append(finalize(event, parser, line, "named/queries.log"))
    return events


def spread(start: datetime, count: int, seconds: float) -> list[datetime]:
    return [start + timedelta(seconds=i * seconds) for i in range(count)]
