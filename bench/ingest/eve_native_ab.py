"""Two builds of ``vigie_native`` side by side in one process (and ``orjson.loads`` as the
baseline): the EVE fast path of each over the same lines, taking turns, best of ``--rounds``.
For a change to the native module, this tells its effect apart from the machine's mood better
than two separate runs of eve_native.py.

    # build each version's module (any commit), e.g.
    git worktree add /tmp/old <commit> && cargo build --release --manifest-path /tmp/old/native/Cargo.toml \
        --target-dir /tmp/old-target
    .venv/bin/python bench/ingest/eve_native_ab.py /tmp/old-target/release/libvigie_native.so \
        native/target/release/libvigie_native.so

Input as in eve_native.py: the 548 real alerts × ``--copies`` with their own source ports.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eve_workers import eve_lines

from cert.core.config import load_settings
from cert.pipeline.ingestor import ECS_VERSION

SOURCE = "/var/log/suricata/eve.json"
INGESTED = "2026-11-21T10:00:00.000Z"


def load(path: Path) -> ModuleType:
    """The module built at `path` (two files load as two modules, each with its own state)."""
    spec = importlib.util.spec_from_file_location("vigie_native", path)
    if spec is None or spec.loader is None:
        sys.exit(f"not a Python extension: {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="the first build (.so)")
    ap.add_argument("b", type=Path, help="the second build (.so)")
    ap.add_argument("--copies", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--corpora", type=Path, default=load_settings().corpora_dir)
    args = ap.parse_args()
    lines = eve_lines(args.corpora, args.copies)
    runs: dict[str, Callable[[], None]] = {}
    for name, path in (("A", args.a), ("B", args.b)):
        fast = functools.partial(load(path).eve_finalized, "suricata.eve", "suricata", ECS_VERSION,
                                 parser="suricata.eve")
        if any(fast(line, SOURCE, True, INGESTED, "", n) is None for n, line in enumerate(lines[:548])):
            sys.exit(f"{path}: declines some of the corpus lines; compare builds that take them all")

        def run(fast: Callable[..., object] = fast) -> None:
            for n, line in enumerate(lines):
                fast(line, SOURCE, True, INGESTED, "", n)

        runs[name] = run

    def loads() -> None:
        for line in lines:
            orjson.loads(line)

    runs["orjson.loads"] = loads
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    n = len(lines)
    print(f"# {n:,} EVE lines, best of {args.rounds} rounds taken in turns, one process")
    print("| | µs per line | lines/s | ratio to orjson.loads |")
    print("|---|---:|---:|---:|")
    for name, path in (("A", args.a), ("B", args.b), ("orjson.loads", None)):
        label = f"{name} ({path})" if path else name
        ratio = best["orjson.loads"] / best[name]
        print(f"| {label} | {best[name] / n * 1e6:.2f} | {n / best[name]:,.0f} | {ratio:.3f}x |")
    print(f"# B takes {best['B'] / best['A']:.3f} of A's time")


if __name__ == "__main__":
    main()
