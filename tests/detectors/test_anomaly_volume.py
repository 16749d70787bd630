"""The volume detector through ``hunt()`` on an embedded store holding a real benign host's day
(CTU-Normal-40 day 1, Zeek conn parsed by Vigie's Zeek parser): the normal day raises nothing;
the same day with a real nmap capture replayed from that host raises the host, explained with
the series and its baseline band; the baseline kept in the state; hostile values never crash."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cert.core.anomaly import MemoryState
from cert.core.config import Settings
from cert.core.contracts import detectors
from cert.core.ecs import Event
from cert.storage.events.embedded import EmbeddedEventStore
from detectors.anomaly.volume import VolumeAnomaly, robust_scores
from ingest.parsers.zeek import ZeekParser

NETWORK = Settings().corpora_dir / "anomaly" / "network"
HOST = "147.32.81.167"
DAY = (datetime(2022, 6, 12, 21, 0, tzinfo=UTC), datetime(2022, 6, 13, 21, 0, tzinfo=UTC))


def zeek(name: str, rewrite: dict[str, Any] | None = None) -> list[Event]:
    parser = ZeekParser()
    out = []
    with gzip.open(NETWORK / name, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if rewrite is not None and line.startswith("{"):
                doc = json.loads(line)
                doc.update({"id.orig_h": HOST, "ts": doc["ts"] + rewrite["shift"]})
                line = json.dumps(doc)
            event = parser.parse(line.rstrip("\n"))
            if event is not None:
                event["event"]["id"] = f"{name}-{i}"
                out.append(event)
    return out


@pytest.fixture(scope="module")
def day() -> list[Event]:
    return zeek("zeek_conn_ctu-normal-40_day1.labeled.log.gz")


@pytest.fixture(scope="module")
def scan() -> list[Event]:
    """The nmap capture's flows, sent by the benign host at 09:00 of its day."""
    with gzip.open(NETWORK / "zeek_conn_nmap-scans.labeled.jsonl.gz", "rt") as f:
        first = json.loads(f.readline())["ts"]
    at = datetime(2022, 6, 13, 9, 0, tzinfo=UTC).timestamp()
    return zeek("zeek_conn_nmap-scans.labeled.jsonl.gz", {"shift": at - first})


def detector(state: MemoryState | None = None) -> VolumeAnomaly:
    d = VolumeAnomaly(Settings())
    if state is not None:
        d.state = state
    return d


def test_registered() -> None:
    assert detectors.get("anomaly.volume") is VolumeAnomaly


def test_normal_day_raises_nothing_and_the_scan_is_found(tmp_path: Path, day: list[Event],
                                                         scan: list[Event]) -> None:
    store = EmbeddedEventStore(tmp_path / "events.sqlite3")
    store.write(day)
    state = MemoryState()
    assert detector(state).hunt(store, *DAY) == []
    saved = state.baseline("anomaly.volume", f"host:{HOST}")
    assert saved is not None and len(saved["windows"]) >= 200  # the host's day of windows is kept
    store.write(scan)
    hits = detector(state).hunt(store, *DAY)
    assert [h.group_key for h in hits] == [f"host|{HOST}"]
    hit = hits[0]
    assert hit.first_seen >= datetime(2022, 6, 13, 9, 0, tzinfo=UTC)
    assert hit.last_seen <= datetime(2022, 6, 13, 12, 0, tzinfo=UTC)
    features = {f["name"]: f for f in hit.explanation["features"]}
    assert features["z"]["value"] >= 6
    assert features["connections"]["value"] > 10 * features["connections"]["baseline"]
    assert features["destinations"]["value"] > features["destinations"]["baseline"]
    chart = hit.explanation["chart"]
    assert chart["kind"] == "line" and len(chart["labels"]) == len(chart["values"]) == len(chart["band_high"])
    assert max(chart["values"]) > chart["band_high"][0] >= chart["band_low"][0] >= 0
    assert all(e["source"]["ip"] == HOST for e in store.get(hit.event_ids))


def test_robust_scores_on_hand_made_windows() -> None:
    steady = pd.DataFrame({"bytes_out": [1000.0 + i for i in range(50)], "connections": [10.0] * 50,
                           "destinations": [3.0] * 50, "ports": [2.0] * 50})
    windows = pd.DataFrame({"bytes_out": [1020.0, 2_000_000.0, 0.0], "connections": [11.0, 10.0, 0.0],
                            "destinations": [3.0, 3.0, 0.0], "ports": [2.0, 2.0, 0.0]})
    z = robust_scores(steady, windows)["z"].tolist()
    assert z[0] < 1 and z[1] > 6 and z[2] == 0  # a spike counts, a quiet window does not


def test_organisation_scope_and_short_histories(tmp_path: Path) -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)

    def flow(i: int, minutes: int, src: str, dst: str, sent: int) -> Event:
        return {"@timestamp": (t0 + timedelta(minutes=minutes)).isoformat(), "event": {"id": f"f{i}",
                "category": ["network"]}, "organization": {"name": "Ministry"},
                "source": {"ip": src, "bytes": sent}, "destination": {"ip": dst, "port": 443}}

    store = EmbeddedEventStore(tmp_path / "o.sqlite3")
    events = [flow(i, i * 5, f"10.0.0.{i % 7}", "192.0.2.1", 500) for i in range(288)]
    events += [flow(1000 + j, 12 * 60 + 1, "10.0.0.9", f"198.51.100.{j}", 10**9) for j in range(40)]
    store.write(events)
    keys = {h.group_key for h in VolumeAnomaly(Settings()).hunt(store, t0, t0 + timedelta(days=1))}
    # the organisation's 13:00 window is raised; 10.0.0.9 has one window only: no baseline to compare with
    assert keys == {"organization|Ministry"}


def test_hostile_values_do_not_crash(tmp_path: Path) -> None:
    store = EmbeddedEventStore(tmp_path / "h.sqlite3")
    values: list[Any] = [None, -5, 2**63 - 1, 1.5e308, "NaN", "inf", True, "", "x" * 5000, ["a"], {"b": 1}]
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    store.write([{"@timestamp": (t0 + timedelta(minutes=5 * i)).isoformat(),
                  "event": {"id": f"h{i}", "category": ["network"]}, "organization": {"name": v},
                  "source": {"ip": v if i % 2 else "10.0.0.1", "bytes": v},
                  "destination": {"ip": v, "port": v}} for i, v in enumerate(values * 5)])
    d = VolumeAnomaly(replace(Settings(), anomaly_volume_min_history=2))
    for h in d.hunt(store, t0, t0 + timedelta(days=1)):
        assert 0 <= h.explanation["score"] <= 1
