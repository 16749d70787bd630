"""The incidents' part of the dashboard, rolled up per UTC day of opening.

For each day, the roll-up keeps what the figures of a period are made of: how many incidents
were opened, every value of each duration (a median needs them all; sorted, they merge fast),
the SLA clocks met and breached (a stopped clock's state never changes), and the ATT&CK
techniques. It keeps them for all the incidents of the day and per organisation. A period's
whole past days are read from it; the rest (the day not finished, the part of the first day the
period starts in) from the incidents, as are the clocks still running, whose state moves with
the time.

An incident opened on a rolled-up day can change afterwards (acknowledged, contained, closed,
moved to another organisation): its ``updated_at`` moves, and each read first forgets the days
of the incidents changed since the last check (a margin, ``CHECK_MARGIN``, covers the writes
still in flight then). A change of SLA targets forgets everything. The roll-up is therefore equal
to computing from the incidents, which ``tests/cert/test_incident_rollup.py`` checks.
"""

from __future__ import annotations

import hashlib
import json
import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import QueryableAttribute, Session

from cert.core.config import SLA_SEVERITIES
from cert.incidents.cases import attack_tag
from cert.incidents.sla import CLOCKS, FALLBACK_SEVERITY, ClockName, SlaPolicy
from cert.storage.models import Case, IncidentDayFigures, IncidentDayOrgFigures, IncidentRollupMark, utcnow
from cert.storage.sqltime import seconds_between, utc_day

#: the durations measured, each from one timestamp of an incident to another
DURATIONS = ("detect", "acknowledge", "contain", "resolve")
#: changes written this long before the last check are looked at again (a transaction that
#: stamped ``updated_at`` before the check and committed after it)
CHECK_MARGIN = timedelta(minutes=10)
_DAY = timedelta(days=1)
_CHUNK = 500


def technique(tag: str) -> str | None:
    """The ATT&CK technique id of a tag (``attack.t1110.001``: ``T1110``), None for a tactic."""
    name = attack_tag(tag)
    return name.upper() if len(name) == 5 and name[0] == "t" and name[1:].isdigit() else None


def techniques_of(tags: Iterable[str]) -> set[str]:
    return {t for t in (technique(tag) for tag in tags) if t}


def span(name: str) -> tuple[QueryableAttribute[datetime | None], QueryableAttribute[datetime | None]]:
    """The (from, to) timestamps of a duration."""
    spans: dict[str, tuple[Any, Any]] = {
        "detect": (Case.detected_at, Case.created_at),
        "acknowledge": (Case.created_at, Case.acknowledged_at),
        "contain": (Case.created_at, Case.contained_at),
        "resolve": (Case.created_at, Case.closed_at),
    }
    return spans[name]


def stop(clock: ClockName) -> ColumnElement[datetime | None] | QueryableAttribute[datetime | None]:
    """When the clock stopped, as ``cert.incidents.sla.stopped_at`` says, in SQL."""
    if clock == "acknowledge":
        return func.coalesce(Case.acknowledged_at, Case.contained_at, Case.closed_at)
    if clock == "contain":
        return func.coalesce(Case.contained_at, Case.closed_at)
    return Case.closed_at


def _taken(clock: ClockName, acknowledge: float | None, contain: float | None, resolve: float | None
           ) -> float | None:
    """Seconds from opening to the clock's stop, from the durations (all measured from opening)."""
    order = {"acknowledge": (acknowledge, contain, resolve), "contain": (contain, resolve), "resolve": (resolve,)}
    return next((v for v in order[clock] if v is not None), None)


@dataclass
class Part:
    """The figures of a set of incidents opened, that add up."""

    opened: int = 0
    values: dict[str, array[float]] = field(default_factory=lambda: {name: array("d") for name in DURATIONS})
    #: {clock: [met, breached]} of the clocks stopped
    decided: dict[str, list[int]] = field(default_factory=lambda: {clock: [0, 0] for clock in CLOCKS})
    techniques: dict[str, int] = field(default_factory=dict)

    def add_incident(self, severity: str, seconds: Sequence[float | None], attack: Any, policy: SlaPolicy) -> None:
        self.opened += 1
        for name, value in zip(DURATIONS, seconds, strict=True):
            if value is not None:
                self.values[name].append(float(value))
        _detect, acknowledge, contain, resolve = (None if v is None else float(v) for v in seconds)
        for clock in CLOCKS:
            taken = _taken(clock, acknowledge, contain, resolve)
            if taken is not None:
                self.decided[clock][0 if taken <= policy.target(clock, severity).total_seconds() else 1] += 1
        tags = attack if isinstance(attack, list) else []
        for t in techniques_of(str(tag) for tag in tags):
            self.techniques[t] = self.techniques.get(t, 0) + 1

    def merge(self, other: Part) -> None:
        self.opened += other.opened
        for name in DURATIONS:
            self.values[name].extend(other.values[name])
        for clock in CLOCKS:
            for i in (0, 1):
                self.decided[clock][i] += other.decided[clock][i]
        for t, n in other.techniques.items():
            self.techniques[t] = self.techniques.get(t, 0) + n


def _columns() -> list[Any]:
    return [Case.severity, *(seconds_between(*span(name)) for name in DURATIONS), Case.attack]


def live(s: Session, where: Sequence[ColumnElement[bool]], policy: SlaPolicy) -> Part:
    """The figures of the incidents that ``where`` selects, from the incidents."""
    part = Part()
    for severity, d, a, c, r, attack in s.execute(select(*_columns()).where(*where)):
        part.add_incident(severity, (d, a, c, r), attack, policy)
    return part


def undecided(s: Session, where: Sequence[ColumnElement[bool]], policy: SlaPolicy, now: datetime
              ) -> dict[ClockName, tuple[int, int]]:
    """Per clock, (overdue, running) at ``now`` among the incidents ``where`` selects whose clock
    has not stopped: overdue when opened longer ago than the target of its severity."""
    now = now.astimezone(UTC)
    columns: list[Any] = []
    for clock in CLOCKS:
        def deadline(severity: str, clock: ClockName = clock) -> ColumnElement[datetime]:
            return literal(now - policy.target(clock, severity), Case.created_at.type)

        latest = case(*[(Case.severity == sev, deadline(sev)) for sev in SLA_SEVERITIES],
                      else_=deadline(FALLBACK_SEVERITY))
        stopped_at = stop(clock)
        columns += [func.sum(case((and_(stopped_at.is_(None), Case.created_at < latest), 1), else_=0)),
                    func.sum(case((stopped_at.is_(None), 1), else_=0))]
    row = [int(v or 0) for v in s.execute(select(*columns).where(*where)).one()]
    return {clock: (row[2 * i], row[2 * i + 1] - row[2 * i]) for i, clock in enumerate(CLOCKS)}


# ---- the roll-up ------------------------------------------------------------------------------------

def fingerprint(policy: SlaPolicy) -> str:
    """A digest of the SLA targets, to know the roll-up's states were judged by them."""
    targets = {clock: {sev: policy.target(clock, sev).total_seconds() for sev in sorted(policy.targets[clock])}
               for clock in CLOCKS}
    return hashlib.sha256(json.dumps(targets, sort_keys=True).encode()).hexdigest()


def _pack(values: array[float]) -> bytes:
    packed = array("d", sorted(values))
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()


def _unpack(raw: bytes) -> array[float]:
    values = array("d")
    values.frombytes(raw[: len(raw) - len(raw) % 8])
    if sys.byteorder != "little":
        values.byteswap()
    return values


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _insert(s: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows, leaving those another process inserted first (the same figures)."""
    make = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    for i in range(0, len(rows), _CHUNK):
        s.execute(make(table).on_conflict_do_nothing(), rows[i:i + _CHUNK])


def _forget(s: Session, days: list[str] | None) -> None:
    for table in (IncidentDayFigures, IncidentDayOrgFigures):
        if days is None:
            s.execute(delete(table))
            continue
        for i in range(0, len(days), _CHUNK):
            s.execute(delete(table).where(table.day.in_(days[i:i + _CHUNK])))


def _check(s: Session, policy: SlaPolicy) -> None:
    """Forget the days of the incidents changed since the last check, or every day when the SLA
    targets changed."""
    checked, digest = utcnow(), fingerprint(policy)
    mark = s.get(IncidentRollupMark, 1)
    if mark is None or mark.policy != digest:
        _forget(s, None)
        if mark is None:
            _insert(s, IncidentRollupMark, [{"id": 1, "checked_at": checked, "policy": digest}])
        else:
            mark.checked_at, mark.policy = checked, digest
        return
    since = mark.checked_at if mark.checked_at.tzinfo else mark.checked_at.replace(tzinfo=UTC)
    changed = list(s.scalars(select(utc_day(Case.created_at)).where(Case.updated_at >= since - CHECK_MARGIN)
                             .distinct()))
    if changed:
        _forget(s, changed)
    mark.checked_at = checked


def _row(part: Part, policy: str, rolled_at: datetime, **keys: str) -> dict[str, Any]:
    return {**keys, "policy": policy, "opened": part.opened, "rolled_at": rolled_at,
            **{name: _pack(part.values[name]) for name in DURATIONS},
            "decided": {clock: list(part.decided[clock]) for clock in CLOCKS},
            "techniques": dict(sorted(part.techniques.items()))}


def _roll(s: Session, missing: list[str], policy: SlaPolicy) -> None:
    """Roll up the days ``missing`` (sorted) from their incidents."""
    wanted = set(missing)
    per_day: dict[str, Part] = {day: Part() for day in missing}
    per_org: dict[tuple[str, str], Part] = {}
    day = utc_day(Case.created_at)
    rows = s.execute(select(day, Case.organization, *_columns())
                     .where(Case.created_at >= _midnight(date.fromisoformat(missing[0])),
                            Case.created_at < _midnight(date.fromisoformat(missing[-1])) + _DAY))
    for when, organization, severity, d, a, c, r, attack in rows:
        if when not in wanted:
            continue
        per_day[when].add_incident(severity, (d, a, c, r), attack, policy)
        org = per_org.setdefault((when, organization or ""), Part())
        org.add_incident(severity, (d, a, c, r), attack, policy)
    digest, now = fingerprint(policy), utcnow()
    _insert(s, IncidentDayFigures, [_row(part, digest, now, day=when) for when, part in per_day.items()])
    _insert(s, IncidentDayOrgFigures, [_row(part, digest, now, day=when, organization=org)
                                       for (when, org), part in per_org.items()])
    s.flush()


def rolled(s: Session, first: date, stop_day: date, organizations: Iterable[str] | None, policy: SlaPolicy
           ) -> Part:
    """The figures of the incidents opened from day ``first`` to ``stop_day`` (excluded), of the
    given organisations (None: every incident), from the roll-up brought up to date first."""
    _check(s, policy)
    keys = [(first + timedelta(days=i)).isoformat() for i in range((stop_day - first).days)]
    if not keys:
        return Part()
    in_range = (IncidentDayFigures.day >= keys[0], IncidentDayFigures.day <= keys[-1])
    done = set(s.scalars(select(IncidentDayFigures.day).where(*in_range)))
    missing = [k for k in keys if k not in done]
    if missing:
        _roll(s, missing, policy)
    table: Any = IncidentDayFigures
    where: list[ColumnElement[bool]] = [table.day >= keys[0], table.day <= keys[-1]]
    if organizations is not None:
        table = IncidentDayOrgFigures
        chosen = sorted(set(organizations))
        if not chosen:
            return Part()
        where = [table.day >= keys[0], table.day <= keys[-1], table.organization.in_(chosen)]
    part = Part()
    for opened, detect, acknowledge, contain, resolve, decided, techniques in s.execute(
            select(table.opened, table.detect, table.acknowledge, table.contain, table.resolve, table.decided,
                   table.techniques).where(*where)):
        part.opened += int(opened)
        for name, raw in zip(DURATIONS, (detect, acknowledge, contain, resolve), strict=True):
            part.values[name].extend(_unpack(raw))
        for clock in CLOCKS:
            met, breached = (decided or {}).get(clock, (0, 0))
            part.decided[clock][0] += int(met)
            part.decided[clock][1] += int(breached)
        for t, n in (techniques or {}).items():
            part.techniques[t] = part.techniques.get(t, 0) + int(n)
    return part
