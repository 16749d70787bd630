"""The OTRF atomic Empire corpus (shared/corpora/anomaly/windows) read as Vigie stores it: each
record is an NXLog ``im_msvistalog`` JSON record, parsed by Vigie's ``windows.nxlog`` parser.

The corpus keeps a subset of each record's fields: its UTC ``@timestamp`` is used as ``EventTime``
(``EventTime`` is the lab's local time, without offset), and the Security channel's provider name,
left out of the subset, is put back so the Security fields are derived as for a live record. The
corpus's own columns (``_label``...) are returned beside the event, never inside it."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cert.core.config import Settings
from cert.core.ecs import Event
from ingest.parsers.windows_nxlog import NxlogWindowsParser

CORPUS = Settings().corpora_dir / "anomaly" / "windows" / "otrf_atomic_empire.labeled.jsonl.gz"


def record_line(record: dict[str, Any]) -> str:
    """The NXLog line of a corpus record."""
    doc = {k: v for k, v in record.items() if not k.startswith("_") and k != "@timestamp"}
    doc["EventTime"] = record.get("@timestamp", record.get("EventTime"))
    if doc.get("Channel") == "Security":
        doc["SourceName"] = "Microsoft-Windows-Security-Auditing"
    return json.dumps(doc)


def events(path: Path = CORPUS) -> Iterator[tuple[Event, dict[str, Any]]]:
    """(event, corpus columns) for every record; the event's id is its position in the file."""
    parser = NxlogWindowsParser()
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            record = json.loads(line)
            event = parser.parse(record_line(record))
            if event is None:
                continue
            event.setdefault("event", {})["id"] = f"otrf-{i}"
            yield event, {k: v for k, v in record.items() if k.startswith("_")}
