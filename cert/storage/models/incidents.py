"""Incidents (``cases``), what they are made of (observables, timeline, comments, tasks,
countermeasures, attachments with their chain of custody, affected organisations), the incident
reports they come from, and the templates they may be opened from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class Case(Base):
    __tablename__ = "cases"
    #: the open incidents per organisation (the dashboard) read this index alone
    __table_args__ = (
        Index("ix_cases_status_organization", "status", "organization"),
        # the dashboard's figures of the incidents opened, and closed, in a period, read from the
        # index alone (cert.incidents.metrics)
        Index("ix_cases_opened_metrics", "created_at", "severity", "organization", "rsit_class", "detected_at",
              "acknowledged_at", "contained_at", "closed_at"),
        Index("ix_cases_closed_metrics", "closed_at", "severity", "organization", "rsit_class"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # open | contained | closed
    severity: Mapped[str] = mapped_column(String(20), default="medium", index=True)
    tlp: Mapped[str] = mapped_column(String(20), default="amber")
    #: the highest TLP of what the title and description were derived from; lowering the case's
    #: TLP never lowers it, and no exit sends the title above it (``cert.core.tlp.may_leave``)
    title_tlp: Mapped[str] = mapped_column(String(20), default="clear", server_default="clear")
    pap: Mapped[str] = mapped_column(String(10), default="amber")
    rsit_class: Mapped[str] = mapped_column(String(60), default="")
    #: the organisation primarily concerned; every affected one is in ``affected``
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    misp_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    #: ATT&CK technique ids (``T1110``, ``T1059.001``)
    attack: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: the template it was opened from (``IncidentTemplate.key``), if any
    template: Mapped[str | None] = mapped_column(String(80), nullable=True)
    #: on closing: true-positive | false-positive | benign | duplicate
    resolution: Mapped[str | None] = mapped_column(String(20), nullable=True)
    resolution_comment: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: the incident this one was merged into (it is then closed as a duplicate)
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    #: the SLA clocks: when the first evidence was seen, and when the incident was acknowledged,
    #: contained and resolved (closed); None while it has not happened
    detected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    contained_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow,
                                                        nullable=True, index=True)
    affected: Mapped[list[CaseOrganization]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseOrganization.organization"
    )
    observables: Mapped[list[Observable]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Observable.id"
    )
    timeline: Mapped[list[TimelineEntry]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="TimelineEntry.id"
    )


class Observable(Base):
    __tablename__ = "observables"
    __table_args__ = (UniqueConstraint("case_id", "type", "value"), Index("ix_observables_type_value", "type", "value"))
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(30))  # ip | domain | url | user | hostname | md5 | sha256 ...
    value: Mapped[str] = mapped_column(String(2048))
    tlp: Mapped[str] = mapped_column(String(20), default="amber")
    #: what may be done with it (PAP 2.0: red, amber, green, clear); None: the incident's PAP
    pap: Mapped[str | None] = mapped_column(String(20), nullable=True)
    ioc: Mapped[bool] = mapped_column(default=True)
    #: False for a value that is not one of its type (kept as evidence, never an indicator)
    valid: Mapped[bool] = mapped_column(default=True, server_default=true())
    invalid_reason: Mapped[str] = mapped_column(String(300), default="", server_default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(80), default="", server_default="")
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=True)
    case: Mapped[Case] = relationship(back_populates="observables")


class TimelineEntry(Base):
    __tablename__ = "timeline"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))  # created | note | alert | playbook | export | status
    #: the English text, for the logs and for entries written before messages had ids
    message: Mapped[str] = mapped_column(Text)
    #: the message id (an ``N_``-marked English text with ``%(name)s`` placeholders) and its values:
    #: shown in the reader's language (``cert.incidents.timeline.render``)
    message_id: Mapped[str] = mapped_column(Text, default="", server_default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    case: Mapped[Case] = relationship(back_populates="timeline")


class CaseOrganization(Base):
    """An organisation an incident concerns (the primary one included)."""

    __tablename__ = "case_organizations"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    organization: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    case: Mapped[Case] = relationship(back_populates="affected")


class Comment(Base):
    __tablename__ = "case_comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Task(Base):
    """An investigation step (RTIR's investigations): who does it, by when, and where it stands."""

    __tablename__ = "case_tasks"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    assignee: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | in-progress | done | cancelled
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Countermeasure(Base):
    """A containment or remediation action on a target (an address blocked, a domain sinkholed, an
    account disabled), recorded by hand or driven by a playbook, with its state."""

    __tablename__ = "case_countermeasures"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: block-ip | block-domain | sinkhole | disable-account | reset-password | isolate-host | takedown |
    #: patch | other
    kind: Mapped[str] = mapped_column(String(30))
    target: Mapped[str] = mapped_column(String(2048), default="")
    #: the organisation that acts on it (a ministry), if not the CERT
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: proposed | requested | in-progress | done | failed | impossible | reverted
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    comment: Mapped[str] = mapped_column(Text, default="")
    playbook_run_id: Mapped[int | None] = mapped_column(ForeignKey("playbook_runs.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: when it is undone on its own (an address blocked for 24 hours)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Attachment(Base):
    """A file attached to an incident, stored under the data directory (never the web root) by its
    stored name; its SHA-256 and its chain of custody (``CustodyEntry``) go with it."""

    __tablename__ = "case_attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    stored_name: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    tlp: Mapped[str] = mapped_column(String(20), default="amber")
    uploaded_by: Mapped[str] = mapped_column(String(80))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: the file scanner's outcome (matched rules, error)
    scan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CustodyEntry(Base):
    """Who added, downloaded or removed an attachment, when, and from where."""

    __tablename__ = "attachment_custody"
    id: Mapped[int] = mapped_column(primary_key=True)
    attachment_id: Mapped[int] = mapped_column(ForeignKey("case_attachments.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(20))  # added | downloaded | removed
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")


class IncidentReport(Base):
    """A report of an incident as it came in (RTIR's incident reports): from an alert, the API, the
    console, e-mail or the public web form. It is linked to one or more incidents, or rejected."""

    __tablename__ = "incident_reports"
    #: an alert has one report at most
    __table_args__ = (Index("uq_incident_reports_alert_id", "alert_id", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # alert | api | console | email | web-form
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(String(300), default="")  # a name or an address
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    tlp: Mapped[str] = mapped_column(String(20), default="amber")
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)  # new | linked | rejected
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    created_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ReportLink(Base):
    __tablename__ = "incident_report_links"
    report_id: Mapped[int] = mapped_column(ForeignKey("incident_reports.id", ondelete="CASCADE"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True, index=True)
    linked_by: Mapped[str] = mapped_column(String(80))
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IncidentTemplate(Base):
    """What an incident of one kind starts with: severity, TLP and PAP, RSIT class, tasks and the
    playbooks to offer."""

    __tablename__ = "incident_templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    #: the name in each language: {"fr": ..., "en": ...}
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    rsit_class: Mapped[str] = mapped_column(String(60), default="")
    severity: Mapped[str] = mapped_column(String(20), default="medium")
    tlp: Mapped[str] = mapped_column(String(20), default="amber")
    pap: Mapped[str] = mapped_column(String(10), default="amber")
    #: [{"title": {"fr": ..., "en": ...}, "description": {...}, "due_hours": N}]
    tasks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    playbooks: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_by: Mapped[str] = mapped_column(String(80), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class _IncidentDayFigures:
    """The dashboard's figures of the incidents opened on one UTC day (``cert.incidents.rollup``):
    how many, each duration's values (sorted float64, little-endian, seconds; medians need them
    all), the SLA clocks they met and breached (a stopped clock's state never changes), and the
    ATT&CK techniques they carry. ``policy``: the SLA targets the states were judged by."""

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    policy: Mapped[str] = mapped_column(String(64))
    opened: Mapped[int] = mapped_column(Integer)
    detect: Mapped[bytes] = mapped_column(LargeBinary)
    acknowledge: Mapped[bytes] = mapped_column(LargeBinary)
    contain: Mapped[bytes] = mapped_column(LargeBinary)
    resolve: Mapped[bytes] = mapped_column(LargeBinary)
    #: {clock: [met, breached]}
    decided: Mapped[dict[str, list[int]]] = mapped_column(JSON)
    #: {technique: incidents}
    techniques: Mapped[dict[str, int]] = mapped_column(JSON)
    rolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IncidentDayFigures(_IncidentDayFigures, Base):
    """The figures of every incident opened on the day: what a reader who sees every organisation,
    with no filter, reads."""

    __tablename__ = "incident_day_figures"


class IncidentDayOrgFigures(_IncidentDayFigures, Base):
    """The same figures per organisation the incidents record (``""``: none)."""

    __tablename__ = "incident_day_org_figures"
    organization: Mapped[str] = mapped_column(String(200), primary_key=True)


class IncidentRollupMark(Base):
    """When the rolled-up days were last checked against the incidents' changes, and the SLA
    targets their states were judged by (one row)."""

    __tablename__ = "incident_rollup_mark"
    id: Mapped[int] = mapped_column(primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    policy: Mapped[str] = mapped_column(String(64))


class CaseAcknowledgement(Base):
    """An organisation concerned by an incident acknowledged it: its focal point (or deputy...) in
    the portal, by the signed link of a notification, or through the API. One per organisation;
    the first acknowledgement stands. Escalation stops once it is there."""

    __tablename__ = "case_acknowledgements"
    __table_args__ = (UniqueConstraint("case_id", "organization", name="uq_case_acknowledgements_case_org"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    organization: Mapped[str] = mapped_column(String(80))  # the organisation's id in the constituency
    acknowledged_by: Mapped[str] = mapped_column(String(200))  # a user name, or the address of a signed link
    acknowledged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    via: Mapped[str] = mapped_column(String(20))  # portal | link | api
