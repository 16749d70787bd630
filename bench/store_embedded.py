"""Embedded event store: SQLite (as shipped) against DuckDB, measured side by side on the same events.

Run: python bench/store_embedded.py [--events 100000]
Measures idempotent bulk insert, a replay of the same events, lookup of evidence by id, a term
search on an array field (related.ip) and a count over a time range: the operations the console,
the detectors and the playbooks do.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson

from cert.core.ecs import event_id, format_ts
from cert.storage.events import EventQuery
from cert.storage.events.embedded import EmbeddedEventStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def make_events(n: int) -> list[dict[str, Any]]:
    rnd = random.Random(1)
    out = []
    for i in range(n):
        ip = f"203.0.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        raw = f"{i} sshd failed password from {ip}"
        ts = format_ts(T0 + timedelta(seconds=i * 3))
        out.append({"@timestamp": ts, "event": {"id": event_id("bench", raw), "dataset": "system.auth",
                                                "ingested": ts, "original": raw, "outcome": "failure"},
                    "source": {"ip": ip, "port": 1024 + i % 60000}, "user": {"name": f"u{i % 500}"},
                    "related": {"ip": [ip, "10.10.4.21"], "user": [f"u{i % 500}"]}})
    return out


class DuckStore:
    """The same operations on DuckDB (JSON column, primary key for idempotence)."""

    def __init__(self, path: Path) -> None:
        self.db = duckdb.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS events (id VARCHAR PRIMARY KEY, ts TIMESTAMPTZ, doc JSON)")

    def write(self, events: list[dict[str, Any]]) -> None:
        rows = [(e["event"]["id"], e["@timestamp"], orjson.dumps(e).decode()) for e in events]
        self.db.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?)", rows)

    def get(self, ids: list[str]) -> list[Any]:
        return self.db.execute("SELECT doc FROM events WHERE id IN (SELECT unnest(?))", [ids]).fetchall()

    def search_ip(self, ip: str) -> list[Any]:
        return self.db.execute(
            "SELECT doc FROM events WHERE list_contains(CAST(json_extract(doc, '$.related.ip') AS VARCHAR[]), ?)"
            " ORDER BY ts DESC LIMIT 100", [ip]).fetchall()

    def count_range(self, start: datetime, end: datetime) -> int:
        return int(self.db.execute("SELECT count(*) FROM events WHERE ts >= ? AND ts < ?", [start, end]).fetchone()[0])


def timed(fn: Callable[[], Any], repeat: int = 1) -> float:
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    n = ap.parse_args().events
    events = make_events(n)
    ids = [e["event"]["id"] for e in random.Random(2).sample(events, 200)]
    ip = events[n // 2]["source"]["ip"]
    start, end = T0 + timedelta(hours=10), T0 + timedelta(hours=20)
    with tempfile.TemporaryDirectory() as d:
        sq = EmbeddedEventStore(Path(d) / "e.sqlite3")
        dk = DuckStore(Path(d) / "e.duckdb")
        rows = []
        for name, a, b in [
            ("insert (events/s)", lambda: [sq.write(events[i:i + 2000]) for i in range(0, n, 2000)],
             lambda: [dk.write(events[i:i + 2000]) for i in range(0, n, 2000)]),
            ("replay, all duplicates (events/s)", lambda: [sq.write(events[i:i + 2000]) for i in range(0, n, 2000)],
             lambda: [dk.write(events[i:i + 2000]) for i in range(0, n, 2000)]),
        ]:
            ta, tb = timed(a), timed(b)
            rows.append((name, n / ta, n / tb))
        for name, a, b in [
            ("get 200 evidence ids (ms)", lambda: sq.get(ids), lambda: dk.get(ids)),
            ("term search related.ip (ms)", lambda: sq.search(EventQuery(terms={"related.ip": [ip]})),
             lambda: dk.search_ip(ip)),
            ("count over a 10 h range (ms)", lambda: sq.count(EventQuery(start=start, end=end)),
             lambda: dk.count_range(start, end)),
        ]:
            rows.append((name, timed(a, 5) * 1000, timed(b, 5) * 1000))
        assert sq.count() == n and dk.count_range(T0, T0 + timedelta(days=365)) == n
    print(f"{n} events")
    print(f"{'operation':38s} {'sqlite':>12s} {'duckdb':>12s} {'sqlite/duckdb':>14s}")
    for name, a, b in rows:
        print(f"{name:38s} {a:12.1f} {b:12.1f} {a / b:14.2f}")


if __name__ == "__main__":
    main()
