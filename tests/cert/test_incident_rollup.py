"""The dashboard's incident figures read from the daily roll-up (cert.incidents.rollup) equal the
figures computed from the incidents themselves, in SQLite and in PostgreSQL: durations (means
and medians), SLA compliance, techniques and counts, with each filter, after incidents opened on
rolled-up days change, and after the SLA targets change."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cert.core.config import Settings
from cert.incidents import metrics
from cert.incidents.metrics import MetricsQuery
from cert.incidents.sla import SlaPolicy
from cert.storage.db import Database
from cert.storage.models import Case, IncidentDayFigures, IncidentDayOrgFigures

END = datetime(2025, 5, 20, 15, 30, tzinfo=UTC)
ORGS = ("Ministère de l'Intérieur", "Ministère de la Justice", None)
SEVERITIES = ("critical", "high", "medium", "low", "unknown")
POLICY = SlaPolicy.from_settings(Settings())
M = timedelta(minutes=1)


@pytest.fixture
def db(either_db: Database) -> Database:
    """A fresh migrated database of each kind, with 400 incidents over the 25 days to ``END``, last
    changed when they were opened (long before the roll-up is first read)."""
    rnd = random.Random(12)
    start = END - timedelta(days=25)
    seconds = int((END - start).total_seconds())

    def maybe(most: int) -> timedelta | None:
        return None if rnd.random() < 0.3 else rnd.randrange(1, most) * M

    with either_db.session() as s:
        for i in range(400):
            created = start + timedelta(seconds=rnd.randrange(seconds))
            detected, ack, contained, closed = maybe(600), maybe(600), maybe(3000), maybe(20000)
            s.add(Case(title=f"incident {i}", severity=rnd.choice(SEVERITIES), organization=rnd.choice(ORGS),
                       rsit_class=rnd.choice(("malicious-code", "intrusions:system-compromise", "")),
                       created_by="test", created_at=created, updated_at=created,
                       attack=rnd.choice(([], [f"attack.t{1100 + rnd.randrange(8)}.001"], ["attack.T1059", "x"])),
                       detected_at=None if detected is None else created - detected,
                       acknowledged_at=None if ack is None else created + ack,
                       contained_at=None if contained is None else created + contained,
                       closed_at=None if closed is None else created + closed))
    return either_db


def direct(db: Database, q: MetricsQuery, policy: SlaPolicy, now: datetime) -> tuple[object, ...]:
    """The figures computed from the incidents alone."""
    with db.session() as s:
        opened, _closed = metrics.incident_counts(s, q)
        return (opened, metrics.durations(s, q), metrics.sla_compliance(s, q, policy, now),
                metrics.incident_techniques(s, q))


def rolled(db: Database, q: MetricsQuery, policy: SlaPolicy, now: datetime) -> tuple[object, ...]:
    with db.session() as s:
        f = metrics.incident_figures(s, q, policy, now)
        return f.opened, f.durations, f.compliance, f.techniques


QUERIES = [
    MetricsQuery.last_days(14, END),
    replace(MetricsQuery.last_days(14, END), organization=ORGS[0]),
    replace(MetricsQuery.last_days(14, END), scope=frozenset({ORGS[1]})),
    replace(MetricsQuery.last_days(14, END), scope=frozenset(), organization=ORGS[0]),
    replace(MetricsQuery.last_days(14, END), severity="high"),
    replace(MetricsQuery.last_days(14, END), rsit="intrusions"),
    MetricsQuery.last_days(7, END.replace(hour=0, minute=0)),  # a period of whole days
]


@pytest.mark.parametrize("q", QUERIES, ids=["all", "organisation", "scope", "empty-scope", "severity", "rsit",
                                            "whole-days"])
def test_rolled_up_figures_equal_the_incidents(db: Database, q: MetricsQuery) -> None:
    expected = direct(db, q, POLICY, END)
    assert bool(expected[0]) == (q.scope != frozenset())  # the period has incidents, but for an empty scope
    assert rolled(db, q, POLICY, END) == expected
    assert rolled(db, q, POLICY, END) == expected  # and again, from the roll-up written the first time


def test_the_whole_past_days_are_read_from_the_roll_up(db: Database) -> None:
    q = MetricsQuery.last_days(14, END)
    rolled(db, q, POLICY, END)
    with db.session() as s:
        days = list(s.scalars(select(IncidentDayFigures.day).order_by(IncidentDayFigures.day)))
        # the 13 whole days before END's day; the first day is partial, END's day is not over
        assert days == [(q.start + timedelta(days=i)).date().isoformat() for i in range(1, 14)]
        per_day = s.scalar(select(func.sum(IncidentDayFigures.opened)))
        per_org = s.scalar(select(func.sum(IncidentDayOrgFigures.opened)))
        assert per_day == per_org
        # what the figures are made of is what is read: a row changed by hand shows
        row = s.get(IncidentDayFigures, days[3])
        assert row is not None
        row.opened += 1000
    assert rolled(db, q, POLICY, END)[0] == direct(db, q, POLICY, END)[0] + 1000


def test_incidents_changed_after_their_day_was_rolled_up(db: Database) -> None:
    q = MetricsQuery.last_days(14, END)
    rolled(db, q, POLICY, END)
    with db.session() as s:
        cases = list(s.scalars(select(Case).where(Case.created_at >= q.start + timedelta(days=2),
                                                  Case.created_at < END - timedelta(days=2)).order_by(Case.id)))
        for case in cases[:10]:  # acknowledged and closed late
            case.acknowledged_at = case.created_at + 300 * M
            case.closed_at = case.created_at + 30000 * M
            case.status = "closed"
        for case in cases[10:15]:
            case.organization = ORGS[1]
            case.attack = ["attack.t1486"]
        for case in cases[15:18]:  # reopened
            case.closed_at = None
            case.contained_at = None
    for query in (q, replace(q, organization=ORGS[1]), replace(q, organization=ORGS[0])):
        assert rolled(db, query, POLICY, END) == direct(db, query, POLICY, END)


def test_new_sla_targets_judge_every_day_again(db: Database) -> None:
    q = MetricsQuery.last_days(14, END)
    rolled(db, q, POLICY, END)
    strict = SlaPolicy.from_settings(Settings(sla_acknowledge_minutes={"critical": 1, "high": 2, "medium": 3,
                                                                       "low": 4}))
    assert rolled(db, q, strict, END) == direct(db, q, strict, END)
    assert rolled(db, q, strict, END)[2] != rolled(db, q, POLICY, END)[2]
