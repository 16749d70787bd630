"""Brute force against the login form, and sessions held on the server, through the console
and the database: throttled then locked logins (the same answers for an unknown account), a
copied session cookie refused once the session is ended, idle and absolute timeouts."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from account_support import FakeClock, api_csrf, client_from, copy_of, fake_clock, logged_in
from flask import Flask
from sqlalchemy import select
from support import login

from cert.accounts import users as accounts
from cert.core.config import Settings
from cert.demo import ensure_demo_users
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, UserSession
from web.app import create_app

WRONG = "not-the-password-at-all"


@pytest.fixture
def app(platform: Platform) -> Flask:
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def creds(platform: Platform) -> dict[str, str]:
    return ensure_demo_users(platform)


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return fake_clock(monkeypatch)


def audit_actions(platform: Platform, action: str) -> list[AuditEntry]:
    with platform.db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def attack(app: Flask, now: FakeClock, username: str, addr: str, attempts: int = 40) -> list[tuple[int, str]]:
    """``attempts`` wrong passwords, one a minute; the status and the message of each answer."""
    client = client_from(app, addr)
    answers = []
    for _ in range(attempts):
        resp = login(client, username, WRONG)
        text = resp.get_data(as_text=True)
        message = text[text.index('class="flash error"'):].split(">", 1)[1].split("<", 1)[0]
        answers.append((resp.status_code, message))
        now.advance(seconds=60)
    return answers


def test_forty_wrong_passwords_are_slowed_then_locked(app: Flask, platform: Platform, creds: dict[str, str],
                                                      now: FakeClock) -> None:
    answers = attack(app, now, "admin", "192.0.2.10")
    statuses = [status for status, _ in answers]
    checked = statuses.count(401)
    # 5 free tries; then a delay of 1 minute (over when the 6th comes), 2, 4, 8, 15 minutes between
    # single tries, each refusing the tries in between; at the 10th failure (34 min) the lock
    assert statuses[:6] == [401] * 6 and statuses[6] == 429, statuses
    assert checked == 10, statuses
    assert statuses[-1] == 429
    assert len(audit_actions(platform, "login.failed")) == 10
    assert len(audit_actions(platform, "login.throttled")) == 30
    locked = audit_actions(platform, "login.locked")
    assert [e.object_id for e in locked] == ["user:admin"]

    # locked: even the right password is refused, from another address too, until the lock ends
    until = datetime.fromisoformat(locked[0].details["until"])
    assert until - now.at > timedelta(minutes=5)
    other = client_from(app, "192.0.2.99")
    assert login(other, "admin", creds["admin"]).status_code == 429
    now.at = until - timedelta(seconds=5)
    assert login(other, "admin", creds["admin"]).status_code == 429
    now.at = until + timedelta(seconds=1)
    assert login(other, "admin", creds["admin"]).status_code == 302


def test_an_unknown_account_gets_the_same_answers(app: Flask, creds: dict[str, str], now: FakeClock) -> None:
    start = now.at
    known = attack(app, now, "admin", "192.0.2.10")
    now.at = start
    unknown = attack(app, now, "no.such.user", "192.0.2.11")
    assert known == unknown
    assert {m for _, m in known} == {"Identifiant ou mot de passe incorrect.",
                                     "Trop de connexions échouées : réessayez dans quelques minutes."}


def test_unknown_and_disabled_accounts_run_argon2_like_a_wrong_password(
        platform: Platform, creds: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = accounts._hasher

    class Spy:
        def verify(self, hashed: str, password: str) -> bool:
            calls.append(password)
            return real.verify(hashed, password)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(accounts, "_hasher", Spy())
    with platform.db.session() as s:
        accounts.set_active(s, accounts.get_user(s, "analyste"), False, "test")
        for name in ("admin", "nobody", "analyste"):
            assert accounts.authenticate(s, name, WRONG) is None
    assert len(calls) == 3


def test_one_address_guessing_many_accounts_is_throttled(app: Flask, creds: dict[str, str], now: FakeClock) -> None:
    client = client_from(app, "198.51.100.7")
    statuses = [login(client, f"user{i}", WRONG).status_code for i in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429
    # the account itself is not locked: its owner, elsewhere, still logs in
    assert login(client_from(app, "198.51.100.8"), "admin", creds["admin"]).status_code == 302
    assert login(client, "admin", creds["admin"]).status_code == 429


def test_an_admin_lifts_a_lock_in_the_console_and_the_api(app: Flask, platform: Platform, creds: dict[str, str],
                                                          now: FakeClock) -> None:
    attack(app, now, "analyste", "192.0.2.10")
    assert login(client_from(app, "192.0.2.12"), "analyste", creds["analyste"]).status_code == 429
    admin = logged_in(app, "admin", creds["admin"], "192.0.2.20")
    with platform.db.session() as s:
        uid = accounts.get_user(s, "analyste").id
    listed = admin.get(f"/api/v1/users/{uid}").get_json()
    assert listed["login_locked"] is True and listed["login_refused_until"]
    page = admin.get("/admin/users").get_data(as_text=True)
    assert f'/admin/users/{uid}/unlock' in page
    resp = admin.post(f"/admin/users/{uid}/unlock", data={"csrf_token": api_csrf(admin)["X-CSRFToken"]})
    assert resp.status_code == 303
    assert login(client_from(app, "192.0.2.12"), "analyste", creds["analyste"]).status_code == 302

    attack(app, now, "analyste", "192.0.2.13", attempts=12)
    assert admin.post(f"/api/v1/users/{uid}/unlock", headers=api_csrf(admin)).get_json()["login_locked"] is False
    assert login(client_from(app, "192.0.2.14"), "analyste", creds["analyste"]).status_code == 302
    assert [e.actor for e in audit_actions(platform, "user.unlock")] == ["admin", "admin"]


def test_a_copied_cookie_is_refused_after_logout(app: Flask, platform: Platform, creds: dict[str, str]) -> None:
    client = logged_in(app, "analyste", creds["analyste"])
    thief = copy_of(app, client)
    assert thief.get("/alerts/").status_code == 200
    client.post("/logout", data={"csrf_token": api_csrf(client)["X-CSRFToken"]})
    assert thief.get("/alerts/").status_code == 302
    assert thief.get("/api/v1/alerts").status_code == 401
    with platform.db.session() as s:
        assert [r.end_reason for r in s.scalars(select(UserSession))] == ["logout"]


def _change_role(admin: Any, uid: int, _user: Any) -> None:
    assert admin.patch(f"/api/v1/users/{uid}", json={"role": "responder"}, headers=api_csrf(admin)).status_code == 200


def _disable(admin: Any, uid: int, _user: Any) -> None:
    assert admin.patch(f"/api/v1/users/{uid}", json={"active": False}, headers=api_csrf(admin)).status_code == 200


def _reset(admin: Any, uid: int, _user: Any) -> None:
    assert admin.post(f"/api/v1/users/{uid}/reset-password", headers=api_csrf(admin)).status_code == 200


def _delete(admin: Any, uid: int, _user: Any) -> None:
    assert admin.delete(f"/api/v1/users/{uid}", headers=api_csrf(admin)).status_code == 204


def _own_password(_admin: Any, _uid: int, user: Any) -> None:
    resp = user.post("/api/v1/account/password", json={"current": user.password, "new": "une phrase de passe neuve"},
                     headers=api_csrf(user))
    assert resp.status_code == 204, resp.get_data(as_text=True)


def _end_sessions(admin: Any, uid: int, _user: Any) -> None:
    resp = admin.post(f"/api/v1/users/{uid}/sessions/end", headers=api_csrf(admin))
    assert resp.status_code == 200 and resp.get_json() == {"ended": 2}  # the two logins (the thief holds a copy)


@pytest.mark.parametrize("change", [_change_role, _disable, _reset, _delete, _own_password, _end_sessions])
def test_a_copied_cookie_is_refused_after_an_account_change(app: Flask, platform: Platform, creds: dict[str, str],
                                                            change: Any) -> None:
    user = logged_in(app, "analyste", creds["analyste"])
    user.password = creds["analyste"]
    other_browser = logged_in(app, "analyste", creds["analyste"], "192.0.2.30")
    thief = copy_of(app, user)
    admin = logged_in(app, "admin", creds["admin"])
    with platform.db.session() as s:
        uid = accounts.get_user(s, "analyste").id
    assert thief.get("/api/v1/alerts").status_code == 200
    change(admin, uid, user)
    assert thief.get("/api/v1/alerts").status_code == 401
    assert other_browser.get("/api/v1/alerts").status_code == 401
    assert thief.get("/alerts/").status_code == 302
    if change is _own_password:  # the browser that changed it got a new session
        assert user.get("/api/v1/alerts").status_code == 200
    assert admin.get("/api/v1/alerts").status_code == 200  # other accounts are untouched


def test_an_admin_sees_a_users_sessions_and_ends_them(app: Flask, platform: Platform, creds: dict[str, str]) -> None:
    user = client_from(app, "192.0.2.40")
    user.environ_base["HTTP_USER_AGENT"] = "Firefox/140.0 (poste du SOC)"
    assert login(user, "analyste", creds["analyste"]).status_code == 302
    thief = copy_of(app, user)
    thief.environ_base["HTTP_USER_AGENT"] = user.environ_base["HTTP_USER_AGENT"]
    admin = logged_in(app, "admin", creds["admin"])
    with platform.db.session() as s:
        uid = accounts.get_user(s, "analyste").id

    listed = admin.get(f"/api/v1/users/{uid}/sessions").get_json()["items"]
    assert [(x["remote_addr"], x["user_agent"]) for x in listed] == [("192.0.2.40", "Firefox/140.0 (poste du SOC)")]
    assert listed[0]["created_at"] and listed[0]["last_seen_at"] and "token_hash" not in listed[0]
    assert user.get(f"/api/v1/users/{uid}/sessions").status_code == 403  # admins only
    assert user.post(f"/admin/users/{uid}/sessions/end", data={"csrf_token": api_csrf(user)["X-CSRFToken"]}
                     ).status_code == 403
    assert thief.get("/api/v1/alerts").status_code == 200

    assert f'href="/admin/users/{uid}/sessions"' in admin.get("/admin/users").get_data(as_text=True)
    page = admin.get(f"/admin/users/{uid}/sessions").get_data(as_text=True)
    assert "Sessions de analyste" in page and "192.0.2.40" in page and "Firefox/140.0 (poste du SOC)" in page
    resp = admin.post(f"/admin/users/{uid}/sessions/end", data={"csrf_token": api_csrf(admin)["X-CSRFToken"]},
                      follow_redirects=True)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "1 session(s) de analyste fermée(s)." in text
    assert "Aucune session ouverte." in text
    assert thief.get("/api/v1/alerts").status_code == 401 and user.get("/alerts/").status_code == 302
    assert admin.get(f"/api/v1/users/{uid}/sessions").get_json()["items"] == []
    assert admin.get("/api/v1/alerts").status_code == 200  # the admin's own session is untouched
    [entry] = audit_actions(platform, "session.end_all")
    assert (entry.actor, entry.object_id, entry.details["sessions_ended"]) == ("admin", str(uid), 1)


def test_login_opens_a_new_session_and_ends_the_previous_one(app: Flask, creds: dict[str, str]) -> None:
    client = logged_in(app, "analyste", creds["analyste"])
    before = copy_of(app, client)
    assert login(client, "analyste", creds["analyste"]).status_code == 302
    assert client.get_cookie("session").value != before.get_cookie("session").value
    assert before.get("/api/v1/alerts").status_code == 401
    assert client.get("/api/v1/alerts").status_code == 200


def test_the_cookie_holds_only_a_session_id(app: Flask, platform: Platform, creds: dict[str, str]) -> None:
    client = logged_in(app, "analyste", creds["analyste"])
    with app.test_request_context():
        data = app.session_interface.get_signing_serializer(app).loads(client.get_cookie("session").value)
    with platform.db.session() as s:
        row = s.scalars(select(UserSession)).one()
        user_id = accounts.get_user(s, "analyste").id
    sid = data["_user_id"]
    assert len(sid) >= 40 and sid != str(user_id)
    assert row.token_hash != sid and sid not in row.token_hash  # the database keeps only its digest


def _app_with(platform: Platform, **changes: Any) -> Flask:
    settings: Settings = replace(platform.settings, **changes)
    app = create_app(platform=Platform(settings))
    app.config["TESTING"] = True
    return app


def test_idle_timeout(platform: Platform, creds: dict[str, str], now: FakeClock) -> None:
    app = _app_with(platform, session_idle_minutes=1)
    client = logged_in(app, "analyste", creds["analyste"])
    for _ in range(5):  # active: each request within the minute keeps it open
        now.advance(seconds=50)
        assert client.get("/api/v1/alerts").status_code == 200
    now.advance(seconds=61)
    assert client.get("/api/v1/alerts").status_code == 401
    with platform.db.session() as s:
        assert s.scalars(select(UserSession)).one().end_reason == "idle"


def test_absolute_timeout(platform: Platform, creds: dict[str, str], now: FakeClock) -> None:
    app = _app_with(platform, session_max_hours=1)
    client = logged_in(app, "analyste", creds["analyste"])
    for _ in range(5):
        now.advance(minutes=11)
        assert client.get("/api/v1/alerts").status_code == 200
    now.advance(minutes=6)
    assert client.get("/api/v1/alerts").status_code == 401
    with platform.db.session() as s:
        assert s.scalars(select(UserSession)).one().end_reason == "expired"
