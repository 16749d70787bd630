"""Console sessions held on the server.

``start`` opens a session and returns its id: 32 random bytes (URL-safe base64) that the
browser's session cookie carries; only the SHA-256 of the id is stored. ``validate`` is called on
every request: the session must not be ended, its account must be live, and neither the idle
nor the absolute timeout may have passed (``session_idle_minutes``, ``session_max_hours``; 0
turns a timeout off). ``end`` ends one session (logout, a new login replacing it); ``end_all``
ends every session of an account at once (password, role or state changed).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cert.accounts import clock
from cert.core.config import Settings
from cert.storage.models import User, UserSession

TOUCH_EVERY = timedelta(seconds=15)  # last_seen_at is written at most this often per session
MAX_TOKEN = 200


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta | None = timedelta(minutes=30)
    max_age: timedelta | None = timedelta(hours=12)

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        idle, hours = settings.session_idle_minutes, settings.session_max_hours
        return cls(timedelta(minutes=idle) if idle > 0 else None, timedelta(hours=hours) if hours > 0 else None)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(s: Session, user: User, remote_addr: str = "", user_agent: str = "") -> str:
    """Open a session for ``user``; its id (to put in the cookie, never stored as such)."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    s.add(UserSession(token_hash=digest(token), user_id=user.id, created_at=now, last_seen_at=now,
                      remote_addr=remote_addr[:64], user_agent=user_agent[:255], end_reason=""))
    s.flush()
    return token


def _find(s: Session, token: str) -> UserSession | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    return s.scalar(select(UserSession).where(UserSession.token_hash == digest(token)))


def _close(row: UserSession, reason: str) -> None:
    row.ended_at = clock.now()
    row.end_reason = reason[:40]


def validate(s: Session, token: str, policy: SessionPolicy) -> tuple[UserSession, User] | None:
    """The live session with this id and its account, or None (unknown, ended, timed out, or its
    account disabled or deleted). A session found timed out is ended."""
    row = _find(s, token)
    if row is None or row.ended_at is not None:
        return None
    user = s.get(User, row.user_id)
    if user is None or not user.active or user.deleted_at is not None:
        _close(row, "account_disabled")
        return None
    now = clock.now()
    if policy.max_age is not None and now - clock.aware(row.created_at) >= policy.max_age:
        _close(row, "expired")
        return None
    last_seen = clock.aware(row.last_seen_at)
    if policy.idle is not None and now - last_seen >= policy.idle:
        _close(row, "idle")
        return None
    if now - last_seen >= TOUCH_EVERY:
        row.last_seen_at = now
    return row, user


def end(s: Session, token: str, reason: str) -> bool:
    """End the session with this id; False when there was no live one."""
    row = _find(s, token)
    if row is None or row.ended_at is not None:
        return False
    _close(row, reason)
    return True


def end_all(s: Session, user_id: int, reason: str) -> int:
    """End every live session of the account; how many were live."""
    result = s.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=clock.now(), end_reason=reason[:40])
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def live_sessions(s: Session, user_id: int) -> list[UserSession]:
    return list(s.scalars(select(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
                          .order_by(UserSession.id)))
