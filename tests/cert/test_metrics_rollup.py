"""The dashboard's alert counts read from the daily roll-up equal the counts of the alerts
themselves, in SQLite and in PostgreSQL: per day and severity, per rule, with each filter, with
today counted live, and after an alert arrives late for a day already rolled up."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cert.incidents import metrics
from cert.incidents.metrics import MetricsQuery
from cert.storage.db import Database
from cert.storage.models import Alert, AlertDayCount, AlertRollupDay

END = datetime(2025, 5, 20, 15, 30, tzinfo=UTC)
ORGS = ("Ministère de l'Intérieur", "Ministère de la Justice", None)
SEVERITIES = ("critical", "high", "medium", "low", "informational")


@pytest.fixture
def db(either_db: Database) -> Database:
    """A fresh migrated database of each kind (``either_db``)."""
    return either_db


def add_alerts(db: Database, n: int, seed: int, start: datetime, end: datetime) -> list[Alert]:
    rnd = random.Random(seed)
    seconds = int((end - start).total_seconds())
    made = []
    with db.session() as s:
        for _ in range(n):
            at = start + timedelta(seconds=rnd.randrange(seconds))
            rule = rnd.randrange(12)
            made.append(Alert(rule_id=f"r{rule:02d}", rule_title=f"Rule {rule}", detector="sigma",
                              severity=rnd.choice(SEVERITIES), organization=rnd.choice(ORGS),
                              attack=[f"attack.t{1100 + rule}"], first_seen=at, last_seen=at, created_at=at))
        s.add_all(made)
    return made


def expected(alerts: list[Alert], q: MetricsQuery) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    per_day: Counter[tuple[str, str]] = Counter()
    per_rule: Counter[str] = Counter()
    for a in alerts:
        if not q.start <= a.created_at < q.end:
            continue
        if q.scope is not None and a.organization not in q.scope:
            continue
        if q.organization and a.organization != q.organization:
            continue
        if q.severity and a.severity != q.severity:
            continue
        per_day[(a.created_at.astimezone(UTC).date().isoformat(), a.severity)] += 1
        per_rule[a.rule_id] += 1
    return per_day, per_rule


def found(db: Database, q: MetricsQuery, now: datetime | None = None
          ) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    with db.session() as s:
        days = metrics.alerts_per_day(s, q, now)
        rules = metrics.alert_figures(s, q, top=100, now=now)
    per_day = Counter({(d, sev): n for sev, by_day in days.items() for d, n in by_day.items() if n})
    return per_day, Counter({r.rule_id: r.alerts for r in rules.top_rules})


QUERIES = [
    MetricsQuery.last_days(14, END),
    replace(MetricsQuery.last_days(14, END), organization=ORGS[0]),
    replace(MetricsQuery.last_days(14, END), scope=frozenset({ORGS[1]})),
    replace(MetricsQuery.last_days(14, END), severity="high"),
    MetricsQuery.last_days(7, END.replace(hour=0, minute=0)),  # a period of whole days
]


def test_rolled_up_counts_equal_the_alerts(db: Database) -> None:
    alerts = add_alerts(db, 600, 1, END - timedelta(days=20), END)
    for q in QUERIES:
        assert found(db, q) == expected(alerts, q), q
    with db.session() as s:
        days = set(s.scalars(select(AlertRollupDay.day)))
        rows = s.scalar(select(func.count()).select_from(AlertDayCount))
    # the 13 whole days of the two-week period were read from the roll-up (the first is partial)
    assert {(END.date() - timedelta(days=i)).isoformat() for i in range(1, 14)} <= days
    assert rows and rows < 600


def test_top_rules_keep_the_latest_alerts_title_and_techniques(db: Database) -> None:
    add_alerts(db, 200, 2, END - timedelta(days=10), END)
    with db.session() as s:
        figures = metrics.alert_figures(s, MetricsQuery.last_days(14, END), top=100)
        raw = dict(s.execute(select(Alert.rule_id, func.count()).group_by(Alert.rule_id)).all())
    assert {r.rule_id: r.alerts for r in figures.top_rules} == raw
    assert all(r.title == f"Rule {int(r.rule_id[1:])}" for r in figures.top_rules)
    assert figures.techniques == {f"T{1100 + int(rule[1:])}": n for rule, n in raw.items()}


def test_an_unfinished_day_is_counted_live(db: Database) -> None:
    """With the clock at the end of the period, its last day is not finished: counted from the
    alerts, and an alert added to it afterwards is counted at once."""
    alerts = add_alerts(db, 300, 3, END - timedelta(days=10), END)
    q = MetricsQuery.last_days(14, END)
    assert found(db, q, now=END) == expected(alerts, q)
    alerts += add_alerts(db, 5, 4, END.replace(hour=0), END)
    assert found(db, q, now=END) == expected(alerts, q)
    with db.session() as s:
        assert END.date().isoformat() not in set(s.scalars(select(AlertRollupDay.day)))


def test_an_alert_arriving_late_for_a_rolled_up_day_is_counted(db: Database) -> None:
    alerts = add_alerts(db, 300, 5, END - timedelta(days=10), END)
    q = MetricsQuery.last_days(14, END)
    assert found(db, q) == expected(alerts, q)
    day = END - timedelta(days=3)
    alerts += add_alerts(db, 7, 6, day.replace(hour=0), day.replace(hour=23))
    assert found(db, q) == expected(alerts, q)
    assert found(db, q) == expected(alerts, q)  # and again, from the day rolled up anew
