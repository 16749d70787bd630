"""Hosts resolving algorithmically generated domains (DGA): malware that computes the names of its
command-and-control servers and tries many of them.

Each distinct name a source queried in the window (``dns.question.name`` grouped by ``source.ip``,
from the store's aggregation: Zeek, Suricata and BIND query logs fill both fields) is reduced to
its registered domain by the Public Suffix List, and that domain's label is scored by a
character-level model (``_dga_model``: hashed character n-grams and a logistic regression,
trained by ``bench/anomaly/train_dga.py``). A source is raised when it queried at least
``anomaly_dga_min_domains`` distinct registered domains scoring at least the threshold.

The decision is ``findings`` over aggregate frames: the evaluation (``bench/anomaly/eval_dga.py``)
calls the same code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cert.core.aggregate import BUCKET, AggregateQuery, Metric, bucket_time
from cert.core.anomaly import AnomalyDetector, Finding
from cert.core.contracts import detectors
from cert.core.errors import N_
from cert.core.event_store import EventStore
from detectors.anomaly import _dga_model
from detectors.anomaly._domains import entropy, normalise, registered_label, split

if TYPE_CHECKING:
    import pandas as pd

SOURCE, NAME = "source.ip", "dns.question.name"
BUCKET_SECONDS = 3600
#: domains listed in an explanation, and shown in its chart
LISTED, CHARTED = 20, 10


@lru_cache(maxsize=4)
def model(path: Path = _dga_model.MODEL_FILE) -> _dga_model.DgaModel:
    """The shipped model, loaded once per process."""
    return _dga_model.load(path)


@dataclass(frozen=True)
class Thresholds:
    #: score from which a registered domain looks generated (0..1)
    score: float
    #: distinct DGA-looking registered domains a source must query to be raised
    min_domains: int


def domains(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Per (source, registered domain): its label, queries, first and last bucket, and the queried
    name seen most (the evidence's term), from aggregate frames of (source.ip, dns.question.name,
    bucket, queries)."""
    import pandas as pd

    parts = []
    for frame in frames:
        if frame.empty:
            continue
        rows = []
        for source, name, at, count in frame[[SOURCE, NAME, BUCKET, "queries"]].itertuples(index=False, name=None):
            normal = normalise(name)
            parsed = split(normal) if normal else None
            if parsed is None:
                continue
            rows.append((str(source), parsed[1], registered_label(parsed[1], parsed[2]), name, at, int(count)))
        if rows:
            parts.append(pd.DataFrame(rows, columns=["source", "registered", "label", "name", "at", "queries"]))
    if not parts:
        return pd.DataFrame(columns=["source", "registered", "label", "name", "queries", "first", "last"])
    rows_all = pd.concat(parts, ignore_index=True)
    keys = ["source", "registered"]
    per_name = rows_all.groupby([*keys, "name"], sort=False)["queries"].sum().reset_index()
    top = per_name.sort_values("queries", ascending=False, kind="stable").drop_duplicates(keys)[[*keys, "name"]]
    out = rows_all.groupby(keys, sort=True).agg(label=("label", "first"), queries=("queries", "sum"),
                                                 first=("at", "min"), last=("at", "max")).reset_index()
    return out.merge(top, on=keys, how="left")


def score(table: pd.DataFrame, scorer: _dga_model.DgaModel) -> pd.DataFrame:
    """``table`` with a ``score`` column: each distinct label scored once."""
    labels = sorted(set(table["label"]))
    scores = dict(zip(labels, scorer.scores(labels).tolist(), strict=True))
    return table.assign(score=table["label"].map(scores).astype(float))


def findings(frames: Iterable[pd.DataFrame], scorer: _dga_model.DgaModel, limits: Thresholds,
             end: datetime, bucket_seconds: int = BUCKET_SECONDS) -> list[Finding]:
    """The sources that queried at least ``limits.min_domains`` DGA-looking registered domains."""
    table = domains(frames)
    if table.empty:
        return []
    table = score(table, scorer)
    out = []
    for source, rows in table.groupby("source", sort=True):
        flagged = rows[rows["score"] >= limits.score].sort_values(["score", "registered"], ascending=[False, True])
        if len(flagged) < limits.min_domains:
            continue
        out.append(_finding(str(source), flagged, len(rows), scorer, limits, end, bucket_seconds))
    return out


def _finding(source: str, flagged: pd.DataFrame, total: int, scorer: _dga_model.DgaModel, limits: Thresholds,
             end: datetime, bucket_seconds: int) -> Finding:
    import numpy as np

    described = [scorer.describe(label) for label in flagged["label"]]
    mean = {k: round(float(np.mean([d[k] for d in described])), 3) for k in ("length", "entropy", "rarity")}
    legit = scorer.legit_profile
    rows = flagged.head(LISTED)[["registered", "label", "score", "queries"]].itertuples(index=False, name=None)
    listed = [{"domain": str(registered), "score": round(float(value), 4), "queries": int(queries),
               "length": len(str(label)), "entropy": round(entropy(str(label)), 3),
               "rarity": round(scorer.rarity(str(label)), 3)}
              for registered, label, value, queries in rows]
    first = bucket_time(flagged["first"].min())
    last = min(bucket_time(flagged["last"].max()) + timedelta(seconds=bucket_seconds), end) - timedelta(microseconds=1)
    explanation: dict[str, Any] = {
        "features": [
            {"name": "dga_domains", "label": N_("DGA-looking domains queried"), "value": len(flagged),
             "baseline": limits.min_domains, "unit": ""},
            {"name": "domains", "label": N_("Registered domains queried"), "value": total, "baseline": None,
             "unit": ""},
            {"name": "threshold", "label": N_("Score from which a domain looks generated"),
             "value": round(limits.score, 4), "baseline": None, "unit": ""},
            {"name": "length", "label": N_("Mean length of their labels"), "value": mean["length"],
             "baseline": legit.get("length"), "unit": N_("characters")},
            {"name": "entropy", "label": N_("Mean entropy of their labels"), "value": mean["entropy"],
             "baseline": legit.get("entropy"), "unit": N_("bits per character")},
            {"name": "rarity", "label": N_("Rarity of their letter pairs among legitimate names"),
             "value": mean["rarity"], "baseline": legit.get("rarity"), "unit": N_("bits")},
        ],
        "chart": {"kind": "bar", "title": N_("Scores of the most DGA-looking domains"),
                  "labels": [d["domain"] for d in listed[:CHARTED]], "values": [d["score"] for d in listed[:CHARTED]]},
        "domains": listed,
    }
    top = flagged.iloc[0]
    return Finding(key=source, score=float(flagged["score"].median()), first_seen=first, last_seen=last,
                   terms={SOURCE: source, NAME: str(top["name"])}, explanation=explanation, subject=source)


@detectors.register
class DgaDetector(AnomalyDetector):
    name = "anomaly.dga"
    rule_id = "vigie-anomaly-dga"
    title = N_("Host resolving algorithmically generated domains")
    severity = "high"
    attack: ClassVar[tuple[str, ...]] = ("attack.command_and_control", "attack.t1568.002")
    lookback = timedelta(hours=24)
    description = N_("Scores each registered domain a host queried with a character-level model of "
                     "generated names (trained on 19 DGA families) and raises the hosts that queried "
                     "several of them.")

    def thresholds(self) -> Thresholds:
        chosen = float(self.settings.anomaly_dga_threshold)
        return Thresholds(score=chosen if chosen > 0 else model().threshold,
                          min_domains=max(1, int(self.settings.anomaly_dga_min_domains)))

    def find(self, store: EventStore, start: datetime, end: datetime) -> list[Finding]:
        query = AggregateQuery(start=start, end=end, group=(SOURCE, NAME), metrics=(Metric("queries", "count"),),
                               bucket_seconds=BUCKET_SECONDS)
        return findings(store.aggregate(query), model(), self.thresholds(), end)
