"""The grouped view over its time window equals a plain grouping of the alerts of that window, in
SQLite and in PostgreSQL: per rule and per source address (alerts of no address included), with
their counts, events, highest severity, first and last seen and statuses, page after page, with
the organisation scope and other filters; and the window itself: the last 7 days by default, the
last 24 hours, an explicit range of at most 7 days, a longer one refused."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cert.core.errors import InvalidInput
from cert.detection import triage
from cert.detection.triage import AlertFilter
from cert.storage.db import Database
from cert.storage.models import Alert

NOW = datetime(2025, 5, 20, 15, 30, 12, tzinfo=UTC)
ORGS = ("Ministère de l'Intérieur", "Ministère de la Justice", None)


@pytest.fixture
def db(either_db: Database) -> Database:
    """A fresh migrated database of each kind (``either_db``)."""
    return either_db


def add_alerts(db: Database, n: int = 900, seed: int = 12) -> None:
    """``n`` alerts over the 20 days before NOW, 9 rules, 40 addresses and none, every status."""
    rnd = random.Random(seed)
    with db.session() as s:
        for i in range(n):
            at = NOW - timedelta(seconds=rnd.randrange(20 * 86400))
            rule = rnd.randrange(9)
            ip = None if rnd.random() < 0.1 else f"198.51.100.{rnd.randrange(40)}"
            s.add(Alert(rule_id=f"r{rule}", rule_title=f"Rule {rule}", detector="sigma",
                        severity=rnd.choice(triage.SEVERITIES), organization=rnd.choice(ORGS), source_ip=ip,
                        status=rnd.choice(triage.STATUSES), count=1 + i % 5, attack=[], entities={}, event_ids=[],
                        first_seen=at - timedelta(minutes=rnd.randrange(60)), last_seen=at, created_at=at))


def aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def expected(db: Database, f: AlertFilter, by: str, orgs: frozenset[str] | None = None) -> list[tuple[Any, ...]]:
    """The groups computed in Python from every alert of the window, the group seen last first."""
    rows: dict[str | None, list[Alert]] = defaultdict(list)
    with db.session() as s:
        for a in s.scalars(select(Alert)):
            raised = aware(a.created_at)
            if (f.since and raised < f.since) or (f.until and raised > f.until):
                continue
            if (orgs is not None and a.organization not in orgs) or (f.severity and a.severity not in f.severity):
                continue
            rows[a.source_ip if by == "source" else a.rule_id].append(a)
    out = []
    for key, alerts in rows.items():
        top = max(alerts, key=lambda a: triage.SEVERITY_RANK[a.severity]).severity
        out.append((key, len(alerts), sum(a.count for a in alerts), top, min(aware(a.first_seen) for a in alerts),
                    max(aware(a.last_seen) for a in alerts), dict(Counter(a.status for a in alerts))))
    return sorted(out, key=lambda g: (-g[5].timestamp(), g[0] or ""))


def found(db: Database, f: AlertFilter, by: str, orgs: frozenset[str] | None = None,
          per_page: int = 7) -> list[tuple[Any, ...]]:
    """Every group of the view, read a page of ``per_page`` at a time; each page gives the same total."""
    out: list[tuple[Any, ...]] = []
    totals = set()
    with db.session() as s:
        while True:
            page, total = triage.groups(s, f, by, limit=per_page, offset=len(out), organizations=orgs)
            totals.add(total)
            out.extend((g.key, g.alerts, g.events, g.severity, g.first_seen, g.last_seen, g.statuses) for g in page)
            if len(page) < per_page:
                break
        assert triage.count_groups(s, f, by, organizations=orgs) in totals
    assert totals == {len(out)}
    return out


@pytest.mark.parametrize("by", ["rule", "source"])
def test_groups_of_the_window_equal_the_alerts_grouped(db: Database, by: str) -> None:
    add_alerts(db)
    week = triage.group_window(AlertFilter(), now=NOW)
    want = expected(db, week, by)
    assert 0 < sum(g[1] for g in want) < 900  # the window leaves the older alerts out
    assert found(db, week, by) == want
    day = triage.group_window(AlertFilter(), "24h", now=NOW)
    assert found(db, day, by) == expected(db, day, by)
    interior = frozenset({ORGS[0]})
    narrowed = triage.group_window(AlertFilter(severity=("high", "critical")), now=NOW)
    assert found(db, narrowed, by, interior) == expected(db, narrowed, by, interior)
    earlier = AlertFilter(since=NOW - timedelta(days=15), until=NOW - timedelta(days=9))
    assert found(db, triage.group_window(earlier, now=NOW), by) == expected(db, earlier, by)


def test_a_group_expands_to_the_alerts_it_counts(db: Database) -> None:
    add_alerts(db, 300)
    week = triage.group_window(AlertFilter(), now=NOW)
    with db.session() as s:
        page, _ = triage.groups(s, week, "rule", limit=3)
        for g in page:
            assert g.expand is not None and g.expand.since == week.since
            assert triage.count(s, g.expand) == g.alerts
        past_the_end, total = triage.groups(s, week, "rule", limit=5, offset=100)
        assert past_the_end == [] and total == 9


def test_the_window_defaults_to_the_last_7_days_and_refuses_a_longer_range() -> None:
    assert triage.group_window(AlertFilter(), now=NOW).since == NOW - timedelta(days=7)
    assert triage.group_window(AlertFilter(), "24h", now=NOW).since == NOW - timedelta(hours=24)
    until = NOW - timedelta(days=30)
    only_end = triage.group_window(AlertFilter(until=until), now=NOW)
    assert (only_end.since, only_end.until) == (until - timedelta(days=7), until)
    from_only = triage.group_window(AlertFilter(since=NOW - timedelta(days=3)), now=NOW)
    assert (from_only.since, from_only.until) == (NOW - timedelta(days=3), NOW)
    for too_long in (AlertFilter(since=NOW - timedelta(days=8)),
                     AlertFilter(since=NOW - timedelta(days=40), until=NOW - timedelta(days=32, seconds=1))):
        with pytest.raises(InvalidInput) as exc:
            triage.group_window(too_long, now=NOW)
        assert "at most 7 days" in str(exc.value)
    with pytest.raises(InvalidInput):
        triage.group_window(AlertFilter(), "30d", now=NOW)
    with pytest.raises(InvalidInput), Database("sqlite://").session() as s:
        triage.groups(s, AlertFilter(), "rule")
