"""Tables of the sharing area: which incident is published to which partner CERT."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class CasePublication(Base):
    """An incident published to a partner: its MISP feed and TAXII collection serve it, filtered
    by the sharing policy when they are read (a later raise of a marking is obeyed at once).
    ``updated_at`` moves on each publication again (it is the TAXII ``date_added`` and the feed's
    timestamp); a withdrawn publication is served no more."""

    __tablename__ = "case_publications"
    __table_args__ = (
        UniqueConstraint("case_id", "partner", name="uq_case_publications_case_partner"),
        Index("ix_case_publications_partner_updated", "partner", "updated_at", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    partner: Mapped[str] = mapped_column(String(80))  # the partner's id in the constituency file
    published_by: Mapped[str] = mapped_column(String(80))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    withdrawn_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
