"""SLA clocks with a fixed clock: each state on both sides of each due time, for every severity,
for incidents and alerts; the targets come from the settings file and the environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cert.core.config import SLA_SEVERITIES, Settings, load_settings
from cert.core.errors import ConfigError
from cert.incidents.sla import CLOCKS, SlaPolicy, alert_sla, clock_status, incident_sla
from cert.storage.models import Alert, Case

OPENED = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
POLICY = SlaPolicy.from_settings(Settings())


def test_default_targets_grow_as_severity_falls() -> None:
    assert POLICY.target("acknowledge", "critical") == timedelta(minutes=15)
    assert POLICY.target("contain", "critical") == timedelta(hours=4)
    assert POLICY.target("resolve", "critical") == timedelta(hours=24)
    for clock in CLOCKS:
        targets = [POLICY.target(clock, sev) for sev in reversed(SLA_SEVERITIES)]  # critical first
        assert targets == sorted(targets) and len(set(targets)) == len(targets), clock
    assert POLICY.target("acknowledge", "bogus") == POLICY.target("acknowledge", "medium")


def _incident(severity: str, **moments: datetime | None) -> Case:
    return Case(title="t", severity=severity, created_by="test", created_at=OPENED, **moments)


@pytest.mark.parametrize("severity", SLA_SEVERITIES)
@pytest.mark.parametrize("clock", CLOCKS)
def test_each_state_around_the_due_time(severity: str, clock: str) -> None:
    target = POLICY.target(clock, severity)  # type: ignore[arg-type]
    due = OPENED + target
    field = {"acknowledge": "acknowledged_at", "contain": "contained_at", "resolve": "closed_at"}[clock]

    def state(stopped: datetime | None, now: datetime) -> str:
        status = incident_sla(_incident(severity, **{field: stopped}), POLICY, now).clock(clock)  # type: ignore[arg-type]
        assert status is not None and status.due_at == due
        return status.state

    assert state(None, due - SECOND) == "running"
    assert state(None, due) == "running"  # due now, not yet past
    assert state(None, due + SECOND) == "overdue"
    assert state(due, due + timedelta(days=400)) == "met"  # stopped exactly on time
    assert state(due - SECOND, due + SECOND) == "met"
    assert state(due + SECOND, due + SECOND) == "breached"
    assert state(due + SECOND, due + timedelta(days=1)) == "breached"


def test_elapsed_and_remaining() -> None:
    now = OPENED + timedelta(minutes=10)
    sla = incident_sla(_incident("critical"), POLICY, now)
    ack = sla.clock("acknowledge")
    assert ack is not None and ack.elapsed == timedelta(minutes=10) and ack.remaining == timedelta(minutes=5)
    assert not sla.overdue and not sla.breached
    later = incident_sla(_incident("critical"), POLICY, OPENED + timedelta(minutes=20)).clock("acknowledge")
    assert later is not None and later.state == "overdue" and later.remaining == timedelta(minutes=-5)
    done = incident_sla(_incident("critical", acknowledged_at=OPENED + timedelta(minutes=12)), POLICY,
                        OPENED + timedelta(hours=3)).clock("acknowledge")
    assert done is not None and done.elapsed == timedelta(minutes=12) and done.remaining is None


def test_a_later_step_stops_the_earlier_clocks() -> None:
    """Closed after 2 h with no acknowledgement nor containment recorded: a high incident's
    acknowledgement (60 min) was late, its containment (8 h) and resolution (72 h) on time."""
    case = _incident("high", closed_at=OPENED + timedelta(hours=2))
    sla = incident_sla(case, POLICY, OPENED + timedelta(days=30))
    assert [(c.clock, c.state) for c in sla.clocks] == [
        ("acknowledge", "breached"), ("contain", "met"), ("resolve", "met")]
    assert sla.breached and not sla.overdue
    contained = _incident("critical", contained_at=OPENED + timedelta(minutes=14))
    ack = incident_sla(contained, POLICY, OPENED + timedelta(hours=1)).clock("acknowledge")
    assert ack is not None and ack.state == "met"


def test_naive_times_from_sqlite_are_utc() -> None:
    case = Case(title="t", severity="critical", created_by="x", created_at=OPENED.replace(tzinfo=None),
                acknowledged_at=(OPENED + timedelta(minutes=3)).replace(tzinfo=None))
    sla = incident_sla(case, POLICY, OPENED + timedelta(minutes=30))
    assert sla.clocks[0].state == "met" and sla.clocks[0].due_at == OPENED + timedelta(minutes=15)
    assert sla.clocks[1].state == "running"


@pytest.mark.parametrize("severity", SLA_SEVERITIES)
def test_alert_clocks(severity: str) -> None:
    ack_due = OPENED + POLICY.target("acknowledge", severity)
    resolve_due = OPENED + POLICY.target("resolve", severity)

    def alert(**moments: datetime | None) -> Alert:
        return Alert(rule_id="r", rule_title="r", detector="sigma", severity=severity, first_seen=OPENED,
                     last_seen=OPENED, created_at=OPENED, **moments)

    fresh = alert_sla(alert(), POLICY, ack_due)
    assert [(c.clock, c.state) for c in fresh.clocks] == [("acknowledge", "running"), ("resolve", "running")]
    late = alert_sla(alert(), POLICY, ack_due + SECOND)
    assert [c.state for c in late.clocks] == ["overdue", "running"] and late.overdue
    acked = alert_sla(alert(acknowledged_at=ack_due), POLICY, resolve_due + SECOND)
    assert [c.state for c in acked.clocks] == ["met", "overdue"]
    closed_late = alert_sla(alert(closed_at=resolve_due + SECOND), POLICY, resolve_due + timedelta(days=9))
    assert [c.state for c in closed_late.clocks] == ["breached", "breached"]  # closing acknowledges, late


def test_targets_from_the_settings_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "vigie.toml"
    config.write_text("[sla_acknowledge_minutes]\ncritical = 5\nlow = 600\n", encoding="utf-8")
    settings = load_settings(config, env={"CERT_SLA_RESOLVE_MINUTES": '{"critical": 720}'})
    policy = SlaPolicy.from_settings(settings)
    assert policy.target("acknowledge", "critical") == timedelta(minutes=5)
    assert policy.target("acknowledge", "low") == timedelta(hours=10)
    assert policy.target("acknowledge", "high") == timedelta(minutes=60)  # the default kept
    assert policy.target("resolve", "critical") == timedelta(hours=12)
    assert policy.target("contain", "critical") == timedelta(hours=4)
    sla = incident_sla(Case(title="t", severity="critical", created_by="x", created_at=OPENED), policy,
                       OPENED + timedelta(minutes=6))
    assert sla.clocks[0].state == "overdue"


@pytest.mark.parametrize("value", ['{"urgent": 5}', '{"critical": 0}', '{"critical": "soon"}', "[5]", "{"])
def test_bad_sla_settings_are_refused_with_the_setting_named(value: str) -> None:
    with pytest.raises(ConfigError, match="sla_contain_minutes"):
        load_settings(env={"CERT_SLA_CONTAIN_MINUTES": value})


def test_clock_status_directly() -> None:
    status = clock_status("resolve", timedelta(hours=1), OPENED, None, OPENED + timedelta(hours=2))
    assert status.state == "overdue" and status.late and status.elapsed == timedelta(hours=2)
