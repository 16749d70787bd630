"""The labelled network captures of ``shared/corpora/anomaly/network``, ingested into an embedded
store through Vigie's own Zeek parser and pipeline fields, so that an evaluation runs the same
``find()`` and ``store.aggregate`` a detector runs in production; and the labels per event."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cert.core.ecs import Event, get
from cert.pipeline.ingestor import finalize
from cert.storage.events.embedded import EmbeddedEventStore
from ingest.parsers.zeek import ZeekParser

NETWORK = ROOT.parent / "shared" / "corpora" / "anomaly" / "network"
NJRAT = "zeek_conn_ctu-malware-230-1_njrat.labeled.log.gz"
NORMAL = "zeek_conn_ctu-normal-40_day1.labeled.log.gz"
INJECTED = "derived_conn_njrat-cc-injected-into-ctu-normal-40.labeled.log.gz"
NMAP = "zeek_conn_nmap-scans.labeled.jsonl.gz"
PERIODIC = "zeek_conn_scripted-periodic-2s.labeled.log.gz"
#: the monitored networks of the captures, as the Zeek ``local_orig`` flags of the files say
#: (CTU's 147.32.0.0/16 is on public addresses; the others are private)
MONITORED = ("147.32.0.0/16",)


def events(path: Path) -> Iterator[Event]:
    """The ECS events of one capture, as the ingestion pipeline stores them."""
    parser = ZeekParser().for_source(str(path))
    with gzip.open(path, "rt", encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            raw = line.rstrip("\n")
            event = parser.parse(raw)
            if event is not None:
                yield finalize(event, parser, raw, str(path), keep_original=False)


def label(event: Event) -> tuple[str, str]:
    """The (label, detailed label) the capture gives the flow."""
    conn: Any = get(event, "zeek.connection") or {}
    return str(conn.get("label") or ""), str(conn.get("detailedlabel") or "")


def load(store: EmbeddedEventStore, path: Path, batch: int = 5000) -> list[Event]:
    """Write a capture's events into ``store``; the events are returned (for their labels)."""
    kept: list[Event] = []
    pending: list[Event] = []
    for event in events(path):
        pending.append(event)
        if len(pending) >= batch:
            store.write(pending)
            kept.extend(pending)
            pending = []
    if pending:
        store.write(pending)
        kept.extend(pending)
    return kept
