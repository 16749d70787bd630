"""Peak memory (RSS) of `cert ingest` on a 1 GB log file, against the same at a tenth of the
size, and against a Python process that only reads the file line by line, side by side.

    .venv/bin/python bench/ingest/peak_rss.py [--size-mb 1024] [--es-url URL]

The file is the Apache sample of the corpora cycled to unique lines (4.4 million lines for 1 GB).
Each run is a fresh process, in a fresh data directory, into the embedded store (or the given
Elasticsearch node); its peak RSS is read with ``getrusage(RUSAGE_CHILDREN)`` by a wrapper
process of its own, so no run sees another's peak. Bounded memory means: the 1 GB run peaks
where the 100 MB run does.
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


def measure(argv: list[str], env: dict[str, str]) -> tuple[int, float, str]:
    """(peak RSS in KiB, seconds, last line of output) of one fresh process."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, *argv], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    rss, elapsed, code = out[0].split()
    if code != "0":
        raise RuntimeError(f"{argv}: exit {code}: {out[1:]}")
    return int(rss), float(elapsed), out[1] if len(out) > 1 else ""


def ingest(path: Path, es_url: str | None) -> tuple[int, float, str]:
    with tempfile.TemporaryDirectory(prefix="vigie-bench-", dir=path.parent) as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
        env.update(CERT_DATA_DIR=data, CERT_PLUGINS="ingest.parsers")
        if es_url:
            env.update(CERT_ELASTICSEARCH_URL=es_url, CERT_INDEX_PREFIX=f"rss-{uuid.uuid4().hex[:8]}")
        subprocess.run([sys.executable, "-m", "cert.cli", "init"], env=env, cwd=ROOT, check=True, capture_output=True)
        return measure([sys.executable, "-m", "cert.cli", "ingest", "--parser", "web.access", str(path)], env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--es-url", help="ingest into this Elasticsearch node instead of the embedded store")
    ap.add_argument("--corpora", type=Path, default=load_settings().corpora_dir)
    ap.add_argument("--tmp", type=Path, default=None, help="where to write the files (default: system temp)")
    args = ap.parse_args()
    store = f"Elasticsearch {args.es_url}" if args.es_url else "embedded store"
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {store}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vigie-rss-", dir=args.tmp) as tmp:
        for size_mb in (max(1, args.size_mb // 10), args.size_mb):
            path = Path(tmp) / f"access-{size_mb}mb.log"
            lines = write_apache_file(args.corpora, path, size=size_mb * 1024 * 1024)
            env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
            base_rss, _, _ = measure([sys.executable, "-c", READ_ONLY, str(path)], env)
            rss, seconds, summary = ingest(path, args.es_url)
            rows.append((size_mb, lines, base_rss, rss, seconds, summary))
            print(f"{size_mb} MB, {lines:,} lines: read-only {base_rss / 1024:.0f} MiB; "
                  f"cert ingest {rss / 1024:.0f} MiB in {seconds:.0f} s ({lines / seconds:,.0f} lines/s): {summary}",
                  flush=True)
            path.unlink()
    print()
    print("| input | lines | peak RSS, read only (baseline) | peak RSS, cert ingest | ratio | cert ingest time |")
    print("|---|---:|---:|---:|---:|---:|")
    for size_mb, lines, base_rss, rss, seconds, _ in rows:
        print(f"| {size_mb} MB | {lines:,} | {base_rss / 1024:.0f} MiB | {rss / 1024:.0f} MiB | "
              f"{rss / base_rss:.1f}× | {seconds:.0f} s |")
    print(f"# load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
