"""The detection run: the registered detectors over the events ingested since the last run.

Detectors are plug-ins (``cert.core.contracts.Detector``, registered with ``@detectors.register``).
``run_detection`` feeds it the events ingested since the last run
and turns its hits into alerts (with suppression, see :mod:`cert.detection.alerts`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from cert.core.config import Settings
from cert.core.contracts import Detector, Event, Hit, RuleOverrides, detectors
from cert.core.ecs import get, parse_ts
from cert.detection import alerts
from cert.detection import overrides as rules
from cert.detection.pool import detect_parallel
from cert.runtime.platform import Platform
from cert.storage.events import EventQuery
from cert.storage.models import DetectionRun


@dataclass
class DetectionSummary:
    events: int
    hits: int
    alerts_new: int
    alerts_updated: int
    window_start: datetime | None
    window_end: datetime


def build_detectors(settings: Settings) -> list[Detector]:
    return [cls(settings) for cls in detectors]


def handling_exceptions(engines: Sequence[Detector]) -> set[str]:
    """The detectors that apply the analysts' exceptions themselves (before correlating)."""
    return {e.name for e in engines if e.handles_exceptions}


def detect_batch(engines: Sequence[Detector], events: Sequence[Event], overrides: RuleOverrides) -> list[Hit]:
    """Every detector's hits over one batch, with the analysts' current rule settings."""
    hits: list[Hit] = []
    for engine in engines:
        engine.configure(overrides)
        hits.extend(engine.detect(events))
    return hits


def alerts_for_batch(platform: Platform, engines: Sequence[Detector], events: Sequence[Event]) -> alerts.Raised:
    """Detect over one batch and raise its alerts (``cert ingest --detect``, ``cert listen``)."""
    overrides = rules.current_overrides(platform.db)
    hits = detect_batch(engines, events, overrides)
    with platform.db.session() as s:
        return alerts.raise_alerts(s, hits, overrides, events=events, handled=handling_exceptions(engines),
                                   suppression_minutes=platform.settings.alert_suppression_minutes)


def run_detection(platform: Platform, batch_size: int = 5000, workers: int = 1, *,
                  engines: Sequence[Detector] | None = None, since: datetime | None = None,
                  until: datetime | None = None, everything: bool = False) -> DetectionSummary:
    """Run every detector over the events ingested since the previous run; record the run.

    A re-run (``everything``, or ``since``/``until``: a range of the events' own time, start
    inclusive, end exclusive) also examines the stored events of that range, whenever they were
    ingested; the events ingested since the previous run are examined as usual, so the next run
    starts where this one ended. A re-run raises only what no alert reported already: a (rule,
    event) pair in the evidence of an alert of the rule, whatever its status, is dropped
    (``unreported``).

    Events are read from the store in time order, a chunk at a time (``EventStore.scan``), so
    memory holds one chunk however long the window. With ``workers`` > 1, the pure matching of
    parallel detectors runs in that many processes (``cert.detection.pool``); the hits are the same."""
    now = datetime.now(UTC)
    rerun = everything or since is not None or until is not None
    with platform.db.session() as s:
        last = s.scalar(
            select(DetectionRun).where(DetectionRun.status == "done").order_by(DetectionRun.id.desc()).limit(1)
        )
        start = last.window_end if last else None
        run = DetectionRun(window_start=start, window_end=now)
        s.add(run)
        s.flush()
        run_id = run.id
    platform.events.refresh()
    engines = list(engines) if engines is not None else build_detectors(platform.settings)
    queries = [EventQuery(ingested_after=start, ingested_until=now, oldest_first=True)]
    if rerun:
        # the range first; then the window's events outside it (none with ``everything``)
        queries = [EventQuery(start=since, end=until, ingested_until=now, oldest_first=True)]
        if not everything:
            queries.append(EventQuery(ingested_after=start, ingested_until=now, oldest_first=True))
    chunk = batch_size * (4 * workers if workers > 1 else 1)
    events_seen = 0
    handled = handling_exceptions(engines)
    screened: list[Hit] = []
    for number, query in enumerate(queries):
        outside = _outside(since, until) if number else None
        for events in platform.events.scan(query, chunk):
            if outside is not None:
                events = [e for e in events if outside(e)]
            screened.extend(_detect_chunk(platform, engines, events, batch_size, workers, handled))
            events_seen += len(events)
            del events  # the next page is read without this one alive
    # one transaction for the run's alerts: a run that fails leaves none behind, and its rerun
    # (the window starts at the last run done) raises them once
    with platform.db.session() as s:
        raised = alerts.raise_alerts(s, screened, rules.current_overrides(platform.db), handled=handled,
                                     suppression_minutes=platform.settings.alert_suppression_minutes,
                                     keep=alerts.unreported if rerun else None)
    with platform.db.session() as s:
        run = s.get_one(DetectionRun, run_id)
        run.events, run.hits, run.alerts_new = events_seen, len(raised.hits), raised.new
        run.finished_at = datetime.now(UTC)
        run.status = "done"
    return DetectionSummary(events_seen, len(raised.hits), raised.new, raised.updated, start, now)


def _detect_chunk(platform: Platform, engines: Sequence[Detector], events: Sequence[Event], batch_size: int,
                  workers: int, handled: set[str]) -> list[Hit]:
    """The screened hits of one page of events, in batches (in ``workers`` processes when > 1)."""
    overrides = rules.current_overrides(platform.db)
    batches: Iterable[tuple[Sequence[Event], list[Hit]]]
    if workers > 1 and len(events) > batch_size:
        batches = detect_parallel(engines, events, overrides, batch_size, workers)
    else:
        batches = ((batch, detect_batch(engines, batch, overrides))
                   for batch in (events[i : i + batch_size] for i in range(0, len(events), batch_size)))
    screened: list[Hit] = []
    for batch, hits in batches:
        screened.extend(rules.apply_overrides(hits, overrides, batch, handled))
    return screened


def _outside(since: datetime | None, until: datetime | None) -> Callable[[Event], bool]:
    """Whether an event's time is outside [since, until) (an event without a valid time is)."""

    def outside(event: Event) -> bool:
        try:
            at = parse_ts(str(get(event, "@timestamp")))
        except ValueError:
            return True
        return (since is not None and at < since) or (until is not None and at >= until)

    return outside


def sigma_rule_count(engines: Sequence[Detector]) -> int:
    """How many Sigma rules (correlations included) the detectors loaded (read from the loaded
    rule set: ``summary`` walks the rule trees again)."""
    ruleset: Any = next((getattr(e, "ruleset", None) for e in engines if e.name == "sigma"), None)
    return 0 if ruleset is None else len(ruleset.rules) + len(ruleset.correlations)
