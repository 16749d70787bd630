"""Suricata EVE parse + normalise (``parse`` then ``_finalize``: what the Ingestor does per line)
in Python and through the native fast path (``vigie_native``, the ``Parser.fast_path`` the
Ingestor calls first), against ``orjson.loads`` of the same lines, in 1 and 2 worker processes,
side by side in the same run. What the native path buys once the store and the rest of
``cert ingest`` are counted is measured by eve_native_e2e.py.

    .venv/bin/python bench/ingest/eve_native.py [--copies 100] [--corpora ../shared/corpora]

Input: the 548 real alerts of suricata-sample-data (the only EVE records in the corpora), repeated
``--copies`` times with their own source ports per copy (as bench/ingest/eve_workers.py does), so
the Community ID cache of the Python path gets no free hits. The native column counts every line:
a line it declines goes through the Python parser, as in the Ingestor. The lines reach the worker
processes by fork (nothing pickled while timed); each worker times its own share, and the rate is
all lines over the slowest worker's time, best of ``--rounds`` (5) rounds in which the three
functions take turns.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eve_workers import eve_lines

from cert.core.config import load_settings
from cert.core.parser import parsers
from cert.pipeline.ingestor import _finalize

SOURCE = "/var/log/suricata/eve.json"
INGESTED = "2026-11-21T10:00:00.000Z"
IDENTITY = "5f0c2a6b9d4e8f1a2b3c4d5e"  # the file's record_identity; positions: line numbers
LINES: list[str] = []  # set before the workers fork


def _python(lines: list[str]) -> int:
    os.environ["VIGIE_NATIVE"] = "0"
    parser = parsers.get("suricata.eve")()
    parse = parser.parse
    for n, line in enumerate(lines):
        event = parse(line)
        if event is not None:
            _finalize(event, parser, line, SOURCE, True, INGESTED, IDENTITY, n)
    return len(lines)


def _native(lines: list[str]) -> int:
    os.environ["VIGIE_NATIVE"] = "1"
    parser = parsers.get("suricata.eve")()
    fast, parse = parser.fast_path, parser.parse
    assert fast is not None
    for n, line in enumerate(lines):
        if fast(line, SOURCE, True, INGESTED, IDENTITY, n) is None:
            event = parse(line)
            if event is not None:
                _finalize(event, parser, line, SOURCE, True, INGESTED, IDENTITY, n)
    return len(lines)


def _loads(lines: list[str]) -> int:
    for line in lines:
        orjson.loads(line)
    return len(lines)


FUNCTIONS: dict[str, Callable[[list[str]], int]] = {"loads": _loads, "python": _python, "native": _native}


def _timed(job: tuple[str, int, int]) -> tuple[int, float]:
    name, worker, workers = job
    share = LINES[worker::workers]
    FUNCTIONS[name](share[:300])  # warm up (caches, imports)
    start = time.perf_counter()
    done = FUNCTIONS[name](share)
    return done, time.perf_counter() - start


def rates(pool: multiprocessing.pool.Pool, names: tuple[str, ...], workers: int, rounds: int) -> list[float]:
    """The best rate of each function over `rounds` rounds, the functions taking turns within a
    round (the machine is shared: a slow spell then touches all of them, not one)."""
    best = [0.0] * len(names)
    for _ in range(rounds):
        for i, name in enumerate(names):
            results = pool.map(_timed, [(name, w, workers) for w in range(workers)])
            best[i] = max(best[i], sum(n for n, _ in results) / max(t for _, t in results))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=100)
    ap.add_argument("--corpora", type=Path, default=load_settings().corpora_dir)
    ap.add_argument("--rounds", type=int, default=5, help="best of this many rounds, taken in turns")
    args = ap.parse_args()
    try:
        import vigie_native  # noqa: F401
    except ImportError:
        sys.exit("vigie_native is not installed: pip install ./native")
    lines = eve_lines(args.corpora, args.copies)
    LINES[:] = lines
    probe = parsers.get("suricata.eve")()
    fast = probe.fast_path
    assert fast is not None
    taken = sum(fast(line, SOURCE, True, INGESTED, IDENTITY, n) is not None for n, line in enumerate(lines[:548]))
    print(f"# {len(lines):,} EVE lines; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start; "
          f"native fast path takes {taken} of the 548 distinct records")
    print("| processes | orjson.loads, lines/s | Python parse+finalize, events/s | ratio | "
          "native parse+finalize, events/s | ratio | native / Python |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for workers in (1, 2):
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            loads, python, native = rates(pool, ("loads", "python", "native"), workers, args.rounds)
        print(f"| {workers} | {loads:,.0f} | {python:,.0f} | {python / loads:.2f}x | {native:,.0f} | "
              f"{native / loads:.2f}x | {native / python:.2f}x |", flush=True)
    print(f"# load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
