"""Precision, recall, F1, false-positive rate and ROC AUC of a scored, labelled set."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score


def at_threshold(y: Any, flagged: Any) -> dict[str, float]:
    y, flagged = np.asarray(y, dtype=bool), np.asarray(flagged, dtype=bool)
    tp, fp = int(np.sum(y & flagged)), int(np.sum(~y & flagged))
    fn, tn = int(np.sum(y & ~flagged)), int(np.sum(~y & ~flagged))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "fpr": fp / (fp + tn) if fp + tn else 0.0,
            "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def auc(y: Any, scores: Any) -> float:
    y = np.asarray(y, dtype=bool)
    return float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else float("nan")
