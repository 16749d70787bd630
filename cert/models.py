"""Relational domain objects: users, alerts, cases, observables, timeline, playbook runs, audit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cert.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))  # analyst | responder | admin
    locale: Mapped[str] = mapped_column(String(8), default="fr")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100), index=True)
    rule_title: Mapped[str] = mapped_column(String(300))
    detector: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(20))  # informational | low | medium | high | critical
    group_key: Mapped[str] = mapped_column(String(300), default="")
    source_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
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
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | contained | closed
    severity: Mapped[str] = mapped_column(String(20), default="medium")
    tlp: Mapped[str] = mapped_column(String(20), default="amber")
    #: the highest TLP of what the title and description were derived from; lowering the case's
    #: TLP never lowers it, and no exit sends the title above it (``cert.tlp.may_leave``)
    title_tlp: Mapped[str] = mapped_column(String(20), default="clear", server_default="clear")
    pap: Mapped[str] = mapped_column(String(10), default="amber")
    rsit_class: Mapped[str] = mapped_column(String(60), default="")
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    misp_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    observables: Mapped[list[Observable]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Observable.id"
    )
    timeline: Mapped[list[TimelineEntry]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="TimelineEntry.id"
    )


class Observable(Base):
    __tablename__ = "observables"
    __table_args__ = (UniqueConstraint("case_id", "type", "value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(30))  # ip | domain | url | user | hostname | md5 | sha256 ...
    value: Mapped[str] = mapped_column(String(2048))
    tlp: Mapped[str] = mapped_column(String(20), default="amber")
    ioc: Mapped[bool] = mapped_column(default=True)
    #: False for a value that is not one of its type (kept as evidence, never an indicator)
    valid: Mapped[bool] = mapped_column(default=True, server_default=true())
    invalid_reason: Mapped[str] = mapped_column(String(300), default="", server_default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    case: Mapped[Case] = relationship(back_populates="observables")


class TimelineEntry(Base):
    __tablename__ = "timeline"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))  # created | note | alert | playbook | export | status
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    case: Mapped[Case] = relationship(back_populates="timeline")


class PlaybookRun(Base):
    __tablename__ = "playbook_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    playbook: Mapped[str] = mapped_column(String(100))
    requested_by: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | done | failed
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


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


class DeadLetter(Base):
    """Input that could not be parsed or stored, kept with its reason and raw bytes."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(500), index=True)
    parser: Mapped[str] = mapped_column(String(60))
    position: Mapped[str] = mapped_column(String(60), default="")
    reason: Mapped[str] = mapped_column(String(500), index=True)
    raw: Mapped[bytes] = mapped_column()
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80), index=True)
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")


# Models of other areas live in their own modules and register on Base.metadata when imported;
# import them here so that Alembic and the application always see every table.
from cert import indicator_models as _indicators  # noqa: E402,F401 - indicator store, YARA scans (issue 4)
from cert import ingest_models  # noqa: E402,F401 - ingest checkpoints, health counters (issue 3)
from cert import rule_models as _rules  # noqa: E402,F401 - rule management, hunt runs (issue 4: Sigma)
from cert import token_models as _tokens  # noqa: E402,F401 - API tokens of the ingest API (issue 3)
