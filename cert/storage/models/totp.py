"""Second factor of console users: a TOTP secret (RFC 6238) and single-use recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class UserTotp(Base):
    """One per user who started an enrolment. ``secret`` is encrypted (AES-GCM, key derived from
    the secret key); ``confirmed_at`` is None until the user has typed a first valid code;
    ``last_step`` is the last time step (30 s) a code was accepted for: a code is never accepted
    twice, nor an older one."""

    __tablename__ = "user_totp"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RecoveryCode(Base):
    """A single-use recovery code: only a salted SHA-256 of it is kept (``salt$digest``, hex)."""

    __tablename__ = "totp_recovery_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(100))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
