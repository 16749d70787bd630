"""Beaconing (anomaly.beacon) per (source, destination, port) pair on the labelled captures.

Each capture is ingested into its own temporary embedded store through the Zeek parser and the
detector's own ``scored()`` (``store.aggregate`` -> the decision code of ``find``) scores the
pairs. Positives: pairs with a flow labelled ``CC`` (NjRAT), ``CC-injected`` or
``scripted-periodic-2s``; negatives: every other labelled pair (``Benign/*``, and the inbound
``External-Attack-to-Device`` pairs, which are not beacons); ``Background`` pairs are
unlabelled and left out. The injected file holds the whole benign day, so the day is not counted
twice. No training: the thresholds are the settings' defaults. Baseline: a pair is a beacon when
it has at least ``min_connections`` calls and a standard deviation of intervals under 5 s
(score ``1 / (1 + std)``), on the same candidate pairs.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import corpus
from evaluate import metrics

from cert.core.config import Settings
from cert.core.ecs import get, parse_ts
from cert.storage.events.embedded import EmbeddedEventStore
from detectors.anomaly.beacon import BeaconDetector

POSITIVE = {"CC", "CC-injected", "scripted-periodic-2s"}
FILES = (corpus.NJRAT, corpus.INJECTED, corpus.PERIODIC)
BASELINE_STD_SECONDS = 5.0


def _pairs(events: list[Any]) -> dict[tuple[str, str, Any], dict[str, Any]]:
    pairs: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for e in events:
        key = (get(e, "source.ip"), get(e, "destination.ip"), get(e, "destination.port"))
        label, detail = corpus.label(e)
        p = pairs.setdefault(key, {"flows": 0, "positive": False, "labelled": False})
        p["flows"] += 1
        p["positive"] |= detail in POSITIVE
        p["labelled"] |= label in ("Malicious", "Benign")
    return pairs


def evaluate() -> dict[str, Any]:
    settings = Settings(anomaly_internal_networks=corpus.MONITORED)
    rows: list[dict[str, Any]] = []
    for name in FILES:
        with tempfile.TemporaryDirectory() as tmp:
            store = EmbeddedEventStore(Path(tmp) / "events.sqlite3")
            events = corpus.load(store, corpus.NETWORK / name)
            stamps = [parse_ts(str(e["@timestamp"])) for e in events]
            detector = BeaconDetector(settings)
            start, end = min(stamps), max(stamps) + timedelta(seconds=1)
            scored = detector.scored(store, start, end)
            store.close()
        by_pair = {} if scored.empty else {
            (r["source.ip"], r["destination.ip"], r["destination.port"]): r for r in scored.to_dict("records")}
        for key, p in _pairs(events).items():
            if not p["labelled"]:
                continue
            r = by_pair.get(key)
            std = None if r is None else float(r["interval_std"])
            rows.append({"file": name, "pair": key, "flows": p["flows"], "truth": int(p["positive"]),
                         "score": 0.0 if r is None else float(r["score"]),
                         "baseline": 0.0 if std is None else 1 / (1 + std),
                         "baseline_hit": int(std is not None and std < BASELINE_STD_SECONDS)})
    threshold = BeaconDetector(settings).config.threshold
    tables: dict[str, dict[str, Any]] = {}
    for title, subset in (("pairs with >= 4 connections (RITA's floor)", [r for r in rows if r["flows"] >= 4]),
                          ("all labelled pairs", rows)):
        truth = [r["truth"] for r in subset]
        tables[title] = {
            f"anomaly.beacon (score >= {threshold:.2f})": metrics(
                truth, [int(r["score"] >= threshold) for r in subset], [r["score"] for r in subset]),
            f"baseline (>= 6 calls, std < {BASELINE_STD_SECONDS:g} s)": metrics(
                truth, [r["baseline_hit"] for r in subset], [r["baseline"] for r in subset]),
        }
    top_negative = max((r for r in rows if not r["truth"]), key=lambda r: r["score"])
    return {"split": "no training; every labelled pair of the NjRAT capture, the injected benign day and the "
                     "scripted 2-s loop is test data (thresholds are the settings' defaults)",
            "tables": tables, "rows": rows,
            "notes": [f"highest-scoring negative: {top_negative['pair']} score {top_negative['score']:.3f}",
                      "positives: " + ", ".join(f"{r['pair']} {r['score']:.3f}" for r in rows if r["truth"])]}
