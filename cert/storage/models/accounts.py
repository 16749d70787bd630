"""Users of the console and their roles, their sessions, and the login throttle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint
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
    #: set by a password reset: every page asks for a new password until the user sets one
    must_change_password: Mapped[bool] = mapped_column(default=False)
    #: a deleted account keeps its row (the audit trail names it) but can never log in again
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    auth_source: Mapped[str] = mapped_column(String(20), default="local", server_default="local")  # local | oidc
    external_subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: The constituency organisation (its id) the user belongs to; None: the CERT itself.
    organization: Mapped[str | None] = mapped_column(String(80), nullable=True)


class UserSession(Base):
    """A console session held on the server. The browser's cookie carries the random session id;
    only its SHA-256 is stored. A session ends at logout, on a timeout, or when the account's
    password, role or state changes."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_reason: Mapped[str] = mapped_column(String(40), default="")


class LoginThrottle(Base):
    """Failed logins of one account name (``user:<name>``, whether or not it exists) or one source
    address (``addr:<ip>``) within the current window, and until when further attempts are refused."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
