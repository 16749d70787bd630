"""Peak memory (RSS) of `cert ingest`, then of `cert detect` over what it stored, on a 1 GB log
file, against the same at a tenth of the size, and against a Python process that only reads the
file line by line, side by side.

    .venv/bin/python bench/ingest/peak_rss.py [--size-mb 1024] [--kind apache|eve|...] [--no-detect]
                                              [--es-url URL]

``--kind apache`` (the default) is the Apache sample of the corpora cycled to unique lines (4.4
million lines for 1 GB), read by ``web.access``; the other kinds are the inputs of
``corpora.py`` (``eve``: Suricata EVE with every common record type, 2 million lines for 1 GB),
each read by its parser. Each run is a fresh process, in a fresh data directory, into the
embedded store (or the given Elasticsearch node): ``cert ingest`` with the parsers only, then
``cert detect`` with every plug-in of the default settings (the detectors and the rules shipped
in rules/) over the events just stored. Each peak RSS is read with
``getrusage(RUSAGE_CHILDREN)`` by a wrapper process of its own, so no run sees another's peak.
Bounded memory means: the 1 GB run peaks where the 100 MB run does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _logs import write_apache_file
from corpora import KINDS, PARSERS, write

from cert.core.config import load_settings

WRAPPER = """
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
elapsed = time.perf_counter() - start
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, elapsed, done.returncode)
print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:])
"""

READ_ONLY = """
import sys
import cert.pipeline.ingestor  # the same imports as cert ingest
n = 0
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        n += 1
print(f"{n} lines read")
"""

Run = tuple[int, float, str]  # peak RSS in KiB, seconds, last line of output


def measure(argv: list[str], env: dict[str, str]) -> Run:
    """(peak RSS in KiB, seconds, last line of output) of one fresh process."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, *argv], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    rss, elapsed, code = out[0].split()
    if code != "0":
        raise RuntimeError(f"{argv}: exit {code}: {out[1:]}")
    return int(rss), float(elapsed), out[1] if len(out) > 1 else ""


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}


def ingest_and_detect(path: Path, parser: str, es_url: str | None, detect: bool) -> tuple[Run, Run | None]:
    """``cert ingest`` of the file into a fresh data directory, then ``cert detect`` there."""
    with tempfile.TemporaryDirectory(prefix="vigie-bench-", dir=path.parent) as data:
        env = clean_env()
        env.update(CERT_DATA_DIR=data)
        if es_url:
            env.update(CERT_ELASTICSEARCH_URL=es_url, CERT_INDEX_PREFIX=f"rss-{uuid.uuid4().hex[:8]}")
        subprocess.run([sys.executable, "-m", "cert.cli", "init"], env=env, cwd=ROOT, check=True, capture_output=True)
        ingested = measure([sys.executable, "-m", "cert.cli", "ingest", "--parser", parser, str(path)],
                           {**env, "CERT_PLUGINS": "ingest.parsers"})
        detected = measure([sys.executable, "-m", "cert.cli", "detect"], env) if detect else None
        return ingested, detected


def write_input(kind: str, corpora: Path, path: Path, size: int) -> tuple[int, str]:
    """(lines, parser) of the input file written."""
    if kind == "apache":
        return write_apache_file(corpora, path, size=size), "web.access"
    return write(kind, corpora, path, size=size), PARSERS[kind]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--kind", choices=["apache", *sorted(KINDS)], default="apache")
    ap.add_argument("--no-detect", action="store_true", help="measure cert ingest only")
    ap.add_argument("--es-url", help="ingest into this Elasticsearch node instead of the embedded store")
    ap.add_argument("--corpora", type=Path, default=load_settings().corpora_dir)
    ap.add_argument("--tmp", type=Path, default=None, help="where to write the files (default: system temp)")
    args = ap.parse_args()
    store = f"Elasticsearch {args.es_url}" if args.es_url else "embedded store"
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {store}; input {args.kind}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vigie-rss-", dir=args.tmp) as tmp:
        for size_mb in (max(1, args.size_mb // 10), args.size_mb):
            path = Path(tmp) / f"{args.kind}-{size_mb}mb.log"
            lines, parser = write_input(args.kind, args.corpora, path, size_mb * 1024 * 1024)
            base_rss, _, _ = measure([sys.executable, "-c", READ_ONLY, str(path)], clean_env())
            (rss, seconds, summary), detected = ingest_and_detect(path, parser, args.es_url, not args.no_detect)
            rows.append((size_mb, lines, base_rss, rss, seconds, detected))
            print(f"{size_mb} MB, {lines:,} lines: read-only {base_rss / 1024:.0f} MiB; "
                  f"cert ingest {rss / 1024:.0f} MiB in {seconds:.0f} s ({lines / seconds:,.0f} lines/s): {summary}",
                  flush=True)
            if detected:
                print(f"    cert detect {detected[0] / 1024:.0f} MiB in {detected[1]:.0f} s: {detected[2]}", flush=True)
            path.unlink()
    print()
    print("| input | lines | peak RSS, read only (baseline) | peak RSS, cert ingest | ratio | cert ingest time "
          "| peak RSS, cert detect | ratio | cert detect time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size_mb, lines, base_rss, rss, seconds, detected in rows:
        tail = (f"{detected[0] / 1024:.0f} MiB | {detected[0] / base_rss:.1f}× | {detected[1]:.0f} s |"
                if detected else "– | – | – |")
        print(f"| {size_mb} MB {args.kind} | {lines:,} | {base_rss / 1024:.0f} MiB | {rss / 1024:.0f} MiB | "
              f"{rss / base_rss:.1f}× | {seconds:.0f} s | {tail}")
    print(f"# load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
