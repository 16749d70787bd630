"""Volume anomalies: a host or an organisation whose traffic suddenly changes.

Per window of ``anomaly_volume_window_seconds`` the store aggregates the network events of each
source address (a host) and of each organisation (``organization.name``): bytes sent
(``source.bytes``), connections, distinct destination addresses and distinct destination ports.
Each window is compared with the entity's own baseline: the windows kept in the detector's state
(at most ``anomaly_volume_max_history``, the most recent, merged by window so overlapping hunts
count a window once) together with the windows of the hunt. On a log scale, each measure's median
and median absolute deviation (MAD, scaled to a standard deviation and floored at ``MIN_SCALE`` so
that a perfectly steady entity is not raised for a small change) give a robust z-score; a window
is anomalous when one measure stands ``anomaly_volume_threshold`` deviations above the median.
Only increases count: traffic that stops is not what this detector looks for. An entity is scored
once it has ``anomaly_volume_min_history`` windows.

The robust baseline was measured against an IsolationForest on the same windows and against fixed
thresholds (``bench/anomaly/eval_volume.py``; figures in BENCHMARKS.md): it is the one shipped.

The explanation carries each measure's value in the worst window with the median it was compared
with, and a chart of the series of the measure that drove the score with the baseline band::

    {"kind": "line", "title": ..., "labels": [ISO times], "values": [...],
     "band_low": [...], "band_high": [...]}
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from cert.core.aggregate import BUCKET, AggregateQuery, Metric
from cert.core.anomaly import AnomalyDetector, Finding
from cert.core.contracts import detectors
from cert.core.errors import N_
from cert.core.event_store import EventStore

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: the measures of a window, their labels and units
FEATURES: dict[str, tuple[str, str]] = {
    "bytes_out": (N_("Bytes sent"), N_("bytes")),
    "connections": (N_("Connections"), ""),
    "destinations": (N_("Distinct destinations"), ""),
    "ports": (N_("Distinct destination ports"), ""),
}
METRICS = (Metric("connections", "count"), Metric("bytes_out", "sum", "source.bytes"),
           Metric("destinations", "cardinality", "destination.ip"),
           Metric("ports", "cardinality", "destination.port"))
#: (scope, ECS field of the entity)
SCOPES = (("host", "source.ip"), ("organization", "organization.name"))
NETWORK_TERMS = {"event.category": ["network"]}
#: the smallest deviation (natural log units) a scale may have: about a 1.65x change
MIN_SCALE = 0.5
MAD_TO_SD = 1.4826
#: windows shown in a chart
CHART_WINDOWS = 288


def _log(values: Any) -> np.ndarray[Any, Any]:
    import numpy as np
    import pandas as pd

    array = pd.to_numeric(pd.Series(values), errors="coerce").fillna(0).to_numpy(dtype="float64")
    logged: np.ndarray[Any, Any] = np.log1p(np.clip(np.nan_to_num(array, nan=0.0, posinf=1e300), 0, 1e300))
    return logged


@dataclass(frozen=True)
class Band:
    """A measure's baseline on a log scale: median and scale (a robust standard deviation)."""

    median: float
    scale: float

    def z(self, values: Any) -> np.ndarray[Any, Any]:
        return (_log(values) - self.median) / self.scale

    def bounds(self, threshold: float) -> tuple[float, float]:
        """The band in the measure's own units: the median plus or minus ``threshold`` scales."""
        return (max(0.0, math.expm1(self.median - threshold * self.scale)),
                math.expm1(min(700.0, self.median + threshold * self.scale)))


def band(values: Any) -> Band:
    import numpy as np

    x = _log(values)
    median = float(np.median(x)) if len(x) else 0.0
    mad = float(np.median(np.abs(x - median))) if len(x) else 0.0
    return Band(median, max(MAD_TO_SD * mad, MIN_SCALE))


def robust_scores(reference: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """Per window of ``windows``, each measure's z-score above the ``reference`` windows' median
    (negative deviations count as 0) and ``z``, the largest of them."""
    import numpy as np
    import pandas as pd

    out = pd.DataFrame(index=windows.index)
    for name in FEATURES:
        out[name] = np.maximum(band(reference[name]).z(windows[name]), 0.0)
    out["z"] = out[list(FEATURES)].max(axis=1) if len(out) else pd.Series(dtype="float64")
    return out


def score(z: float, threshold: float) -> float:
    """A z-score as 0..1: one half at the threshold."""
    return round(z / (z + threshold), 4) if z > 0 else 0.0


def windows_of(chunk: pd.DataFrame, field: str) -> pd.DataFrame:
    """An aggregate chunk as windows: entity, bucket and the measures as floats."""
    import pandas as pd

    out = pd.DataFrame({"entity": chunk[field].map(lambda v: str(v)[:200]), BUCKET: chunk[BUCKET]})
    for name in FEATURES:
        out[name] = pd.to_numeric(chunk[name], errors="coerce").fillna(0).clip(lower=0).astype("float64")
    return out


def merge_history(saved: dict[str, Any] | None, current: pd.DataFrame, keep: int) -> pd.DataFrame:
    """The stored windows of an entity with the current ones (a window of the current run replaces
    the stored one of the same time), the ``keep`` most recent."""
    import pandas as pd

    rows: dict[int, list[float]] = {}
    for key, values in ((saved or {}).get("windows") or {}).items():
        try:
            rows[int(key)] = [float(v) for v in values][:len(FEATURES)]
        except (TypeError, ValueError):
            continue
    for row in current.itertuples(index=False):
        rows[int(pd.Timestamp(getattr(row, BUCKET)).timestamp())] = [float(getattr(row, f)) for f in FEATURES]
    kept = sorted((k, v) for k, v in rows.items() if len(v) == len(FEATURES))[-keep:] if keep > 0 else []
    frame = pd.DataFrame([v for _, v in kept], columns=list(FEATURES), dtype="float64")
    frame[BUCKET] = pd.to_datetime([k for k, _ in kept], unit="s", utc=True)
    return frame


def to_state(history: pd.DataFrame) -> dict[str, Any]:
    import pandas as pd

    return {"windows": {str(int(pd.Timestamp(r[BUCKET]).timestamp())): [float(r[f]) for f in FEATURES]
                        for r in history.to_dict("records")}}


@dataclass(frozen=True)
class Spike:
    """The anomalous windows of one entity in a run."""

    scope: str
    field: str
    entity: str
    first: datetime
    last: datetime
    z: float
    explanation: dict[str, Any]


def spikes(scope: str, field: str, entity: str, history: pd.DataFrame, current: pd.DataFrame,
           threshold: float, window: int, min_history: int) -> Spike | None:
    """The anomaly of ``entity`` among its ``current`` windows against its ``history`` (which
    includes them), or None."""
    import numpy as np
    import pandas as pd

    if len(history) < min_history or current.empty:
        return None
    scores = robust_scores(history, current)
    hot = scores[scores["z"] >= threshold]
    if hot.empty:
        return None
    worst = int(np.argmax(scores["z"].to_numpy()))
    driver = max(FEATURES, key=lambda name: float(scores[name].to_numpy()[worst]))
    buckets = current.loc[hot.index, BUCKET]
    features = [{"name": name, "label": label, "value": float(current[name].to_numpy()[worst]),
                 "baseline": round(math.expm1(band(history[name]).median), 2), "unit": unit}
                for name, (label, unit) in FEATURES.items()]
    shown = history.tail(CHART_WINDOWS)
    low, high = band(history[driver]).bounds(threshold)
    chart = {"kind": "line", "title": FEATURES[driver][0],
             "labels": [pd.Timestamp(b).isoformat() for b in shown[BUCKET]],
             "values": [float(v) for v in shown[driver]],
             "band_low": [round(low, 2)] * len(shown), "band_high": [round(high, 2)] * len(shown)}
    z = float(hot["z"].max())
    return Spike(scope=scope, field=field, entity=entity, first=pd.Timestamp(buckets.min()).to_pydatetime(),
                 last=pd.Timestamp(buckets.max()).to_pydatetime() + timedelta(seconds=window - 1), z=z,
                 explanation={"features": [{"name": "z", "label": N_("Deviations above the baseline"),
                                            "value": round(z, 2), "baseline": threshold, "unit": ""},
                                           *features],
                              "chart": chart, "windows": len(hot), "window_seconds": window})


def _entities(store: EventStore, field: str, start: datetime, end: datetime, window: int) -> Iterator[pd.DataFrame]:
    query = AggregateQuery(start=start, end=end, group=(field,), bucket_seconds=window, metrics=METRICS,
                           terms=NETWORK_TERMS)
    for chunk in store.aggregate(query):
        frame = windows_of(chunk, field)
        for _, rows in frame.groupby("entity", sort=False):
            yield rows.reset_index(drop=True)


@detectors.register
class VolumeAnomaly(AnomalyDetector):
    name = "anomaly.volume"
    rule_id = "vigie-anomaly-volume"
    title = N_("Unusual traffic volume")
    severity = "medium"
    attack: ClassVar[tuple[str, ...]] = ("attack.exfiltration", "attack.discovery", "attack.t1046", "attack.t1048")
    lookback = timedelta(hours=24)
    description = N_("Bytes sent, connections, distinct destinations and ports per window of each host and "
                     "organisation, compared with its own baseline (median and MAD).")

    def find(self, store: EventStore, start: datetime, end: datetime) -> list[Finding]:
        s = self.settings
        window = max(1, int(s.anomaly_volume_window_seconds))
        threshold = float(s.anomaly_volume_threshold)
        found: list[Finding] = []
        for scope, field in SCOPES:
            for current in _entities(store, field, start, end, window):
                entity = str(current["entity"].iloc[0])
                key = f"{scope}:{entity}"
                history = merge_history(self.state.baseline(self.name, key), current,
                                        int(s.anomaly_volume_max_history))
                self.state.save_baseline(self.name, key, to_state(history))
                spike = spikes(scope, field, entity, history, current, threshold, window,
                               int(s.anomaly_volume_min_history))
                if spike is not None:
                    found.append(finding(spike, threshold, end))
        return found


def finding(spike: Spike, threshold: float, end: datetime) -> Finding:
    first = spike.first if spike.first.tzinfo else spike.first.replace(tzinfo=UTC)
    last = min(spike.last if spike.last.tzinfo else spike.last.replace(tzinfo=UTC), end)
    return Finding(key=f"{spike.scope}|{spike.entity}", score=score(spike.z, threshold), first_seen=first,
                   last_seen=last, terms={spike.field: spike.entity}, explanation=spike.explanation,
                   subject=spike.entity)
