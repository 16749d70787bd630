"""Account lifecycle through the console, the API and the CLI: create, role, disable and enable,
reset (the user sets a new password at the next login), delete with the audit trail kept; the
password policy; every action audited; the last administrator kept; security headers."""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

import pytest
from account_support import api_csrf, logged_in
from flask import Flask
from sqlalchemy import select
from support import csrf_token, login
from werkzeug.serving import make_server

from cert.accounts import users as accounts
from cert.accounts.passwords import check_password
from cert.cli import main, request_handler
from cert.core.errors import InvalidInput
from cert.demo import ensure_demo_users
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, User
from web.app import create_app

NEW_PASSWORD = "trois mots bien choisis"


@pytest.fixture
def app(platform: Platform) -> Flask:
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def creds(platform: Platform) -> dict[str, str]:
    return ensure_demo_users(platform)


def audit_of(platform: Platform, object_id: object) -> list[tuple[str, str]]:
    with platform.db.session() as s:
        return [(e.actor, e.action) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "user", AuditEntry.object_id == str(object_id),
                                     AuditEntry.action.like("user.%")).order_by(AuditEntry.id))]


@pytest.mark.parametrize(("password", "reason"), [
    ("short pass", "at least 12"),
    ("x" * 257, "at most 256"),
    ("qwerty123456", "most common"),
    ("Sunshine2024!!", "most common"),
    ("Vigie-2024-2025", "product"),
    ("analyste_2024!!", "username"),
    ("aaaaaaaaaaaaaaaa", "repeats"),
])  # fmt: skip
def test_the_password_policy_refuses(password: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_password(password, "analyste")
    assert reason in str(exc.value).replace("product's", "product")


def test_the_password_policy_accepts_passphrases_without_composition_rules() -> None:
    for password in ("correct horse battery staple", "quatre mots tout simples", "ÉtéÀParis sous la pluie"):
        check_password(password, "analyste")
    check_password("sixteen chars ok", "x", min_length=16)
    with pytest.raises(InvalidInput, match="at least 20"):
        check_password("sixteen chars ok", "x", min_length=20)


def test_the_common_password_list_is_shipped() -> None:
    from cert.accounts.passwords import common_passwords

    assert len(common_passwords()) > 19000 and "password" in common_passwords()


def test_demo_users_satisfy_the_policy(creds: dict[str, str]) -> None:
    for username, password in creds.items():
        check_password(password, username)


def test_lifecycle_through_the_api_is_audited(app: Flask, platform: Platform, creds: dict[str, str]) -> None:
    admin = logged_in(app, "admin", creds["admin"])
    h = api_csrf(admin)
    assert admin.post("/api/v1/users", json={"username": "awa", "password": "qwerty123456", "role": "analyst"},
                      headers=h).status_code == 400
    resp = admin.post("/api/v1/users", json={"username": "awa", "password": NEW_PASSWORD, "role": "analyst"},
                      headers=h)
    assert resp.status_code == 201, resp.get_json()
    uid = resp.get_json()["id"]
    assert login(app.test_client(), "awa", NEW_PASSWORD).status_code == 302
    assert admin.patch(f"/api/v1/users/{uid}", json={"role": "responder"}, headers=h).get_json()["role"] == "responder"
    assert admin.patch(f"/api/v1/users/{uid}", json={"role": "chief"}, headers=h).status_code == 400
    assert admin.patch(f"/api/v1/users/{uid}", json={"active": False}, headers=h).get_json()["active"] is False
    assert login(app.test_client(), "awa", NEW_PASSWORD).status_code == 401  # disabled: the usual answer
    assert admin.patch(f"/api/v1/users/{uid}", json={"active": True}, headers=h).get_json()["active"] is True
    reset = admin.post(f"/api/v1/users/{uid}/reset-password", headers=h).get_json()
    assert reset["must_change_password"] is True and len(reset["temporary_password"]) >= 16
    assert admin.post(f"/api/v1/users/{uid}/unlock", headers=h).status_code == 200
    assert admin.delete(f"/api/v1/users/{uid}", headers=h).status_code == 204
    assert admin.get(f"/api/v1/users/{uid}").status_code == 404
    assert "awa" not in [u["username"] for u in admin.get("/api/v1/users").get_json()["items"]]
    assert login(app.test_client(), "awa", reset["temporary_password"]).status_code == 401
    # the name stays taken: the audit trail names one account
    again = admin.post("/api/v1/users", json={"username": "AWA", "password": NEW_PASSWORD, "role": "analyst"},
                       headers=h)
    assert again.status_code == 400
    assert audit_of(platform, uid) == [("admin", a) for a in (
        "user.create", "user.role", "user.disable", "user.enable", "user.password_reset", "user.delete")]
    with platform.db.session() as s:
        row = s.get(User, uid)
        assert row is not None and row.deleted_at is not None and row.username == "awa"
        unlock = s.scalars(select(AuditEntry).where(AuditEntry.action == "user.unlock")).one()
        assert (unlock.actor, unlock.object_id) == ("admin", "awa")
        assert "password" not in str([e.details for e in s.scalars(select(AuditEntry))]).replace("password_", "")


def test_only_admins_manage_accounts(app: Flask, platform: Platform, creds: dict[str, str]) -> None:
    responder = logged_in(app, "intervenant", creds["intervenant"])
    h = api_csrf(responder)
    assert responder.get("/api/v1/users").status_code == 403
    assert responder.post("/api/v1/users", json={"username": "x", "password": NEW_PASSWORD, "role": "admin"},
                          headers=h).status_code == 403
    assert responder.patch("/api/v1/users/1", json={"role": "admin"}, headers=h).status_code == 403
    assert responder.get("/admin/users").status_code == 403


def test_the_last_admin_is_kept(app: Flask, platform: Platform, creds: dict[str, str]) -> None:
    admin = logged_in(app, "admin", creds["admin"])
    h = api_csrf(admin)
    with platform.db.session() as s:
        uid = accounts.get_user(s, "admin").id
    for resp in (admin.patch(f"/api/v1/users/{uid}", json={"role": "analyst"}, headers=h),
                 admin.patch(f"/api/v1/users/{uid}", json={"active": False}, headers=h),
                 admin.delete(f"/api/v1/users/{uid}", headers=h)):
        assert resp.status_code == 409 and "dernier administrateur" in resp.get_json()["message"]
    assert admin.get("/api/v1/alerts").status_code == 200


def test_console_reset_then_the_user_must_change_the_password(app: Flask, platform: Platform,
                                                               creds: dict[str, str]) -> None:
    admin = logged_in(app, "admin", creds["admin"])
    with platform.db.session() as s:
        uid = accounts.get_user(s, "analyste").id
    page = admin.post(f"/admin/users/{uid}/reset-password", data={"csrf_token": api_csrf(admin)["X-CSRFToken"]})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    temporary = html.split('id="temporary-password"', 1)[1].split("<code>", 1)[1].split("</code>", 1)[0]
    assert login(app.test_client(), "analyste", creds["analyste"]).status_code == 401

    user = app.test_client()
    resp = login(user, "analyste", temporary)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/password")
    for path in ("/alerts/", "/cases/", "/admin/dead-letters"):  # every page leads to the form
        resp = user.get(path)
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/password"), path
    assert user.get("/api/v1/alerts").status_code == 403
    form = user.get("/account/password").get_data(as_text=True)
    assert "Votre mot de passe a été réinitialisé" in form
    token = csrf_token(form)
    wrong = user.post("/account/password", data={"csrf_token": token, "current": "nope", "new": NEW_PASSWORD,
                                                 "confirm": NEW_PASSWORD})
    assert wrong.status_code == 403 and "mot de passe actuel est incorrect" in wrong.get_data(as_text=True)
    short = user.post("/account/password", data={"csrf_token": token, "current": temporary, "new": "trop court",
                                                 "confirm": "trop court"})
    assert short.status_code == 400 and "au moins 12 caractères" in short.get_data(as_text=True)
    common = user.post("/account/password", data={"csrf_token": token, "current": temporary, "new": "qwerty123456",
                                                  "confirm": "qwerty123456"})
    assert common.status_code == 400 and "plus courants" in common.get_data(as_text=True)
    done = user.post("/account/password", data={"csrf_token": token, "current": temporary, "new": NEW_PASSWORD,
                                                "confirm": NEW_PASSWORD})
    assert done.status_code == 303
    assert user.get("/alerts/").status_code == 200
    assert login(app.test_client(), "analyste", temporary).status_code == 401
    assert login(app.test_client(), "analyste", NEW_PASSWORD).status_code == 302
    assert audit_of(platform, uid) == [("demo", "user.create"), ("admin", "user.password_reset"),
                                       ("analyste", "user.password_change")]


def test_console_actions_on_the_users_page(app: Flask, platform: Platform, creds: dict[str, str]) -> None:
    admin = logged_in(app, "admin", creds["admin"])
    token = api_csrf(admin)["X-CSRFToken"]
    bad = admin.post("/admin/users", data={"csrf_token": token, "username": "moussa", "password": "password1234",
                                           "role": "analyst"})
    assert bad.status_code == 400 and "plus courants" in bad.get_data(as_text=True)
    assert admin.post("/admin/users", data={"csrf_token": token, "username": "moussa", "password": NEW_PASSWORD,
                                            "role": "analyst"}).status_code == 303
    with platform.db.session() as s:
        uid = accounts.get_user(s, "moussa").id
    moussa = logged_in(app, "moussa", NEW_PASSWORD)
    assert admin.post(f"/admin/users/{uid}/role", data={"csrf_token": token, "role": "responder"}).status_code == 303
    assert moussa.get("/alerts/").status_code == 302  # the role change closed the session
    assert admin.post(f"/admin/users/{uid}/disable", data={"csrf_token": token}).status_code == 303
    assert login(app.test_client(), "moussa", NEW_PASSWORD).status_code == 401
    assert admin.post(f"/admin/users/{uid}/enable", data={"csrf_token": token}).status_code == 303
    moussa = logged_in(app, "moussa", NEW_PASSWORD)
    assert "(intervenant)" in moussa.get("/alerts/").get_data(as_text=True)
    assert admin.post(f"/admin/users/{uid}/delete", data={"csrf_token": token}).status_code == 303
    assert moussa.get("/alerts/").status_code == 302
    assert admin.post(f"/admin/users/{uid}/disable").status_code == 400  # no CSRF token
    assert "moussa" not in admin.get("/admin/users").get_data(as_text=True)
    assert [a for _, a in audit_of(platform, uid)] == ["user.create", "user.role", "user.disable", "user.enable",
                                                       "user.delete"]


def test_the_cli_manages_accounts(platform: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--data-dir", str(platform.settings.data_dir)]
    assert main([*base, "useradd", "fatou", "--role", "responder", "--password", NEW_PASSWORD]) == 0
    assert main([*base, "users", "add", "ibrahima", "--password", "motdepasse"]) == 2  # too short
    assert main([*base, "users", "add", "ibrahima", "--password", NEW_PASSWORD, "--role", "admin"]) == 0
    assert main([*base, "users", "role", "fatou", "analyst"]) == 0
    assert main([*base, "users", "disable", "fatou"]) == 0
    assert main([*base, "users", "enable", "fatou"]) == 0
    capsys.readouterr()
    assert main([*base, "users", "reset-password", "fatou"]) == 0
    temporary = capsys.readouterr().out.rsplit(": ", 1)[1].strip()
    with platform.db.session() as s:
        user = accounts.authenticate(s, "fatou", temporary)
        assert user is not None and user.must_change_password and user.role == "analyst"
        uid = user.id
    assert main([*base, "users", "unlock", "fatou"]) == 0
    assert main([*base, "users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "fatou" in listing and "password to change" in listing
    assert main([*base, "users", "delete", "fatou"]) == 0
    assert main([*base, "users", "disable", "fatou"]) == 2  # no such account any more
    actions = audit_of(platform, uid)
    assert [a for _, a in actions] == ["user.create", "user.role", "user.disable", "user.enable",
                                       "user.password_reset", "user.delete"]
    assert all(actor.startswith("cli") for actor, _ in actions)


def test_security_headers(app: Flask, creds: dict[str, str]) -> None:
    client = app.test_client()
    plain = client.get("/login")
    assert "camera=()" in plain.headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in plain.headers
    tls = client.get("/login", base_url="https://vigie.example")
    assert tls.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    resp = login(client, "analyste", creds["analyste"])
    cookies = resp.headers.getlist("Set-Cookie")
    cookie = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie  # the default
    # no "remember me" cookie is ever set (Flask-Login may send one that erases it)
    assert all("Max-Age=0" in c for c in cookies if c.startswith("remember_token="))


def test_cookies_are_not_secure_when_turned_off(platform: Platform, creds: dict[str, str]) -> None:
    from dataclasses import replace

    app = create_app(platform=Platform(replace(platform.settings, session_cookie_secure=False)))
    resp = login(app.test_client(), "analyste", creds["analyste"])
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" not in cookie and "HttpOnly" in cookie


def test_the_server_header_names_no_version(app: Flask) -> None:
    server = make_server("127.0.0.1", 0, app, request_handler=request_handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/healthz", timeout=5) as resp:
            assert resp.headers["Server"] == "Vigie"
    finally:
        server.shutdown()
        thread.join(5)


def test_users_page_lists_accounts_with_their_actions(app: Flask, creds: dict[str, str]) -> None:
    admin: Any = logged_in(app, "admin", creds["admin"])
    html = admin.get("/admin/users").get_data(as_text=True)
    for name in creds:
        assert f'data-username="{name}"' in html
    assert html.count('class="inline reset"') == 3
