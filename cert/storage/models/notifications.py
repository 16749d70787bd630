"""Tables of the constituency's notifications: the delivery queue (one row per message to one
contact, with its state), the findings already reported (the repeat interval) and the advisories."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class Notification(Base):
    """A message to one contact of an organisation: queued, sending, sent, failed (tried again at
    ``next_attempt_at``) or dead (given up after the most attempts). The subject, body and CSV
    attachment are rendered when it is queued, in the contact's language; signing and encryption
    happen when it is sent. ``escalation_step`` is 0 for the first message of an incident, then 1,
    2, 3 for each escalation."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_state_next", "state", "next_attempt_at"),
        Index("ix_notifications_case_org", "case_id", "organization"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # incident | aggregate | escalation | advisory
    state: Mapped[str] = mapped_column(String(10), default="queued")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), nullable=True)
    advisory_id: Mapped[int | None] = mapped_column(ForeignKey("advisories.id", ondelete="SET NULL"), nullable=True)
    organization: Mapped[str] = mapped_column(String(80))  # the organisation's id in the constituency
    organization_name: Mapped[str] = mapped_column(String(200), default="")
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    recipient_email: Mapped[str] = mapped_column(String(320))
    recipient_role: Mapped[str] = mapped_column(String(20), default="focal_point")
    recipient_pgp_key: Mapped[str] = mapped_column(Text, default="")
    recipient_smime_cert: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(5), default="fr")
    tlp: Mapped[str] = mapped_column(String(20), default="amber")
    ticket: Mapped[str] = mapped_column(String(40), default="")
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    attachment_name: Mapped[str] = mapped_column(String(200), default="")
    attachment: Mapped[str] = mapped_column(Text, default="")
    escalation_step: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    message_id: Mapped[str] = mapped_column(String(200), default="")


class NotifiedFinding(Base):
    """When a finding (an organisation, a kind of alert, its key such as the source address) was
    last put in a message: it is not reported again before the repeat interval."""

    __tablename__ = "notified_findings"
    __table_args__ = (UniqueConstraint("organization", "kind", "key", name="uq_notified_findings"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    organization: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(500))
    notified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="SET NULL"),
                                                        nullable=True)


class Advisory(Base):
    """A security bulletin written in French and English, marked with a TLP, sent to the contacts
    of the organisations (named, or of the sectors named) and kept."""

    __tablename__ = "advisories"
    id: Mapped[int] = mapped_column(primary_key=True)
    title_fr: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    body_fr: Mapped[str] = mapped_column(Text)
    body_en: Mapped[str] = mapped_column(Text)
    tlp: Mapped[str] = mapped_column(String(20), default="clear")
    organizations: Mapped[list[str]] = mapped_column(JSON, default=list)
    sectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
