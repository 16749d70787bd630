"""``cert detect --all`` / ``--since``: detection runs again over events examined before, on both
event stores. A rule added since finds its alerts in old events; what an alert already reported
(open, or closed by an analyst, beyond the evidence an alert keeps too) is not reported again; and
the next ordinary run still starts where the re-run ended."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from support import corpora_dir

from cert.core.config import Settings
from cert.core.registry import load_plugins
from cert.detection.run import run_detection
from cert.pipeline.ingestor import Ingestor
from cert.runtime.platform import Platform
from cert.storage.models import Alert

load_plugins(["ingest.parsers", "detectors"])

EVTX = corpora_dir() / "evtx" / "evtx-to-mitre-attack"
FOLDERS = ("TA0006-Credential Access", "TA0007-Discovery")

SECURITY = """title: Any Security Log Event
id: 5d8a3c1e-0b7f-4e2a-9c61-3f0e2d4b7a10
level: low
logsource:
  product: windows
detection:
  sel:
    Channel: Security
  condition: sel
"""

SYSMON_PROCESS = """title: Any Sysmon Process Creation
id: 9e2f4b6a-1c3d-4e5f-8a7b-6c5d4e3f2a1b
level: medium
logsource:
  product: windows
detection:
  sel:
    Channel: Microsoft-Windows-Sysmon/Operational
    EventID: 1
  condition: sel
"""


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    if not EVTX.is_dir():
        pytest.skip(f"corpora not found under {corpora_dir()}")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "security.yml").write_text(SECURITY)
    settings = replace(Settings(), data_dir=tmp_path / "data", secret_key="x", sigma_paths=(str(rules),))
    if request.param == "elasticsearch":
        settings = replace(settings, elasticsearch_url=request.getfixturevalue("es_url"),
                           index_prefix=f"rerun{uuid.uuid4().hex[:8]}")
    p = Platform(settings)
    p.db.upgrade()
    for folder in FOLDERS:
        for path in sorted((EVTX / folder).rglob("*.evtx")):
            Ingestor(p, "windows.evtx").ingest_file(str(path))
    p.events.refresh()
    yield p
    p.close()


def _alerts(p: Platform, rule_id: str | None = None) -> dict[int, tuple[Any, ...]]:
    with p.db.session() as s:
        q = select(Alert) if rule_id is None else select(Alert).where(Alert.rule_id == rule_id)
        return {a.id: (a.rule_id, a.status, a.count, tuple(a.event_ids), a.first_seen, a.last_seen)
                for a in s.scalars(q)}


def _rules_dir(p: Platform) -> Path:
    return Path(p.settings.sigma_paths[0])


def test_a_rerun_over_everything_reports_nothing_twice(platform: Platform) -> None:
    p = platform
    first = run_detection(p)
    before = _alerts(p)
    assert first.events == p.events.count() > 1000 and first.alerts_new == len(before) > 0
    # the evidence an alert keeps is bounded: some alerts count more events than they list
    assert any(count > len(ids) for _rule, _status, count, ids, _f, _l in before.values())
    with p.db.session() as s:
        closed = s.scalars(select(Alert).order_by(Alert.id).limit(1)).one()
        closed.status = "closed"
    before = _alerts(p)

    again = run_detection(p, everything=True)

    assert again.events == first.events  # every stored event examined again
    assert (again.alerts_new, again.alerts_updated) == (0, 0)
    assert _alerts(p) == before


def test_a_rule_added_later_fires_on_old_events_only_when_asked(platform: Platform) -> None:
    p = platform
    run_detection(p)
    (_rules_dir(p) / "sysmon.yml").write_text(SYSMON_PROCESS)
    ordinary = run_detection(p)
    assert ordinary.events == 0 and not _alerts(p, "9e2f4b6a-1c3d-4e5f-8a7b-6c5d4e3f2a1b")

    # a range of the events' own time: only the process creations of that range
    since, until = datetime(2021, 10, 1, tzinfo=UTC), datetime(2021, 12, 3, tzinfo=UTC)
    ranged = run_detection(p, since=since, until=until)
    found = _alerts(p, "9e2f4b6a-1c3d-4e5f-8a7b-6c5d4e3f2a1b")
    assert ranged.alerts_new == len(found) > 0 and 0 < ranged.events < p.events.count()
    assert all(since <= first.replace(tzinfo=UTC) and last.replace(tzinfo=UTC) < until
               for _r, _s, _c, _i, first, last in found.values())

    everything = run_detection(p, everything=True)
    widened = _alerts(p, "9e2f4b6a-1c3d-4e5f-8a7b-6c5d4e3f2a1b")
    assert everything.hits > 0 and len(widened) == len(found) + everything.alerts_new
    # the older process creations are reported (new alerts, or folded into the open alert of their host)
    assert any(first.replace(tzinfo=UTC) < since or last.replace(tzinfo=UTC) >= until
               for _r, _s, _c, _i, first, last in widened.values())
    assert sum(c for _r, _s, c, _i, _f, _l in widened.values()) > sum(c for _r, _s, c, _i, _f, _l in found.values())
    settled = _alerts(p)
    again = run_detection(p, everything=True)
    assert (again.alerts_new, again.alerts_updated) == (0, 0) and _alerts(p) == settled
    # the next ordinary run starts where the re-run ended
    assert run_detection(p).events == 0


def test_a_rerun_also_examines_what_was_ingested_since_the_last_run(platform: Platform) -> None:
    p = platform
    run_detection(p)
    extra = EVTX / "TA0008-Lateral Movement"
    for path in sorted(extra.rglob("*.evtx")):
        Ingestor(p, "windows.evtx").ingest_file(str(path))
    p.events.refresh()
    fresh = p.events.count()
    # a range that holds none of those events: they are examined all the same (the checkpoint moves)
    rerun = run_detection(p, since=datetime(2000, 1, 1, tzinfo=UTC), until=datetime(2000, 1, 2, tzinfo=UTC))
    assert rerun.events > 0 and rerun.events < fresh
    assert run_detection(p).events == 0
