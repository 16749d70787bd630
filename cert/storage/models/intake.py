"""Incident reports from outside: the e-mails received (each a report or a reply threaded into
a report or an incident) and the files that came with a report (e-mail attachments, the public
form's upload)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class IntakeMessage(Base):
    """An e-mail received by the intake: a new report (``kind`` report) or a reply threaded into
    a report or an incident (``kind`` reply). Its Message-ID is unique: a message delivered twice
    is recorded once. The raw message is kept as a file (``stored_name``) with its SHA-256."""

    __tablename__ = "intake_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(500), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # report | reply
    report_id: Mapped[int | None] = mapped_column(ForeignKey("incident_reports.id", ondelete="CASCADE"),
                                                  nullable=True, index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=True,
                                                index=True)
    from_address: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(300), default="")
    envelope_from: Mapped[str] = mapped_column(String(320), default="")
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(300), default="")
    #: the text of a reply (a report's text is the report's body)
    body: Mapped[str] = mapped_column(Text, default="")
    #: the ticket the subject named (``[VIGIE#12]``, ``[VIGIE-R#34]``), threaded or not
    ticket: Mapped[str] = mapped_column(String(40), default="")
    #: the subject named a ticket the sender may not write to: the message became a report of its own
    ticket_refused: Mapped[bool] = mapped_column(Boolean, default=False)
    peer: Mapped[str] = mapped_column(String(64), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    stored_name: Mapped[str] = mapped_column(String(300), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class ReportAttachment(Base):
    """A file that came with a report (or a reply to it), stored under DATA_DIR/reports/<id>/."""

    __tablename__ = "report_attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("incident_reports.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("intake_messages.id", ondelete="SET NULL"),
                                                   nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    stored_name: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
