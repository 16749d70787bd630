"""Cases, their observables and their timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | contained | closed
    severity: Mapped[str] = mapped_column(String(20), default="medium")
    tlp: Mapped[str] = mapped_column(String(20), default="amber")
    #: the highest TLP of what the title and description were derived from; lowering the case's
    #: TLP never lowers it, and no exit sends the title above it (``cert.core.tlp.may_leave``)
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
