"""API tokens: create (the secret is shown once), revoke, list, and authenticate a bearer token.

A token is ``vigie_`` + 32 random bytes (URL-safe base64). Only its SHA-256 is stored: a
random 256-bit secret needs no slow hash (nothing to brute-force), and a digest lookup is
constant work per request. Creating and revoking a token are audited; the secret never reaches
the audit trail or the logs.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.constituency.directory import Organization
from cert.core.errors import InvalidInput, NotFound
from cert.storage import audit
from cert.storage.models.tokens import ApiToken

PREFIX = "vigie_"
SCOPES = ("ingest",)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
TOUCH_EVERY = timedelta(seconds=60)  # last_used_at is written at most this often per token


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(s: Session, name: str, owner: str, actor: str, scope: str = "ingest",
                 remote_addr: str = "", organization: Organization | None = None) -> tuple[ApiToken, str]:
    """The new token and its secret (to show once; it cannot be recovered). ``organization``: the
    constituency organisation its events belong to when none of their addresses is known."""
    name, owner = name.strip(), owner.strip()
    if not NAME.match(name):
        raise InvalidInput("a token name is 1 to 80 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if not owner or len(owner) > 80:
        raise InvalidInput("a token needs an owner (1 to 80 characters): who answers for its use")
    if scope not in SCOPES:
        raise InvalidInput(f"unknown token scope {scope!r} (expected one of {', '.join(SCOPES)})")
    if s.scalar(select(ApiToken).where(ApiToken.name == name)) is not None:
        raise InvalidInput(f"a token named {name!r} already exists (names stay taken after revocation)")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, owner=owner, scope=scope, token_hash=digest(secret), created_by=actor[:80],
                     revoked=False, organization=organization.id if organization else None)
    s.add(token)
    s.flush()
    audit.record(s, actor, "token.create", "api_token", name, remote_addr, owner=owner, scope=scope,
                 organization=token.organization)
    return token, secret


def revoke_token(s: Session, name: str, actor: str, remote_addr: str = "") -> ApiToken:
    token = s.scalar(select(ApiToken).where(ApiToken.name == name.strip()))
    if token is None:
        raise NotFound(f"no API token named {name!r}")
    if not token.revoked:
        token.revoked = True
        token.revoked_at = datetime.now(UTC)
        audit.record(s, actor, "token.revoke", "api_token", token.name, remote_addr, owner=token.owner)
    return token


def list_tokens(s: Session) -> list[ApiToken]:
    return list(s.scalars(select(ApiToken).order_by(ApiToken.revoked, ApiToken.name)))


def authenticate(s: Session, secret: str) -> ApiToken | None:
    """The live token with this secret, or None (unknown, malformed or revoked)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    token = s.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    if token is None or token.revoked:
        return None
    now = datetime.now(UTC)
    last = token.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    if last is None or now - last >= TOUCH_EVERY:
        token.last_used_at = now
    return token
