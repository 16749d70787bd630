"""End to end into Elasticsearch: `cert ingest` of a log file against a raw
``elasticsearch.helpers.bulk`` of the same events, pre-made, on the same node, side by side.

    .venv/bin/python bench/ingest/es_end_to_end.py [--lines 200000] [--es-url URL] [--rounds 2]

Without ``--es-url`` a dedicated node is started (scripts/es_node.py, 512 MB heap, as the tests).
The file is the Apache sample of the corpora cycled to ``--lines`` unique lines.

- baseline: the events `cert ingest` makes, already serialised (JSON text, not timed), sent with
  ``helpers.bulk`` (create, ``_id`` = event.id, 2,000 per request) into indices with the same
  template: the node's own indexing speed, with nothing to parse;
- vigie: ``cert ingest --parser web.access FILE`` as an operator runs it, a fresh process (start-up
  included) reading the file, parsing, normalising, writing, committing checkpoints.

Rounds alternate (baseline, vigie, baseline, vigie...) on fresh indices; the best of each is kept.
"""

from __future__ import annotations

import argparse
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
from cert.pipeline.ingestor import finalize
from cert.storage.events.elasticsearch import ElasticsearchEventStore


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
    ok, errors = helpers.bulk(es, actions(), chunk_size=2000, max_chunk_bytes=100 * 1024 * 1024, stats_only=True)
    elapsed = time.perf_counter() - start
    assert ok == len(docs) and not errors, (ok, errors)
    count(url, prefix, len(docs))
    drop(es, prefix)
    return len(docs) / elapsed


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
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--es-url", help="an Elasticsearch 8 node (default: start one with scripts/es_node.py)")
    ap.add_argument("--corpora", type=Path, default=load_settings().corpora_dir)
    args = ap.parse_args()
    node = None
    url = args.es_url
    if not url:
        node = es_node.start()
        url = node.url
    try:
        with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
            path = Path(tmp) / "access.log"
            write_apache_file(args.corpora, path, lines=args.lines)
            docs = premade(path)
            print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {len(docs):,} events, "
                  f"{path.stat().st_size / 1e6:.0f} MB; Elasticsearch at {url}", flush=True)
            base, ours = [], []
            for r in range(args.rounds):
                base.append(baseline(url, docs, f"bench-raw-{r}"))
                print(f"round {r + 1}: helpers.bulk of pre-made documents {base[-1]:,.0f} events/s", flush=True)
                rate, summary = vigie(url, path, f"bench-vigie-{r}", len(docs))
                ours.append(rate)
                print(f"round {r + 1}: cert ingest {rate:,.0f} events/s ({summary})", flush=True)
        print()
        print(f"| path | events/s (best of {args.rounds}) |")
        print("|---|---:|")
        print(f"| helpers.bulk, pre-made JSON documents (baseline) | {max(base):,.0f} |")
        print(f"| cert ingest FILE (read, parse, normalise, write, checkpoint) | {max(ours):,.0f} |")
        print(f"| ratio cert ingest / baseline | {max(ours) / max(base):.2f}× |")
        print(f"# load average {os.getloadavg()[0]:.2f} at the end")
    finally:
        if node is not None:
            node.stop()


if __name__ == "__main__":
    main()
