"""Tables of the ingest pipeline: one row per source (its file checkpoint and running totals),
per-minute counts for rates, and dead-letter counters per source and reason.

A source is what ``Ingestor.ingest`` was given as ``source`` (the absolute path of a file, or
the name a network listener uses) together with the parser reading it. The checkpoint columns
(``file_*``) are committed in the same transaction as the dead letters and counters of a batch,
and only after the event store acknowledged that batch (or the spool holds it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class IngestSource(Base):
    __tablename__ = "ingest_sources"
    __table_args__ = (UniqueConstraint("source", "parser", name="uq_ingest_sources_source_parser"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    parser: Mapped[str] = mapped_column(String(60))
    # checkpoint of a file source: the next byte to read in the file with this inode
    file_inode: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    file_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    file_line: Mapped[int] = mapped_column(BigInteger, default=0)
    file_fingerprint: Mapped[str] = mapped_column(String(80), default="")
    # running totals since the source was first seen
    lines: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    dead_letters: Mapped[int] = mapped_column(BigInteger, default=0)
    spooled: Mapped[int] = mapped_column(BigInteger, default=0)
    newest_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    first_ingest_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_ingest_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class IngestMinute(Base):
    """Events stored and lines dead-lettered per source and minute (kept two days), for rates."""

    __tablename__ = "ingest_minutes"
    source_id: Mapped[int] = mapped_column(ForeignKey("ingest_sources.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    events: Mapped[int] = mapped_column(Integer, default=0)
    dead_letters: Mapped[int] = mapped_column(Integer, default=0)


class DeadLetterCount(Base):
    """How many lines of a source were dead-lettered for one reason (quoted values elided)."""

    __tablename__ = "dead_letter_counts"
    __table_args__ = (UniqueConstraint("source_id", "reason", name="uq_dead_letter_counts_source_reason"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("ingest_sources.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(300))
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


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
