"""Port scans and host sweeps (anomaly.scan) through hunt() on an embedded store holding the
labelled captures: the nmap client is found as both a vertical scan and a horizontal sweep (an
internal source: high severity), the benign hosts are not, the heaviest external scanners of
the benign day are (low severity); a slow scan over hours; the pure scoring on small frames;
hostile values never crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from cert.core.config import Settings
from cert.core.contracts import detectors
from cert.core.ecs import Event, get
from cert.core.errors import ConfigError
from cert.storage.events.embedded import EmbeddedEventStore
from detectors.anomaly.networks import Networks
from detectors.anomaly.scan import ScanConfig, ScanDetector, parse_thresholds, source_features
from tests.detectors.network_captures import MONITORED, NJRAT, NMAP, NORMAL, store_of

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def detector(**settings: object) -> ScanDetector:
    return ScanDetector(Settings(anomaly_internal_networks=MONITORED, **settings))  # type: ignore[arg-type]


def test_registered() -> None:
    assert detectors.get("anomaly.scan") is ScanDetector


def test_nmap_client_is_found_as_vertical_and_horizontal_and_benign_hosts_are_not(tmp_path: Path) -> None:
    store, start, end = store_of(tmp_path, NMAP, NJRAT)
    hits = {h.group_key: h for h in detector().hunt(store, start, end)}
    assert set(hits) == {"172.16.1.11|vertical", "172.16.1.11|horizontal"}
    vertical, horizontal = hits["172.16.1.11|vertical"], hits["172.16.1.11|horizontal"]
    assert vertical.severity == horizontal.severity == "high"  # an internal source
    assert {get(e, "source.ip") for e in store.get(vertical.event_ids)} == {"172.16.1.11"}
    features = {f["name"]: f for f in vertical.explanation["features"]}
    assert features["vertical_300"]["value"] > 100 and features["vertical_300"]["baseline"] == 10
    assert horizontal.explanation["kind"] == "horizontal"
    assert max(horizontal.explanation["chart"]["values"]) > 100  # hosts probed on the busiest port
    assert vertical.explanation["chart"]["title"] == "Distinct ports probed per host"


def test_external_scanners_of_the_benign_day_are_found_and_the_benign_host_is_not(tmp_path: Path) -> None:
    store, start, end = store_of(tmp_path, NORMAL)
    hits = detector().hunt(store, start, end)
    sources = {h.group_key.split("|")[0] for h in hits}
    assert "147.32.81.167" not in sources  # the benign host: 139 web servers, all answering
    assert {"104.156.155.13", "104.152.52.193"} <= sources  # 816 ports over 9 h; 35 ports in 26 s
    assert all(h.severity == "low" for h in hits)  # external sources
    assert all(get(e, "zeek.connection.detailedlabel") == "External-Attack-to-Device"
               for h in hits for e in store.get(h.event_ids))


def probe(i: int, at: datetime, src: str, dst: str, port: object, answered: object = 0) -> Event:
    return {"@timestamp": at.isoformat().replace("+00:00", "Z"), "event": {"id": f"p{i}-{src}-{dst}-{port}"},
            "source": {"ip": src, "bytes": 0}, "destination": {"ip": dst, "port": port, "bytes": answered}}


def test_a_slow_scan_over_hours_is_found_in_the_longer_windows(tmp_path: Path) -> None:
    store = EmbeddedEventStore(tmp_path / "e.sqlite3")
    # one port every 5 minutes for 12.5 hours: 1 port per 5 minutes, 12 per hour, 150 in the day
    store.write([probe(i, T0 + timedelta(minutes=5 * i), "203.0.113.7", "10.20.0.5", 1000 + i) for i in range(150)])
    # a host browsing: many servers, all answering
    store.write([probe(i, T0 + timedelta(minutes=i), "10.20.0.9", f"198.51.100.{i % 200}", 443, 5000)
                 for i in range(300)])
    hits = detector().hunt(store, T0, T0 + timedelta(hours=13))
    assert [h.group_key for h in hits] == ["203.0.113.7|vertical"]
    x = hits[0].explanation
    assert x["window_seconds"] == 86400
    assert {f["name"]: f["value"] for f in x["features"]}["vertical_300"] <= 2


def test_internal_sources_have_lower_thresholds() -> None:
    rows = [("10.0.0.4", "10.0.0.200", p, 0) for p in range(12)] + [("198.51.100.4", "10.0.0.200", p, 0)
                                                                      for p in range(12)]
    frame = pd.DataFrame({"source.ip": [r[0] for r in rows], "destination.ip": [r[1] for r in rows],
                          "destination.port": [r[2] for r in rows],
                          "bucket": pd.to_datetime([1_700_000_100] * len(rows), unit="s", utc=True),
                          "connections": 1, "answered": [r[3] for r in rows]})
    scored = source_features(frame, Networks(), ScanConfig()).set_index("source.ip")
    assert scored.loc["10.0.0.4", "vertical_ratio"] == pytest.approx(12 / 10)
    assert scored.loc["198.51.100.4", "vertical_ratio"] == pytest.approx(12 / 15)
    assert scored.loc["10.0.0.4", "score"] > 0.5 > scored.loc["198.51.100.4", "score"]
    answered = frame.assign(answered=100)
    assert source_features(answered, Networks(), ScanConfig()).empty


def test_thresholds_setting_is_checked() -> None:
    assert parse_thresholds("x", ["3600:30", "300:15"]) == ((300, 15), (3600, 30))
    for bad in (["300"], ["abc:1"], ["100:15"], ["300:1"], []):
        with pytest.raises(ConfigError):
            parse_thresholds("x", bad)
    with pytest.raises(ConfigError):
        ScanDetector(Settings(anomaly_scan_ports=("nonsense",)))


def test_hostile_values_never_crash(tmp_path: Path) -> None:
    store = EmbeddedEventStore(tmp_path / "e.sqlite3")
    odd: list[object] = ["x", 2**63 - 1, -1, None, {"a": 1}, [1], "1e400", True]
    store.write([probe(i, T0 + timedelta(seconds=i), ["10.0.0.1", "<b>", "::", "10.0.0.1\x00"][i % 4],
                       ["10.0.0.2", "'; drop", "2001:db8::1"][i % 3], [i, "p", -i, 2**63 - 1, None][i % 5],
                       odd[i % len(odd)]) for i in range(400)])
    for hit in detector().hunt(store, T0, T0 + timedelta(hours=1)):
        assert 0 <= hit.explanation["score"] <= 1
    assert source_features(pd.DataFrame(), Networks(), ScanConfig()).empty
