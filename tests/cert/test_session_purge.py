"""The rows of finished console sessions are deleted once ``session_retention_days`` have passed:
ended and timed-out sessions go, live ones stay whatever their age; logins purge at most once an
hour; ``cert users sessions-purge`` purges on demand."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cert.accounts import clock, sessions
from cert.accounts.sessions import SessionPolicy
from cert.accounts.users import create_user
from cert.cli import main
from cert.runtime.platform import Platform
from cert.storage.models import User, UserSession

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
POLICY = SessionPolicy(idle=timedelta(minutes=30), max_age=timedelta(hours=12), retention=timedelta(days=30))


@dataclass
class Clock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(clock, "now", c.now)
    monkeypatch.setattr(sessions._PurgeSchedule, "last", None)
    return c


@pytest.fixture
def user_id(platform: Platform) -> int:
    with platform.db.session() as s:
        return create_user(s, "analyste", "une phrase de passe solide", "analyst", "test").id


def open_at(platform: Platform, now: Clock, at: datetime, agent: str, policy: SessionPolicy | None = None) -> str:
    now.at = at
    with platform.db.session() as s:
        user = s.get(User, s.scalar(select(User.id).where(User.username == "analyste")))
        assert user is not None
        return sessions.start(s, user, "192.0.2.1", agent, policy)


def end_at(platform: Platform, now: Clock, at: datetime, token: str) -> None:
    now.at = at
    with platform.db.session() as s:
        assert sessions.end(s, token, "logout")


def agents(platform: Platform) -> list[str]:
    with platform.db.session() as s:
        return sorted(s.scalars(select(UserSession.user_agent)))


def test_finished_sessions_are_deleted_after_the_retention(platform: Platform, user_id: int, now: Clock) -> None:
    ended_long_ago = open_at(platform, now, T0, "ended long ago")
    end_at(platform, now, T0 + timedelta(hours=1), ended_long_ago)
    open_at(platform, now, T0, "idle long ago")  # never came back: timed out at T0 + 30 min
    ended_lately = open_at(platform, now, T0 + timedelta(days=1), "ended 29 days ago")
    end_at(platform, now, T0 + timedelta(days=1, minutes=1), ended_lately)
    open_at(platform, now, T0 + timedelta(days=31) - timedelta(minutes=5), "live")

    with platform.db.session() as s:
        assert sessions.purge(s, T0 + timedelta(days=30), POLICY) == 0  # 29 days 23 hours after the first ended
    assert len(agents(platform)) == 4
    with platform.db.session() as s:
        assert sessions.purge(s, T0 + timedelta(days=31), POLICY) == 2
    assert agents(platform) == ["ended 29 days ago", "live"]

    # without an idle timeout, a session not ended is kept until its absolute timeout is that old
    open_at(platform, now, T0 + timedelta(days=2), "no idle timeout")
    no_idle = replace(POLICY, idle=None)
    with platform.db.session() as s:
        assert sessions.purge(s, T0 + timedelta(days=32, hours=11), no_idle) == 1  # only the one ended 30 days ago
    assert agents(platform) == ["live", "no idle timeout"]
    with platform.db.session() as s:
        assert sessions.purge(s, T0 + timedelta(days=32, hours=13), no_idle) == 1
        assert sessions.purge(s, T0 + timedelta(days=400), replace(POLICY, idle=None, max_age=None)) == 0
        assert sessions.purge(s, T0 + timedelta(days=400), replace(POLICY, retention=None)) == 0
    assert agents(platform) == ["live"]


def test_a_login_purges_at_most_once_an_hour(platform: Platform, user_id: int, now: Clock) -> None:
    first = open_at(platform, now, T0, "first")
    end_at(platform, now, T0 + timedelta(minutes=5), first)
    second = open_at(platform, now, T0 + timedelta(minutes=10), "second")
    end_at(platform, now, T0 + timedelta(minutes=15), second)

    late = T0 + timedelta(days=30, minutes=10)  # the first ended over 30 days ago, the second not yet
    open_at(platform, now, late, "login 1", POLICY)
    assert "first" not in agents(platform) and "second" in agents(platform)
    open_at(platform, now, late + timedelta(minutes=59), "login 2", POLICY)  # the second is due, but not the purge
    assert "second" in agents(platform)
    open_at(platform, now, late + timedelta(minutes=61), "login 3", POLICY)
    assert agents(platform) == ["login 1", "login 2", "login 3"]
    open_at(platform, now, late + timedelta(days=60), "without a policy")  # no purge without the policy
    assert len(agents(platform)) == 4


def test_the_purge_command(platform: Platform, user_id: int, now: Clock, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERT_SESSION_RETENTION_DAYS", "7")
    old = open_at(platform, now, T0, "old")
    end_at(platform, now, T0 + timedelta(minutes=1), old)
    open_at(platform, now, T0 + timedelta(days=6), "recent")  # timed out 6 days before the command
    now.at = T0 + timedelta(days=7, hours=1)
    assert main(["--data-dir", str(platform.settings.data_dir), "users", "sessions-purge"]) == 0
    assert "Deleted 1 session row(s) finished more than 7 days ago" in capsys.readouterr().out
    assert agents(platform) == ["recent"]
