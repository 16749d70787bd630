"""Tables of the detection area: the indicator store, its generation counter, and the record of
files scanned with YARA (so a watched folder scans each file once, across restarts).

An indicator is unique per (source, type, value): loading the same feed again updates the rows
instead of duplicating them. ``value_key`` is a digest of the normalised value so the unique
index stays small on PostgreSQL whatever the length of a URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cert.storage.db import Base


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Indicator(Base):
    __tablename__ = "indicators"
    __table_args__ = (
        UniqueConstraint("source", "type", "value_key", name="uq_indicators_source_type_value"),
        Index("ix_indicators_type_value_key", "type", "value_key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(200), index=True)  # feed or file name
    type: Mapped[str] = mapped_column(String(20))  # ip | cidr | domain | url | md5 | sha1 | sha256 | email | ja3 | ja3s
    value: Mapped[str] = mapped_column(String(2048))  # normalised
    value_key: Mapped[str] = mapped_column(String(40))  # blake2b-160 hex of value
    reference: Mapped[str] = mapped_column(String(200), default="")  # MISP event uuid, STIX id, file:line
    tlp: Mapped[str] = mapped_column(String(20), default="amber")
    confidence: Mapped[int] = mapped_column(Integer, default=50)  # 0-100
    to_ids: Mapped[bool] = mapped_column(default=True)  # False: context only, never matched
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    first_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class IndicatorGeneration(Base):
    """One row (id 1): bumped by every change to the store, so matchers know when to reload."""

    __tablename__ = "indicator_generation"
    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class FileScan(Base):
    """A file scanned with YARA: from a watched folder or uploaded to a case."""

    __tablename__ = "file_scans"
    __table_args__ = (Index("ix_file_scans_path_size_mtime", "path", "size", "mtime_ns"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(40))  # watch | case:<id>
    path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="", index=True)
    matches: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(String(500), default="")
    rules_hash: Mapped[str] = mapped_column(String(64), default="")
    scanned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class PartnerSighting(Base):
    """A partner's sighting of an indicator value (from its MISP feed or TAXII collection): who saw
    it (``source``: the partner or feed), when first and last, how many times. Unique per
    (source, reference): reading the same feed again updates the row. The incident page shows the
    sightings of its observables."""

    __tablename__ = "partner_sightings"
    __table_args__ = (
        UniqueConstraint("source", "reference", name="uq_partner_sightings_source_reference"),
        Index("ix_partner_sightings_type_value_key", "type", "value_key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(200))  # the sighting's uuid or STIX id at its source
    type: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(2048))  # normalised, as in ``indicators``
    value_key: Mapped[str] = mapped_column(String(40))
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    organization: Mapped[str] = mapped_column(String(200), default="")  # who saw it, as the source names it
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
