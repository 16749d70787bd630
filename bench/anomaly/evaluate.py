"""Evaluate an anomaly detector on the labelled shared corpora (../shared/corpora/anomaly):
precision, recall, F1 and ROC AUC of the detector's own decision code, and of a simple baseline
measured in the same run, on the split each evaluation states.

    python bench/anomaly/evaluate.py --detector NAME [--corpora DIR] [--json FILE]

NAME is a detector's registry name (``anomaly.beacon``) or its short form (``beacon``). Its
evaluation is the function ``evaluate`` of ``bench/anomaly/eval_<short form>.py``: it takes the
corpora folder when it has a parameter, prints its figures or returns them as
``{"split": ..., "tables": {title: {row: metrics(...)}}, "notes": [...]}`` for this script to
print, and returns them (``--json`` writes them to a file).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE)]

CORPORA = ROOT.parent / "shared" / "corpora"


def available() -> list[str]:
    return sorted(p.stem.removeprefix("eval_") for p in HERE.glob("eval_*.py"))


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


def show(name: str, result: dict[str, Any]) -> None:
    """Print a result made of tables of ``metrics``."""
    print(f"{name}: {result['split']}")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", required=True, help=f"one of {', '.join(available())}")
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    short = args.detector.removeprefix("anomaly.")
    if short not in available():
        parser.error(f"no evaluation for {args.detector!r}; known: {', '.join(available())}")
    evaluate = importlib.import_module(f"eval_{short}").evaluate
    started = time.perf_counter()
    result = evaluate(args.corpora) if inspect.signature(evaluate).parameters else evaluate()
    if isinstance(result, dict) and "tables" in result:
        show(f"anomaly.{short}", result)
    print(f"\nanomaly.{short}: evaluated in {time.perf_counter() - started:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
