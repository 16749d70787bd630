"""Indicator matching in the streaming path: 1M generated indicators against events parsed from
real formats (Zeek DNS and SSL logs, Suricata EVE, Apache access logs from ../shared/corpora).

Run: python bench/detect/ioc_bench.py [--indicators 1000000] [--events 500000] [--workers 2]

Measures, in one run:
- loading the indicators through the real path (CSV file -> ``cert.detection.indicators.formats.load``
  -> SQLite) and building the in-memory index (time, resident memory);
- ``IndicatorDetector.detect`` on batches of 5,000 events (as ``run_detection`` does), hits and
  their provenance included, in 1 process and in ``--workers`` processes;
- two scenarios: the corpora events replayed as they are (real repetition of addresses and
  names), and the same events with every source/destination address made distinct (no reuse);
- both scan paths side by side: the Python scanner (``VIGIE_NATIVE=0``) and the native pre-filter
  (``vigie_native.IndicatorFilter``, when built), with the same hits; the filter's build time and
  memory; "scan only" is ``detectors.indicators.detector.scan`` alone (no hits, no provenance);
- the baseline, side by side: the naive matcher a first version would write: for each event and
  each field path, ``cert.core.ecs.get`` and a lookup in a Python set of strings per type (parent
  domains included, CIDR networks left out), and the same plus a loop over the networks with
  ``ipaddress`` (on a small sample: it is that slow).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import ipaddress
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cert.core.config import Settings
from cert.core.ecs import Event, get
from cert.core.parser import parsers
from cert.core.registry import load_plugins
from cert.detection.indicators.formats import Defaults, load
from cert.detection.overrides import RuleOverrides
from cert.detection.pool import detect_parallel
from cert.pipeline.ingestor import finalize
from cert.storage.db import Database
from detectors.indicators.detector import FIELDS, IndicatorDetector, native_filter, scan
from detectors.indicators.index import load_index

BATCH = 5000
TLDS = ("com", "net", "org", "info", "ru", "cn", "top", "xyz", "io", "biz", "sn", "ci", "ml", "bf", "cm")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ------------------------------------------------------------------ events from real formats

def corpus_events(corpora: Path) -> list[Event]:
    load_plugins(["ingest.parsers"])
    sources: list[tuple[str, Path, Callable[[Path], Iterator[str]]]] = [
        ("zeek", corpora / "zeek/brimdata-zed-sample-data/zeek-json/dns.json.gz", _gz),
        ("zeek", corpora / "zeek/brimdata-zed-sample-data/zeek-json/ssl.json.gz", _gz),
        ("web.access", corpora / "web/elastic-examples/apache_logs", _text),
    ]
    sources += [("suricata.eve", p, _text)
                for p in sorted((corpora / "suricata/frankhassanabad-suricata-sample-data").rglob("*.eve.jsonl"))]
    events: list[Event] = []
    for name, path, reader in sources:
        parser = parsers.get(name)().for_source(str(path))
        for line in reader(path):
            try:
                ev = parser.parse(line)
                if ev is not None:
                    events.append(finalize(ev, parser, line, str(path)))
            except ValueError:
                continue
    return events


def _gz(path: Path) -> Iterator[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        yield from (line.rstrip("\n") for line in fh)


def _text(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        yield from (line.rstrip("\n") for line in fh)


# ------------------------------------------------------------------ 1M generated indicators

def _public_ip(rnd: random.Random) -> str:
    while True:
        a = rnd.randint(1, 223)
        if a not in (10, 100, 127, 169, 172, 192):
            return f"{a}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"


def _label(rnd: random.Random) -> str:
    return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rnd.randint(5, 14)))


def write_indicators(path: Path, n: int, events: Sequence[Event], rnd: random.Random) -> dict[str, int]:
    """Mixed types in realistic proportions, plus 60 values taken from the events (true hits)."""
    mix = {"ip": 0.40, "cidr": 0.05, "domain": 0.25, "url": 0.08, "md5": 0.06, "sha1": 0.04, "sha256": 0.06,
           "email": 0.04, "ja3": 0.015, "ja3s": 0.005}
    counts = {t: int(n * share) for t, share in mix.items()}
    counts["ip"] += n - sum(counts.values())
    real = rare_values(events, rnd)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["type", "value", "confidence", "tags"])
        for t, v in real:
            w.writerow([t, v, 70, "bench-true-hit"])
        for type_, k in counts.items():
            for _ in range(k):
                w.writerow([type_, _value(type_, rnd), rnd.randint(10, 100), rnd.choice(("c2", "scanner", "phishing"))])
    return counts


def rare_values(events: Sequence[Event], rnd: random.Random, per_field: int = 15) -> list[tuple[str, str]]:
    """Public values seen in at most 3 corpus events each: true hits, at a realistic (low) rate."""
    fields = (("ip", "source.ip"), ("ip", "destination.ip"), ("domain", "dns.question.name"),
              ("domain", "destination.domain"))
    out: list[tuple[str, str]] = []
    for type_, path in fields:
        seen: dict[str, int] = {}
        for e in events:
            v = get(e, path)
            if isinstance(v, str) and v:
                seen[v] = seen.get(v, 0) + 1
        rare = sorted(v for v, n in seen.items() if n <= 3 and (type_ != "ip" or ipaddress.ip_address(v).is_global))
        rnd.shuffle(rare)
        out += [(type_, v) for v in rare[:per_field]]
    return out


PREFIXES = (16, 18, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30)
PREFIX_WEIGHTS = (1, 1, 2, 2, 5, 5, 50, 5, 5, 5, 6, 6, 7)


def _value(type_: str, rnd: random.Random) -> str:
    if type_ == "ip":
        return _public_ip(rnd)
    if type_ == "cidr":  # prefix lengths as in public block lists (mostly /24 and longer, a few large ranges)
        return f"{_public_ip(rnd)}/{rnd.choices(PREFIXES, PREFIX_WEIGHTS)[0]}"
    if type_ == "domain":
        return f"{_label(rnd)}.{rnd.choice(TLDS)}"
    if type_ == "url":
        return f"http://{_label(rnd)}.{rnd.choice(TLDS)}/{_label(rnd)}.php"
    if type_ == "email":
        return f"{_label(rnd)}@{_label(rnd)}.{rnd.choice(TLDS)}"
    bits = {"md5": 128, "sha1": 160, "sha256": 256, "ja3": 128, "ja3s": 128}[type_]
    return f"{rnd.getrandbits(bits):0{bits // 4}x}"


# ------------------------------------------------------------------ the naive baseline

PATHS = [(path, kind) for _, entries in FIELDS for _, _, path, kind in entries]


class Naive:
    def __init__(self, db: Database, with_networks: bool) -> None:
        from sqlalchemy import select

        from cert.storage.models.indicators import Indicator

        self.sets: dict[str, set[str]] = {k: set() for k in ("ip", "domain", "url", "hash", "email", "ja3", "ja3s")}
        self.networks: list[Any] = []
        with db.session() as s:
            for t, v in s.execute(select(Indicator.type, Indicator.value).where(Indicator.to_ids.is_(True))):
                if t == "cidr":
                    if with_networks:
                        self.networks.append(ipaddress.ip_network(v))
                else:
                    self.sets["hash" if t in ("md5", "sha1", "sha256") else t].add(v)

    def detect(self, events: Sequence[Event]) -> int:
        found = 0
        for ev in events:
            for path, kind in PATHS:
                v = get(ev, path)
                for x in (v if isinstance(v, list) else [v]):
                    if isinstance(x, str) and self._match(kind, x.lower()):
                        found += 1
        return found

    def _match(self, kind: str, v: str) -> bool:
        if kind == "domain":
            parts = v.rstrip(".").split(".")
            return any(".".join(parts[i:]) in self.sets["domain"] for i in range(len(parts)))
        if v in self.sets[kind]:
            return True
        if kind == "ip" and self.networks:
            addr = ipaddress.ip_address(v)
            return any(addr in net for net in self.networks)
        return False


# ------------------------------------------------------------------ runs

def run_detector(det: IndicatorDetector, events: Sequence[Event]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, hits)."""
    w, c = time.perf_counter(), time.process_time()
    hits = 0
    for i in range(0, len(events), BATCH):
        hits += len(det.detect(events[i:i + BATCH]))
    return time.perf_counter() - w, time.process_time() - c, hits


def run_scan(det: IndicatorDetector, events: Sequence[Event]) -> tuple[float, int]:
    """(CPU seconds, matches) of the scan alone, batch by batch."""
    c = time.process_time()
    found = 0
    for i in range(0, len(events), BATCH):
        found += len(scan(det.index, events[i:i + BATCH]))
    return time.process_time() - c, found


def run_parallel(det: IndicatorDetector, events: Sequence[Event], workers: int) -> tuple[float, int]:
    """(wall seconds, hits) through ``cert.detection.pool``, what ``cert detect --workers N`` runs:
    the workers match, the main process builds the hits (provenance from SQL) in batch order."""
    t = time.perf_counter()
    batches = detect_parallel([det], events, RuleOverrides(), BATCH, workers)
    return time.perf_counter() - t, sum(len(found) for _, found in batches)


def distinct_addresses(events: Sequence[Event], rnd: random.Random) -> list[Event]:
    out = []
    for ev in events:
        e = dict(ev)
        for side in ("source", "destination"):
            if isinstance(ev.get(side), dict):
                e[side] = {**ev[side], "ip": _public_ip(rnd)}
        if isinstance(ev.get("related"), dict):
            e["related"] = {**ev["related"], "ip": [e[s]["ip"] for s in ("source", "destination") if s in e]}
        out.append(e)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--indicators", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--corpora", default=str(ROOT.parent / "shared" / "corpora"))
    args = ap.parse_args()
    print(f"load average before the run: {os.getloadavg()} on {os.cpu_count()} CPUs")
    rnd = random.Random(42)
    base = corpus_events(Path(args.corpora))
    print(f"corpus events parsed: {len(base):,}")
    events = [base[i % len(base)] for i in range(args.events)]
    with tempfile.TemporaryDirectory(prefix="vigie-ioc-bench-") as tmp:
        settings = replace(Settings(), data_dir=Path(tmp) / "data")
        db = Database.from_settings(settings)
        db.upgrade()
        csv_path = Path(tmp) / "indicators.csv"
        counts = write_indicators(csv_path, args.indicators, base, rnd)
        t = time.perf_counter()
        with db.session() as s:
            report = load(s, csv_path, "bench", Defaults())
        load_s = time.perf_counter() - t
        print(f"indicators: {counts}; stored {report.stored:,}, rejected {len(report.errors)} in {load_s:.1f} s "
              f"({report.stored / load_s:,.0f}/s)")
        mem0 = rss_mb()
        t = time.perf_counter()
        index = load_index(db)
        build_s = time.perf_counter() - t
        print(f"index build {build_s:.1f} s, +{rss_mb() - mem0:,.0f} MB resident, {index.stats()}")
        del index
        os.environ["VIGIE_NATIVE"] = "0"
        det = IndicatorDetector(settings)
        det.refresh_seconds = 1e9
        paths = {"python scanner": "0"}
        os.environ["VIGIE_NATIVE"] = "1"
        mem0 = rss_mb()
        t = time.perf_counter()
        prefilter = native_filter(det.index)
        if prefilter is not None:
            paths["native filter"] = "1"
            print(f"native filter build {time.perf_counter() - t:.2f} s, +{rss_mb() - mem0:,.0f} MB resident "
                  f"(tables {prefilter.nbytes() / 2**20:,.0f} MB)")
        else:
            print("native filter: vigie_native not built (pip install ./native): Python scanner only")
        scenarios = {"corpora replayed": events, "distinct addresses": distinct_addresses(events, rnd)}
        for name, evs in scenarios.items():
            n = len(evs)
            print(f"\n## {name}: {n:,} events   (events/s by wall clock | by CPU time of the process)")
            one_ws, par_ws, all_hits = [], [], set()
            for label, flag in paths.items():
                os.environ["VIGIE_NATIVE"] = flag
                run_detector(det, evs[:BATCH])  # warm the connection
                scan_c, matches = run_scan(det, evs)
                one_w, one_c, hits = run_detector(det, evs)
                par_w, par_hits = run_parallel(det, evs, args.workers)
                one_ws.append(one_w)
                par_ws.append(par_w)
                all_hits |= {(hits, par_hits, matches)}
                print(f"{label}:")
                print(f"  scan only, 1 process:  {'':>10} | {n / scan_c:>10,.0f}   ({matches} matches)")
                print(f"  detector, 1 process:   {n / one_w:>10,.0f} | {n / one_c:>10,.0f}   ({hits} hits)")
                print(f"  detector, {args.workers} processes: {n / par_w:>10,.0f} |            ({par_hits} hits; "
                      "cert.detection.pool)")
            if len(all_hits) != 1:
                print(f"  !! the paths disagree: (hits, hits in parallel, matches) {sorted(all_hits)}")
            naive = Naive(db, with_networks=False)
            w, c = time.perf_counter(), time.process_time()
            naive_found = naive.detect(evs)
            naive_w, naive_c = time.perf_counter() - w, time.process_time() - c
            print(f"naive sets, no CIDR:     {n / naive_w:>10,.0f} | {n / naive_c:>10,.0f}   "
                  f"({naive_found} matched values)")
            for label, one_w, par_w in zip(paths, one_ws, par_ws, strict=True):
                print(f"ratio {label}/naive: 1 process {naive_w / one_w:.1f}x wall; "
                      f"{args.workers} processes {naive_w / par_w:.1f}x wall")
        os.environ.pop("VIGIE_NATIVE", None)
        naive_cidr = Naive(db, with_networks=True)
        sample = scenarios["distinct addresses"][:200]
        c = time.process_time()
        naive_cidr.detect(sample)
        cidr_s = time.process_time() - c
        print(f"\nnaive with a loop over {len(naive_cidr.networks):,} networks (200 events): "
              f"{len(sample) / cidr_s:,.0f} events/s (CPU time)")
        print(f"load average after the run: {os.getloadavg()}")


if __name__ == "__main__":
    main()
