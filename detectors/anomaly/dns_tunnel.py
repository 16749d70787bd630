"""Data carried through DNS (tunnelling tools such as iodine, dns2tcp, dnscat): many queries to one
registered domain whose subdomains are long, unique and random-looking, often of record types
that carry data back (TXT, NULL, CNAME).

Per (source, registered domain) of the window, from two aggregations of the store (queries per
``source.ip`` and ``dns.question.name``, and per record type ``dns.question.type``): the number of
queries, of unique subdomains, their mean length, the entropy of their characters and the share of
TXT/NULL/CNAME queries, each mapped to 0..1 between fixed anchors, then weighted into a score.
The anchors come from what DNS names are, not from a data set: hostnames' labels are short words
(12 characters, about 3 bits per character), encoded data fills labels (52 characters and more,
5 bits per character for base32/64). Answer sizes are not read: the parsers keep the answers as a
list, which aggregations leave out.

The decision is ``findings`` over aggregate frames: the evaluation calls the same code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from cert.core.aggregate import BUCKET, AggregateQuery, Metric, bucket_time
from cert.core.anomaly import AnomalyDetector, Finding
from cert.core.contracts import detectors
from cert.core.errors import N_
from cert.core.event_store import EventStore
from detectors.anomaly._domains import MAX_NAME, entropy, normalise, split

if TYPE_CHECKING:
    import pandas as pd

SOURCE, NAME, TYPE = "source.ip", "dns.question.name", "dns.question.type"
BUCKET_SECONDS = 3600
#: record types that carry data back to a tunnel's client (names and numeric codes)
DATA_TYPES = frozenset({"TXT", "NULL", "CNAME", "16", "10", "5"})
#: (feature, low anchor: 0, high anchor: 1, weight)
ANCHORS = (("length", 12.0, 52.0, 0.35), ("unique", 1.0, 300.0, 0.25), ("entropy", 3.0, 5.0, 0.25),
           ("data_types", 0.0, 1.0, 0.15))
#: distinct subdomains whose characters the entropy reads (the first ones, in name order)
ENTROPY_SAMPLE = 2000
LENGTH_BINS = ((1, 15), (16, 31), (32, 63), (64, 127), (128, MAX_NAME))


@dataclass(frozen=True)
class Thresholds:
    score: float
    min_queries: int


def _part(value: float, low: float, high: float, log: bool = False) -> float:
    if log:
        value, low, high = math.log10(max(value, 1.0)), math.log10(low), math.log10(high)
    return float(min(1.0, max(0.0, (value - low) / (high - low))))


def measures(names: Iterable[pd.DataFrame], types: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Per (source, registered domain): queries, unique subdomains, their mean length, the entropy
    of their characters, the longest name, the TXT/NULL/CNAME share, first and last bucket, the
    name queried most and the histogram of name lengths; and ``score`` (0..1)."""
    import numpy as np
    import pandas as pd

    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for frame in names:
        for source, name, at, count in frame[[SOURCE, NAME, BUCKET, "queries"]].itertuples(index=False, name=None):
            normal = normalise(name)
            parsed = split(normal) if normal else None
            if parsed is None:
                continue
            g = groups.setdefault((str(source), parsed[1]), {"queries": 0, "subs": set(), "first": at, "last": at,
                                                             "names": {}, "longest": 0, "typed": 0, "data": 0})
            g["queries"] += int(count)
            g["first"], g["last"] = min(g["first"], at), max(g["last"], at)
            g["names"][name] = g["names"].get(name, 0) + int(count)
            g["longest"] = max(g["longest"], min(len(normal or ""), MAX_NAME))
            if parsed[0]:
                g["subs"].add(parsed[0])
    for frame in types:
        for source, name, rtype, count in frame[[SOURCE, NAME, TYPE, "queries"]].itertuples(index=False, name=None):
            normal = normalise(name)
            parsed = split(normal) if normal else None
            found = groups.get((str(source), parsed[1])) if parsed else None
            if found is None:
                continue
            found["typed"] += int(count)
            if str(rtype).strip().upper() in DATA_TYPES:
                found["data"] += int(count)
    rows = []
    for (source, registered), g in groups.items():
        subs = sorted(g["subs"])
        lengths = [min(len(s), MAX_NAME) for s in subs]
        sample = "".join(subs[:ENTROPY_SAMPLE]).replace(".", "")
        top = max(g["names"].items(), key=lambda kv: (kv[1], str(kv[0])))[0]
        hist = [sum(1 for n in lengths if lo <= n <= hi) for lo, hi in LENGTH_BINS]
        values = {"length": float(np.mean(lengths)) if lengths else 0.0, "unique": float(len(subs)),
                  "entropy": entropy(sample), "data_types": g["data"] / g["typed"] if g["typed"] else 0.0}
        score = sum(w * _part(values[f], lo, hi, log=f == "unique") for f, lo, hi, w in ANCHORS)
        rows.append({"source": source, "registered": registered, "queries": g["queries"], **values,
                     "longest": g["longest"], "first": g["first"], "last": g["last"], "name": top,
                     "histogram": hist, "score": round(score, 6)})
    columns = ["source", "registered", "queries", "length", "unique", "entropy", "data_types", "longest", "first",
               "last", "name", "histogram", "score"]
    return pd.DataFrame(rows, columns=columns).sort_values(["source", "registered"]).reset_index(drop=True)


def findings(names: Iterable[pd.DataFrame], types: Iterable[pd.DataFrame], limits: Thresholds, end: datetime,
             bucket_seconds: int = BUCKET_SECONDS) -> list[Finding]:
    """The (source, registered domain) pairs with at least ``limits.min_queries`` queries scoring
    at least ``limits.score``."""
    table = measures(names, types)
    if table.empty:
        return []
    usual = {f: float(table[f].median()) for f in ("length", "unique", "entropy", "data_types", "queries")}
    raised = table[(table["queries"] >= limits.min_queries) & (table["score"] >= limits.score)]
    return [_finding(row, usual, end, bucket_seconds) for row in raised.itertuples(index=False)]


def _finding(row: Any, usual: dict[str, float], end: datetime, bucket_seconds: int) -> Finding:
    first = bucket_time(row.first)
    last = min(bucket_time(row.last) + timedelta(seconds=bucket_seconds), end) - timedelta(microseconds=1)
    explanation: dict[str, Any] = {
        "features": [
            {"name": "queries", "label": N_("Queries to the domain"), "value": int(row.queries),
             "baseline": usual["queries"], "unit": ""},
            {"name": "unique", "label": N_("Unique subdomains"), "value": int(row.unique),
             "baseline": usual["unique"], "unit": ""},
            {"name": "length", "label": N_("Mean length of the subdomains"), "value": round(row.length, 1),
             "baseline": round(usual["length"], 1), "unit": N_("characters")},
            {"name": "entropy", "label": N_("Entropy of the subdomains' characters"),
             "value": round(row.entropy, 3), "baseline": round(usual["entropy"], 3), "unit": N_("bits per character")},
            {"name": "data_types", "label": N_("Share of TXT, NULL and CNAME queries"),
             "value": round(row.data_types, 3), "baseline": round(usual["data_types"], 3), "unit": ""},
            {"name": "longest", "label": N_("Longest name queried"), "value": int(row.longest), "baseline": None,
             "unit": N_("characters")},
        ],
        "chart": {"kind": "bar", "title": N_("Unique subdomains by length (characters)"),
                  "labels": [f"{lo}-{hi}" for lo, hi in LENGTH_BINS], "values": list(row.histogram)},
        "domain": str(row.registered),
    }
    return Finding(key=f"{row.source} {row.registered}", score=float(row.score), first_seen=first, last_seen=last,
                   terms={SOURCE: str(row.source), NAME: str(row.name)}, explanation=explanation,
                   subject=f"{row.registered} ({row.source})")


@detectors.register
class DnsTunnelDetector(AnomalyDetector):
    name = "anomaly.dns_tunnel"
    rule_id = "vigie-anomaly-dns-tunnel"
    title = N_("Data tunnelled through DNS")
    severity = "high"
    attack: ClassVar[tuple[str, ...]] = ("attack.command_and_control", "attack.exfiltration", "attack.t1071.004",
                                         "attack.t1048")
    lookback = timedelta(hours=6)
    description = N_("Per source and registered domain: the volume of queries, the number, length and "
                     "entropy of unique subdomains and the share of TXT, NULL and CNAME queries, "
                     "weighted into a score.")

    def thresholds(self) -> Thresholds:
        return Thresholds(score=float(self.settings.anomaly_dns_tunnel_threshold),
                          min_queries=max(1, int(self.settings.anomaly_dns_tunnel_min_queries)))

    def find(self, store: EventStore, start: datetime, end: datetime) -> list[Finding]:
        names = AggregateQuery(start=start, end=end, group=(SOURCE, NAME), metrics=(Metric("queries", "count"),),
                               bucket_seconds=BUCKET_SECONDS)
        types = AggregateQuery(start=start, end=end, group=(SOURCE, NAME, TYPE), metrics=(Metric("queries", "count"),))
        return findings(store.aggregate(names), store.aggregate(types), self.thresholds(), end)
