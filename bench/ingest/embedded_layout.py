"""Ingest into the embedded store: the shipped table layout (rowid table, unique index on the
event id) against the first one (WITHOUT ROWID, keyed by the event id), side by side.

    .venv/bin/python bench/ingest/embedded_layout.py [--events 200000]

The events are real ones: the Apache sample of the corpora, cycled to unique lines, parsed and
normalised as `cert ingest` does (not timed). Both stores get the same batches of 2,000 through
the same ``EmbeddedEventStore.write`` (INSERT OR IGNORE in one transaction per batch); only the
CREATE TABLE differs. Event ids are hashes, so a table keyed by them takes every insert at a
random place, moving whole documents around its B-tree.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _logs import apache_lines

from cert.constituency.directory import Constituency
from cert.core.config import load_settings
from cert.core.ecs import Event
from cert.core.parser import parsers
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import finalize
from cert.storage.events.embedded import EmbeddedEventStore

FIRST_LAYOUT = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    ts TEXT NOT NULL,
    ingested TEXT NOT NULL,
    doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_ingested ON events (ingested);
"""


def events(corpora: Path, n: int) -> list[Event]:
    load_plugins(["ingest.parsers"])
    parser = parsers.get("web.access")()
    constituency = Constituency.load(None)
    out = []
    for raw in apache_lines(corpora, n):
        line = raw.decode("utf-8", "surrogateescape").rstrip("\n")
        event = parser.parse(line)
        if event is not None:
            constituency.enrich(event)
            out.append(finalize(event, parser, line, "/var/log/apache2/access.log"))
    return out


def insert_rate(path: Path, batch: list[Event], size: int = 2000) -> float:
    store = EmbeddedEventStore(path)
    start = time.perf_counter()
    for i in range(0, len(batch), size):
        store.write(batch[i:i + size])
    elapsed = time.perf_counter() - start
    assert store.count() == len(batch)
    store.close()
    return len(batch) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--corpora", type=Path, default=load_settings().corpora_dir)
    args = ap.parse_args()
    evs = events(args.corpora, args.events)
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {len(evs):,} events")
    shipped, first = [], []
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        for r in range(2):  # alternate, best of 2 (the machine is shared)
            shipped.append(insert_rate(Path(tmp) / f"shipped-{r}.sqlite3", evs))
            old = Path(tmp) / f"first-{r}.sqlite3"
            sqlite3.connect(old).executescript(FIRST_LAYOUT)  # the store's CREATE ... IF NOT EXISTS keeps it
            first.append(insert_rate(old, evs))
            print(f"round {r + 1}: shipped {shipped[-1]:,.0f} events/s, WITHOUT ROWID {first[-1]:,.0f} events/s",
                  flush=True)
    print()
    print("| layout | events/s (best of 2) |")
    print("|---|---:|")
    print(f"| WITHOUT ROWID, keyed by event id (first layout, baseline) | {max(first):,.0f} |")
    print(f"| rowid table + UNIQUE(id) (shipped) | {max(shipped):,.0f} |")
    print(f"| ratio shipped / first | {max(shipped) / max(first):.1f}× |")
    print(f"# load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
