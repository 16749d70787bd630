"""Evaluate an anomaly detector on the labelled corpora: precision, recall, F1 and ROC AUC of the
detector and of a simple fixed-threshold baseline measured in the same run.

    python bench/anomaly/evaluate.py --detector anomaly.beacon [--json]

Each detector's evaluation is one function ``evaluate() -> dict`` in its own module
``bench/anomaly/eval_<name>.py``, registered below by detector name.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

#: detector name -> module of bench/anomaly holding its ``evaluate``
EVALUATIONS: dict[str, str] = {
    "anomaly.beacon": "eval_beacon",
    "anomaly.scan": "eval_scan",
}


def metrics(truth: Sequence[int], predicted: Sequence[int], scores: Sequence[float]) -> dict[str, Any]:
    """Precision, recall, F1 of the predictions and ROC AUC of the scores (None when one class is absent)."""
    from sklearn.metrics import roc_auc_score

    tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t and p)
    fp = sum(1 for t, p in zip(truth, predicted, strict=True) if not t and p)
    fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t and not p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    auc = roc_auc_score(list(truth), list(scores)) if 0 < sum(truth) < len(truth) else None
    return {"items": len(truth), "positives": int(sum(truth)), "tp": tp, "fp": fp, "fn": fn,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "roc_auc": None if auc is None else round(float(auc), 4)}


def run(name: str) -> dict[str, Any]:
    module = EVALUATIONS.get(name)
    if module is None:
        raise SystemExit(f"no evaluation for {name!r}; known: {', '.join(sorted(EVALUATIONS))}")
    evaluate: Callable[[], dict[str, Any]] = importlib.import_module(module).evaluate
    return evaluate()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", required=True, choices=sorted(EVALUATIONS))
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = parser.parse_args(argv)
    result = run(args.detector)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    print(f"{args.detector}: {result['split']}")
    for title, rows in result["tables"].items():
        print(f"\n{title}")
        print(f"  {'':28} {'items':>6} {'pos':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'prec':>6} {'recall':>6} "
              f"{'f1':>6} {'auc':>6}")
        for label, m in rows.items():
            auc = "-" if m["roc_auc"] is None else f"{m['roc_auc']:.3f}"
            print(f"  {label:28} {m['items']:>6} {m['positives']:>4} {m['tp']:>4} {m['fp']:>4} {m['fn']:>4} "
                  f"{m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f} {auc:>6}")
    for line in result.get("notes", []):
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
