"""Incident-handling metrics over a period: times to detect, acknowledge, contain and resolve
(mean and median), incidents opened and closed, SLA compliance per clock, alerts per day by
severity, open incidents per organisation, the rules that raised the most alerts, and the ATT&CK
techniques seen against those the active rules cover.

Every figure is an SQL aggregate (``GROUP BY``, ``count``, ``avg``) over a bounded period, on
indexed columns (alerts: ``created_at`` with severity, organisation and rule; incidents:
``created_at``); Python only shapes the groups. The alerts of a period's finished days are
counted from a daily roll-up (``refresh_rollup``), the rest from the alerts. Durations and days
are computed by the database (``seconds_between``, ``utc_day``), written for SQLite and
PostgreSQL alike.

Which incidents count: those opened (``created_at``) in the period, for the durations and the SLA
compliance; ``closed`` counts those closed in the period; open incidents are those not closed now.
An organisation filter, and a reader's scope, match the incident's or alert's recorded
organisation (``organization``), as the lists do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, String, and_, case, cast, delete, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import QueryableAttribute, Session

from cert.core.config import SLA_SEVERITIES, Settings
from cert.core.errors import N_, InvalidInput
from cert.incidents import rollup
from cert.incidents.cases import STATUSES
from cert.incidents.rollup import DURATIONS, span, techniques_of
from cert.incidents.sla import CLOCKS, ClockName, SlaPolicy, aware
from cert.storage.models import Alert, AlertDayCount, AlertDayRuleCount, AlertRollupDay, AlertRollupMark, Case
from cert.storage.sqltime import seconds_between, utc_day

#: the periods the console offers, in days
PERIODS = (7, 30, 90)
MAX_PERIOD_DAYS = 366
#: severities from the most urgent, the order of charts and tables
SEVERITY_ORDER = tuple(reversed(SLA_SEVERITIES))
TOP_RULES = 10
#: the statuses of an incident not closed (an equality the status index answers)
NOT_CLOSED = tuple(status for status in STATUSES if status != "closed")
_ID_CHUNK = 500


# ---- the question asked ---------------------------------------------------------------------------

@dataclass(frozen=True)
class MetricsQuery:
    """A period ``[start, end)`` and filters. ``scope``: the organisations the reader may see
    (None: all); ``organization``, ``rsit`` (a class, or a class:type), ``severity``: the filters
    chosen. Alerts have no RSIT class: the filter narrows the incidents' figures only."""

    start: datetime
    end: datetime
    scope: frozenset[str] | None = None
    organization: str | None = None
    rsit: str | None = None
    severity: str | None = None

    @classmethod
    def last_days(cls, days: int, now: datetime | None = None, **filters: Any) -> MetricsQuery:
        """The ``days`` days up to ``now``."""
        if not 1 <= days <= MAX_PERIOD_DAYS:
            raise InvalidInput(N_("The period must be between %(low)s and %(high)s days."), low=1,
                               high=MAX_PERIOD_DAYS)
        end = aware(now or datetime.now(UTC))
        return cls(end - timedelta(days=days), end, **filters)

    @property
    def days(self) -> list[date]:
        """Each UTC day the period touches, oldest first."""
        first, last = self.start.astimezone(UTC).date(), (self.end - timedelta(microseconds=1)).astimezone(UTC).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _organizations(q: MetricsQuery, column: QueryableAttribute[str | None]) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if q.scope is not None:
        where.append(column.in_(sorted(q.scope)))
    if q.organization:
        where.append(column == q.organization)
    return where


def _case_filters(q: MetricsQuery) -> list[ColumnElement[bool]]:
    where = _organizations(q, Case.organization)
    if q.severity:
        where.append(Case.severity == q.severity)
    if q.rsit:
        where.append(or_(Case.rsit_class == q.rsit, Case.rsit_class.like(q.rsit.replace("%", "") + ":%")))
    return where


def _opened(q: MetricsQuery) -> list[ColumnElement[bool]]:
    return [Case.created_at >= q.start, Case.created_at < q.end, *_case_filters(q)]


def _alert_filters(q: MetricsQuery, start: datetime | None = None, end: datetime | None = None
                   ) -> list[ColumnElement[bool]]:
    """The alerts of the query raised in ``[start, end)`` (by default the query's period)."""
    where = [Alert.created_at >= (start or q.start), Alert.created_at < (end or q.end),
             *_organizations(q, Alert.organization)]
    if q.severity:
        where.append(Alert.severity == q.severity)
    return where


# ---- durations ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Duration:
    """Seconds from one step of incidents to another: how many incidents have both, mean, median."""

    count: int
    mean: float | None
    median: float | None


def _summary(values: Sequence[float]) -> Duration:
    """Count, mean and median (the middle value, or the mean of the middle two) of durations."""
    n = len(values)
    if not n:
        return Duration(0, None, None)
    # the middle two found without sorting all (numpy's partition: a dashboard's 90 days hold
    # tens of thousands of durations)
    ordered = np.partition(np.asarray(values, dtype=np.float64), [(n - 1) // 2, n // 2])
    middle = [float(ordered[(n - 1) // 2]), float(ordered[n // 2])]
    return Duration(n, round(math.fsum(values) / n, 1), round(math.fsum(middle) / 2, 1))


def durations(s: Session, q: MetricsQuery) -> dict[str, Duration]:
    """Computed from the incidents alone: the reference ``incident_figures`` equals (tested).
    Mean and median time to detect (first evidence to opening), acknowledge, contain and resolve
    (opening to each), over the incidents opened in the period that reached the step. One pass
    reads every duration of those incidents, in seconds (NULL where a step is missing: not
    counted); the means and medians are taken from them."""
    found: dict[str, list[float]] = {name: [] for name in DURATIONS}
    lists = [found[name] for name in DURATIONS]
    for row in s.execute(select(*(seconds_between(*span(name)) for name in DURATIONS)).where(*_opened(q))):
        for values, seconds in zip(lists, row, strict=True):
            if seconds is not None:
                values.append(float(seconds))
    return {name: _summary(found[name]) for name in DURATIONS}


# ---- counts, SLA compliance -----------------------------------------------------------------------

@dataclass(frozen=True)
class Compliance:
    """How many incidents met, breached or are past (overdue) or within (running) one clock's target;
    ``percent``: met among those decided (met, breached, overdue), None when none is."""

    met: int = 0
    breached: int = 0
    overdue: int = 0
    running: int = 0

    @property
    def decided(self) -> int:
        return self.met + self.breached + self.overdue

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.met / self.decided, 1) if self.decided else None


def closed_count(s: Session, q: MetricsQuery) -> int:
    """Incidents closed in the period."""
    closed = s.scalar(select(func.count()).select_from(Case).where(
        Case.closed_at >= q.start, Case.closed_at < q.end, *_case_filters(q)))
    return int(closed or 0)


def incident_counts(s: Session, q: MetricsQuery) -> tuple[int, int]:
    """(incidents opened in the period, incidents closed in the period), from the incidents alone
    (the dashboard takes the first from ``incident_figures``)."""
    opened = s.scalar(select(func.count()).select_from(Case).where(*_opened(q)))
    return int(opened or 0), closed_count(s, q)


def _target_seconds(policy: SlaPolicy, clock: ClockName) -> ColumnElement[float]:
    """The clock's target in seconds for each incident's severity."""
    whens = [(Case.severity == sev, policy.target(clock, sev).total_seconds()) for sev in SLA_SEVERITIES]
    return case(*whens, else_=policy.target(clock, "medium").total_seconds())


def sla_compliance(s: Session, q: MetricsQuery, policy: SlaPolicy, now: datetime | None = None
                   ) -> dict[ClockName, Compliance]:
    """Computed from the incidents alone: the reference
    ``incident_figures`` equals (tested). Per clock, the incidents opened in the period by SLA state at ``now``."""
    now = aware(now or datetime.now(UTC))
    columns = []
    for clock in CLOCKS:
        stopped_at, target = rollup.stop(clock), _target_seconds(policy, clock)
        taken = seconds_between(Case.created_at, stopped_at)
        so_far = seconds_between(Case.created_at, _timestamp(now))
        columns += [
            func.sum(case((and_(stopped_at.is_not(None), taken <= target), 1), else_=0)),
            func.sum(case((and_(stopped_at.is_not(None), taken > target), 1), else_=0)),
            func.sum(case((and_(stopped_at.is_(None), so_far > target), 1), else_=0)),
            func.sum(case((and_(stopped_at.is_(None), so_far <= target), 1), else_=0)),
        ]
    row = s.execute(select(*columns).where(*_opened(q))).one()
    values = [int(v or 0) for v in row]
    return {clock: Compliance(*values[4 * i: 4 * i + 4]) for i, clock in enumerate(CLOCKS)}


def _timestamp(moment: datetime) -> ColumnElement[datetime]:
    """``moment`` as an SQL value of the incidents' timestamp type."""
    return literal(moment, Case.created_at.type)


# ---- the incidents' figures, from the roll-up ----------------------------------------------------------

@dataclass(frozen=True)
class IncidentFigures:
    """The figures of the incidents opened in a period: how many, the durations, the SLA
    compliance at a moment, and {technique: incidents with it}."""

    opened: int
    durations: dict[str, Duration]
    compliance: dict[ClockName, Compliance]
    techniques: dict[str, int]


def _organizations_rolled(q: MetricsQuery) -> list[str] | None:
    """The organisations whose roll-up a query reads (None: the all-incidents roll-up)."""
    if q.scope is None and not q.organization:
        return None
    chosen = set(q.scope) if q.scope is not None else {q.organization or ""}
    if q.organization:
        chosen &= {q.organization}
    return sorted(chosen)


def incident_figures(s: Session, q: MetricsQuery, policy: SlaPolicy, now: datetime | None = None
                     ) -> IncidentFigures:
    """What ``durations``, ``sla_compliance`` and ``incident_techniques`` compute from the
    incidents, equal to them: the whole past UTC days of the period from the roll-up
    (``cert.incidents.rollup``) when the filters are the organisation's or none, the rest and the
    clocks still running from the incidents. Filtered by severity or RSIT class, every figure is
    computed from the incidents (those of one class or severity, fewer)."""
    now = aware(now or datetime.now(UTC))
    start, end = q.start.astimezone(UTC), q.end.astimezone(UTC)
    spans = [(start, end)]
    part = rollup.Part()
    if not (q.severity or q.rsit):
        first = start.date() if start == _midnight(start.date()) else start.date() + _DAY
        last = min(end.date(), now.astimezone(UTC).date())
        if first < last:
            part.merge(rollup.rolled(s, first, last, _organizations_rolled(q), policy))
            spans = [(a, b) for a, b in ((start, _midnight(first)), (_midnight(last), end)) if a < b]
    for a, b in spans:
        part.merge(rollup.live(s, [Case.created_at >= a, Case.created_at < b, *_case_filters(q)], policy))
    running = rollup.undecided(s, _opened(q), policy, now)
    compliance = {clock: Compliance(part.decided[clock][0], part.decided[clock][1], *running[clock])
                  for clock in CLOCKS}
    return IncidentFigures(part.opened, {name: _summary(part.values[name]) for name in DURATIONS},
                           compliance, part.techniques)


# ---- alerts ---------------------------------------------------------------------------------------

# A period's alerts are counted from the roll-up (``AlertDayCount``, ``AlertDayRuleCount``) for its
# whole UTC days that are finished, and from the alerts themselves for the rest: the part of the
# first day the period starts in, and the days not finished. A day is rolled up the first time a
# period asks for it; an alert that arrives later for a rolled-up day (its id is above the mark)
# makes that day rolled up again. Alerts are never deleted, and their raised time, severity,
# organisation and rule never change, so the roll-up stays equal to counting the alerts.

#: a day is rolled up once it ended this long ago (a detection run writing at midnight is over)
ROLLUP_GRACE = timedelta(hours=1)
_DAY = timedelta(days=1)


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


@dataclass(frozen=True)
class _Split:
    """A period as the days read from the roll-up (``first`` to ``stop`` excluded, None: none)
    and the spans counted from the alerts."""

    rolled: tuple[date, date] | None
    live: list[tuple[datetime, datetime]]


def _split(q: MetricsQuery, now: datetime) -> _Split:
    start, end = q.start.astimezone(UTC), q.end.astimezone(UTC)
    first = start.date() if start == _midnight(start.date()) else start.date() + _DAY
    stop = min(end.date(), (now - ROLLUP_GRACE).astimezone(UTC).date())
    if first >= stop:
        return _Split(None, [(start, end)])
    live = [(a, b) for a, b in ((start, _midnight(first)), (_midnight(stop), end)) if a < b]
    return _Split((first, stop), live)


def _insert_new(s: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows, leaving those another process inserted first (same keys, same counts)."""
    if not rows:
        return
    make = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    for i in range(0, len(rows), _ID_CHUNK):
        s.execute(make(table).on_conflict_do_nothing(), rows[i:i + _ID_CHUNK])


def refresh_rollup(s: Session, first: date, stop: date, now: datetime | None = None) -> None:
    """Roll up the finished UTC days from ``first`` to ``stop`` (excluded) that are not, after
    forgetting the rolled-up days an alert arrived for since the last check. Idempotent."""
    now = aware(now or datetime.now(UTC))
    stop = min(stop, (now - ROLLUP_GRACE).astimezone(UTC).date())
    top = int(s.scalar(select(func.max(Alert.id))) or 0)
    mark = s.get(AlertRollupMark, 1)
    through = mark.through_id if mark is not None else 0
    if top > through:
        cutoff = _midnight((now - ROLLUP_GRACE).astimezone(UTC).date())
        late = list(s.scalars(select(utc_day(Alert.created_at)).where(Alert.id > through, Alert.created_at < cutoff)
                              .distinct()))
        for i in range(0, len(late), _ID_CHUNK):
            chunk = late[i:i + _ID_CHUNK]
            for table in (AlertDayCount, AlertDayRuleCount, AlertRollupDay):
                s.execute(delete(table).where(table.day.in_(chunk)))
        if mark is None:
            _insert_new(s, AlertRollupMark, [{"id": 1, "through_id": top}])
        else:
            mark.through_id = top
    if first >= stop:
        return
    keys = [(first + timedelta(days=i)).isoformat() for i in range((stop - first).days)]
    done = set(s.scalars(select(AlertRollupDay.day).where(AlertRollupDay.day >= keys[0],
                                                          AlertRollupDay.day <= keys[-1])))
    missing = [k for k in keys if k not in done]
    if not missing:
        return
    day, organization = utc_day(Alert.created_at), func.coalesce(Alert.organization, "")
    rows = s.execute(select(day, Alert.severity, organization, Alert.rule_id, func.count(), func.max(Alert.id))
                     .where(Alert.created_at >= _midnight(date.fromisoformat(missing[0])),
                            Alert.created_at < _midnight(date.fromisoformat(missing[-1]) + _DAY))
                     .group_by(day, Alert.severity, organization, Alert.rule_id)).all()
    wanted = set(missing)
    full: list[dict[str, Any]] = []
    per_rule: dict[tuple[str, str, str], list[int]] = {}
    for when, severity, org, rule_id, n, last in rows:
        if when not in wanted:
            continue
        full.append({"day": when, "severity": severity, "organization": org, "rule_id": rule_id,
                     "alerts": int(n), "last_id": int(last)})
        sums = per_rule.setdefault((when, severity, rule_id), [0, 0])
        sums[0] += int(n)
        sums[1] = max(sums[1], int(last))
    _insert_new(s, AlertDayCount, full)
    _insert_new(s, AlertDayRuleCount, [{"day": k[0], "severity": k[1], "rule_id": k[2], "alerts": v[0],
                                        "last_id": v[1]} for k, v in per_rule.items()])
    _insert_new(s, AlertRollupDay, [{"day": k, "rolled_at": now} for k in missing])
    s.flush()


def _rollup_table(q: MetricsQuery) -> Any:
    """The roll-up a query reads: per organisation when it narrows to some, else summed over them."""
    return AlertDayCount if q.scope is not None or q.organization else AlertDayRuleCount


def _rollup_filters(q: MetricsQuery, table: Any, first: date, stop: date) -> list[ColumnElement[bool]]:
    where = [table.day >= first.isoformat(), table.day < stop.isoformat()]
    if table is AlertDayCount:
        where += _organizations(q, AlertDayCount.organization)
    if q.severity:
        where.append(table.severity == q.severity)
    return where


def _rolled(s: Session, q: MetricsQuery, now: datetime | None) -> _Split:
    """The query's split, its roll-up days brought up to date."""
    split = _split(q, aware(now or datetime.now(UTC)))
    if split.rolled is not None:
        refresh_rollup(s, *split.rolled, now)
    return split


def alerts_per_day(s: Session, q: MetricsQuery, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """{severity: {"YYYY-MM-DD": alerts raised that UTC day}} for every day of the period (0
    included), the severities most urgent first. ``now``: the clock that says which days are
    finished (the roll-up's)."""
    split = _rolled(s, q, now)
    counts: dict[tuple[str, str], int] = {}
    day = utc_day(Alert.created_at)
    for start, end in split.live:
        for when, severity, n in s.execute(select(day, Alert.severity, func.count())
                                           .where(*_alert_filters(q, start, end)).group_by(day, Alert.severity)):
            counts[(when, severity)] = counts.get((when, severity), 0) + int(n)
    if split.rolled is not None:
        table = _rollup_table(q)
        for when, severity, n in s.execute(select(table.day, table.severity, func.sum(table.alerts))
                                           .where(*_rollup_filters(q, table, *split.rolled))
                                           .group_by(table.day, table.severity)):
            counts[(when, severity)] = counts.get((when, severity), 0) + int(n)
    days = [d.isoformat() for d in q.days]
    severities = list(SEVERITY_ORDER) + sorted({sev for _d, sev in counts} - set(SEVERITY_ORDER))
    out = {sev: dict.fromkeys(days, 0) for sev in severities}
    for (when, severity), n in counts.items():
        if when in out[severity]:
            out[severity][when] = n
    return out


@dataclass(frozen=True)
class RuleCount:
    rule_id: str
    title: str
    alerts: int


def _rule_groups(s: Session, q: MetricsQuery, now: datetime | None = None) -> list[tuple[str, int, int]]:
    """(rule id, alerts in the period, id of its latest alert), the most alerts first."""
    split = _rolled(s, q, now)
    found: dict[str, list[int]] = {}

    def add(rule_id: str, n: int, last: int) -> None:
        sums = found.setdefault(str(rule_id), [0, 0])
        sums[0] += int(n)
        sums[1] = max(sums[1], int(last))

    for start, end in split.live:
        for row in s.execute(select(Alert.rule_id, func.count(), func.max(Alert.id))
                             .where(*_alert_filters(q, start, end)).group_by(Alert.rule_id)):
            add(*row)
    if split.rolled is not None:
        table = _rollup_table(q)
        for row in s.execute(select(table.rule_id, func.sum(table.alerts), func.max(table.last_id))
                             .where(*_rollup_filters(q, table, *split.rolled)).group_by(table.rule_id)):
            add(*row)
    return sorted(((rule_id, n, last) for rule_id, (n, last) in found.items()), key=lambda r: (-r[1], r[0]))


def _latest(s: Session, ids: Iterable[int]) -> dict[str, tuple[str, list[str]]]:
    """{rule id: (title, ATT&CK tags)} of the given alerts."""
    ids = list(ids)
    out: dict[str, tuple[str, list[str]]] = {}
    for i in range(0, len(ids), _ID_CHUNK):
        for rule_id, title, attack in s.execute(select(Alert.rule_id, Alert.rule_title, Alert.attack)
                                                .where(Alert.id.in_(ids[i:i + _ID_CHUNK]))):
            out[rule_id] = (title, list(attack or []))
    return out


@dataclass(frozen=True)
class TechniqueSeen:
    technique: str
    alerts: int = 0
    incidents: int = 0
    covered: bool = False


@dataclass(frozen=True)
class AlertFigures:
    top_rules: list[RuleCount]
    #: {technique: alerts of the period tagged with it}
    techniques: dict[str, int]
    total: int


def alert_figures(s: Session, q: MetricsQuery, top: int = TOP_RULES, now: datetime | None = None) -> AlertFigures:
    """The rules that raised the most alerts in the period, and the ATT&CK techniques of the
    period's alerts (each rule's tags as its latest alert of the period carries them)."""
    groups = _rule_groups(s, q, now)
    latest = _latest(s, (g[2] for g in groups))
    techniques: dict[str, int] = {}
    for rule_id, count, _last in groups:
        for t in techniques_of(latest.get(rule_id, ("", []))[1]):
            techniques[t] = techniques.get(t, 0) + count
    top_rules = [RuleCount(rule_id, latest.get(rule_id, (rule_id, []))[0], count) for rule_id, count, _ in groups[:top]]
    return AlertFigures(top_rules, techniques, sum(g[1] for g in groups))


def incident_techniques(s: Session, q: MetricsQuery) -> dict[str, int]:
    """Computed from the incidents alone: the reference
    ``incident_figures`` equals (tested). {technique: incidents opened in the period with it}."""
    text = cast(Case.attack, String)
    rows = s.execute(select(text, func.count()).where(*_opened(q)).group_by(text)).all()
    out: dict[str, int] = {}
    for raw, count in rows:
        try:
            tags = json.loads(raw) if raw else []
        except ValueError:
            continue
        if not isinstance(tags, list):
            continue
        for t in techniques_of(str(tag) for tag in tags):
            out[t] = out.get(t, 0) + int(count)
    return out


def open_by_organization(s: Session, q: MetricsQuery) -> list[tuple[str | None, int]]:
    """(organisation, incidents not closed now), the most first; None: of no organisation."""
    # grouped by status too, the order of the (status, organisation) index: it alone is read
    counts: dict[str | None, int] = {}
    for _status, org, n in s.execute(select(Case.status, Case.organization, func.count())
                                     .where(Case.status.in_(NOT_CLOSED), *_case_filters(q))
                                     .group_by(Case.status, Case.organization)):
        counts[org] = counts.get(org, 0) + int(n)
    found = list(counts.items())
    return sorted(found, key=lambda r: (-r[1], r[0] is None, r[0] or ""))


# ---- ATT&CK coverage of the active rules ------------------------------------------------------------

def covered_techniques(catalogue: Iterable[dict[str, Any]], disabled: Collection[str]) -> set[str]:
    """The ATT&CK techniques the enabled rules of a detectors' catalogue are tagged with."""
    out: set[str] = set()
    for rule in catalogue:
        if rule.get("id") in disabled:
            continue
        out |= techniques_of(str(t) for t in (rule.get("attack") or rule.get("tags") or ()))
    return out


def active_rule_techniques(s: Session, settings: Settings) -> set[str]:
    """The techniques the active rules (loaded, not disabled by an analyst) cover."""
    from cert.detection.overrides import load_overrides
    from cert.detection.run import build_detectors

    disabled = load_overrides(s).disabled
    return covered_techniques((r for engine in build_detectors(settings) for r in engine.catalogue()), disabled)


def technique_rows(alert_techniques: dict[str, int], case_techniques: dict[str, int],
                   covered: set[str]) -> list[TechniqueSeen]:
    """Each technique seen in alerts or incidents, with whether an active rule covers it; the
    most seen first."""
    seen = set(alert_techniques) | set(case_techniques)
    rows = [TechniqueSeen(t, alert_techniques.get(t, 0), case_techniques.get(t, 0), t in covered) for t in seen]
    return sorted(rows, key=lambda r: (-(r.alerts + r.incidents), r.technique))


# ---- everything at once -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Metrics:
    """The figures of one period and filter."""

    query: MetricsQuery
    opened: int
    closed: int
    durations: dict[str, Duration]
    compliance: dict[ClockName, Compliance]


@dataclass(frozen=True)
class Dashboard:
    metrics: Metrics
    alerts_per_day: dict[str, dict[str, int]]
    open_by_organization: list[tuple[str | None, int]]
    alerts: AlertFigures
    techniques: list[TechniqueSeen]
    covered: set[str] = field(default_factory=set)

    @property
    def covered_seen(self) -> int:
        return sum(1 for t in self.techniques if t.covered)


def metrics(s: Session, q: MetricsQuery, policy: SlaPolicy, now: datetime | None = None) -> Metrics:
    return _metrics(s, q, incident_figures(s, q, policy, now or q.end))


def _metrics(s: Session, q: MetricsQuery, figures: IncidentFigures) -> Metrics:
    return Metrics(q, figures.opened, closed_count(s, q), figures.durations, figures.compliance)


def dashboard(s: Session, q: MetricsQuery, settings: Settings, now: datetime | None = None) -> Dashboard:
    """The dashboard's figures: the metrics, alerts per day, open incidents per organisation, top
    rules, and the techniques seen against those covered."""
    figures = alert_figures(s, q)
    covered = active_rule_techniques(s, settings)
    incidents = incident_figures(s, q, SlaPolicy.from_settings(settings), now or q.end)
    rows = technique_rows(figures.techniques, incidents.techniques, covered)
    return Dashboard(_metrics(s, q, incidents), alerts_per_day(s, q), open_by_organization(s, q), figures, rows,
                     covered)
