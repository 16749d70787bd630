"""Anomaly detectors run by ``cert hunt`` on both stores: a detector of this file (registered for
the test) reads aggregates, keeps a baseline in the database that a restart does not forget, and
its alert carries the explanation, replaced by the latest run's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from cert.cli import main
from cert.core.aggregate import AggregateQuery, Metric
from cert.core.anomaly import AnomalyDetector, Finding
from cert.core.config import load_settings
from cert.core.contracts import detectors
from cert.core.ecs import format_ts
from cert.core.event_store import EventStore
from cert.runtime.platform import Platform
from cert.storage.models import Alert, AnomalyBaseline, AnomalyBenign

NOW = datetime.now(UTC).replace(microsecond=0)


class BusyPair(AnomalyDetector):
    """A pair of hosts with more connections than any other pair of the window."""

    name = "anomaly.test-busy-pair"
    rule_id = "vigie-anomaly-test-busy-pair"
    title = "Busy pair"
    lookback = timedelta(hours=2)

    def find(self, store: EventStore, start: datetime, end: datetime) -> list[Finding]:
        q = AggregateQuery(start, end, group=("source.ip", "destination.ip"), bucket_seconds=60,
                           metrics=(Metric("conns", "count"), Metric("sent", "sum", "source.bytes")))
        parts = list(store.aggregate(q))
        if not parts:
            return []
        rows = pd.concat(parts, ignore_index=True)
        pairs = rows.groupby(["source.ip", "destination.ip"]).agg(conns=("conns", "sum"), sent=("sent", "sum"),
                                                                  first=("bucket", "min"), last=("bucket", "max"))
        top = pairs["conns"].max()
        findings = []
        for (src, dst), pair in pairs.iterrows():
            key = f"{src}->{dst}"
            before = self.state.baseline(self.name, key)
            self.state.save_baseline(self.name, key, {"runs": (before or {}).get("runs", 0) + 1,
                                                      "conns": int(pair["conns"])})
            if pair["conns"] < top or top < 10:
                continue
            findings.append(Finding(
                key=key, score=0.9, first_seen=pair["first"].to_pydatetime(),
                last_seen=pair["last"].to_pydatetime() + timedelta(seconds=59),
                terms={"source.ip": str(src), "destination.ip": str(dst)}, subject=key,
                explanation={"features": [{"name": "conns", "label": "Connections", "value": int(pair["conns"]),
                                           "baseline": (before or {}).get("conns"), "unit": ""}],
                             "chart": {"kind": "bar", "title": "Connections", "labels": ["pair"],
                                       "values": [int(pair["conns"])]}}))
        return findings


@pytest.fixture
def registered() -> Iterator[None]:
    detectors.register(BusyPair)
    yield
    detectors._items.pop(BusyPair.name, None)


def conn(i: int, src: str, dst: str, minutes_ago: float) -> dict[str, Any]:
    return {"@timestamp": format_ts(NOW - timedelta(minutes=minutes_ago)),
            "event": {"id": f"busy-{uuid.uuid4().hex}-{i}", "dataset": "zeek.connection", "kind": "event"},
            "source": {"ip": src, "bytes": 100 + i}, "destination": {"ip": dst, "port": 443}}


def events(batch: int) -> list[dict[str, Any]]:
    busy = [conn(i, "10.0.0.5", "203.0.113.9", 60 - i * 1.5 - batch * 0.3) for i in range(30)]
    quiet = [conn(100 + i, "10.0.0.6", f"198.51.100.{i}", 50 - i) for i in range(5)]
    return busy + quiet


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    for name in ("CERT_ELASTICSEARCH_URL", "CERT_DATABASE_URL", "CERT_REDIS_URL", "CERT_SIGMA_PATHS"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "elasticsearch":
        monkeypatch.setenv("CERT_ELASTICSEARCH_URL", request.getfixturevalue("es_url"))
        monkeypatch.setenv("CERT_INDEX_PREFIX", f"an{uuid.uuid4().hex[:8]}")
    return ["--data-dir", str(tmp_path / "data")]


def platform(args: list[str]) -> Platform:
    from dataclasses import replace

    p = Platform(replace(load_settings(None), data_dir=Path(args[1])))
    p.db.upgrade()
    return p


def test_cert_hunt_runs_anomaly_detectors_with_state_in_the_database(registered: None, cli_env: list[str],
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    p = platform(cli_env)
    p.events.write(events(0))
    p.events.refresh()
    p.close()
    assert main([*cli_env, "hunt", "--lookback", "9m"]) == 0
    assert "new alerts" in capsys.readouterr().out  # its own, and those of the shipped detectors
    p = platform(cli_env)
    with p.db.session() as s:
        alert = s.scalars(select(Alert).where(Alert.rule_id == BusyPair.rule_id)).one()
        assert alert.rule_title == "Busy pair: 10.0.0.5->203.0.113.9"
        assert alert.explanation["score"] == 0.9 and alert.explanation["chart"]["values"] == [30]
        assert alert.explanation["features"][0]["baseline"] is None and alert.count == 20
        assert s.get_one(AnomalyBaseline, (BusyPair.name, "10.0.0.5->203.0.113.9")).data == {"runs": 1, "conns": 30}
        assert len(list(s.scalars(select(AnomalyBaseline).where(AnomalyBaseline.detector == BusyPair.name)))) == 6
    # more connections of the pair; a new process (new Platform) remembers the first run's baseline
    p.events.write(events(1))
    p.events.refresh()
    p.close()
    assert main([*cli_env, "hunt", "--lookback", "9m"]) == 0
    p = platform(cli_env)
    with p.db.session() as s:
        alert = s.scalars(select(Alert).where(Alert.rule_id == BusyPair.rule_id)).one()
        assert alert.explanation["features"][0] == {"name": "conns", "label": "Connections", "value": 60,
                                                    "baseline": 30, "unit": ""}
        assert alert.explanation["chart"]["values"] == [60]
        assert s.get_one(AnomalyBaseline, (BusyPair.name, "10.0.0.5->203.0.113.9")).data == {"runs": 2, "conns": 60}
        # a benign mark of the pair: the next run reports nothing of it
        s.add(AnomalyBenign(detector=BusyPair.name, key="10.0.0.5->203.0.113.9", reason="backup", created_by="t"))
        alert.status = "closed"
    p.events.write(events(2))
    p.events.refresh()
    p.close()
    assert main([*cli_env, "hunt", "--lookback", "9m"]) == 0
    capsys.readouterr()
    p = platform(cli_env)
    with p.db.session() as s:
        assert len(list(s.scalars(select(Alert).where(Alert.rule_id == BusyPair.rule_id)))) == 1
    p.close()
