"""Users of the console and their roles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class User(Base):
    """A person who uses the console. Local accounts log in with their password; external ones
    (``auth_source`` other than ``local``) through their identity provider, which names them by
    ``external_subject``; they have no usable password (``password_hash`` is not a hash)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("auth_source", "external_subject", name="uq_users_external_subject"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))  # analyst | responder | admin
    locale: Mapped[str] = mapped_column(String(8), default="fr")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    auth_source: Mapped[str] = mapped_column(String(20), default="local", server_default="local")  # local | oidc
    external_subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: The constituency organisation (its id) the user belongs to; None: the CERT itself.
    organization: Mapped[str | None] = mapped_column(String(80), nullable=True)
