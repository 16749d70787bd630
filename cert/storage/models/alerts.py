"""Alerts raised by the detectors, and each detection run's window."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_status_created", "status", "created_at"),
        # the queue's order: a deep page walks it for ids alone (cert.detection.triage.search)
        Index("ix_alerts_created_id", "created_at", "id"),
        Index("ix_alerts_severity_created", "severity", "created_at"),
        Index("ix_alerts_organization_created", "organization", "created_at"),
        #: covering index of the dashboard's counts per day and per rule (cert.incidents.metrics)
        Index("ix_alerts_created_metrics", "created_at", "severity", "organization", "rule_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100), index=True)
    rule_title: Mapped[str] = mapped_column(String(300))
    detector: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(20))  # informational | low | medium | high | critical
    group_key: Mapped[str] = mapped_column(String(300), default="")
    source_ip: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attack: Mapped[list[str]] = mapped_column(JSON, default=list)
    entities: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    event_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(20), default="new")  # new | acknowledged | promoted | closed
    #: the TLP of the alert's title and evidence (an indicator hit carries the indicator's)
    tlp: Mapped[str] = mapped_column(String(20), default="clear", server_default="clear")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    assignee: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    #: on closing: false-positive | benign | duplicate | true-positive, with a comment
    close_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    close_comment: Mapped[str] = mapped_column(Text, default="", server_default="")
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    #: why an anomaly detector raised it (``cert.core.anomaly``: score, features, chart); {} for a rule
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))


class AlertTactic(Base):
    """One ATT&CK tactic or technique of an alert, in the spelling of ``cert.detection.triage.tactic_key``
    (``credential_access``, ``t1110.001``), with the alert's raised time: the queue's tactic filter
    reads its index. The database fills it when an alert is written (triggers of migration
    ``0018_search``), whichever way the alert was written."""

    __tablename__ = "alert_tactics"
    __table_args__ = (Index("ix_alert_tactics_tactic_created", "tactic", "created_at", "alert_id"),)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    tactic: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SavedFilter(Base):
    """A named filter of a list (the alert queue, the incidents), the owner's or shared with all."""

    __tablename__ = "saved_filters"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(80), index=True)
    view: Mapped[str] = mapped_column(String(20), default="alerts")  # alerts | incidents
    name: Mapped[str] = mapped_column(String(100))
    #: the query-string parameters of the filter
    query: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    shared: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DetectionRun(Base):
    """One pass of the detectors over a window of ingested events, so gaps are visible."""

    __tablename__ = "detection_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    events: Mapped[int] = mapped_column(Integer, default=0)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    alerts_new: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="running")


class AlertDayCount(Base):
    """How many alerts were raised on one finished UTC day with one severity, of one organisation
    (``""``: of none), by one rule, and the id of the last of them: the dashboard's counts over a
    period read these rows instead of the alerts (``cert.detection.rollup``)."""

    __tablename__ = "alert_day_counts"
    __table_args__ = (Index("ix_alert_day_counts_organization_day", "organization", "day"),)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    severity: Mapped[str] = mapped_column(String(20), primary_key=True)
    organization: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    alerts: Mapped[int] = mapped_column(Integer)
    last_id: Mapped[int] = mapped_column(Integer)


class AlertDayRuleCount(Base):
    """The same counts as ``AlertDayCount`` summed over the organisations: what a reader who sees
    every organisation, without an organisation filter, reads."""

    __tablename__ = "alert_day_rule_counts"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    severity: Mapped[str] = mapped_column(String(20), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    alerts: Mapped[int] = mapped_column(Integer)
    last_id: Mapped[int] = mapped_column(Integer)


class AlertRollupDay(Base):
    """A UTC day whose alerts are counted in ``AlertDayCount`` and ``AlertDayRuleCount``."""

    __tablename__ = "alert_rollup_days"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    rolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AlertRollupMark(Base):
    """The highest alert id the rolled-up days were checked against (one row): an alert above it
    raised on a rolled-up day makes that day counted again."""

    __tablename__ = "alert_rollup_mark"
    id: Mapped[int] = mapped_column(primary_key=True)
    through_id: Mapped[int] = mapped_column(Integer, default=0)
