"""DGA evaluation: the shipped model on families seen in training, models of the same recipe
trained with whole families held out, and a bigram logistic regression baseline on the same splits.

Split (``detectors.anomaly._dga_model``): SHA-256 of the name modulo 10; legitimate names 0-6
train, 7 calibrates the threshold (0.05 % false positives there), 8-9 test; DGA names 0-7 train,
8-9 test. Seen families: the shipped model (trained on all 19) on the test buckets. Held-out
families: the 19 families sorted by name and dealt into 4 folds (i modulo 4); for each fold a
model trained on the other 14-15 families is tested on every name of the fold's 4-5 families
against the legitimate test names. Every name is scored as the detector scores it: the label of
its registered domain by the Public Suffix List.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _metrics import at_threshold, auc
from train_dga import read_corpus

from detectors.anomaly import _dga_model, dga

FOLDS = 4


class Bigram:
    """The baseline: character bigram counts and a logistic regression, same split and threshold rule."""

    def __init__(self, names: list[str], y: list[int], exclude: list[bool]) -> None:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression

        labels, ys, calibration = [], [], []
        for (label, own, b), target, out in zip(_dga_model.prepare(names), y, exclude, strict=True):
            if label is None or out:
                continue
            if own and ((target and b in _dga_model.TRAIN_DGA) or (not target and b in _dga_model.TRAIN_LEGIT)):
                labels.append(label)
                ys.append(target)
            elif not target and b in _dga_model.CALIBRATION:
                calibration.append(label)
        self.vec = CountVectorizer(analyzer="char", ngram_range=(2, 2), lowercase=True)
        self.clf = LogisticRegression(solver="liblinear", max_iter=1000, random_state=_dga_model.SEED)
        self.clf.fit(self.vec.fit_transform([_dga_model.text(x) for x in labels]), ys)
        self.threshold = _dga_model.threshold_for(self.scores(calibration), _dga_model.CALIBRATION_FPR)

    def scores(self, labels: list[str]) -> np.ndarray:
        return np.asarray(self.clf.predict_proba(self.vec.transform([_dga_model.text(x) for x in labels]))[:, 1])


def _measure(scores: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, Any]:
    return {"auc": auc(y, scores), **at_threshold(y, scores >= threshold)}


def _table(title: str, rows: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(f"{'':24} {'AUC':>7} {'recall':>7} {'base AUC':>9} {'base rec':>9}")
    for name, r in rows.items():
        print(f"{name:24} {r['model']['auc']:7.4f} {r['model']['recall']:7.3f} {r['baseline']['auc']:9.4f} "
              f"{r['baseline']['recall']:9.3f}")


def evaluate(corpora: Path) -> dict[str, Any]:
    path = corpora / "anomaly" / "dga" / "dga_domains.csv.gz"
    frame = read_corpus(path)
    model = dga.model()
    if model.meta.get("data_sha256") != _dga_model.sha256_file(path):
        raise SystemExit(f"the shipped model was not trained on {path}: retrain with bench/anomaly/train_dga.py")
    frame["labelled"] = [_dga_model.label_of(n) or n for n in frame["domain"]]
    frame["bucket"] = [_dga_model.bucket(_dga_model.normalise(n) or "") for n in frame["domain"]]
    frame["y"] = (frame["label"] == "dga").astype(int)
    names, y = frame["domain"].tolist(), frame["y"].tolist()
    test = frame[frame["bucket"].isin(_dga_model.TEST)]
    legit_test = test[test["y"] == 0]
    out: dict[str, Any] = {"split": __doc__, "threshold": model.threshold}

    # seen families
    base = Bigram(names, y, [False] * len(names))
    s_model = model.scores(test["labelled"].tolist())
    s_base = base.scores(test["labelled"].tolist())
    ty = test["y"].to_numpy()
    seen = {"all": {"model": _measure(s_model, ty, model.threshold), "baseline": _measure(s_base, ty, base.threshold)}}
    legit_mask = (ty == 0)
    for family in sorted(test.loc[test["y"] == 1, "base"].unique()):
        mask = legit_mask | (test["base"] == family).to_numpy()
        seen[family] = {"model": _measure(s_model[mask], ty[mask], model.threshold),
                        "baseline": _measure(s_base[mask], ty[mask], base.threshold)}
    out["seen"] = seen
    _table(f"Seen families (shipped model, threshold {model.threshold:.6f}; test: {int(ty.sum())} DGA, "
           f"{len(legit_test)} legit)", seen)
    a = seen["all"]
    print(f"legit FPR at threshold: model {a['model']['fpr']:.5f} ({a['model']['fp']} of {len(legit_test)}), "
          f"baseline {a['baseline']['fpr']:.5f}; precision {a['model']['precision']:.4f} recall "
          f"{a['model']['recall']:.4f} F1 {a['model']['f1']:.4f} (baseline {a['baseline']['precision']:.4f} / "
          f"{a['baseline']['recall']:.4f} / {a['baseline']['f1']:.4f})")

    # held-out families
    families = sorted(frame.loc[frame["y"] == 1, "base"].unique())
    held: dict[str, dict[str, Any]] = {}
    pooled: dict[str, list[np.ndarray]] = {"ys": [], "m": [], "b": [], "mf": [], "bf": []}
    for k in range(FOLDS):
        fold = families[k::FOLDS]
        exclude = frame["base"].isin(fold).tolist()
        fold_model = _dga_model.train(names, y, data_sha256="fold", exclude=exclude)
        fold_base = Bigram(names, y, exclude)
        part = pd.concat([legit_test, frame[frame["base"].isin(fold)]])
        py = part["y"].to_numpy()
        sm, sb = fold_model.scores(part["labelled"].tolist()), fold_base.scores(part["labelled"].tolist())
        for family in fold:
            mask = (py == 0) | (part["base"] == family).to_numpy()
            held[family] = {"model": _measure(sm[mask], py[mask], fold_model.threshold),
                            "baseline": _measure(sb[mask], py[mask], fold_base.threshold), "fold": k}
        print(f"fold {k}: held out {', '.join(fold)}; legit FPR model "
              f"{at_threshold(py, sm >= fold_model.threshold)['fpr']:.5f}", flush=True)
        pooled["ys"].append(py)
        pooled["m"].append(sm)
        pooled["b"].append(sb)
        pooled["mf"].append(sm >= fold_model.threshold)
        pooled["bf"].append(sb >= fold_base.threshold)
    ys = np.concatenate(pooled["ys"])
    held["all (per fold, pooled)"] = {
        "model": {"auc": float(np.mean([auc(a, b) for a, b in zip(pooled["ys"], pooled["m"], strict=True)])),
                  **at_threshold(ys, np.concatenate(pooled["mf"]))},
        "baseline": {"auc": float(np.mean([auc(a, b) for a, b in zip(pooled["ys"], pooled["b"], strict=True)])),
                     **at_threshold(ys, np.concatenate(pooled["bf"]))}}
    out["held_out"] = held
    _table("Held-out families (a model of the same recipe that never saw the family)", held)
    return out
