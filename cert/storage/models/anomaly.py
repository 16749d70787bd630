"""What anomaly detectors learn (baselines) and what analysts marked as benign
(``cert.detection.anomaly_state``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class AnomalyBaseline(Base):
    """One detector's saved state for one key (a host, a pair, a domain...), as JSON."""

    __tablename__ = "anomaly_baselines"
    detector: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnomalyBenign(Base):
    """An analyst's mark: the detector no longer reports ``key`` until ``expires_at`` (never
    when None); ``alert_id``: the alert it was marked from."""

    __tablename__ = "anomaly_benign"
    __table_args__ = (Index("ix_anomaly_benign_detector_key", "detector", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    detector: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    alert_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
