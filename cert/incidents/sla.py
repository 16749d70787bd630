"""SLA clocks of incidents and alerts: time to acknowledge, to contain and to resolve, with targets
per severity (``Settings.sla_*_minutes``).

Every clock starts when the incident was opened (the alert raised: ``created_at``) and is due
its severity's target later. It stops when its step is recorded; a later step stops it too (an
incident contained was acknowledged; one closed was contained as far as the SLA goes):

- acknowledge: ``acknowledged_at``, else ``contained_at``, else ``closed_at``;
- contain: ``contained_at``, else ``closed_at``;
- resolve: ``closed_at``.

An alert has the acknowledge (``acknowledged_at``, else ``closed_at``) and resolve (``closed_at``)
clocks. A clock is **met** when it stopped at or before its due time, **breached** when it
stopped after it, **running** while it has not stopped and its due time has not passed, and
**overdue** once it has passed without the clock stopping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cert.core.config import SLA_SEVERITIES, Settings
from cert.storage.models import Alert, Case

ClockName = Literal["acknowledge", "contain", "resolve"]
State = Literal["met", "breached", "running", "overdue"]
CLOCKS: tuple[ClockName, ...] = ("acknowledge", "contain", "resolve")
ALERT_CLOCKS: tuple[ClockName, ...] = ("acknowledge", "resolve")
STATES: tuple[State, ...] = ("met", "breached", "running", "overdue")
#: the severity whose targets apply to a severity the settings do not know
FALLBACK_SEVERITY = "medium"


def aware(moment: datetime) -> datetime:
    """``moment`` with a time zone: a naive value (SQLite gives them back so) is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _maybe(moment: datetime | None) -> datetime | None:
    return None if moment is None else aware(moment)


def _first(*moments: datetime | None) -> datetime | None:
    return next((aware(m) for m in moments if m is not None), None)


@dataclass(frozen=True)
class SlaPolicy:
    """The targets of each clock per severity."""

    targets: Mapping[ClockName, Mapping[str, timedelta]]

    @classmethod
    def from_settings(cls, settings: Settings) -> SlaPolicy:
        def table(minutes: Mapping[str, int]) -> dict[str, timedelta]:
            return {sev: timedelta(minutes=m) for sev, m in minutes.items()}

        return cls({"acknowledge": table(settings.sla_acknowledge_minutes),
                    "contain": table(settings.sla_contain_minutes),
                    "resolve": table(settings.sla_resolve_minutes)})

    def target(self, clock: ClockName, severity: str) -> timedelta:
        """The target of ``clock`` for ``severity`` (the medium one for an unknown severity)."""
        per_severity = self.targets[clock]
        return per_severity.get(severity) or per_severity[FALLBACK_SEVERITY]

    def severities(self) -> tuple[str, ...]:
        return SLA_SEVERITIES


@dataclass(frozen=True)
class ClockStatus:
    """One clock: when it started, when it is due, when it stopped (if it did), how long it ran
    (until it stopped, or until ``now``) and its state."""

    clock: ClockName
    target: timedelta
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    elapsed: timedelta
    state: State

    @property
    def remaining(self) -> timedelta | None:
        """How long is left before the due time (negative once overdue); None once stopped."""
        if self.stopped_at is not None:
            return None
        return self.target - self.elapsed

    @property
    def late(self) -> bool:
        return self.state in ("breached", "overdue")


@dataclass(frozen=True)
class SlaStatus:
    """The clocks of one incident or alert, at ``now``."""

    severity: str
    now: datetime
    clocks: tuple[ClockStatus, ...]

    def clock(self, name: ClockName) -> ClockStatus | None:
        return next((c for c in self.clocks if c.clock == name), None)

    @property
    def overdue(self) -> bool:
        """Whether a clock is still running past its due time: something to do now."""
        return any(c.state == "overdue" for c in self.clocks)

    @property
    def breached(self) -> bool:
        """Whether a clock stopped or runs past its due time."""
        return any(c.late for c in self.clocks)


def clock_status(clock: ClockName, target: timedelta, started_at: datetime, stopped_at: datetime | None,
                 now: datetime) -> ClockStatus:
    """The state of a clock started at ``started_at`` with ``target``, stopped at ``stopped_at``."""
    start, now = aware(started_at), aware(now)
    due = start + target
    stop = _maybe(stopped_at)
    state: State
    if stop is not None:
        state = "met" if stop <= due else "breached"
        elapsed = stop - start
    else:
        state = "overdue" if now > due else "running"
        elapsed = now - start
    return ClockStatus(clock, target, start, due, stop, elapsed, state)


def stopped_at(case: Case, clock: ClockName) -> datetime | None:
    """When ``clock`` of the incident stopped (see the module's description), or None."""
    if clock == "acknowledge":
        return _first(case.acknowledged_at, case.contained_at, case.closed_at)
    if clock == "contain":
        return _first(case.contained_at, case.closed_at)
    return _maybe(case.closed_at)


def incident_sla(case: Case, policy: SlaPolicy, now: datetime | None = None) -> SlaStatus:
    """The acknowledge, contain and resolve clocks of an incident at ``now``."""
    now = aware(now or datetime.now(UTC))
    clocks = tuple(clock_status(c, policy.target(c, case.severity), case.created_at, stopped_at(case, c), now)
                   for c in CLOCKS)
    return SlaStatus(case.severity, now, clocks)


def alert_sla(alert: Alert, policy: SlaPolicy, now: datetime | None = None) -> SlaStatus:
    """The acknowledge and resolve clocks of an alert at ``now``."""
    now = aware(now or datetime.now(UTC))
    stops: dict[ClockName, datetime | None] = {"acknowledge": _first(alert.acknowledged_at, alert.closed_at),
                                               "resolve": _maybe(alert.closed_at)}
    clocks = tuple(clock_status(c, policy.target(c, alert.severity), alert.created_at, stops[c], now)
                   for c in ALERT_CLOCKS)
    return SlaStatus(alert.severity, now, clocks)
