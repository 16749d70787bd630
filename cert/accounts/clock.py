"""The time the account rules read (sessions, throttle): one place, so a test can move it."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """A datetime read back from the database as UTC (SQLite returns it without a zone)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
