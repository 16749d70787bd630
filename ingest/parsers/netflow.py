"""NetFlow / IPFIX flow records, one decoded record per line (the JSON the listener writes).

The binary datagrams are decoded by ``ingest.netflow.decoder`` (it keeps per-exporter template
state, so it runs in the listener, ``cert listen netflow``); each record it yields becomes one
JSON line, parsed here into ECS. Such lines can also be replayed from a file:
``cert ingest --parser netflow records.ndjson``. ECS mapping as Filebeat's netflow input.
"""

from __future__ import annotations

from typing import Any

import orjson

from cert.core.ecs import Event
from cert.core.parser import ParseError, Parser, parsers
from ingest.netflow.ecs import to_ecs
from ingest.netflow.records import FORMAT


@parsers.register
class NetflowParser(Parser):
    name = "netflow"
    dataset = "netflow.log"
    module = "netflow"

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        try:
            record: Any = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"not a decoded flow record (invalid JSON: {exc})") from None
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ParseError(f"not a decoded flow record (expected a JSON object with format {FORMAT!r})")
        exporter = record.get("exporter")
        if not isinstance(exporter, dict) or not isinstance(exporter.get("ip"), str) \
                or not isinstance(exporter.get("timestamp"), str):
            raise ParseError("flow record without exporter ip and timestamp")
        if not isinstance(record.get("fields", {}), dict) or not isinstance(record.get("scope", {}), dict):
            raise ParseError("flow record fields must be an object")
        for key in ("start", "end"):
            if key in record and not isinstance(record[key], str):
                raise ParseError(f"flow record {key} must be a timestamp")
        try:
            return to_ecs(record)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ParseError(f"flow record with a bad value: {exc}") from None
