"""Port scans and host sweeps: one source probing many ports of one host (vertical) or one port
of many hosts (horizontal), fast or slowly over hours.

Read from ``store.aggregate`` per (source, destination, port) and five-minute bucket: connections
and the bytes the destination sent back (``destination.bytes``: IP bytes, as Filebeat's modules
and flow exporters count them). A probe is a (destination, port) that sent no payload back within
the bucket, at most ``HEADER_BYTES`` a connection (a SYN scan answered by a SYN-ACK or a reset, a
refused or unanswered connection, a ping): a browser fetching pages from a hundred web servers on
port 443 gets answers and is no sweep. For each
window size of the settings (five minutes, an hour, a day by default; Zeek's ``scan.zeek`` uses
15 ports and 25 hosts in five minutes; an hour allows 1.5 times, a day twice as many, internal
sources two thirds of an external one's), the most distinct ports probed on one host and the most
distinct hosts probed on one port in any window are compared with that window's threshold:
``ratio`` is the largest quotient, ``score = ratio / (1 + ratio)`` (0.5 at the threshold), and a
source is reported from ratio 1. Internal sources (``detectors.anomaly.networks``) have lower
thresholds and a higher severity than external ones: an internal host sweeping the network is
rarer and graver than the Internet's background scanning.
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
from cert.core.errors import N_, ConfigError
from cert.core.event_store import EventStore
from detectors.anomaly.networks import Networks

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SOURCE, DESTINATION, PORT = "source.ip", "destination.ip", "destination.port"
GROUP = (SOURCE, DESTINATION, PORT)
#: the most a connection's answer may weigh and carry no payload: one IPv4 header with a TCP
#: header and its options (a SYN-ACK of 44 to 60 bytes, a reset of 40), or an ICMP error (56)
HEADER_BYTES = 60
#: the smallest window: the aggregate's bucket
BUCKET_SECONDS = 300
#: bars of a finding's chart
CHART_BARS = 12

Thresholds = tuple[tuple[int, int], ...]


def parse_thresholds(name: str, values: Iterable[Any]) -> Thresholds:
    """``("300:15", "3600:30")`` -> ((300, 15), (3600, 30)): windows (multiples of five minutes)
    and their thresholds."""
    out: list[tuple[int, int]] = []
    for text in values:
        seconds, sep, count = str(text).partition(":")
        try:
            window, threshold = int(seconds), int(count)
        except ValueError:
            raise ConfigError(f"setting {name!r}: {text!r} is not SECONDS:COUNT") from None
        if not sep or window < BUCKET_SECONDS or window % BUCKET_SECONDS or threshold < 2:
            raise ConfigError(f"setting {name!r}: {text!r} needs a window of a multiple of {BUCKET_SECONDS} s "
                              "and a count of 2 or more")
        out.append((window, threshold))
    if not out:
        raise ConfigError(f"setting {name!r} names no window")
    return tuple(sorted(out))


@dataclass(frozen=True)
class ScanConfig:
    """Thresholds per window: distinct ports on one host, distinct hosts on one port."""

    ports: Thresholds = ((300, 15), (3600, 22), (86400, 30))
    hosts: Thresholds = ((300, 25), (3600, 37), (86400, 50))
    ports_internal: Thresholds = ((300, 10), (3600, 15), (86400, 20))
    hosts_internal: Thresholds = ((300, 15), (3600, 22), (86400, 30))

    @classmethod
    def from_settings(cls, settings: Any) -> ScanConfig:
        d = cls()
        return cls(**{name: parse_thresholds(f"anomaly_scan_{name}", getattr(settings, f"anomaly_scan_{name}"))
                      if hasattr(settings, f"anomaly_scan_{name}") else getattr(d, name)
                      for name in ("ports", "hosts", "ports_internal", "hosts_internal")})

    def windows(self) -> list[int]:
        return sorted({w for table in (self.ports, self.hosts, self.ports_internal, self.hosts_internal)
                       for w, _ in table})


def query(start: datetime, end: datetime) -> AggregateQuery:
    """The aggregation the detector reads: connections and bytes answered per target and bucket."""
    return AggregateQuery(start=start, end=end, group=GROUP, bucket_seconds=BUCKET_SECONDS,
                          metrics=(Metric("connections", "count"), Metric("answered", "sum", "destination.bytes")))


def _seconds(column: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    stamps = pd.to_datetime(column, utc=True, errors="coerce")
    return np.asarray(stamps.dt.as_unit("s").astype("int64"), dtype="int64")


def _widest(probes: pd.DataFrame, by: str, counted: str, window: int) -> pd.DataFrame:
    """Per source: the most distinct ``counted`` values probed for one ``by`` value in one window."""
    frame = probes.assign(w=probes["t"] // window * window)
    distinct = frame.groupby([SOURCE, by, "w"], sort=False)[counted].nunique().reset_index()
    # ties broken by the target and the window, so the answer does not depend on the store's group order
    best = distinct.sort_values([counted, by, "w"], ascending=[False, True, True], kind="stable") \
        .drop_duplicates(SOURCE)
    return best.set_index(SOURCE)[[by, "w", counted]]


def _unanswered(rows: pd.DataFrame) -> pd.Series:
    """Which rows are probes: their answer carried no payload (``HEADER_BYTES`` a connection at most)."""
    import pandas as pd

    answered = pd.to_numeric(rows["answered"], errors="coerce").fillna(0)
    connections = pd.to_numeric(rows["connections"], errors="coerce").fillna(1).clip(lower=1)
    return answered <= connections * HEADER_BYTES


def source_features(frame: pd.DataFrame, networks: Networks, cfg: ScanConfig) -> pd.DataFrame:
    """One row per source of an aggregate answer (rows of whole sources): for each window, the
    widest vertical and horizontal probing, its ratio to the threshold, and the score."""
    import numpy as np
    import pandas as pd

    if frame.empty:
        return pd.DataFrame()
    t = _seconds(frame[BUCKET])
    probe = _unanswered(frame).to_numpy() & (t >= 0)
    probes = frame.loc[probe, [SOURCE, DESTINATION, PORT]].assign(t=t[probe])
    probes = probes.loc[probes[SOURCE].notna() & probes[DESTINATION].notna() & probes[PORT].notna()]
    if probes.empty:
        return pd.DataFrame()
    g = probes.groupby(SOURCE, sort=False)
    out = pd.DataFrame({"probes": g.size(), "first": g["t"].min(), "last": g["t"].max(),
                        "hosts": g[DESTINATION].nunique(), "ports": g[PORT].nunique()})
    internal = pd.Series({s: networks.internal(s) for s in out.index}, dtype=bool)
    out["internal"] = internal.reindex(out.index).to_numpy()
    for kind in ("vertical", "horizontal"):
        out[f"{kind}_ratio"] = 0.0
        out[f"{kind}_window"] = 0
    for window in cfg.windows():
        for kind, by, counted, external_t, internal_t in (
                ("vertical", DESTINATION, PORT, dict(cfg.ports), dict(cfg.ports_internal)),
                ("horizontal", PORT, DESTINATION, dict(cfg.hosts), dict(cfg.hosts_internal))):
            if window not in external_t and window not in internal_t:
                continue
            best = _widest(probes, by, counted, window)
            counts = best[counted].reindex(out.index).fillna(0).astype("float64").to_numpy()
            limit = np.where(out["internal"], internal_t.get(window, math.inf), external_t.get(window, math.inf))
            ratio = counts / limit
            out[f"{kind}_{window}"] = counts
            out[f"{kind}_{window}_target"] = best[by].reindex(out.index).to_numpy()
            better = ratio > out[f"{kind}_ratio"].to_numpy()
            out.loc[better, f"{kind}_window"] = window
            out[f"{kind}_ratio"] = np.maximum(out[f"{kind}_ratio"].to_numpy(), ratio)
    out["ratio"] = np.maximum(out["vertical_ratio"], out["horizontal_ratio"])
    out["score"] = out["ratio"] / (1 + out["ratio"])
    return out.rename_axis(SOURCE).reset_index()


def analyse(answers: Iterable[pd.DataFrame], networks: Networks, cfg: ScanConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every source of an aggregate answer (``query``) scored, and the probes of the sources
    reported (for their charts). The answer is sorted by source: a source whose rows go on in the
    next chunk is carried over to it, so memory holds a chunk and one source's rows."""
    import pandas as pd

    scored: list[pd.DataFrame] = []
    details: list[pd.DataFrame] = []
    carry: pd.DataFrame | None = None

    def settle(rows: pd.DataFrame) -> None:
        found = source_features(rows, networks, cfg)
        if found.empty:
            return
        scored.append(found)
        reported = set(found.loc[found["ratio"] >= 1, SOURCE])
        if reported:
            details.append(rows.loc[rows[SOURCE].isin(reported)])

    for chunk in answers:
        if chunk.empty:
            continue
        rows = chunk if carry is None else pd.concat([carry, chunk], ignore_index=True)
        last = rows[SOURCE].iloc[-1]
        tail = (rows[SOURCE] == last).to_numpy()
        carry = rows.loc[tail]
        if (~tail).any():
            settle(rows.loc[~tail])
    if carry is not None and not carry.empty:
        settle(carry)
    all_scored = pd.concat(scored, ignore_index=True) if scored else pd.DataFrame()
    return all_scored, (pd.concat(details, ignore_index=True) if details else pd.DataFrame())


def chart(rows: pd.DataFrame, kind: str) -> dict[str, Any]:
    """The targets most probed: ports per host (vertical) or hosts per port (horizontal)."""

    probes = rows.loc[_unanswered(rows)]
    by, counted = (DESTINATION, PORT) if kind == "vertical" else (PORT, DESTINATION)
    top = probes.groupby(by)[counted].nunique().sort_values(ascending=False, kind="stable").head(CHART_BARS)
    title = N_("Distinct ports probed per host") if kind == "vertical" else N_("Distinct hosts probed per port")
    return {"kind": "bar", "title": title, "labels": [str(x)[:64] for x in top.index],
            "values": [int(v) for v in top.to_numpy()]}


def _window_label(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds >= 3600 and seconds % 3600 == 0 else f"{seconds // 60} min"


def explain(rec: dict[str, Any], kind: str, rows: pd.DataFrame, cfg: ScanConfig) -> dict[str, Any]:
    """The explanation of one reported source and kind (a record of ``source_features``)."""
    internal = bool(rec["internal"])
    features: list[dict[str, Any]] = []
    for measure, table, label, unit in (
            ("vertical", cfg.ports_internal if internal else cfg.ports,
             N_("Most distinct ports probed on one host in one window"), N_("ports")),
            ("horizontal", cfg.hosts_internal if internal else cfg.hosts,
             N_("Most distinct hosts probed on one port in one window"), N_("hosts"))):
        for window, threshold in table:
            value = rec.get(f"{measure}_{window}")
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            features.append({"name": f"{measure}_{window}", "label": label, "window": _window_label(window),
                             "value": int(value), "baseline": threshold, "unit": unit,
                             "target": str(rec.get(f"{measure}_{window}_target"))[:64]})
    features += [
        {"name": "hosts", "label": N_("Distinct hosts probed"), "value": int(rec["hosts"]), "baseline": None,
         "unit": N_("hosts")},
        {"name": "ports", "label": N_("Distinct ports probed"), "value": int(rec["ports"]), "baseline": None,
         "unit": N_("ports")},
        {"name": "internal", "label": N_("Source inside the constituency"),
         "value": N_("yes") if internal else N_("no"), "baseline": None, "unit": ""},
    ]
    return {"features": features, "chart": chart(rows, kind), "kind": kind,
            "window_seconds": int(rec[f"{kind}_window"])}


@detectors.register
class ScanDetector(AnomalyDetector):
    name = "anomaly.scan"
    rule_id = "vigie-anomaly-scan"
    title = N_("Port scan or host sweep")
    severity = "low"
    attack: ClassVar[tuple[str, ...]] = ("attack.discovery", "attack.reconnaissance", "attack.t1046", "attack.t1595")
    lookback = timedelta(hours=24)
    description = ("One source probes many ports of one host (vertical) or one port of many hosts (horizontal) "
                   "without getting answers, within five minutes or slowly over hours; internal sources have "
                   "lower thresholds and a higher severity.")

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.config = ScanConfig.from_settings(settings)
        self.networks = Networks.from_settings(settings)

    def scored(self, store: EventStore, start: datetime, end: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Every source scored, and the probes of those reported."""
        return analyse(store.aggregate(query(start, end)), self.networks, self.config)

    def find(self, store: EventStore, start: datetime, end: datetime) -> list[Finding]:
        scored, rows = self.scored(store, start, end)
        if scored.empty:
            return []
        return list(self._findings(scored.loc[scored["ratio"] >= 1], rows))

    def _findings(self, reported: pd.DataFrame, rows: pd.DataFrame) -> Iterator[Finding]:
        """One finding per source and kind (vertical, horizontal) at or above its threshold."""
        for item in reported.sort_values("score", ascending=False).to_dict("records"):
            rec = {str(k): v for k, v in item.items()}
            for kind in ("vertical", "horizontal"):
                ratio = float(rec[f"{kind}_ratio"])
                if ratio >= 1:
                    yield self._finding(rec, kind, ratio, rows)

    def _finding(self, rec: dict[str, Any], kind: str, ratio: float, rows: pd.DataFrame) -> Finding:
        source = str(rec[SOURCE])
        internal = bool(rec["internal"])
        return Finding(key=f"{source}|{kind}", score=ratio / (1 + ratio),
                       first_seen=datetime.fromtimestamp(int(rec["first"]), UTC),
                       last_seen=datetime.fromtimestamp(int(rec["last"]) + BUCKET_SECONDS, UTC)
                       - timedelta(microseconds=1),
                       terms={SOURCE: source},
                       explanation=explain(rec, kind, rows.loc[rows[SOURCE] == rec[SOURCE]], self.config),
                       severity="high" if internal else "low", subject=source[:200])
