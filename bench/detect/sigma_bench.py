"""Sigma detection throughput: every loadable SigmaHQ Windows rule over a Windows corpus of at
least 1M events, fast engine against the naive evaluator, side by side.

Run: python bench/detect/sigma_bench.py [--passes 100] [--naive-events 2000] [--workers 2]

- Rules: the SigmaHQ trees of ../shared/corpora/sigma (rules, rules-emerging-threats,
  rules-threat-hunting), product ``windows`` only, loaded with pySigma exactly as ``cert`` does.
- Corpus: every EVTX sample of ../shared/corpora (the EVTX attack corpus and SigmaHQ's regression
  samples) parsed by the ``windows.evtx`` parser, replayed ``--passes`` times (100 passes: about
  1.02M events). The engines keep no per-event cache, so a replayed event costs what a new one does.
- Fast: ``SigmaDetector.detect`` on batches of 5,000 events (hits built, as ``run_detection``
  does), in 1 process; and in ``--workers`` processes through ``cert.detection.pool`` (what
  ``cert detect --workers N`` runs: workers match, the main process builds the hits in order).
- Naive: ``NaiveEngine.matches`` (each event against each rule) on ``--naive-events`` events taken
  evenly from the corpus (it is too slow for the whole of it); the fast engine is also timed on
  exactly those events, so the ratio compares like with like.
- Memory: peak resident set size of the process with the full rule set loaded (ru_maxrss).
Wall time and CPU time are both reported: the machine is shared, CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cert.core.config import Settings, load_settings
from cert.core.parser import parsers
from cert.core.registry import load_plugins
from cert.detection.pool import detect_parallel

load_plugins(["ingest.parsers", "detectors"])

from detectors.sigma.detector import SigmaDetector
from detectors.sigma.naive import NaiveEngine

BATCH = 5000


def corpus(corpora: Path) -> list[dict[str, Any]]:
    parser = parsers.get("windows.evtx")()
    events = []
    for path in sorted([*(corpora / "evtx").rglob("*.evtx"), *(corpora / "sigma" / "regression_data").rglob("*.evtx")]):
        for item in parser.read(str(path)):
            if isinstance(item, tuple) and (ev := parser.parse(item[1])) is not None:
                ev.setdefault("event", {})["id"] = f"{path.name}:{item[0]}"
                events.append(ev)
    return events


def windows_detector(corpora: Path, data_dir: Path) -> SigmaDetector:
    sigma = corpora / "sigma"
    settings = replace(Settings(), data_dir=data_dir, rules_dir=data_dir / "no-local-rules",
                       sigma_paths=tuple(str(sigma / t) for t in ("rules", "rules-emerging-threats",
                                                                  "rules-threat-hunting")))
    det = SigmaDetector(settings)
    keep = [r for r in det.ruleset.rules if "product: windows" in r.info.logsource]
    det.ruleset.rules[:] = keep  # Windows rules only
    det.ruleset.correlations.clear()
    from detectors.sigma.runtime import compile_ruleset

    det._compiled = compile_ruleset(det.ruleset, det._compiled.overrides)
    return det


def run_fast(det: SigmaDetector, events: list[dict[str, Any]], passes: int) -> tuple[float, float, int, int]:
    hits = matched = 0
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(passes):
        for i in range(0, len(events), BATCH):
            h = det.detect(events[i:i + BATCH])
            hits += len(h)
            matched += sum(len(x.event_ids) for x in h)
    return time.perf_counter() - w0, time.process_time() - c0, hits, matched


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passes", type=int, default=100, help="corpus replays (default 100: ~1.02M events)")
    ap.add_argument("--naive-events", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    corpora = load_settings().corpora_dir
    data_dir = Path(tempfile.mkdtemp(prefix="vigie-sigma-bench-"))

    t = time.perf_counter()
    events = corpus(corpora)
    print(f"corpus: {len(events)} EVTX events parsed in {time.perf_counter() - t:.1f} s; "
          f"{len(events) * args.passes} events per run ({args.passes} passes)")
    t = time.perf_counter()
    det = windows_detector(corpora, data_dir)
    variants = sum(len(r.variants) for r in det.ruleset.rules)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rules: {len(det.ruleset.rules)} SigmaHQ Windows rules ({variants} compiled variants) loaded and "
          f"compiled in {time.perf_counter() - t:.1f} s; peak RSS {rss:.0f} MB")

    det.detect(events)  # warm-up: the per-logsource buckets are built once
    wall, cpu, hits, matched = run_fast(det, events, args.passes)
    n = len(events) * args.passes
    print(f"fast, 1 process : {n / wall:9.0f} events/s wall, {n / cpu:9.0f} events/s CPU "
          f"({wall:.1f} s wall, {cpu:.1f} s CPU); {hits} hits, {matched} matched event occurrences")
    print(f"peak RSS after the run: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    if args.workers > 1:  # the product's path: `cert detect --workers N` (cert.detection.pool)
        replay = events * args.passes
        w0 = time.perf_counter()
        batches = detect_parallel([det], replay, det._compiled.overrides, BATCH, args.workers)
        total_wall = time.perf_counter() - w0
        par = [hit for _, found in batches for hit in found]
        print(f"fast, {args.workers} processes (cert.detection.pool): {n / total_wall:9.0f} events/s wall "
              f"({total_wall:.1f} s); {len(par)} hits, {sum(len(x.event_ids) for x in par)} matched event occurrences")

    step = max(1, len(events) // args.naive_events)
    sample = events[::step][: args.naive_events]
    naive = NaiveEngine([(r.info.id, [t for v in r.variants for t in v.trees]) for r in det.ruleset.rules])
    c0 = time.process_time()
    naive_ids = [sorted(naive.matches(e)) for e in sample]
    naive_cpu = time.process_time() - c0
    c0 = time.process_time()
    fast_ids = [sorted(det.matches(e)) for e in sample]
    fast_cpu = time.process_time() - c0
    agree = sum(1 for a, b in zip(naive_ids, fast_ids, strict=True) if a == b)
    print(f"naive, 1 process: {len(sample) / naive_cpu:9.1f} events/s CPU on {len(sample)} events; fast on the same "
          f"events: {len(sample) / fast_cpu:.0f} events/s CPU -> fast/naive = {naive_cpu / fast_cpu:.0f}x; "
          f"same matches on {agree}/{len(sample)} events")


if __name__ == "__main__":
    main()
