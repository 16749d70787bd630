"""Volume anomalies on ``volume/host_5min_windows.csv.gz`` (per host and five-minute window,
label 1 when a flow the host sent in the window is labelled Malicious).

Each (capture, host) is an entity; its windows are scored against its own windows, as the
detector does (the baseline holds the windows being scored: no training split, the method is
unsupervised and per entity), with the detector's own code (``robust_scores``) and settings
defaults. Measured side by side in the same run: an IsolationForest per entity (scikit-learn,
100 trees, random_state 0, on the same log-scaled measures; anomalous when its score, the
original paper's s, is at least 0.65) and fixed thresholds shared by every host (20 destinations,
20 ports, 100 connections or 10 MB sent in a window). Figures for all windows (an entity with too
short a history is not scored: its windows count as not raised), for the windows of entities
with enough history (what the detector can judge), and for those of them whose windows are not
all labelled positive (an external scanner's every window is: raising any of its windows counts
as a true positive whatever the method).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from cert.core.config import Settings
from detectors.anomaly.volume import FEATURES, robust_scores

CSV = Settings().corpora_dir / "anomaly" / "volume" / "host_5min_windows.csv.gz"
COLUMNS = {"orig_bytes": "bytes_out", "n_conn": "connections", "n_dst": "destinations", "n_dst_port": "ports"}
FIXED = {"destinations": 20, "ports": 20, "connections": 100, "bytes_out": 10 * 2**20}
FOREST_THRESHOLD = 0.65


def forest(windows: pd.DataFrame) -> np.ndarray[Any, Any]:
    x = np.log1p(windows[list(FEATURES)].to_numpy(dtype="float64"))
    model = IsolationForest(n_estimators=100, random_state=0).fit(x)
    scores: np.ndarray[Any, Any] = -model.score_samples(x)
    return scores


def measure(name: str, label: pd.Series, flagged: pd.Series, score: pd.Series) -> dict[str, Any]:
    p, r, f, _ = precision_recall_fscore_support(label, flagged, average="binary", zero_division=0)
    auc = roc_auc_score(label, score) if label.nunique() == 2 else float("nan")
    row = {"method": name, "windows": len(label), "positives": int(label.sum()), "raised": int(flagged.sum()),
           "precision": round(float(p), 3), "recall": round(float(r), 3), "f1": round(float(f), 3),
           "roc_auc": round(float(auc), 3)}
    print(f"  {name:<28} P {row['precision']:.3f}  R {row['recall']:.3f}  F1 {row['f1']:.3f}  "
          f"AUC {row['roc_auc']:.3f}  raised {row['raised']}/{row['windows']} (positives {row['positives']})")
    return row


def evaluate() -> dict[str, Any]:
    started = time.perf_counter()
    s = Settings()
    data = pd.read_csv(CSV).rename(columns=COLUMNS)
    data["robust_z"], data["forest"], data["scored"] = 0.0, 0.0, False
    threshold, min_history = float(s.anomaly_volume_threshold), int(s.anomaly_volume_min_history)
    for _, rows in data.groupby(["capture", "host"], sort=False):
        if len(rows) < min_history:
            continue
        data.loc[rows.index, "robust_z"] = robust_scores(rows, rows)["z"].to_numpy()
        data.loc[rows.index, "forest"] = forest(rows)
        data.loc[rows.index, "scored"] = True
    data["fixed"] = np.max([data[f] / v for f, v in FIXED.items()], axis=0)
    out: dict[str, Any] = {"threshold": threshold, "min_history": min_history, "rows": []}
    mixed = data.groupby(["capture", "host"])["label"].transform(lambda x: x.nunique() == 2 or x.max() == 0)
    for population, part in (("all windows", data), ("entities with history", data[data["scored"]]),
                             ("entities with history, not all positive", data[data["scored"] & mixed])):
        print(f"{population}: {len(part)} windows, {int(part['label'].sum())} positive, "
              f"{part.groupby(['capture', 'host']).ngroups} entities")
        label = part["label"].astype(int)
        for name, flagged, score in (
                ("robust median/MAD (shipped)", part["robust_z"] >= threshold, part["robust_z"]),
                ("IsolationForest", part["forest"] >= FOREST_THRESHOLD, part["forest"]),
                ("fixed thresholds", part["fixed"] >= 1, part["fixed"])):
            out["rows"].append({"population": population, **measure(name, label, flagged, score)})
    controls = data[(data["capture"] == "zeek_conn_ctu-normal-40_day1") & (data["host"] == "147.32.81.167")]
    out["benign_day_raised"] = int((controls["robust_z"] >= threshold).sum())
    print(f"benign host's normal day (147.32.81.167, CTU-Normal-40): {out['benign_day_raised']} of "
          f"{len(controls)} windows raised by the shipped method")
    out["seconds"] = round(time.perf_counter() - started, 2)
    return out
