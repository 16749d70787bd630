"""DNS tunnelling evaluation on the netrack captures (dns2tcp, dnscapy: tunnel; plain browsing:
benign), through the detector's own decision (``dns_tunnel.findings`` over aggregate frames).

Units: (window, registered domain), a window being 300 consecutive packets of one capture (each
capture is one client); and (capture, registered domain) over the whole capture. A unit is a
tunnel when its capture is (each tunnel capture queries only its tool's domain). Two inputs: the
packet file (queries and answers with their record type, as Suricata logs both) and the query
names file (no record type). Thresholds are the settings' defaults, not fitted here. Baseline:
a unit is a tunnel when one of its names is longer than 52 characters (fixed threshold).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _metrics import at_threshold, auc

from cert.core.config import Settings
from detectors.anomaly import dns_tunnel

WINDOW = 300
BASELINE_LENGTH = 52
QTYPES = {1: "A", 5: "CNAME", 10: "NULL", 12: "PTR", 16: "TXT", 28: "AAAA"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _units(frame: pd.DataFrame, window: int | None) -> pd.DataFrame:
    """Scored units of ``frame`` (tool, seq, name, label, [qtype]) with the detector's measures."""
    settings = Settings()
    limits = dns_tunnel.Thresholds(settings.anomaly_dns_tunnel_threshold, settings.anomaly_dns_tunnel_min_queries)
    rows = []
    for tool, capture in frame.groupby("tool"):
        capture = capture.sort_values("seq")
        label = capture["label"].iloc[0] == "tunnel"
        cuts = range(0, len(capture), window) if window else [0]
        for start in cuts:
            part = capture.iloc[start:start + window] if window else capture
            names = part.groupby("name").size().rename("queries").reset_index()
            names = names.rename(columns={"name": dns_tunnel.NAME}).assign(
                **{dns_tunnel.SOURCE: str(tool), dns_tunnel.BUCKET: pd.Timestamp(T0)})
            types = []
            if "qtype" in part:
                typed = part.groupby(["name", "qtype"]).size().rename("queries").reset_index()
                types = [typed.rename(columns={"name": dns_tunnel.NAME, "qtype": dns_tunnel.TYPE}).assign(
                    **{dns_tunnel.SOURCE: str(tool)})]
            table = dns_tunnel.measures([names], types)
            raised = {f.key for f in dns_tunnel.findings([names], types, limits, T0 + timedelta(hours=1))}
            longest = part.assign(reg=part["name"].map(_registered)).groupby("reg")["name"].agg(
                lambda s: s.str.rstrip(".").str.len().max())
            rows.extend({"tool": tool, "start": start, "registered": r.registered, "label": label,
                         "score": r.score, "queries": r.queries, "raised": f"{r.source} {r.registered}" in raised,
                         "baseline": bool(longest.get(r.registered, 0) > BASELINE_LENGTH)}
                        for r in table.itertuples(index=False))
    return pd.DataFrame(rows)


def _registered(name: str) -> str | None:
    from detectors.anomaly._domains import normalise, split

    normal = normalise(name)
    parsed = split(normal) if normal else None
    return parsed[1] if parsed else None


def _report(title: str, units: pd.DataFrame) -> dict[str, Any]:
    y = units["label"].to_numpy()
    model = {"auc": auc(y, units["score"]), **at_threshold(y, units["raised"])}
    base = at_threshold(y, units["baseline"])
    print(f"\n{title}: {int(y.sum())} tunnel units, {int((~y).sum())} benign")
    print(f"  detector: precision {model['precision']:.4f} recall {model['recall']:.4f} F1 {model['f1']:.4f} "
          f"AUC {model['auc']:.4f} (tp {model['tp']} fp {model['fp']} fn {model['fn']})")
    print(f"  baseline (a name > {BASELINE_LENGTH} chars): precision {base['precision']:.4f} recall "
          f"{base['recall']:.4f} F1 {base['f1']:.4f} (tp {base['tp']} fp {base['fp']} fn {base['fn']})")
    per_tool = {}
    for tool, g in units.groupby("tool"):
        per_tool[str(tool)] = {"units": len(g), "raised": int(g["raised"].sum()), "baseline": int(g["baseline"].sum()),
                               "score_median": float(np.median(g["score"]))}
        print(f"  {tool}: {len(g)} units, detector raised {int(g['raised'].sum())}, baseline "
              f"{int(g['baseline'].sum())}, median score {per_tool[str(tool)]['score_median']:.3f}")
    return {"detector": model, "baseline": base, "per_tool": per_tool}


def evaluate(corpora: Path) -> dict[str, Any]:
    folder = corpora / "anomaly" / "dns_tunnel"
    packets = pd.read_csv(folder / "dns_packets_netrack_features.csv.gz",
                          usecols=["label", "tool", "seq_in_capture", "qname", "qd_qtype"], keep_default_na=False)
    packets = pd.DataFrame({"tool": packets["tool"], "seq": packets["seq_in_capture"],
                            "name": packets["qname"].astype(str), "label": packets["label"],
                            "qtype": packets["qd_qtype"].map(lambda t: QTYPES.get(t, str(t)))})
    queries = pd.read_csv(folder / "dns_queries_netrack.csv.gz", keep_default_na=False)
    queries = pd.DataFrame({"tool": queries["tool"], "seq": queries["seq_in_capture"],
                            "name": queries["query"].astype(str), "label": queries["label"]})
    print(__doc__)
    return {"packets_window": _report(f"Packets (with record types), per {WINDOW}-packet window and domain",
                                      _units(packets, WINDOW)),
            "queries_window": _report(f"Query names (no record type), per {WINDOW}-query window and domain",
                                      _units(queries, WINDOW)),
            "packets_capture": _report("Packets, per capture and domain", _units(packets, None))}
