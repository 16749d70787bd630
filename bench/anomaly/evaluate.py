"""Evaluation of the anomaly detectors on the shared labelled corpora: precision, recall, F1 and
ROC AUC of a detector's decision code, with a simple baseline measured in the same run.

    PYTHONPATH=. python bench/anomaly/evaluate.py --detector NAME

Each detector's evaluation is one function ``evaluate() -> dict`` in ``bench/anomaly/eval_<name>.py``
(NAME without the ``anomaly.`` prefix); it prints its figures and returns them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def evaluation(name: str) -> Callable[[], dict[str, Any]]:
    """The evaluation function of a detector, found by name."""
    module = importlib.import_module(f"bench.anomaly.eval_{name.removeprefix('anomaly.')}")
    function: Callable[[], dict[str, Any]] = module.evaluate
    return function


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", required=True, help="e.g. rare_windows, volume")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
    args = parser.parse_args()
    figures = evaluation(args.detector)()
    if args.json:
        print(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
