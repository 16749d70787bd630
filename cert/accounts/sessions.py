"""Console sessions held on the server.

``start`` opens a session and returns its id: 32 random bytes (URL-safe base64) that the
browser's session cookie carries; only the SHA-256 of the id is stored. ``validate`` is called on
every request: the session must not be ended, its account must be live, and neither the idle
nor the absolute timeout may have passed (``session_idle_minutes``, ``session_max_hours``; 0
turns a timeout off). ``end`` ends one session (logout, a new login replacing it); ``end_all``
ends every session of an account at once (password, role or state changed). ``purge`` deletes
the rows of sessions ended or timed out more than ``session_retention_days`` ago; ``start`` runs
it at most once an hour per process, ``cert users sessions-purge`` on demand.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from cert.accounts import clock
from cert.core.config import Settings
from cert.storage.models import User, UserSession

TOUCH_EVERY = timedelta(seconds=15)  # last_seen_at is written at most this often per session
MAX_TOKEN = 200
PURGE_EVERY = timedelta(hours=1)  # how often ``start`` purges, at most


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta | None = timedelta(minutes=30)
    max_age: timedelta | None = timedelta(hours=12)
    retention: timedelta | None = timedelta(days=30)  # rows of finished sessions kept this long

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        idle, hours = settings.session_idle_minutes, settings.session_max_hours
        days = settings.session_retention_days
        return cls(timedelta(minutes=idle) if idle > 0 else None, timedelta(hours=hours) if hours > 0 else None,
                   timedelta(days=days) if days > 0 else None)


class _PurgeSchedule:
    """When this process last purged (``start`` purges at most every ``PURGE_EVERY``)."""

    last: datetime | None = None

    @classmethod
    def due(cls, now: datetime) -> bool:
        if cls.last is not None and cls.last <= now < cls.last + PURGE_EVERY:
            return False
        cls.last = now
        return True


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(s: Session, user: User, remote_addr: str = "", user_agent: str = "",
          policy: SessionPolicy | None = None) -> str:
    """Open a session for ``user``; its id (to put in the cookie, never stored as such). With the
    deployment's ``policy``, the rows of old sessions are purged first (at most once an hour)."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    if policy is not None and policy.retention is not None and _PurgeSchedule.due(now):
        purge(s, now, policy)
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


def live_sessions(s: Session, user_id: int, policy: SessionPolicy | None = None) -> list[UserSession]:
    """The account's sessions not ended, oldest first; with ``policy``, not timed out either."""
    query = select(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if policy is not None:
        now = clock.now()
        if policy.idle is not None:
            query = query.where(UserSession.last_seen_at > now - policy.idle)
        if policy.max_age is not None:
            query = query.where(UserSession.created_at > now - policy.max_age)
    return list(s.scalars(query.order_by(UserSession.id)))


def purge(s: Session, now: datetime, policy: SessionPolicy | None = None) -> int:
    """Delete the rows of sessions that ended, or timed out without being ended (nobody came back
    with their cookie), more than ``policy.retention`` before ``now``; how many were deleted. Live
    sessions are kept whatever their age."""
    policy = policy or SessionPolicy()
    if policy.retention is None:
        return 0
    cutoff = now - policy.retention
    finished: list[ColumnElement[bool]] = [UserSession.ended_at < cutoff]
    if policy.idle is not None:
        finished.append(and_(UserSession.ended_at.is_(None), UserSession.last_seen_at < cutoff - policy.idle))
    if policy.max_age is not None:
        finished.append(and_(UserSession.ended_at.is_(None), UserSession.created_at < cutoff - policy.max_age))
    result = s.execute(delete(UserSession).where(or_(*finished)).execution_options(synchronize_session="fetch"))
    return int(getattr(result, "rowcount", 0) or 0)
