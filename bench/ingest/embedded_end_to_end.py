"""End to end into the embedded store: ``cert ingest`` of a log file against plain SQLite inserts of
the same rows, side by side in the same run.

    .venv/bin/python bench/ingest/embedded_end_to_end.py [--kind eve] [--lines 200000] [--rounds 3]

- vigie: ``cert ingest --parser PARSER FILE`` as an operator runs it: a fresh process (start-up
  included) in a fresh data directory (``cert init`` first, not timed) reading the file, parsing,
  normalising, enriching, writing the embedded store, committing checkpoints;
- baseline: the rows that run stored (id, ``@timestamp``, ``event.ingested``, the JSON document),
  read back from its store and inserted into a fresh SQLite file with the same schema and
  connection settings (``cert.storage.events.embedded``), with plain ``executemany`` in
  transactions of the size ``cert ingest`` uses (its batch size): what SQLite itself takes, with
  nothing to read, parse or serialise.

Rounds alternate (vigie then baseline, then baseline then vigie...; the first vigie run gives the
rows); the figure is the median of the
rounds. The start-up of a ``cert ingest`` process (a one-line file) is printed apart.

Inputs (``--kind``): ``eve-alerts`` is the real Suricata alerts of the corpora, repeated with their
own source ports per copy; the other kinds (``eve`` with every EVE record type, ``zeek-tsv``,
``zeek-json``, ``syslog``, ``windows``) come from ``bench/ingest/corpora.py``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cert.core.config import load_settings
from cert.pipeline.ingestor import Ingestor
from cert.storage.events import embedded


def write_input(kind: str, corpora: Path, path: Path, lines: int) -> str:
    """Write ``lines`` unique lines of ``kind`` to ``path``; the parser that reads them."""
    if kind == "eve-alerts":
        from eve_workers import eve_lines

        records = eve_lines(corpora, lines // 548 + 1)[:lines]
        path.write_text("\n".join(records) + "\n")
        return "suricata.eve"
    import corpora as generated  # bench/ingest/corpora.py

    generated.write(kind, corpora, path, lines=lines)
    return generated.PARSERS[kind]


def cert(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cert.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=False)


def run_vigie(path: Path, parser: str, data: Path) -> tuple[float, str]:
    """Seconds of one ``cert ingest`` process and its last line of output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env.update(CERT_DATA_DIR=str(data), CERT_PLUGINS="ingest.parsers")
    done = cert(env, "init")
    if done.returncode != 0:
        raise RuntimeError(f"cert init exited {done.returncode}: {done.stderr[-2000:]}")
    start = time.perf_counter()
    done = cert(env, "ingest", "--parser", parser, str(path))
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"cert ingest exited {done.returncode}: {done.stderr[-2000:]}")
    lines = (done.stdout + done.stderr).strip().splitlines()
    return seconds, lines[-1] if lines else ""


def stored_rows(data: Path) -> list[tuple[str, str, str, str]]:
    db = sqlite3.connect(str(data / load_settings().embedded_events_path.name))
    try:
        return db.execute("SELECT id, ts, ingested, doc FROM events ORDER BY seq").fetchall()
    finally:
        db.close()


def run_baseline(rows: list[tuple[str, str, str, str]], path: Path, batch: int) -> float:
    """Seconds to insert ``rows`` into a fresh file with the store's schema and settings."""
    start = time.perf_counter()
    db = sqlite3.connect(str(path), isolation_level=None)
    for pragma in embedded.PRAGMAS:
        db.execute(pragma)
    db.executescript(embedded.SCHEMA)
    sql = "INSERT OR IGNORE INTO events (id, ts, ingested, doc) VALUES (?,?,?,?)"
    for i in range(0, len(rows), batch):
        db.execute("BEGIN")
        db.executemany(sql, rows[i:i + batch])
        db.execute("COMMIT")
    db.close()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", default="eve")
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--corpora", default=str(load_settings().corpora_dir))
    args = ap.parse_args()
    batch = Ingestor.__init__.__defaults__[0]  # type: ignore[index]  # the batch size cert ingest uses
    with tempfile.TemporaryDirectory(prefix="vigie-emb-e2e-") as tmp:
        work = Path(tmp)
        path = work / f"input.{args.kind}"
        parser = write_input(args.kind, Path(args.corpora), path, args.lines)
        one = work / f"one.{args.kind}"
        one.write_text(path.open().readline())
        print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.lines:,} lines of {args.kind} "
              f"({path.stat().st_size / 1e6:.0f} MB), parser {parser}; transactions of {batch:,} rows; "
              f"SQLite {sqlite3.sqlite_version}", flush=True)
        startup = statistics.median(run_vigie(one, parser, work / f"one{n}")[0] for n in range(3))
        print(f"start-up (cert ingest of a one-line file, median of 3): {startup:.2f} s", flush=True)
        vigie: list[float] = []
        base: list[float] = []
        stored: set[int] = set()
        rows: list[tuple[str, str, str, str]] = []
        for r in range(args.rounds):
            for which in (("vigie", "baseline") if r % 2 == 0 else ("baseline", "vigie")):
                if which == "vigie":
                    data = work / f"data{r}"
                    seconds, summary = run_vigie(path, parser, data)
                    vigie.append(seconds)
                    got = stored_rows(data)
                    stored.add(len(got))
                    rows = rows or got
                    print(f"round {r + 1} vigie: {seconds:.2f} s ({len(got) / seconds:,.0f} events/s); {summary}",
                          flush=True)
                else:
                    target = work / f"baseline{r}.sqlite3"
                    seconds = run_baseline(rows, target, batch)
                    base.append(seconds)
                    print(f"round {r + 1} baseline: {seconds:.2f} s ({len(rows) / seconds:,.0f} rows/s)", flush=True)
    if len(stored) != 1:
        sys.exit(f"the runs stored different numbers of events: {sorted(stored)}")
    n = stored.pop()
    v, b = statistics.median(vigie), statistics.median(base)
    print("| measure | median s | events/s |\n|---|---:|---:|")
    print(f"| cert ingest ({parser}), start-up included | {v:.2f} | {n / v:,.0f} |")
    print(f"| plain executemany of the same rows | {b:.2f} | {n / b:,.0f} |")
    print(f"ratio (vigie / baseline, rate): {b / v:.2f}x; without start-up {b / max(v - startup, 1e-9):.2f}x "
          f"({n / max(v - startup, 1e-9):,.0f} events/s)")


if __name__ == "__main__":
    main()
