"""Metrics over a known small set of incidents and alerts (tests/metrics_data.py): exact means,
medians, counts and SLA compliance, the same in SQLite and in PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest
from metrics_data import DGPN, INTERIEUR, JUSTICE, NOW, seed
from sqlalchemy import select

from cert.core.config import Settings
from cert.detection import overrides
from cert.incidents import metrics
from cert.incidents.metrics import Compliance, Duration, MetricsQuery
from cert.incidents.sla import SlaPolicy
from cert.runtime.platform import Platform
from cert.storage.db import Database
from cert.storage.models import Case


@pytest.fixture
def db(either_db: Database) -> Database:
    """The data set in a fresh migrated database of each kind."""
    with either_db.session() as s:
        seed(s)
    return either_db


POLICY = SlaPolicy.from_settings(Settings())
MONTH = MetricsQuery.last_days(30, NOW)


def test_means_and_medians_of_each_duration(db: Database) -> None:
    with db.session() as s:
        found = metrics.durations(s, MONTH)
    assert found == {
        # first evidence to opening: 30 min, 90 min, 10 min
        "detect": Duration(3, 2600.0, 1800.0),
        # 10 min, 20 min, 30 min, 45 min, 5 h (incident 4 not yet acknowledged; 5 opened before)
        "acknowledge": Duration(5, 4860.0, 1800.0),
        # 3 h, 5 h, 1 h
        "contain": Duration(3, 10800.0, 10800.0),
        # 20 h, 2 h, 80 h: an even count would average the middle two
        "resolve": Duration(3, 122400.0, 72000.0),
    }


def test_even_count_median_is_the_mean_of_the_middle_two(db: Database) -> None:
    with db.session() as s:
        found = metrics.durations(s, replace(MONTH, severity="critical"))
    assert found["acknowledge"] == Duration(2, 900.0, 900.0)  # 10 and 20 minutes
    assert found["resolve"] == Duration(1, 72000.0, 72000.0)
    assert found["detect"] == Duration(2, 3600.0, 3600.0)


def test_incidents_opened_and_closed_in_the_period(db: Database) -> None:
    with db.session() as s:
        assert metrics.incident_counts(s, MONTH) == (6, 4)  # the fifth was opened in February
        assert metrics.incident_counts(s, replace(MONTH, organization=INTERIEUR)) == (3, 4)
        assert metrics.incident_counts(s, replace(MONTH, scope=frozenset({DGPN}))) == (1, 0)
        # an RSIT class matches its types too
        assert metrics.incident_counts(s, replace(MONTH, rsit="intrusions")) == (3, 2)
        assert metrics.incident_counts(s, replace(MONTH, rsit="malicious-code")) == (1, 1)
        assert metrics.incident_counts(s, MetricsQuery.last_days(7, NOW)) == (1, 1)


def test_sla_compliance_per_clock(db: Database) -> None:
    with db.session() as s:
        found = metrics.sla_compliance(s, MONTH, POLICY, NOW)
    assert found == {
        "acknowledge": Compliance(met=3, breached=2, overdue=0, running=1),
        "contain": Compliance(met=3, breached=1, overdue=1, running=1),
        "resolve": Compliance(met=2, breached=1, overdue=2, running=1),
    }
    assert [found[c].percent for c in ("acknowledge", "contain", "resolve")] == [60.0, 60.0, 40.0]
    with db.session() as s:
        critical = metrics.sla_compliance(s, replace(MONTH, severity="critical"), POLICY, NOW)
    assert critical["acknowledge"] == Compliance(met=1, breached=1) and critical["acknowledge"].percent == 50.0


def test_sla_targets_come_from_the_settings(db: Database) -> None:
    """With a 30-minute acknowledgement target for critical incidents, the one acknowledged after
    20 minutes meets it."""
    lenient = SlaPolicy.from_settings(replace(Settings(), sla_acknowledge_minutes={
        **Settings().sla_acknowledge_minutes, "critical": 30}))
    with db.session() as s:
        found = metrics.sla_compliance(s, replace(MONTH, severity="critical"), lenient, NOW)
    assert found["acknowledge"] == Compliance(met=2)


def test_no_incident_no_figure(db: Database) -> None:
    with db.session() as s:
        query = replace(MONTH, organization="Nobody")
        assert metrics.durations(s, query)["acknowledge"] == Duration(0, None, None)
        assert metrics.sla_compliance(s, query, POLICY, NOW)["resolve"].percent is None


def test_alerts_per_day_by_severity(db: Database) -> None:
    with db.session() as s:
        week = metrics.alerts_per_day(s, MetricsQuery.last_days(7, NOW))
    assert list(week) == ["critical", "high", "medium", "low", "informational"]
    assert list(week["high"]) == [f"2024-03-{d:02d}" for d in range(24, 32)]  # the 8 days the period touches
    assert week["high"]["2024-03-30"] == 3 and week["high"]["2024-03-31"] == 1
    assert week["low"]["2024-03-29"] == 2 and week["critical"]["2024-03-31"] == 1
    assert sum(sum(days.values()) for days in week.values()) == 7  # the February alert is outside
    with db.session() as s:
        interieur = metrics.alerts_per_day(s, replace(MetricsQuery.last_days(7, NOW), organization=INTERIEUR))
    assert interieur["high"]["2024-03-31"] == 0 and interieur["high"]["2024-03-30"] == 3


def test_top_rules_and_techniques_seen(db: Database) -> None:
    with db.session() as s:
        figures = metrics.alert_figures(s, MONTH)
        incidents = metrics.incident_techniques(s, MONTH)
    assert [(r.rule_id, r.title, r.alerts) for r in figures.top_rules] == [
        ("r-brute", "Brute force", 4), ("r-scan", "Port scan", 2), ("r-ps", "Encoded PowerShell", 1)]
    assert figures.total == 7
    assert figures.techniques == {"T1110": 4, "T1046": 2, "T1059": 1}
    assert incidents == {"T1110": 2, "T1059": 1}
    rows = metrics.technique_rows(figures.techniques, incidents, {"T1110", "T1190"})
    assert [(r.technique, r.alerts, r.incidents, r.covered) for r in rows] == [
        ("T1110", 4, 2, True), ("T1046", 2, 0, False), ("T1059", 1, 1, False)]


def test_open_incidents_per_organisation(db: Database) -> None:
    with db.session() as s:
        assert metrics.open_by_organization(s, MONTH) == [(DGPN, 1), (JUSTICE, 1), (None, 1)]
        assert metrics.open_by_organization(s, replace(MONTH, scope=frozenset({JUSTICE, INTERIEUR}))) == [(JUSTICE, 1)]
        s.execute(select(Case))  # the session is usable after the aggregates


def test_covered_techniques_follow_the_enabled_rules(platform: Platform) -> None:
    """The project's Sigma rules cover T1110 (several rules) and T1133 (one correlation rule), the
    anomaly detectors T1071 (beaconing) and T1059 (rare Windows behaviour); nothing covers T1486:
    disabling the correlation rule takes T1133 out; T1110 stays covered by the others."""
    vpn_brute_force = "1e3a5c7d-9f1b-4d3e-a5c7-9e1b3d5f7a58"
    with platform.db.session() as s:
        covered = metrics.active_rule_techniques(s, platform.settings)
    assert {"T1110", "T1133", "T1190", "T1071", "T1059"} <= covered and "T1486" not in covered
    with platform.db.session() as s:
        overrides.set_enabled(s, vpn_brute_force, False, "analyst")
    with platform.db.session() as s:
        covered = metrics.active_rule_techniques(s, platform.settings)
    assert "T1133" not in covered and "T1110" in covered


def test_period_is_bounded() -> None:
    from cert.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        MetricsQuery.last_days(0, NOW)
    with pytest.raises(InvalidInput):
        MetricsQuery.last_days(400, NOW)
    assert len(MetricsQuery.last_days(7, NOW).days) == 8
