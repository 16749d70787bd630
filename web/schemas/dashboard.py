"""Metrics, the dashboard's figures and SLA clocks as the API reads and answers them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from web.api_spec import ApiModel, QueryModel
from web.schemas.common import Severity

ClockName = Literal["acknowledge", "contain", "resolve"]
State = Literal["met", "breached", "running", "overdue"]


class MetricsQueryIn(QueryModel):
    """A period up to now and filters."""

    period: int = Field(30, ge=1, le=366, description="How many days up to now.")
    organization: str | None = Field(None, max_length=200, description="An organisation, as incidents record it.")
    rsit: str | None = Field(None, max_length=60, description="An RSIT class (its types included) or class:type.")
    severity: Severity | None = None


class DurationOut(ApiModel):
    count: int = Field(description="Incidents opened in the period that reached the step.")
    mean_seconds: float | None
    median_seconds: float | None


class DurationsOut(ApiModel):
    detect: DurationOut = Field(description="First evidence (detected_at) to opening.")
    acknowledge: DurationOut
    contain: DurationOut
    resolve: DurationOut


class ComplianceOut(ApiModel):
    met: int
    breached: int
    overdue: int
    running: int
    percent: float | None = Field(description="Met among met, breached and overdue; null when none is.")


class ComplianceByClockOut(ApiModel):
    acknowledge: ComplianceOut
    contain: ComplianceOut
    resolve: ComplianceOut


class MetricsOut(ApiModel):
    start: datetime
    end: datetime
    organization: str | None
    rsit: str | None
    severity: str | None
    opened: int = Field(description="Incidents opened in the period.")
    closed: int = Field(description="Incidents closed in the period.")
    durations: DurationsOut
    sla_compliance: ComplianceByClockOut


class SeverityDaysOut(ApiModel):
    severity: str
    label: str
    counts: list[int] = Field(description="Alerts raised each day of ``days``.")


class AlertsPerDayOut(ApiModel):
    days: list[str] = Field(description="UTC days, YYYY-MM-DD, oldest first.")
    series: list[SeverityDaysOut]


class OrganizationCountOut(ApiModel):
    organization: str | None
    open: int


class RuleCountOut(ApiModel):
    rule_id: str
    title: str
    alerts: int


class TechniqueOut(ApiModel):
    technique: str
    alerts: int
    incidents: int
    covered: bool = Field(description="Whether an active rule is tagged with it.")


class DashboardOut(ApiModel):
    metrics: MetricsOut
    alerts_per_day: AlertsPerDayOut
    open_incidents_by_organization: list[OrganizationCountOut]
    top_rules: list[RuleCountOut]
    alerts_total: int
    techniques_seen: list[TechniqueOut]
    techniques_covered: list[str] = Field(description="The techniques the active rules cover.")


class ClockOut(ApiModel):
    clock: ClockName
    state: State
    target_seconds: float
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    elapsed_seconds: float
    remaining_seconds: float | None = Field(
        description="Before the due time (negative once overdue); null once stopped.")


class SlaOut(ApiModel):
    severity: str
    now: datetime
    overdue: bool
    breached: bool
    clocks: list[ClockOut]
