"""Parse + normalise throughput of every registered line parser that has a sample corpus, against
``orjson.loads`` on the same lines, measured side by side in the same run.

    .venv/bin/python bench/ingest/parse_normalise.py [--lines 60000] [--corpora ../shared/corpora]

Samples are found, not configured: every text file of the corpora (gzip included; Sigma, MISP and
EVTX folders excluded) is tried with every line parser, and a parser's sample is the files where
at least 80 % of its non-skipped lines become events. A new parser with a corpus is picked up with
no change here; one without is listed as such. The lines are cycled to ``--lines`` (JSON records
get their ports shifted per copy, so that flow caches see as many flows as records).

Three rates per format, lines per second of wall clock and of CPU time, best of 3 (the machine
is shared, and CPU time is what sharing changes least):
- parse: ``Parser.parse`` alone;
- pipeline: ``Ingestor.ingest`` over the lines in memory (parse, constituency, ``finalize``: ids,
  related.*, batching, the per-batch checkpoint/counter commit in SQLite), into a store that
  accepts everything (so the store's own cost is left out: see es_end_to_end.py for it);
- baseline: ``orjson.loads`` of each line (JSON formats), or of the line as a JSON string
  literal (text formats: the floor of touching every byte in C).
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cert.cli.ingest import tune_gc
from cert.core.config import Settings, load_settings
from cert.core.ecs import Event
from cert.core.event_store import EventQuery, EventStore, WriteResult
from cert.core.parser import ParseError, Parser, parsers
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import Ingestor, finalize
from cert.runtime.platform import Platform

load_plugins(["ingest.parsers"])
EXCLUDED = ("sigma", "misp", "evtx")
SCORE_LINES = 200


class NullStore(EventStore):
    """Takes every event and keeps none: the pipeline without the store's cost."""

    backend = "null"

    def write(self, events: Sequence[Event]) -> WriteResult:
        return WriteResult(written=len(events))

    def get(self, ids: Iterable[str]) -> list[Event]:
        return []

    def search(self, query: EventQuery) -> list[Event]:
        return []

    def count(self, query: EventQuery | None = None) -> int:
        return 0


def text_files(corpora: Path) -> list[Path]:
    out = []
    for path in sorted(corpora.rglob("*")):
        rel = path.relative_to(corpora).parts
        if not path.is_file() or rel[0] in EXCLUDED or path.name.lower().startswith(("readme", "license")):
            continue
        if path.stat().st_size > 50 * 1024 * 1024:
            continue
        head = read_lines(path, 50)
        if head and not any("\x00" in line for line in head):
            out.append(path)
    return out


def read_lines(path: Path, limit: int | None = None) -> list[str]:
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError):
        return []
    lines = data.decode("utf-8", "surrogateescape").splitlines()
    return lines[:limit] if limit else lines


def accepts(parser_cls: type[Parser], path: Path, lines: list[str]) -> int:
    """How many of the lines become events, or 0 when under 80 % of the non-skipped ones do."""
    parser = parser_cls().for_source(str(path))
    ok = bad = 0
    for line in lines:
        try:
            event = parser.parse(line)
            if event is None:
                continue
            finalize(event, parser, line, str(path))
            ok += 1
        except Exception:  # noqa: BLE001 - any failure just means: not this parser's format
            bad += 1
    return ok if ok >= 5 and ok >= 0.8 * (ok + bad) else 0


def vary(line: str, copy: int) -> str:
    if copy == 0 or not line.startswith("{"):
        return line
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line
    changed = False
    for key in ("src_port", "id.orig_p"):
        if isinstance(rec.get(key), int):
            rec[key] = (rec[key] + copy * 7) % 65536
            changed = True
    return orjson.dumps(rec).decode() if changed else line


def workload(samples: list[Path], total: int) -> list[str]:
    """The sample files one after the other (as ``cat *.log | cert ingest -`` would give them,
    headers included for the formats that have one), cycled to ``total`` lines."""
    files = [read_lines(p) for p in samples]
    out: list[str] = []
    copy = 0
    while len(out) < total:
        for lines in files:
            out.extend(vary(line, copy) for line in lines[: total - len(out)])
            if len(out) >= total:
                break
        copy += 1
    return out


def best_rate(fn: Callable[[], int], repeat: int = 3) -> tuple[float, float]:
    """(lines per wall-clock second, lines per CPU second of this process), best of ``repeat``.
    CPU time is what a shared machine changes least; the wall clock is what an operator sees."""
    wall = cpu = 0.0
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        n = fn()
        wall = max(wall, n / (time.perf_counter() - w0))
        cpu = max(cpu, n / max(time.process_time() - c0, 1e-9))
    return wall, cpu


def parse_only(parser_cls: type[Parser], lines: list[str]) -> int:
    parse = parser_cls().for_source("bench").parse
    for line in lines:
        try:  # noqa: SIM105 - the timed loop: contextlib.suppress would add its own cost per line
            parse(line)
        except ParseError:
            pass
    return len(lines)


def pipeline(platform: Platform, name: str, lines: list[str]) -> int:
    return Ingestor(platform, name).ingest(list(enumerate(lines, 1)), source="bench").read


def baseline(lines: list[str]) -> tuple[str, Callable[[], int]]:
    sample = [line for line in lines[:2000] if line.strip()]
    json_like = sum(1 for line in sample if line.lstrip().startswith("{")) > 0.5 * len(sample)
    if json_like:
        data = [line.encode("utf-8", "surrogateescape") for line in lines]
        label = "orjson.loads(line)"
    else:
        data = [orjson.dumps(line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")) for line in lines]
        label = "orjson.loads(JSON string of the line)"

    def run() -> int:
        loads = orjson.loads
        for item in data:
            try:  # noqa: SIM105 - the timed baseline loop: contextlib.suppress would add its own cost per line
                loads(item)
            except orjson.JSONDecodeError:
                pass
        return len(data)

    return label, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=60_000)
    ap.add_argument("--corpora", type=Path, default=load_settings().corpora_dir)
    ap.add_argument("--only", nargs="*", help="parser names (default: every line parser)")
    args = ap.parse_args()
    tune_gc()  # as `cert ingest` runs
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; {args.lines:,} lines per format")
    candidates = [(p, read_lines(p, SCORE_LINES)) for p in text_files(args.corpora)]
    names = args.only or [n for n in parsers.names() if parsers.get(n).unit == "line"]
    rows: list[str] = []
    missing: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        platform = Platform(replace(Settings(), data_dir=Path(tmp) / "data", plugins=("ingest.parsers",)))
        platform.db.upgrade()
        platform.__dict__["events"] = NullStore()  # the cached store, replaced before any use
        for name in names:
            cls = parsers.get(name)
            scored = [(accepts(cls, path, lines), path) for path, lines in candidates]
            samples = [path for score, path in sorted(scored, key=lambda t: (-t[0], str(t[1]))) if score]
            if not samples:
                missing.append(name)
                continue
            lines = workload(samples, args.lines)
            label, base = baseline(lines)
            parse_wall, parse_cpu = best_rate(lambda c=cls, x=lines: parse_only(c, x))  # type: ignore[misc]
            pipe_wall, pipe_cpu = best_rate(lambda n=name, x=lines: pipeline(platform, n, x))  # type: ignore[misc]
            base_wall, base_cpu = best_rate(base)
            where = ", ".join(str(p.relative_to(args.corpora)) for p in samples[:2])
            more = f" +{len(samples) - 2} files" if len(samples) > 2 else ""
            rows.append(f"| {name} | {where}{more} | {parse_wall:,.0f} / {parse_cpu:,.0f} | "
                        f"{pipe_wall:,.0f} / {pipe_cpu:,.0f} | {label} | {base_wall:,.0f} / {base_cpu:,.0f} | "
                        f"{pipe_wall / base_wall:.2f}× / {pipe_cpu / base_cpu:.2f}× |")
            print(rows[-1], flush=True)
        platform.close()
    print()
    print("Rates are lines per second, wall clock / CPU time of the process.")
    print("| parser | sample (found in the corpora) | parse | pipeline | baseline | baseline rate | "
          "pipeline / baseline |")
    print("|---|---|---:|---:|---|---:|---:|")
    print("\n".join(rows))
    if missing:
        print(f"\nNo sample corpus for: {', '.join(missing)}")
    print(f"# load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
