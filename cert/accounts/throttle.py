"""Login throttling, per account name and per source address, kept in the database (every web
worker sees the same counts).

Each key counts its failed logins within a window of an hour. From ``delay_after`` failures on,
each further failure refuses new attempts for a growing delay (1, 2, 4… minutes); at
``lock_after`` failures the key is locked for ``LOCK``. A refused attempt checks no password and
counts nothing. A lock always ends by itself (an attacker cannot lock an account out for ever)
and an administrator can lift it early (``unlock``). The account key is the name as typed,
whether or not such an account exists, so the answers never tell which accounts exist.
A successful login clears its account's count; an address's count only ages out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cert.accounts import clock
from cert.storage import audit
from cert.storage.models import LoginThrottle

WINDOW = timedelta(hours=1)
FIRST_DELAY = timedelta(minutes=1)
LOCK = timedelta(minutes=15)


@dataclass(frozen=True)
class Limits:
    delay_after: int
    lock_after: int


ACCOUNT = Limits(delay_after=5, lock_after=10)
ADDRESS = Limits(delay_after=20, lock_after=50)  # an office behind one address holds many people


@dataclass(frozen=True)
class Refusal:
    """Attempts are refused until ``until``: a delay, or a lock (``locked``)."""

    key: str
    until: datetime
    locked: bool


def account_key(username: str) -> str:
    return "user:" + username.strip().lower()[:100]


def address_key(remote_addr: str) -> str:
    return "addr:" + (remote_addr or "unknown")[:100]


def _keys(username: str, remote_addr: str) -> list[tuple[str, Limits]]:
    return [(account_key(username), ACCOUNT), (address_key(remote_addr), ADDRESS)]


def check(s: Session, username: str, remote_addr: str) -> Refusal | None:
    """Whether a login attempt may check its password now; a refusal is audited (``login.throttled``)."""
    now = clock.now()
    for key, _limits in _keys(username, remote_addr):
        row = s.get(LoginThrottle, key)
        if row is None:
            continue
        for until, locked in ((row.locked_until, True), (row.blocked_until, False)):
            if until is not None and clock.aware(until) > now:
                refusal = Refusal(key, clock.aware(until), locked)
                audit.record(s, username.strip()[:80], "login.throttled", "login", key, remote_addr,
                             until=refusal.until.isoformat(), locked=locked)
                return refusal
    return None


def _row(s: Session, key: str, now: datetime) -> LoginThrottle:
    row = s.get(LoginThrottle, key, with_for_update=True)
    if row is not None:
        return row
    row = LoginThrottle(key=key, failures=0, window_start=now)
    try:
        with s.begin_nested():
            s.add(row)
    except IntegrityError:  # another worker added it first
        found = s.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
        assert found is not None
        return found
    return row


def record_failure(s: Session, username: str, remote_addr: str) -> None:
    """Count a failed login against the name and the address; set a delay or a lock when due
    (a new lock is audited: ``login.locked``)."""
    now = clock.now()
    for key, limits in _keys(username, remote_addr):
        row = _row(s, key, now)
        lock_over = row.locked_until is not None and clock.aware(row.locked_until) <= now
        if now - clock.aware(row.window_start) >= WINDOW or lock_over:
            row.failures, row.window_start, row.blocked_until, row.locked_until = 0, now, None, None
        row.failures += 1
        if row.failures >= limits.lock_after:
            row.locked_until = now + LOCK
            row.blocked_until = None
            audit.record(s, username.strip()[:80], "login.locked", "login", key, remote_addr,
                         failures=row.failures, until=(now + LOCK).isoformat())
        elif row.failures >= limits.delay_after:
            delay = min(FIRST_DELAY * 2 ** (row.failures - limits.delay_after), LOCK)
            row.blocked_until = now + delay
    _purge(s, now)


def record_success(s: Session, username: str) -> None:
    s.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key(username)))


def locked(s: Session, username: str) -> Refusal | None:
    """The current delay or lock of an account name, if any (shown to administrators)."""
    row = s.get(LoginThrottle, account_key(username))
    now = clock.now()
    if row is None:
        return None
    for until, is_lock in ((row.locked_until, True), (row.blocked_until, False)):
        if until is not None and clock.aware(until) > now:
            return Refusal(row.key, clock.aware(until), is_lock)
    return None


def unlock(s: Session, username: str, actor: str, remote_addr: str = "") -> bool:
    """Lift the delay or lock of an account name and clear its count (audited: ``user.unlock``);
    False when there was nothing to lift."""
    was = locked(s, username)
    s.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key(username)))
    audit.record(s, actor, "user.unlock", "user", username.strip()[:64], remote_addr,
                 was_locked=was is not None)
    return was is not None


def _purge(s: Session, now: datetime) -> None:
    """Forget keys whose window has passed and that refuse nothing any more."""
    s.execute(delete(LoginThrottle).where(
        LoginThrottle.window_start < now - WINDOW,
        or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
        or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now),
    ).execution_options(synchronize_session=False))  # the rows this session touched are never stale ones
