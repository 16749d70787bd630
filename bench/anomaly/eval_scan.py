"""Port scans and host sweeps (anomaly.scan) per source on the labelled captures.

Two temporary embedded stores, filled through the Zeek parser: the nmap capture with the NjRAT
capture beside it (its hosts as benign background), and the benign day of CTU-Normal-40 with
the Internet's probes of its host. The detector's own ``scored()`` (``store.aggregate`` -> the
decision code of ``find``) scores every source. Positives: sources with a flow labelled
``nmap-scan`` or ``External-Attack-to-Device``; negatives: the other labelled sources (the
benign hosts, the NjRAT-infected host, which calls its C2 but scans nothing); sources with only
``Background`` flows are unlabelled and left out. No training: thresholds are the settings'
defaults. Baseline: a source is a scanner when it reaches 15 distinct ports on one host or 25
distinct hosts on one port over the whole capture, answered or not (score: the larger of the
two quotients).
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
from detectors.anomaly.scan import ScanDetector

POSITIVE = {"nmap-scan", "External-Attack-to-Device"}
STORES = ((corpus.NMAP, corpus.NJRAT), (corpus.NORMAL,))
BASELINE_PORTS, BASELINE_HOSTS = 15, 25


def _sources(events: list[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for e in events:
        label, detail = corpus.label(e)
        src = str(get(e, "source.ip"))
        s = out.setdefault(src, {"flows": 0, "positive": False, "labelled": False, "ports": {}, "hosts": {}})
        s["flows"] += 1
        s["positive"] |= detail in POSITIVE
        s["labelled"] |= label in ("Malicious", "Benign")
        dst, port = get(e, "destination.ip"), get(e, "destination.port")
        s["ports"].setdefault(dst, set()).add(port)
        s["hosts"].setdefault(port, set()).add(dst)
    return out


def evaluate() -> dict[str, Any]:
    settings = Settings(anomaly_internal_networks=corpus.MONITORED)
    rows: list[dict[str, Any]] = []
    for files in STORES:
        with tempfile.TemporaryDirectory() as tmp:
            store = EmbeddedEventStore(Path(tmp) / "events.sqlite3")
            events = [e for name in files for e in corpus.load(store, corpus.NETWORK / name)]
            stamps = [parse_ts(str(e["@timestamp"])) for e in events]
            detector = ScanDetector(settings)
            scored, _ = detector.scored(store, min(stamps), max(stamps) + timedelta(seconds=1))
            store.close()
        by_source = {} if scored.empty else {str(r["source.ip"]): r for r in scored.to_dict("records")}
        for src, s in _sources(events).items():
            if not s["labelled"]:
                continue
            r = by_source.get(src)
            widest = max(max(len(v) for v in s["ports"].values()) / BASELINE_PORTS,
                         max(len(v) for v in s["hosts"].values()) / BASELINE_HOSTS)
            rows.append({"source": src, "flows": s["flows"], "truth": int(s["positive"]),
                         "score": 0.0 if r is None else float(r["score"]),
                         "reported": int(r is not None and float(r["ratio"]) >= 1),
                         "internal": bool(r is not None and r["internal"]),
                         "baseline": widest, "baseline_hit": int(widest >= 1)})
    tables: dict[str, dict[str, Any]] = {}
    for title, subset in (("all labelled sources", rows),
                          ("sources with >= 15 flows", [r for r in rows if r["flows"] >= 15])):
        truth = [r["truth"] for r in subset]
        tables[title] = {
            "anomaly.scan (ratio >= 1)": metrics(truth, [r["reported"] for r in subset], [r["score"] for r in subset]),
            f"baseline (>= {BASELINE_PORTS} ports or {BASELINE_HOSTS} hosts)": metrics(
                truth, [r["baseline_hit"] for r in subset], [r["baseline"] for r in subset]),
        }
    flows_found = sum(r["flows"] for r in rows if r["truth"] and r["reported"])
    flows_all = sum(r["flows"] for r in rows if r["truth"])
    return {"split": "no training; every labelled source of the nmap, NjRAT and CTU-Normal-40 captures is test "
                     "data (thresholds are the settings' defaults)",
            "tables": tables, "rows": rows,
            "notes": [f"flows of the positive sources reported: {flows_found} of {flows_all}",
                      "negatives: " + ", ".join(f"{r['source']} {r['score']:.3f}" for r in rows if not r["truth"]),
                      "most External-Attack-to-Device sources send 1-3 probes to the one host of the capture: "
                      "no scan by any definition, which bounds the recall over all sources"]}
