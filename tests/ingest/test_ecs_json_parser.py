"""The ``ecs`` parser: NDJSON events already in ECS (the body of POST /api/v1/events)."""

from __future__ import annotations

from typing import Any, ClassVar

from harness import ParserCase


class TestEcsJson(ParserCase):
    parser_name = "ecs"
    samples: ClassVar[list[tuple[str, dict[str, Any]]]] = [
        ('{"@timestamp": "2026-03-01T10:00:00Z", "source": {"ip": "198.51.100.9", "port": 4433}}',
         {"@timestamp": "2026-03-01T10:00:00.000Z", "source.ip": "198.51.100.9", "source.port": 4433}),
        ('{"@timestamp": "2026-03-01T11:00:00+01:00", "source.ip": "192.0.2.7", "event.dataset": "fw.asa", '
         '"event.id": "forged", "user": {"name": "awa"}}',
         {"@timestamp": "2026-03-01T10:00:00.000Z", "source.ip": "192.0.2.7", "event.dataset": "fw.asa",
          "event.id": None, "user.name": "awa"}),
    ]
    malformed: ClassVar[list[str]] = [
        "{not json", "[1, 2, 3]", '"text"', '{"message": "no timestamp"}', '{"@timestamp": "yesterday"}',
        '{"@timestamp": "2026-03-01T10:00:00Z", "_id": "x"}', '{"@timestamp": "2026-03-01T10:00:00Z", "event": 3}',
        '{"@timestamp": "2026-03-01T10:00:00Z", "a..b": 1}',
    ]
