"""Instructions per EVE line (valgrind's callgrind): ``orjson.loads`` against the native
parse+normalise (``vigie_native.eve_finalized``), each counted inclusively over the same lines.
Instruction counts do not depend on what else the shared machine is doing, so they show a change
of the native code where wall-clock rates are within noise (bench/ingest/eve_native.py gives the
rates). They leave out what Python does after the call (freeing the result), which is larger for
the native path (its event has about twice the objects of orjson's dict).

    .venv/bin/python bench/ingest/eve_callgrind.py [--copies 4] [--corpora ../shared/corpora]
"""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eve_workers import eve_lines

from cert.core.config import load_settings
from cert.pipeline.ingestor import ECS_VERSION

# the functions whose inclusive cost is read: orjson's loads, the native entry point
SYMBOLS = {"loads": r"\?\?\?:loads \[.*orjson", "native": r"__pyfunction_eve_finalized"}


def run(mode: str, corpora: Path, copies: int) -> None:
    """The measured loop (in the process valgrind runs)."""
    lines = eve_lines(corpora, copies)
    if mode == "loads":
        import orjson

        for line in lines:
            orjson.loads(line)
    else:
        import vigie_native

        fast = functools.partial(vigie_native.eve_finalized, "suricata.eve", "suricata", ECS_VERSION,
                                 parser="suricata.eve")
        for n, line in enumerate(lines):
            fast(line, "/var/log/suricata/eve.json", True, "2026-11-21T10:00:00.000Z", "", n)


def count(mode: str, corpora: Path, copies: int) -> int:
    """Inclusive instructions of the mode's function over all lines."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
                        "--run", mode, "--copies", str(copies), "--corpora", str(corpora)],
                       check=True, capture_output=True)
        report = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(out)], check=True,
                                capture_output=True, text=True).stdout
    for line in report.splitlines():
        if re.search(SYMBOLS[mode], line):
            return int(line.split()[0].replace(",", ""))
    raise SystemExit(f"{mode}: no {SYMBOLS[mode]!r} in the callgrind report")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--corpora", type=Path, default=load_settings().corpora_dir)
    ap.add_argument("--run", choices=sorted(SYMBOLS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        run(args.run, args.corpora, args.copies)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    n = len(eve_lines(args.corpora, args.copies))
    loads, native = (count(mode, args.corpora, args.copies) / n for mode in ("loads", "native"))
    print(f"# {n:,} EVE lines (the 548 corpus alerts x {args.copies})")
    print("| | instructions per line | ratio to orjson.loads |")
    print("|---|---:|---:|")
    print(f"| orjson.loads | {loads:,.0f} | 1.00x |")
    print(f"| native parse+normalise (vigie_native) | {native:,.0f} | {loads / native:.2f}x |")


if __name__ == "__main__":
    main()
