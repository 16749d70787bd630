"""Evaluate an anomaly detector on the labelled shared corpora (../shared/corpora/anomaly).

Run: python bench/anomaly/evaluate.py --detector NAME [--corpora DIR]

NAME is a detector's registry name (``anomaly.dga``) or its short form (``dga``); its evaluation
is the function ``evaluate(corpora: Path) -> dict`` of ``bench/anomaly/eval_<short form>.py``, which
prints its figures (precision, recall, F1, ROC AUC where a score exists, the split, and a simple
baseline measured in the same run) and returns them; ``--json`` writes them to a file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE)]

CORPORA = ROOT.parent / "shared" / "corpora"


def available() -> list[str]:
    return sorted(p.stem.removeprefix("eval_") for p in HERE.glob("eval_*.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", required=True, help=f"one of {', '.join(available())}")
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    short = args.detector.removeprefix("anomaly.")
    if short not in available():
        parser.error(f"no evaluation for {args.detector!r}; known: {', '.join(available())}")
    module = importlib.import_module(f"eval_{short}")
    started = time.perf_counter()
    figures = module.evaluate(args.corpora)
    print(f"\n{args.detector}: evaluated in {time.perf_counter() - started:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
