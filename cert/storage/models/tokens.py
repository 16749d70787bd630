"""API tokens: machine credentials for the REST API (``Authorization: Bearer <token>``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class ApiToken(Base):
    """Only the SHA-256 of the secret is kept; the secret is shown once, at creation."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    owner: Mapped[str] = mapped_column(String(80))
    #: What the token may do: scope names (cert.accounts.tokens.SCOPES), comma-separated, sorted.
    scopes: Mapped[str] = mapped_column(String(120), default="ingest")
    #: The constituency organisation (its id) the token's events belong to when none of their
    #: addresses is in the constituency; None: such events belong to no organisation.
    organization: Mapped[str | None] = mapped_column(String(80), nullable=True)
    #: The partner CERT (its id in the constituency file) the token is the credential of: it
    #: reaches only what that partner may receive (scope ``share``); None for every other token.
    partner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: None: the token never expires (chosen explicitly at creation).
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: The client address of that last use.
    last_used_from: Mapped[str | None] = mapped_column(String(45), nullable=True)
    revoked: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def scope_list(self) -> tuple[str, ...]:
        return tuple(s for s in self.scopes.split(",") if s)
