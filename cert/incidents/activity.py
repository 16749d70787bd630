"""A month of activity in numbers, for the authorities: incidents opened and closed by RSIT class
and severity, alerts by severity, the organisations most affected, mean times to acknowledge and
to resolve, and the month's incidents. Counted with SQL aggregates over [first day of the month,
first day of the next) in UTC, for the whole constituency or for a set of organisations (as alerts
and cases record them)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from cert.core.errors import N_, InvalidInput
from cert.storage.models import Alert, Case

UNCLASSIFIED = "unclassified"
_MONTH = re.compile(r"(\d{4})-(\d{2})")
#: the most incidents listed one by one (all are counted)
LISTED = 500


@dataclass(frozen=True)
class Month:
    """A calendar month in UTC: [start, end)."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        m = _MONTH.fullmatch(text.strip())
        if m is None or not 1 <= int(m.group(2)) <= 12 or not 1970 <= int(m.group(1)) <= 9998:
            raise InvalidInput(N_("The month must be written YYYY-MM (for example 2025-03), not %(value)s."),
                               value=text[:20])
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def previous(cls, now: datetime | None = None) -> Month:
        """The month before the one of ``now`` (the last complete month)."""
        now = now or datetime.now(UTC)
        return cls(now.year - 1, 12) if now.month == 1 else cls(now.year, now.month - 1)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime(self.year + 1, 1, 1, tzinfo=UTC) if self.month == 12 else \
            datetime(self.year, self.month + 1, 1, tzinfo=UTC)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Activity:
    """The month's numbers. Mean times are in seconds (None when nothing was measured)."""

    month: Month
    opened: int
    closed: int
    opened_by_class: dict[str, int]
    closed_by_class: dict[str, int]
    opened_by_severity: dict[str, int]
    closed_by_severity: dict[str, int]
    alerts: int
    alerts_by_severity: dict[str, int]
    top_organizations: list[tuple[str, int]]
    mean_acknowledge_alerts: float | None
    mean_acknowledge_incidents: float | None
    mean_resolve_incidents: float | None
    incidents: list[Case]


def rsit_class(value: str) -> str:
    """The RSIT class of a classification (``intrusions:...`` gives ``intrusions``)."""
    return value.split(":", 1)[0].strip() or UNCLASSIFIED


def _seconds(s: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    """``later - earlier`` in seconds, in the database's own arithmetic."""
    if s.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _cases(organizations: Collection[str] | None) -> list[ColumnElement[bool]]:
    """The condition keeping the cases of ``organizations`` (none: every case)."""
    return [] if organizations is None else [Case.organization.in_(sorted(organizations))]


def _alerts(organizations: Collection[str] | None) -> list[ColumnElement[bool]]:
    return [] if organizations is None else [Alert.organization.in_(sorted(organizations))]


def _by(s: Session, column: Any, stamp: Any, month: Month, organizations: Collection[str] | None) -> Counter[str]:
    q = select(column, func.count()).where(stamp >= month.start, stamp < month.end, *_cases(organizations))
    return Counter({str(k or ""): int(n) for k, n in s.execute(q.group_by(column))})


def _classes(counts: Counter[str]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for value, n in counts.items():
        out[rsit_class(value)] += n
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def _mean(s: Session, q: Select[Any]) -> float | None:
    value = s.scalar(q)
    return None if value is None else float(value)


def monthly(s: Session, month: Month, *, organizations: Collection[str] | None = None) -> Activity:
    """The numbers of ``month`` for ``organizations`` (None: the whole constituency)."""
    start, end = month.start, month.end
    opened_sev = _by(s, Case.severity, Case.created_at, month, organizations)
    closed_sev = _by(s, Case.severity, Case.closed_at, month, organizations)
    opened_cls = _by(s, Case.rsit_class, Case.created_at, month, organizations)
    closed_cls = _by(s, Case.rsit_class, Case.closed_at, month, organizations)
    alerts_q = select(Alert.severity, func.count()).where(
        Alert.created_at >= start, Alert.created_at < end, *_alerts(organizations))
    alerts_sev = {str(k): int(n) for k, n in s.execute(alerts_q.group_by(Alert.severity))}
    top_q = select(Case.organization, func.count()).where(
        Case.created_at >= start, Case.created_at < end, Case.organization.is_not(None), *_cases(organizations))
    top = [(str(org), int(n)) for org, n in s.execute(
        top_q.group_by(Case.organization).order_by(func.count().desc(), Case.organization).limit(10))]
    began = func.coalesce(Case.detected_at, Case.created_at)
    ack_alerts = select(func.avg(_seconds(s, Alert.acknowledged_at, Alert.created_at))).where(
        Alert.created_at >= start, Alert.created_at < end, Alert.acknowledged_at.is_not(None), *_alerts(organizations))
    ack_cases = select(func.avg(_seconds(s, Case.acknowledged_at, began))).where(
        Case.created_at >= start, Case.created_at < end, Case.acknowledged_at.is_not(None), *_cases(organizations))
    resolve = select(func.avg(_seconds(s, Case.closed_at, began))).where(
        Case.closed_at >= start, Case.closed_at < end, *_cases(organizations))
    listed = select(Case).where(Case.created_at >= start, Case.created_at < end, *_cases(organizations))
    return Activity(
        month=month,
        opened=sum(opened_sev.values()), closed=sum(closed_sev.values()),
        opened_by_class=_classes(opened_cls), closed_by_class=_classes(closed_cls),
        opened_by_severity=dict(opened_sev), closed_by_severity=dict(closed_sev),
        alerts=sum(alerts_sev.values()), alerts_by_severity=alerts_sev, top_organizations=top,
        mean_acknowledge_alerts=_mean(s, ack_alerts), mean_acknowledge_incidents=_mean(s, ack_cases),
        mean_resolve_incidents=_mean(s, resolve),
        incidents=list(s.scalars(listed.order_by(Case.created_at, Case.id).limit(LISTED))),
    )
