"""Scheduled hunts: the detectors' rules run over the event store on a schedule, the way a SIEM
runs its rules: every few minutes over a window that looks back further than the interval
(every 5 minutes, 9 minutes back), so late events are not missed.

Overlapping windows would alert twice: each (rule, event) pair already reported is remembered
(``HuntMatch``) and not reported again. Each run's window is recorded (``HuntRun``): a gap, when a
run was late or failed, shows in ``gaps`` and ``cert hunt --rerun-gaps`` runs it again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cert.core.anomaly import AnomalyDetector
from cert.core.contracts import Detector, Hit
from cert.core.errors import InvalidInput, StoreUnavailable
from cert.detection import alerts
from cert.detection import overrides as rules
from cert.detection.anomaly_state import DbAnomalyState
from cert.detection.run import build_detectors, handling_exceptions
from cert.runtime.platform import Platform
from cert.storage.models.rules import HuntMatch, HuntRun

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_GAP_RERUN = timedelta(days=7)  # older gaps are reported, not re-run automatically


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text)
    if not m or int(m.group(1)) == 0:
        raise InvalidInput(f"duration {text!r}: a number and s, m, h or d (e.g. 9m)")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


@dataclass
class HuntResult:
    window_start: datetime
    window_end: datetime
    status: str
    events: int = 0
    hits: int = 0
    alerts_new: int = 0
    error: str = ""


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def gaps(s: Session, since: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """Stretches of time no successful hunt covered, between the first run and the last one."""
    runs = list(s.scalars(select(HuntRun).where(HuntRun.status == "done").order_by(HuntRun.window_start)))
    out: list[tuple[datetime, datetime]] = []
    covered: datetime | None = None
    for r in runs:
        start, end = _aware(r.window_start), _aware(r.window_end)
        if covered is not None and start > covered and (since is None or start > since):
            out.append((max(covered, since) if since else covered, start))
        covered = end if covered is None else max(covered, end)
    return out


def _new_only(s: Session, hits: list[Hit], events_at: dict[str, datetime]) -> list[Hit]:
    """Drop the (rule, event) pairs an earlier hunt reported; remember the new ones."""
    out: list[Hit] = []
    for hit in hits:
        known = set(s.scalars(select(HuntMatch.event_id).where(HuntMatch.rule_id == hit.rule_id,
                                                                HuntMatch.event_id.in_(hit.event_ids))))
        fresh = [e for e in hit.event_ids if e not in known]
        if not fresh:
            continue
        for e in fresh:
            s.add(HuntMatch(rule_id=hit.rule_id, event_id=e, seen_at=events_at.get(e, hit.last_seen)))
        s.flush()
        out.append(hit if len(fresh) == len(hit.event_ids) else _narrow(hit, fresh))
    return out


def _narrow(hit: Hit, ids: list[str]) -> Hit:
    from dataclasses import replace

    return replace(hit, event_ids=tuple(ids), count=len(ids))


def hunt_window(p: Platform, engines: list[Detector], start: datetime, end: datetime,
                lookback: timedelta) -> HuntResult:
    with p.db.session() as s:
        run = HuntRun(window_start=start, window_end=end)
        s.add(run)
        s.flush()
        run_id = run.id
    result = HuntResult(start, end, "done")
    try:
        overrides = rules.current_overrides(p.db)
        hits: list[Hit] = []
        for engine in engines:
            engine.configure(overrides)
            if isinstance(engine, AnomalyDetector):  # its baselines and benign marks: in the database
                engine.state = DbAnomalyState(p.db)
            found = engine.hunt(p.events, start, end)
            if found is not None:
                hits.extend(found)
        times = {i: h.last_seen for h in hits for i in h.event_ids}
        with p.db.session() as s:
            raised = alerts.raise_alerts(s, hits, overrides, handled=handling_exceptions(engines),
                                         suppression_minutes=p.settings.alert_suppression_minutes,
                                         keep=lambda s, kept: _new_only(s, kept, times))
            s.execute(delete(HuntMatch).where(HuntMatch.seen_at < end - max(2 * lookback, timedelta(days=1))))
            result.hits, result.alerts_new = len(raised.hits), raised.new
            result.events = len({i for h in raised.hits for i in h.event_ids})
    except StoreUnavailable as exc:
        result.status, result.error = "failed", str(exc)
    with p.db.session() as s:
        run = s.get_one(HuntRun, run_id)
        run.status, run.error = result.status, result.error[:2000]
        run.rules, run.events, run.hits, run.alerts_new = len(engines), result.events, result.hits, result.alerts_new
        run.finished_at = datetime.now(UTC)
    return result


def run_hunts(p: Platform, lookback: timedelta, rerun_gaps: bool = False, now: datetime | None = None,
              engines: list[Detector] | None = None) -> list[HuntResult]:
    """One scheduled run: the gaps first when asked, then [now - lookback, now)."""
    now = now or datetime.now(UTC)
    engines = engines if engines is not None else build_detectors(p.settings)
    windows: list[tuple[datetime, datetime]] = []
    if rerun_gaps:
        with p.db.session() as s:
            windows.extend(gaps(s, since=now - MAX_GAP_RERUN))
    windows.append((now - lookback, now))
    p.events.refresh()
    return [hunt_window(p, engines, start, end, lookback) for start, end in windows]


def recent_runs(s: Session, limit: int = 50) -> list[HuntRun]:
    return list(s.scalars(select(HuntRun).order_by(HuntRun.id.desc()).limit(limit)))
