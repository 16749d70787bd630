"""End to end into Elasticsearch: `cert ingest` of a log file against a raw
``elasticsearch.helpers.parallel_bulk`` of the same events, pre-made, on the same node, side by side.

    .venv/bin/python bench/ingest/es_end_to_end.py [--lines 200000] [--rounds 3] [--es-url URL]
                                                   [--profile bench|test]

Without ``--es-url`` a dedicated node is started (scripts/es_node.py) with the ``bench`` profile
by default: G1, the full tiered JIT, a heap of a quarter of the RAM within 512 MB-4 GB (``--profile
test``: the tests' serial GC, C1 only, 512 MB). The JVM settings the node reports (``_nodes/jvm``)
are printed with the figures. The file is the Apache sample of the corpora cycled to ``--lines``
unique lines.

- baseline: the events `cert ingest` makes, already serialised (JSON text, not timed), sent with
  ``helpers.parallel_bulk`` (create, ``_id`` = event.id) with as many threads as `cert ingest` has
  writes in flight (``EventStore.write_concurrency``, each on its own connection), requests of as
  many events as its batches and at most as many bytes, into indices with the same template: the
  node's own indexing speed through the same connections, with nothing to parse;
- vigie: ``cert ingest --parser web.access FILE`` as an operator runs it, a fresh process (start-up
  included) reading the file, parsing, normalising, writing, committing checkpoints.

An untimed parallel_bulk warms the node up first (``--no-warmup`` skips it); then rounds alternate
(baseline, vigie, baseline, vigie...) on fresh indices; the best of each is kept, and every round
is printed with its ratio.
"""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from elasticsearch import Elasticsearch, helpers

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import es_node
from _logs import write_apache_file

from cert.constituency.directory import Constituency
from cert.core.config import load_settings
from cert.core.parser import parsers
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import Ingestor, finalize
from cert.storage.events.elasticsearch import BULK_BYTES, ElasticsearchEventStore

#: what `cert ingest` uses: events per batch (one ``_bulk`` request each) and writes in flight
BATCH = int(inspect.signature(Ingestor).parameters["batch_size"].default)
CONNECTIONS = ElasticsearchEventStore.write_concurrency


def premade(path: Path) -> list[tuple[str, str, str]]:
    """(index, id, JSON) of every event of the file, as `cert ingest` makes them."""
    load_plugins(["ingest.parsers"])
    parser = parsers.get("web.access")()
    constituency = Constituency.load(None)
    store = ElasticsearchEventStore("http://127.0.0.1:1", prefix="x")
    out = []
    source = os.path.abspath(path)
    with path.open("rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
            event = parser.parse(line)
            if event is None:
                continue
            constituency.enrich(event)
            finalize(event, parser, line, source)
            out.append((store.index_for(event).removeprefix("x-"), event["event"]["id"], orjson.dumps(event).decode()))
    return out


def drop(es: Elasticsearch, prefix: str) -> None:
    names = list(es.indices.get(index=f"{prefix}-events-*", allow_no_indices=True))
    if names:
        es.indices.delete(index=",".join(names))


def baseline(url: str, docs: list[tuple[str, str, str]], prefix: str) -> float:
    ElasticsearchEventStore(url, prefix=prefix).ensure_template()
    es = Elasticsearch(url, request_timeout=120)

    def actions() -> Iterator[dict[str, Any]]:
        for index, eid, source in docs:
            yield {"_op_type": "create", "_index": f"{prefix}-{index}", "_id": eid, "_source": source}

    start = time.perf_counter()
    ok = failed = 0
    for success, _ in helpers.parallel_bulk(es, actions(), thread_count=CONNECTIONS, chunk_size=BATCH,
                                            max_chunk_bytes=BULK_BYTES, raise_on_error=False):
        ok += success
        failed += not success
    elapsed = time.perf_counter() - start
    assert ok == len(docs) and not failed, (ok, failed)
    count(url, prefix, len(docs))
    drop(es, prefix)
    return len(docs) / elapsed


def jvm_settings(url: str) -> str:
    """The node's JVM as it reports it: version, garbage collectors, heap, and its -X options."""
    info = Elasticsearch(url).nodes.info(node_id="_local", metric="jvm")
    jvm = next(iter(info["nodes"].values()))["jvm"]
    options = [o for o in jvm.get("input_arguments", []) if o.startswith(("-X", "-XX"))]
    heap = jvm["mem"]["heap_max_in_bytes"] / 2**20
    return (f"JVM {jvm.get('version')}, GC {'+'.join(jvm.get('gc_collectors', []))}, heap {heap:,.0f} MB; "
            f"{' '.join(options)}")


def vigie(url: str, path: Path, prefix: str, expected: int) -> tuple[float, str]:
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
        env.update(CERT_DATA_DIR=data, CERT_ELASTICSEARCH_URL=url, CERT_INDEX_PREFIX=prefix,
                   CERT_PLUGINS="ingest.parsers")
        cmd = [sys.executable, "-m", "cert.cli"]
        subprocess.run([*cmd, "init"], env=env, cwd=ROOT, check=True, capture_output=True)
        start = time.perf_counter()
        done = subprocess.run([*cmd, "ingest", "--parser", "web.access", str(path)], env=env, cwd=ROOT,
                              check=True, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
    count(url, prefix, expected)
    drop(Elasticsearch(url), prefix)
    warnings = [line for line in done.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    return expected / elapsed, " ".join([done.stdout.strip(), *warnings])


def count(url: str, prefix: str, expected: int) -> None:
    store = ElasticsearchEventStore(url, prefix=prefix)
    store.refresh()
    n = store.count()
    assert n == expected, f"{prefix}: {n} events stored, {expected} expected"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--es-url", help="an Elasticsearch 8 node (default: start one with scripts/es_node.py)")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false",
                    help="skip the untimed parallel_bulk that warms the node up before the rounds")
    ap.add_argument("--profile", choices=sorted(es_node.PROFILES), default="bench",
                    help="JVM settings of the node started (default bench: G1, full JIT, heap for the machine)")
    ap.add_argument("--corpora", type=Path, default=load_settings().corpora_dir)
    args = ap.parse_args()
    node = None
    url = args.es_url
    if not url:
        node = es_node.start(profile=args.profile)
        url = node.url
    try:
        with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
            path = Path(tmp) / "access.log"
            write_apache_file(args.corpora, path, lines=args.lines)
            docs = premade(path)
            started = f"started here, profile {args.profile}" if node is not None else "given by --es-url"
            print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {len(docs):,} events, "
                  f"{path.stat().st_size / 1e6:.0f} MB; Elasticsearch at {url} ({started})", flush=True)
            print(f"# node: {jvm_settings(url)}", flush=True)
            print(f"# both sides: {CONNECTIONS} connections, {BATCH:,} events (at most {BULK_BYTES // 2**20} MB) "
                  "per request", flush=True)
            if args.warmup:  # the node's JIT compiles its indexing path before anything is timed
                print(f"warm-up (not counted): parallel_bulk {baseline(url, docs, 'bench-warmup'):,.0f} events/s",
                      flush=True)
            base, ours = [], []
            for r in range(args.rounds):
                base.append(baseline(url, docs, f"bench-raw-{r}"))
                print(f"round {r + 1}: parallel_bulk of pre-made documents {base[-1]:,.0f} events/s", flush=True)
                rate, summary = vigie(url, path, f"bench-vigie-{r}", len(docs))
                ours.append(rate)
                print(f"round {r + 1}: cert ingest {rate:,.0f} events/s, {rate / base[-1]:.2f}x ({summary})",
                      flush=True)
        print()
        print(f"| path | events/s (best of {args.rounds}) |")
        print("|---|---:|")
        print(f"| helpers.parallel_bulk, {CONNECTIONS} threads, {BATCH:,} per request, pre-made JSON documents "
              f"(baseline) | {max(base):,.0f} |")
        print(f"| cert ingest FILE (read, parse, normalise, write, checkpoint; process start-up included) "
              f"| {max(ours):,.0f} |")
        print(f"| ratio cert ingest / baseline | {max(ours) / max(base):.2f}× |")
        print(f"# node: {jvm_settings(url)}")
        print(f"# load average {os.getloadavg()[0]:.2f} at the end")
    finally:
        if node is not None:
            node.stop()


if __name__ == "__main__":
    main()
