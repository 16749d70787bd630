"""Beaconing: an internal host calling the same destination and port at regular intervals with
regular sizes, as an implant calls its command-and-control server.

RITA's method, per (source.ip, destination.ip, destination.port) pair over the lookback window,
read as one-second buckets from ``store.aggregate`` (connections, bytes sent and received per
second: connections within one second are one call):

- timing: Bowley's skewness of the intervals between calls (a beacon's are symmetric; 0 when the
  median equals a quartile, as RITA does) and their median absolute deviation from the median
  (MADM) relative to the median interval, so that a beacon sleeping a random ±30 % still scores;
- size: the same two measures on the bytes per connection;
- duration: how much of the window the pair covers, or how consistently it is seen in the hours
  between its first and last call, whichever is higher (RITA's duration score);
- frequency: calls per hour while active (at least one hour), on a log scale up to the
  ``anomaly_beacon_calls_per_hour`` setting: implants call every few seconds to minutes, while
  update, telemetry and synchronisation clients call every quarter of an hour or so;
- prevalence: destinations that many internal hosts call (update servers) score lower, from the
  ``anomaly_beacon_common_sources`` distinct sources on.

``score = mean(timing, size, duration) × (0.5 + 0.5 × frequency) × (1 − 0.5 × prevalence)``,
0..1; a pair is reported from ``anomaly_beacon_threshold_percent``. Only traffic leaving the network
is scored, as RITA does: internal sources (``detectors.anomaly.networks``) to external, unicast
destinations (an internal resolver or domain controller is polled regularly by design), from
``anomaly_beacon_min_connections`` calls on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from cert.core.aggregate import BUCKET, AggregateQuery, Metric
from cert.core.anomaly import AnomalyDetector, Finding
from cert.core.contracts import detectors
from cert.core.errors import N_
from cert.core.event_store import EventStore
from detectors.anomaly.networks import Networks, multicast

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SOURCE, DESTINATION, PORT = "source.ip", "destination.ip", "destination.port"
GROUP = (SOURCE, DESTINATION, PORT)
#: bins of the interval histogram shown with a finding
HISTOGRAM_BINS = 12
#: quartiles closer than this share of the median have no skewness worth measuring
NARROW = 0.05
#: bytes per connection above this are taken as this (a corrupt or hostile counter)
MAX_BYTES = 1e15


@dataclass(frozen=True)
class BeaconConfig:
    """The detector's settings (``anomaly_beacon_*``), with their defaults."""

    threshold: float = 0.85
    min_connections: int = 6
    calls_per_hour: float = 60.0
    common_sources: int = 3

    @classmethod
    def from_settings(cls, settings: Any) -> BeaconConfig:
        d = cls()
        return cls(threshold=_int(settings, "anomaly_beacon_threshold_percent", round(d.threshold * 100)) / 100,
                   min_connections=max(4, _int(settings, "anomaly_beacon_min_connections", d.min_connections)),
                   calls_per_hour=max(2, _int(settings, "anomaly_beacon_calls_per_hour", round(d.calls_per_hour))),
                   common_sources=max(1, _int(settings, "anomaly_beacon_common_sources", d.common_sources)))


def _int(settings: Any, name: str, default: int) -> int:
    value = getattr(settings, name, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def query(start: datetime, end: datetime) -> AggregateQuery:
    """The aggregation the detector reads: calls and bytes per pair and second."""
    return AggregateQuery(start=start, end=end, group=GROUP, bucket_seconds=1,
                          metrics=(Metric("connections", "count"), Metric("sent", "sum", "source.bytes"),
                                   Metric("received", "sum", "destination.bytes")))


def _numeric(column: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    out: np.ndarray = np.nan_to_num(values, nan=0.0, posinf=MAX_BYTES, neginf=0.0)
    return out


def _seconds(column: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    stamps = pd.to_datetime(column, utc=True, errors="coerce")
    return np.asarray(stamps.dt.as_unit("s").astype("int64"), dtype="int64")


def _robust(values: pd.Series, pid: np.ndarray, prefix: str, resolution: float, tolerance: float) -> pd.DataFrame:
    """Per pair: quartiles, Bowley's skewness and MADM of ``values``. The skewness is 0 when the
    median equals a quartile (RITA), and when the quartiles are within ``resolution`` or
    ``tolerance`` × the median of each other: the shape of so narrow a spread is noise."""
    import numpy as np
    import pandas as pd

    grouped = values.groupby(pid, sort=True)
    q = grouped.quantile(np.array([0.25, 0.5, 0.75])).unstack()
    q1, q2, q3 = q[0.25].to_numpy(), q[0.5].to_numpy(), q[0.75].to_numpy()
    spread = q3 - q1
    tied = (spread <= np.maximum(resolution, tolerance * np.abs(q2))) | (q2 == q1) | (q2 == q3)
    with np.errstate(divide="ignore", invalid="ignore"):
        bowley = np.where(tied, 0.0, (q3 + q1 - 2 * q2) / np.where(spread > 0, spread, 1.0))
    median = pd.Series(q2, index=q.index)
    madm = (values - median.reindex(pid).to_numpy()).abs().groupby(pid, sort=True).median()
    return pd.DataFrame({f"{prefix}_median": q2, f"{prefix}_skew": np.clip(bowley, -1, 1),
                         f"{prefix}_madm": madm.to_numpy(), f"{prefix}_mean": grouped.mean().to_numpy(),
                         f"{prefix}_std": grouped.std(ddof=0).to_numpy()}, index=q.index)


def pair_features(frame: pd.DataFrame, min_calls: int = 4) -> pd.DataFrame:
    """One row per pair of an aggregate answer (rows of whole pairs, sorted by pair then bucket)
    with at least ``min_calls`` calls: the measures the score is made of, and the intervals."""
    import numpy as np
    import pandas as pd

    if frame.empty:
        return pd.DataFrame()
    t = _seconds(frame[BUCKET])
    keep = t >= 0
    frame, t = frame.loc[keep].reset_index(drop=True), t[keep]
    pid = frame.groupby(list(GROUP), sort=False).ngroup().to_numpy()
    calls = np.bincount(pid)
    big = calls[pid] >= min_calls
    if not big.any():
        return pd.DataFrame()
    frame, t, pid = frame.loc[big].reset_index(drop=True), t[big], pid[big]
    order = np.lexsort((t, pid))
    frame, t, pid = frame.iloc[order].reset_index(drop=True), t[order], pid[order]
    connections = np.maximum(_numeric(frame["connections"]), 1.0)
    size = np.clip((_numeric(frame["sent"]) + _numeric(frame["received"])) / connections, 0, MAX_BYTES)
    same = np.r_[False, pid[1:] == pid[:-1]]
    intervals = pd.Series((t - np.r_[t[:1], t[:-1]])[same].astype("float64"))
    timing = _robust(intervals, pid[same], "interval", 1.0, NARROW)
    sizes = _robust(pd.Series(size), pid, "size", 1.0, NARROW)
    firsts = np.flatnonzero(~same)
    out = pd.DataFrame({SOURCE: frame[SOURCE].to_numpy()[firsts], DESTINATION: frame[DESTINATION].to_numpy()[firsts],
                        PORT: frame[PORT].to_numpy()[firsts]}, index=pid[firsts])
    per = pd.DataFrame({"pid": pid, "t": t, "hour": t // 3600, "connections": connections})
    g = per.groupby("pid", sort=True)
    out["calls"] = g.size()
    out["connections"] = g["connections"].sum()
    out["first"] = g["t"].min()
    out["last"] = g["t"].max()
    out["hours_seen"] = g["hour"].nunique()
    out = out.join(timing).join(sizes)
    splits = np.split(intervals.to_numpy(), np.flatnonzero(np.diff(pid[same])) + 1)
    out["intervals"] = pd.Series(splits, index=np.unique(pid[same]), dtype=object)
    return out.reset_index(drop=True)


def score_pairs(features: pd.DataFrame, window_seconds: float, cfg: BeaconConfig,
                sources_of: pd.Series | None = None, internal_sources: int = 0) -> pd.DataFrame:
    """``features`` with the components of the score and the score (0..1). ``sources_of`` gives
    how many distinct internal sources call each destination, of ``internal_sources`` in all."""
    import numpy as np

    f = features.copy()
    if f.empty:
        return f
    window = max(float(window_seconds), 1.0)
    f["interval_symmetry"] = 1 - f["interval_skew"].abs()
    f["interval_steadiness"] = np.clip(1 - f["interval_madm"] / f["interval_median"].clip(lower=1e-9), 0, 1)
    size_median = f["size_median"]
    f["size_symmetry"] = 1 - f["size_skew"].abs()
    f["size_steadiness"] = np.where(size_median > 0, np.clip(1 - f["size_madm"] / size_median.clip(lower=1e-9), 0, 1),
                                    np.where(f["size_madm"] > 0, 0.0, 1.0))
    span = (f["last"] - f["first"]).astype("float64")
    hours_spanned = (f["last"] // 3600 - f["first"] // 3600 + 1).astype("float64")
    f["coverage"] = np.clip(span / window, 0, 1)
    f["consistency"] = np.clip(f["hours_seen"] / hours_spanned, 0, 1)
    f["calls_per_hour"] = f["calls"] / np.maximum(span / 3600, 1.0)
    f["frequency"] = np.clip(np.log(np.maximum(f["calls_per_hour"], 1.0)) / math.log(cfg.calls_per_hour), 0, 1)
    timing = (f["interval_symmetry"] + f["interval_steadiness"]) / 2
    size = (f["size_symmetry"] + f["size_steadiness"]) / 2
    duration = np.maximum(f["coverage"], f["consistency"])
    f["regularity"] = (timing + size + duration) / 3
    if sources_of is not None and internal_sources > 0:
        callers = f[DESTINATION].map(sources_of).fillna(1).astype("float64")
        f["sources"] = callers
        share = np.where(callers >= cfg.common_sources, callers / internal_sources, 0.0)
        f["prevalence"] = np.clip(share, 0, 1)
    else:
        f["sources"] = 1.0
        f["prevalence"] = 0.0
    f["score"] = np.clip(f["regularity"] * (0.5 + 0.5 * f["frequency"]) * (1 - 0.5 * f["prevalence"]), 0, 1)
    return f


def analyse(answers: Iterable[pd.DataFrame], networks: Networks, cfg: BeaconConfig,
            window_seconds: float) -> pd.DataFrame:
    """The scored pairs of an aggregate answer (``query``), chunk by chunk: memory holds one
    chunk, the pairs' measures, and the distinct (destination, internal source) pairs."""
    import pandas as pd

    features: list[pd.DataFrame] = []
    callers: list[pd.DataFrame] = []
    for chunk in answers:
        if chunk.empty:
            continue
        chunk = chunk.loc[networks.mask(chunk[SOURCE])]
        if chunk.empty:
            continue
        callers.append(chunk[[DESTINATION, SOURCE]].drop_duplicates())
        destinations = chunk[DESTINATION]
        kept = pd.Series([not (multicast(d) or networks.internal(d)) for d in destinations.unique()],
                         index=destinations.unique(), dtype=bool)
        chunk = chunk.loc[destinations.map(kept).fillna(False).to_numpy(dtype=bool)]
        found = pair_features(chunk, cfg.min_connections)
        if not found.empty:
            features.append(found)
    if not features:
        return pd.DataFrame()
    everyone = pd.concat(callers, ignore_index=True).drop_duplicates()
    sources_of = everyone.groupby(DESTINATION)[SOURCE].nunique()
    internal = int(everyone[SOURCE].nunique())
    scored = score_pairs(pd.concat(features, ignore_index=True), window_seconds, cfg, sources_of, internal)
    scored.attrs["internal_sources"] = internal
    return scored


def histogram(intervals: Any) -> dict[str, Any]:
    """The chart of a pair's intervals: equal bins up to twice the median (the last holds the rest)."""
    import numpy as np

    values = np.asarray(intervals, dtype="float64")
    if values.size == 0:
        return {"kind": "bar", "title": N_("Intervals between connections (s)"), "labels": [], "values": []}
    step = max(float(np.median(values)) * 2 / HISTOGRAM_BINS, 1.0)
    edges = [step * i for i in range(HISTOGRAM_BINS)]
    top = step * HISTOGRAM_BINS
    counts = np.histogram(np.minimum(values, top - step / 2), bins=[*edges, top])[0]
    labels = [f"{_fmt(a)}-{_fmt(a + step)}" for a in edges[:-1]] + [f"≥{_fmt(edges[-1])}"]
    return {"kind": "bar", "title": N_("Intervals between connections (s)"), "labels": labels,
            "values": [int(c) for c in counts]}


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _r(value: Any, digits: int = 3) -> float:
    number = float(value)
    return round(number, digits) if math.isfinite(number) else 0.0


def explain(rec: dict[str, Any], cfg: BeaconConfig, internal_sources: int) -> dict[str, Any]:
    """The explanation of one scored pair (a record of ``score_pairs``; see ``cert.core.anomaly``)."""
    row = _Record(rec)
    features = [
        {"name": "interval_skew", "label": N_("Skew of the intervals (Bowley; 0 is symmetric)"),
         "value": _r(row.interval_skew), "baseline": 0.0, "unit": ""},
        {"name": "interval_madm", "label": N_("Median absolute deviation of the intervals"),
         "value": _r(row.interval_madm, 1), "baseline": _r(row.interval_median, 1), "unit": "s"},
        {"name": "mean_interval", "label": N_("Mean interval between connections"),
         "value": _r(row.interval_mean, 1), "baseline": _r(row.interval_median, 1), "unit": "s"},
        {"name": "interval_spread", "label": N_("Standard deviation of the intervals"),
         "value": _r(row.interval_std, 1), "baseline": _r(row.interval_mean, 1), "unit": "s"},
        {"name": "bytes_per_connection", "label": N_("Bytes per connection (median)"),
         "value": _r(row.size_median, 0), "baseline": None, "unit": N_("bytes")},
        {"name": "size_madm", "label": N_("Median absolute deviation of the bytes per connection"),
         "value": _r(row.size_madm, 1), "baseline": _r(row.size_median, 1), "unit": N_("bytes")},
        {"name": "calls_per_hour", "label": N_("Connections per hour while active"),
         "value": _r(row.calls_per_hour, 1), "baseline": cfg.calls_per_hour, "unit": "/h"},
        {"name": "hours_seen", "label": N_("Hours in which the pair is seen"),
         "value": int(row.hours_seen), "baseline": int(row.last // 3600 - row.first // 3600 + 1), "unit": "h"},
        {"name": "coverage", "label": N_("Share of the window covered"),
         "value": _r(row.coverage), "baseline": 1.0, "unit": ""},
        {"name": "prevalence", "label": N_("Internal sources calling this destination"),
         "value": int(row.sources), "baseline": int(internal_sources), "unit": ""},
    ]
    return {"features": features, "chart": histogram(row.intervals), "connections": int(row.connections),
            "components": {"regularity": _r(row.regularity), "frequency": _r(row.frequency),
                           "prevalence": _r(row.prevalence)}}


class _Record:
    """Attribute access to a record's columns."""

    def __init__(self, rec: dict[str, Any]) -> None:
        self.__dict__.update(rec)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


def _when(seconds: Any) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


@detectors.register
class BeaconDetector(AnomalyDetector):
    name = "anomaly.beacon"
    rule_id = "vigie-anomaly-beacon"
    title = N_("Beaconing")
    severity = "medium"
    attack: ClassVar[tuple[str, ...]] = ("attack.command_and_control", "attack.t1071", "attack.t1573")
    lookback = timedelta(hours=24)
    description = ("An internal host calls the same destination and port at regular intervals with regular "
                   "sizes (RITA's method: skewness and dispersion of intervals and sizes, coverage, frequency, "
                   "prevalence across the constituency), robust to a jittered sleep.")

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.config = BeaconConfig.from_settings(settings)
        self.networks = Networks.from_settings(settings)

    def scored(self, store: EventStore, start: datetime, end: datetime) -> pd.DataFrame:
        """Every pair with enough calls, scored."""
        return analyse(store.aggregate(query(start, end)), self.networks, self.config,
                       (end - start).total_seconds())

    def find(self, store: EventStore, start: datetime, end: datetime) -> list[Finding]:
        scored = self.scored(store, start, end)
        if scored.empty:
            return []
        internal = int(scored.attrs.get("internal_sources", 0))
        return list(self._findings(scored.loc[scored["score"] >= self.config.threshold], internal))

    def _findings(self, rows: pd.DataFrame, internal: int) -> Iterator[Finding]:
        for item in rows.sort_values("score", ascending=False).to_dict("records"):
            rec = {str(k): v for k, v in item.items()}
            source, destination, port = rec[SOURCE], rec[DESTINATION], rec[PORT]
            subject = f"{source} → {destination}:{port}"
            score = float(rec["score"])
            yield Finding(key=f"{source}|{destination}|{port}", score=score, first_seen=_when(rec["first"]),
                          last_seen=_when(rec["last"]) + timedelta(microseconds=999_999),
                          terms={SOURCE: str(source), DESTINATION: str(destination), PORT: _port(port)},
                          explanation=explain(rec, self.config, internal),
                          severity="high" if score >= 0.95 else None, subject=subject[:200])


def _port(value: Any) -> str | int:
    import numpy as np

    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return str(value)
