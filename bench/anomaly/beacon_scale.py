"""Beacon analysis at scale: connection records generated on top of the real captures, written
into an event store, then ``anomaly.beacon``'s ``find`` timed with its peak memory.

    python bench/anomaly/beacon_scale.py --records 10000000 [--hosts 2000] [--data DIR]
    python bench/anomaly/beacon_scale.py --store elasticsearch [--es-url URL] --records 10000000
    python bench/anomaly/beacon_scale.py --store elasticsearch --records 1000000 --hosts 100 --unsliced

Embedded: an SQLite store under ``--data`` (kept, and reused by a later run with as many
records: a store that holds events is not written again). Elasticsearch: the node at
``--es-url``, or one started with scripts/es_node.py (the tests' launcher; ``--heap``;
``VIGIE_ES_JAVA_OPTS`` adds JVM options); the analysis runs in Elasticsearch's composite
aggregations, the peak RSS reported is this process's (the node's memory is its heap).

The benign day of CTU-Normal-40 (its Microsoft, ESET, Dropbox... flows) is replayed for many
synthetic internal hosts (10.x.y.z) and days, each copy shifted in time by a random offset of
up to an hour; the real NjRAT C2 flows are kept inside, for a few hosts only (rare destination),
so that the run also checks that they are still found. Records are built straight as the ECS
events the Zeek parser makes (fields ``source``/``destination`` ``ip``/``port``/``bytes``),
without ``event.original``, to keep the generation quick.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import corpus

from cert.core.config import Settings
from cert.core.ecs import get, parse_ts
from cert.core.event_store import EventStore
from cert.storage.events import es_composite
from cert.storage.events.elasticsearch import ElasticsearchEventStore
from cert.storage.events.embedded import EmbeddedEventStore
from detectors.anomaly.beacon import BeaconDetector

DAY = 86400
INFECTED_HOSTS = 3
#: the port of NjRAT's server (its other flows labelled CC are single connections, no beacon)
C2_PORT = 1177


def _template(path: Path) -> list[tuple[float, str, str, Any, int, int, str]]:
    return [(parse_ts(str(e["@timestamp"])).timestamp(), str(get(e, "source.ip")), str(get(e, "destination.ip")),
             get(e, "destination.port"), int(get(e, "source.bytes") or 0), int(get(e, "destination.bytes") or 0),
             corpus.label(e)[1]) for e in corpus.events(path)]


class _Discard:
    """A store that keeps nothing: the generation's span and C2 pairs without writing."""

    def write(self, events: list[dict[str, Any]]) -> None:
        return None


def generate(store: EventStore | _Discard, records: int, hosts: int,
             seed: int = 14) -> tuple[datetime, datetime, set[str]]:
    """Write ``records`` events; the span they cover and the C2 pairs kept in them."""
    rng = random.Random(seed)
    day = _template(corpus.NETWORK / corpus.NORMAL)
    c2 = [r for r in _template(corpus.NETWORK / corpus.INJECTED) if r[6] == "CC-injected"]
    victim = "147.32.81.167"
    base = min(r[0] for r in day)
    origin = datetime.fromtimestamp(base, UTC)
    per_copy = len(day)
    copies = max(1, records // per_copy)
    days = max(1, copies // hosts)
    written, batch, serial = 0, [], 0
    c2_pairs: set[str] = set()

    def flush() -> None:
        nonlocal batch
        store.write(batch)
        batch = []

    for copy in range(copies):
        host_n, day_n = copy % hosts, copy // hosts % days
        number = host_n + 1
        host = f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
        shift = day_n * DAY + rng.uniform(0, 3600)
        flows = day + (c2 if host_n < INFECTED_HOSTS and day_n == 0 else [])
        for ts, src, dst, port, sent, received, label in flows:
            if written >= records:
                break
            s, d = (host if src == victim else src), (host if dst == victim else dst)
            if label == "CC-injected" and port == C2_PORT:
                c2_pairs.add(f"{s}|{d}|{port}")
            at = datetime.fromtimestamp(ts + shift, UTC)
            serial += 1
            batch.append({"@timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                          "event": {"id": f"s{serial}", "dataset": "zeek.connection", "kind": "event"},
                          "source": {"ip": s, "bytes": sent}, "destination": {"ip": d, "port": port,
                                                                               "bytes": received}})
            written += 1
            if len(batch) >= 20000:
                flush()
        if written >= records:
            break
    if batch:
        flush()
    return origin, origin + timedelta(days=days + 1, hours=2), c2_pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=Path("var/bench-beacon"))
    parser.add_argument("--store", choices=("embedded", "elasticsearch"), default="embedded")
    parser.add_argument("--es-url", help="an Elasticsearch 8 node (default: start one with scripts/es_node.py)")
    parser.add_argument("--heap", default="2g", help="heap of the node started (default 2g)")
    parser.add_argument("--unsliced", action="store_true",
                        help="Elasticsearch: also time the analysis with the range read as one composite aggregation")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    node = None
    store: EventStore
    if args.store == "elasticsearch":
        url = args.es_url
        if not url:
            sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
            import es_node

            node = es_node.start(heap=args.heap)
            url = node.url
        store = ElasticsearchEventStore(url, prefix=f"beacon{args.records}")
        where = f"{url} (prefix beacon{args.records})"
    else:
        path = args.data / f"events-{args.records}.sqlite3"
        store = EmbeddedEventStore(path)
        where = str(path)
    try:
        t0 = time.perf_counter()
        if store.count() == 0:
            start, end, c2 = generate(store, args.records, args.hosts)
            store.refresh()
        else:  # the records of an earlier run with these arguments: the same generation, not written again
            start, end, c2 = generate(_Discard(), args.records, args.hosts)
        generated = time.perf_counter() - t0
        print(f"store: {store.count()} events in {where} (generated in {generated:.0f} s)", flush=True)
        detector = BeaconDetector(Settings())
        detector.lookback = end - start  # type: ignore[misc]
        t1 = time.perf_counter()
        findings = detector.find(store, start, end)
        analysed = time.perf_counter() - t1
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        keys = {f.key for f in findings}
        print(f"beacon analysis ({args.store}): {analysed:.1f} s, peak RSS {peak_mb:.0f} MB, {len(findings)} "
              f"findings; real C2 pairs found: {len(c2 & keys)} of {len(c2)}", flush=True)
        if args.unsliced and isinstance(store, ElasticsearchEventStore):
            # the baseline: one composite aggregation paged over the whole range
            es_composite.SLICE_EVENTS = 1 << 62
            t2 = time.perf_counter()
            same = {f.key for f in detector.find(store, start, end)} == keys
            print(f"baseline, one composite aggregation over the range: {time.perf_counter() - t2:.1f} s "
                  f"(same findings: {same})")
    finally:
        store.close()
        if node is not None:
            node.stop()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
