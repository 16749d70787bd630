"""Events already in ECS, one JSON object per line (NDJSON): what ``POST /api/v1/events`` takes.

Another collector (Filebeat, Logstash, a ministry's own shipper) may already produce ECS: the
event is kept as sent, nested or with dotted keys (``{"source.ip": ...}`` becomes
``source.ip``). It needs an ``@timestamp``; ``event.id`` and ``event.ingested`` are Vigie's to
set (the id from the line and its source, so re-sending a batch never duplicates).
"""

from __future__ import annotations

from typing import Any

import orjson

from cert.core.ecs import Event, format_ts, parse_ts, put
from cert.core.parser import ParseError, Parser, parsers

MAX_FIELDS = 2000


def _merge(target: dict[str, Any], source: dict[str, Any], depth: int = 0) -> int:
    """Copy ``source`` into ``target``, expanding dotted keys; the number of leaf fields."""
    if depth > 20:
        raise ParseError("event nested deeper than 20 levels")
    leaves = 0
    for key, value in source.items():
        if not isinstance(key, str) or not key or key.startswith("_") or ".." in key or key.strip(".") != key:
            raise ParseError(f"bad field name {key!r} (empty, dotted at an end, or starting with '_')")
        if isinstance(value, dict):
            parts = key.split(".")
            node = target
            for part in parts:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            leaves += _merge(node, value, depth + 1)
        else:
            put(target, key, value)
            leaves += 1
    return leaves


@parsers.register
class EcsJsonParser(Parser):
    name = "ecs"
    dataset = "ecs.events"
    module = "ecs"

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise ParseError(f"an event is a JSON object, not {type(doc).__name__}")
        event: Event = {}
        if _merge(event, doc) > MAX_FIELDS:
            raise ParseError(f"more than {MAX_FIELDS} fields in one event")
        ts = event.get("@timestamp")
        if not isinstance(ts, str) or not ts:
            raise ParseError("an event needs an @timestamp (ISO 8601 text)")
        try:
            event["@timestamp"] = format_ts(parse_ts(ts))
        except (ValueError, OverflowError):
            raise ParseError(f"bad @timestamp {ts[:40]!r} (expected ISO 8601, e.g. 2026-01-31T12:00:00Z)") from None
        meta = event.get("event")
        if isinstance(meta, dict):
            meta.pop("id", None)
            meta.pop("ingested", None)
        elif meta is not None:
            raise ParseError("the event field must be an object")
        return event
