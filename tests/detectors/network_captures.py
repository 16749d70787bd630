"""The labelled Zeek captures of shared/corpora/anomaly/network, ingested into an embedded store
through the Zeek parser and the pipeline's own fields, for the network anomaly detectors' tests."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from pathlib import Path

from cert.core.config import Settings
from cert.core.ecs import Event, parse_ts
from cert.pipeline.ingestor import finalize
from cert.storage.events.embedded import EmbeddedEventStore
from ingest.parsers.zeek import ZeekParser

NETWORK = Settings().corpora_dir / "anomaly" / "network"
NJRAT = NETWORK / "zeek_conn_ctu-malware-230-1_njrat.labeled.log.gz"
NORMAL = NETWORK / "zeek_conn_ctu-normal-40_day1.labeled.log.gz"
INJECTED = NETWORK / "derived_conn_njrat-cc-injected-into-ctu-normal-40.labeled.log.gz"
NMAP = NETWORK / "zeek_conn_nmap-scans.labeled.jsonl.gz"
PERIODIC = NETWORK / "zeek_conn_scripted-periodic-2s.labeled.log.gz"
#: the captures' monitored network on public addresses (Zeek's local_orig in the files)
MONITORED = ("147.32.0.0/16",)


def read(path: Path) -> list[Event]:
    parser = ZeekParser().for_source(str(path))
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            event = parser.parse(line.rstrip("\n"))
            if event is not None:
                out.append(finalize(event, parser, line.rstrip("\n"), str(path), keep_original=False))
    return out


def store_of(tmp: Path, *paths: Path) -> tuple[EmbeddedEventStore, datetime, datetime]:
    """A store holding the captures, and the span of their events."""
    store = EmbeddedEventStore(tmp / "events.sqlite3")
    stamps: list[datetime] = []
    for path in paths:
        events = read(path)
        store.write(events)
        stamps += [parse_ts(str(e["@timestamp"])) for e in events]
    return store, min(stamps), max(stamps) + timedelta(seconds=1)
