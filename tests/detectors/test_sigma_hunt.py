"""Scheduled hunts: the same Sigma rules as Elasticsearch queries (pySigma's Lucene backend)
raise the same alerts as streaming detection on the same events; hunt windows overlap without
alerting twice, are recorded, and gaps show."""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support import corpora_dir

from cert.core.config import Settings
from cert.core.ecs import get, parse_ts
from cert.core.registry import load_plugins
from cert.detection.hunts import gaps, parse_duration, run_hunts
from cert.pipeline.ingestor import Ingestor
from cert.runtime.platform import Platform
from cert.storage.models import Alert
from cert.storage.models.rules import HuntRun
from detectors.sigma.detector import SigmaDetector

load_plugins(["ingest.parsers", "detectors"])
SIGMA = corpora_dir() / "sigma"


def _regression_rule_files() -> list[str]:
    wanted = set()
    for info in (SIGMA / "regression_data").glob("**/info.yml"):
        m = re.search(r"rule_metadata:\s*\n\s*- id: ([0-9a-f-]+)", info.read_text(encoding="utf-8"))
        if m:
            wanted.add(m.group(1))
    files = []
    for tree in ("rules", "rules-emerging-threats", "rules-threat-hunting"):
        for f in (SIGMA / tree).rglob("*.yml"):
            head = f.read_text(encoding="utf-8")[:400]
            m = re.search(r"^id: ([0-9a-f-]+)", head, re.M)
            if m and m.group(1) in wanted:
                files.append(str(f))
    return sorted(files)


def _ingest(p: Platform, samples: list[Path]) -> list[dict[str, Any]]:
    stored: list[dict[str, Any]] = []
    lock = threading.Lock()

    def keep(events: list[dict[str, Any]]) -> None:
        with lock:
            stored.extend(events)

    ingestor = Ingestor(p, "windows.evtx", on_batch=keep)
    for path in samples:
        ingestor.ingest(ingestor.parser.read(str(path)), source=str(path))
    p.events.refresh()
    return sorted(stored, key=lambda e: (str(get(e, "@timestamp")), str(get(e, "event.id"))))


def _by_rule(hits: list[Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for h in hits:
        out.setdefault(h.rule_id, set()).update(h.event_ids)
    return out


@pytest.mark.elasticsearch
def test_hunts_in_elasticsearch_raise_what_streaming_raises(es_url: str, tmp_path: Path) -> None:
    if not (SIGMA / "rules").is_dir():
        pytest.skip("SigmaHQ corpus not found")
    builtin = SIGMA / "rules" / "windows" / "builtin" / "security"
    rule_files = [f for f in _regression_rule_files() if not f.startswith(str(builtin))] + [str(builtin)]
    settings = replace(Settings(), data_dir=tmp_path / "d", secret_key="x", elasticsearch_url=es_url,
                       index_prefix=f"hunt{uuid.uuid4().hex[:8]}", sigma_paths=tuple(rule_files))
    p = Platform(settings)
    p.db.upgrade()
    try:
        samples = sorted((SIGMA / "regression_data").rglob("*.evtx"))
        samples += sorted((corpora_dir() / "evtx").rglob("*.evtx"))[::8]  # an eighth of the attack corpus
        events = _ingest(p, samples)
        assert len(events) > 600
        det = SigmaDetector(settings)
        assert len(det.rules) > 250 and not det.rejected
        streaming = _by_rule(det.detect(events) + det.flush())
        start = parse_ts(str(get(events[0], "@timestamp")))
        end = parse_ts(str(get(events[-1], "@timestamp"))) + timedelta(seconds=1)
        hunted = _by_rule(SigmaDetector(settings).hunt(p.events, start, end))
        from detectors.sigma.hunt import plan_for

        plan = plan_for(det._compiled)
        assert plan.converted > 0.8 * (plan.converted + plan.by_logsource)  # most rules run as real queries
        assert len(streaming) > 50  # many rules fire on these samples
        assert hunted == streaming
    finally:
        p.close()


def test_scheduled_hunts_overlap_without_duplicates_and_record_windows(settings: Settings, tmp_path: Path) -> None:
    rules = tmp_path / "r" / "sigma"
    rules.mkdir(parents=True)
    (rules / "t.yml").write_text("""title: Payment Portal Admin Page Access
id: 7a1d6c4e-52f7-4f0e-9a3b-0c6f5b2e9d11
logsource:
  category: webserver
detection:
  sel:
    cs-uri-stem|startswith: '/admin'
  condition: sel
level: medium
""", encoding="utf-8")
    p = Platform(replace(settings, rules_dir=tmp_path / "r"))
    p.db.upgrade()
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    events = []
    for i, minutes in enumerate((1, 4, 7, 12)):
        ts = (now - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
        events.append({"@timestamp": ts, "event": {"id": f"h{i}", "category": ["web"], "dataset": "web.access"},
                       "url": {"path": f"/admin/page{i}"}, "source": {"ip": "198.51.100.9"}})
    p.events.write(events)
    p.events.refresh()
    engines = [SigmaDetector(p.settings)]
    first = run_hunts(p, parse_duration("9m"), now=now, engines=engines)
    assert [(r.status, r.hits > 0, r.events) for r in first] == [("done", True, 3)]  # 1, 4 and 7 min ago
    again = run_hunts(p, parse_duration("9m"), now=now + timedelta(minutes=5), engines=engines)
    assert again[0].events == 0 and again[0].alerts_new == 0  # the overlap is not reported twice
    late = run_hunts(p, parse_duration("9m"), now=now + timedelta(minutes=30), engines=engines)
    assert late[0].status == "done"
    with p.db.session() as s:
        holes = gaps(s)
        runs = s.query(HuntRun).count()
        alerts = s.query(Alert).filter(Alert.rule_id == "7a1d6c4e-52f7-4f0e-9a3b-0c6f5b2e9d11").all()
    assert runs == 3 and len(holes) == 1  # 12:05 -> 12:21 was not covered
    assert holes[0][0] == now + timedelta(minutes=5) and holes[0][1] == now + timedelta(minutes=21)
    assert sum(a.count for a in alerts) == 3
    rerun = run_hunts(p, parse_duration("9m"), now=now + timedelta(minutes=31), engines=engines, rerun_gaps=True)
    assert len(rerun) == 2 and rerun[0].window_start == holes[0][0]
    with p.db.session() as s:
        assert gaps(s) == []
    p.close()
