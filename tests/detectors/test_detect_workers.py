"""``cert detect --workers N``: the matching of the parallel detectors (Sigma, indicators) runs in
forked worker processes, and the alerts are exactly those of one process, correlations across
batch boundaries included."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from support import corpora_dir

from cert.core.config import Settings
from cert.core.contracts import Detector, Hit, RuleOverrides
from cert.core.ecs import Event, get
from cert.core.errors import DetectionWorkerDied
from cert.core.registry import load_plugins
from cert.detection.pool import detect_parallel
from cert.detection.run import run_detection
from cert.pipeline.ingestor import Ingestor
from cert.runtime.platform import Platform
from cert.storage.events import EventQuery
from cert.storage.models import Alert

load_plugins(["ingest.parsers", "detectors"])

EVTX = corpora_dir() / "evtx" / "evtx-to-mitre-attack"
SIGMA = corpora_dir() / "sigma" / "rules" / "windows" / "process_creation"


def _platform(root: Path) -> Platform:
    settings = replace(Settings(), data_dir=root / "data", secret_key="x", sigma_paths=(str(SIGMA),))
    p = Platform(settings)
    p.db.upgrade()
    return p


def _ingest(p: Platform) -> int:
    from cert.demo import ingest_scenario

    ingest_scenario(p)
    for path in sorted(EVTX.rglob("*.evtx")):
        Ingestor(p, "windows.evtx").ingest_file(str(path))
    p.events.refresh()
    return p.events.count()


def _indicators(p: Platform, csv: Path) -> None:
    from cert.detection.indicators.formats import Defaults, load

    with p.db.session() as s:
        load(s, csv, "partner-cert", Defaults())


def _alerts(p: Platform) -> list[tuple[Any, ...]]:
    with p.db.session() as s:
        rows = s.scalars(select(Alert)).all()
        return sorted((a.rule_id, a.severity, a.group_key, a.count, tuple(sorted(a.event_ids)),
                       bool(a.entities.get("indicator"))) for a in rows)


@pytest.fixture
def twins(tmp_path: Path) -> Iterator[tuple[Platform, Platform]]:
    if not SIGMA.is_dir() or not EVTX.is_dir():
        pytest.skip(f"corpora not found under {corpora_dir()}")
    one, two = _platform(tmp_path / "one"), _platform(tmp_path / "two")
    yield one, two
    one.close()
    two.close()


def test_two_workers_give_the_alerts_of_one_process(twins: tuple[Platform, Platform], tmp_path: Path) -> None:
    one, two = twins
    # indicators: the addresses of the demo's web attacker and SSH brute-forcer (a partner's feed)
    n_one, n_two = _ingest(one), _ingest(two)
    assert n_one == n_two > 5000
    web = EventQuery(terms={"event.dataset": ["web.access"]}, limit=100_000)
    seen = sorted({str(get(e, "source.ip")) for e in one.events.search(web) if get(e, "source.ip")})
    csv = tmp_path / "feed.csv"
    csv.write_text("type,value,confidence\n" + "".join(f"ip,{ip},80\n" for ip in seen[:3]) + "ip,203.0.113.250,80\n")
    _indicators(one, csv)
    _indicators(two, csv)

    sequential = run_detection(one, batch_size=300)
    parallel = run_detection(two, batch_size=300, workers=2)

    assert parallel.events == sequential.events == n_one
    assert parallel.hits == sequential.hits
    got, want = _alerts(two), _alerts(one)
    assert got == want
    rules = {a[0] for a in want}
    assert any(r.startswith("indicator:") for r in rules)  # indicator hits, with provenance
    assert any(a[5] for a in want)
    assert len(rules) >= 5  # SigmaHQ process-creation rules and our own (brute force: a correlation)
    assert any(a[3] > 1 for a in want)


class _Marked(Detector):
    """A parallel detector over synthetic events: a hit per event whose ``marked`` is set; an event
    whose ``die`` is set kills the worker process that matches it."""

    name = "test-marked"
    parallel = True

    def detect(self, events: Sequence[Event]) -> list[Hit]:
        return self.conclude(events, self.match(events))

    def match(self, events: Sequence[Event]) -> list[int]:
        if any(e.get("die") for e in events):
            os.kill(os.getpid(), signal.SIGKILL)
        return [i for i, e in enumerate(events) if e.get("marked")]

    def conclude(self, events: Sequence[Event], matched: list[int]) -> list[Hit]:
        now = datetime.now(UTC)
        return [Hit(f"marked-{events[i]['n']}", "marked", "low", self.name, (str(events[i]["n"]),), now, now)
                for i in matched]


def _events(n: int, die_at: int | None = None) -> list[Event]:
    return [{"n": i, "marked": i % 7 == 0, **({"die": True} if i == die_at else {})} for i in range(n)]


@pytest.mark.timeout(60)
def test_the_worker_pool_opens_and_closes_many_times_without_hanging() -> None:
    engines = [_Marked(Settings())]
    events = _events(400)
    want = sorted(f"marked-{i}" for i in range(0, 400, 7))
    deadline = time.monotonic() + 8
    runs = 0
    while runs < 60 and time.monotonic() < deadline:
        batches = detect_parallel(engines, events, RuleOverrides(), batch_size=50, workers=2)
        assert [len(batch) for batch, _ in batches] == [50] * 8
        assert sorted(h.rule_id for _, hits in batches for h in hits) == want
        runs += 1
    assert runs >= 10


@pytest.mark.timeout(60)
def test_a_worker_that_dies_ends_the_run_with_a_clear_error() -> None:
    engines = [_Marked(Settings())]
    started = time.monotonic()
    with pytest.raises(DetectionWorkerDied, match="worker process died"):
        detect_parallel(engines, _events(400, die_at=260), RuleOverrides(), batch_size=50, workers=2)
    assert time.monotonic() - started < 30
    # the pool is gone and the next run works
    batches = detect_parallel(engines, _events(100), RuleOverrides(), batch_size=50, workers=2)
    assert sum(len(hits) for _, hits in batches) == len(range(0, 100, 7))
