"""The second factor in the console and the API: a password alone gives no session when a code is
due, enrolment forced for a role that requires it, codes not replayable, recovery codes, the
user's own page, an admin reset, the JSON API."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select
from support import csrf_token, login

from cert.accounts import totp
from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, User
from web.app import create_app

PASSWORD = "correct horse battery"
SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')


def make_app(settings: Settings, **overrides: Any) -> tuple[Flask, Platform]:
    platform = Platform(replace(settings, **overrides))
    platform.db.upgrade()
    with platform.db.session() as s:
        create_user(s, "chef", PASSWORD, "admin")
        create_user(s, "ana", PASSWORD, "analyst")
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return app, platform


@pytest.fixture
def required(settings: Settings) -> Any:
    """A console where admins must use a second factor (analysts need not)."""
    app, platform = make_app(settings, totp_required_roles=("admin",))
    yield app, platform
    platform.close()


def secret_of(html: str) -> str:
    m = SECRET.search(html)
    assert m, "no key shown on the enrolment page"
    return m.group(1).replace(" ", "")


def actions(platform: Platform) -> list[str]:
    with platform.db.session() as s:
        return [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def previous_code(secret: str) -> str:
    """The code of the previous 30-s window (accepted: one window of drift), leaving the current
    one unused. Taken away from a window's end, so that no boundary passes before the server
    checks it (the previous window's code would then be two windows old)."""
    if time.time() % 30 > 25:
        time.sleep(30.2 - time.time() % 30)
    return str(pyotp.TOTP(secret).at(time.time() - 30))


def enrol_at_login(app: Flask) -> tuple[Any, str, list[str]]:
    """Log in as the admin, who must enrol: a logged-in client, the secret, the recovery codes."""
    c = app.test_client()
    resp = login(c, "chef", PASSWORD)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login/enrol")
    page = c.get("/login/enrol").get_data(as_text=True)
    assert "data:image/svg+xml;base64," in page  # the QR code, drawn by the console
    secret = secret_of(page)
    resp = c.post("/login/enrol", data={"csrf_token": csrf_token(page),
                                         "code": previous_code(secret)})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "recovery-codes" in html, html
    codes = re.findall(r"<li>([a-z0-9-]{19})</li>", html)
    assert len(codes) == 10
    return c, secret, codes


def test_a_role_that_requires_it_must_enrol_before_anything_else(required: Any) -> None:
    app, platform = required
    c = app.test_client()
    resp = login(c, "chef", PASSWORD)
    assert resp.headers["Location"].endswith("/login/enrol")
    # the password alone gives no session: every other page sends back to the login form
    for url in ("/alerts/", "/admin/users", "/account/second-factor"):
        assert c.get(url).status_code == 302
        assert "/login" in c.get(url).headers["Location"]
    assert c.get("/api/v1/me/totp").status_code == 401
    page = c.get("/login/enrol").get_data(as_text=True)
    assert "Votre rôle exige un second facteur" in page  # French by default
    wrong = c.post("/login/enrol", data={"csrf_token": csrf_token(page), "code": "000000"})
    assert wrong.status_code == 400 and c.get("/alerts/").status_code == 302
    assert secret_of(wrong.get_data(as_text=True)) == secret_of(page)  # the same key, still pending
    c2, _, _ = enrol_at_login(app)
    assert c2.get("/alerts/").status_code == 200
    assert c.get("/alerts/").status_code == 302  # the first client is still not logged in
    assert {"totp.enrol", "totp.failed", "totp.confirm", "login.second_factor"} <= set(actions(platform))


def test_an_enrolled_user_needs_the_code_and_a_code_works_once(required: Any) -> None:
    app, platform = required
    enrol_at_login(app)
    c = app.test_client()
    resp = login(c, "chef", PASSWORD)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login/code")
    assert c.get("/alerts/").status_code == 302  # password alone: no session
    page = c.get("/login/code").get_data(as_text=True)
    assert "Second facteur" in page
    wrong = c.post("/login/code", data={"csrf_token": csrf_token(page), "code": "12345x"})
    assert wrong.status_code == 401 and "Ce code n&#39;est pas valide" in wrong.get_data(as_text=True)
    assert c.get("/alerts/").status_code == 302
    assert actions(platform)[-1] == "login.failed"


def test_full_login_with_code_then_replay_refused(required: Any) -> None:
    app, _ = required
    _, secret, _ = enrol_at_login(app)
    code = pyotp.TOTP(secret).now()
    c = app.test_client()
    login(c, "chef", PASSWORD)
    page = c.get("/login/code").get_data(as_text=True)
    resp = c.post("/login/code?next=/cases/", data={"csrf_token": csrf_token(page), "code": code})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/alerts/")
    assert c.get("/alerts/").status_code == 200
    # the same code, from another client with the password: refused
    other = app.test_client()
    login(other, "chef", PASSWORD)
    page = other.get("/login/code").get_data(as_text=True)
    assert other.post("/login/code", data={"csrf_token": csrf_token(page), "code": code}).status_code == 401
    assert other.get("/alerts/").status_code == 302


def test_login_keeps_the_next_page_through_the_second_step(required: Any) -> None:
    app, _ = required
    _, secret, _ = enrol_at_login(app)
    c = app.test_client()
    page = c.get("/login").get_data(as_text=True)
    resp = c.post("/login?next=/cases/", data={"csrf_token": csrf_token(page), "username": "chef",
                                                "password": PASSWORD})
    page = c.get(resp.headers["Location"]).get_data(as_text=True)
    resp = c.post("/login/code", data={"csrf_token": csrf_token(page), "code": pyotp.TOTP(secret).now()})
    assert resp.headers["Location"] == "/cases/"


def test_recovery_code_logs_in_once(required: Any) -> None:
    app, platform = required
    _, _, codes = enrol_at_login(app)
    for expected in (302, 401):
        c = app.test_client()
        login(c, "chef", PASSWORD)
        page = c.get("/login/code").get_data(as_text=True)
        assert c.post("/login/code", data={"csrf_token": csrf_token(page), "code": codes[0]}).status_code == expected
    assert "totp.recovery_used" in actions(platform)


def test_too_many_wrong_codes_end_the_login(required: Any) -> None:
    app, _ = required
    _, secret, _ = enrol_at_login(app)
    c = app.test_client()
    login(c, "chef", PASSWORD)
    page = c.get("/login/code").get_data(as_text=True)
    good = pyotp.TOTP(secret).now()
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for _ in range(totp.MAX_FAILURES):
        assert c.post("/login/code", data={"csrf_token": csrf_token(page), "code": wrong}).status_code == 401
    resp = c.post("/login/code", data={"csrf_token": csrf_token(page), "code": good})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")
    assert c.get("/alerts/").status_code == 302


def test_the_code_page_without_a_password_step_goes_back_to_login(required: Any) -> None:
    app, _ = required
    c = app.test_client()
    for url in ("/login/code", "/login/enrol"):
        resp = c.get(url)
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")


def test_a_role_without_the_requirement_logs_in_with_the_password_and_may_enrol(required: Any) -> None:
    app, platform = required
    c = app.test_client()
    resp = login(c, "ana", PASSWORD)
    assert resp.headers["Location"].endswith("/alerts/")
    page = c.get("/account/second-factor").get_data(as_text=True)
    assert "Aucun second facteur" in page
    page = c.post("/account/second-factor/enrol", data={"csrf_token": csrf_token(page)}).get_data(as_text=True)
    secret = secret_of(page)
    resp = c.post("/account/second-factor/confirm", data={"csrf_token": csrf_token(page),
                                                          "code": previous_code(secret)})
    assert resp.status_code == 200 and "recovery-codes" in resp.get_data(as_text=True)
    # from now on the analyst needs the code too
    c2 = app.test_client()
    assert login(c2, "ana", PASSWORD).headers["Location"].endswith("/login/code")
    # disable with a wrong code: still active; with the current code: gone
    page = c.get("/account/second-factor").get_data(as_text=True)
    c.post("/account/second-factor/disable", data={"csrf_token": csrf_token(page), "code": "000001"})
    assert "Un second facteur (TOTP) est actif" in c.get("/account/second-factor").get_data(as_text=True)
    c.post("/account/second-factor/disable", data={"csrf_token": csrf_token(page), "code": pyotp.TOTP(secret).now()})
    assert "Aucun second facteur" in c.get("/account/second-factor").get_data(as_text=True)
    assert login(app.test_client(), "ana", PASSWORD).headers["Location"].endswith("/alerts/")
    assert "totp.disable" in actions(platform)


def test_the_account_page_makes_new_recovery_codes_with_a_current_code(required: Any) -> None:
    app, platform = required
    c, secret, old = enrol_at_login(app)
    page = c.get("/account/second-factor").get_data(as_text=True)
    assert 'id="totp-recovery-codes"' in page and "Générer de nouveaux codes de secours" in page
    url = "/account/second-factor/recovery-codes"
    now = pyotp.TOTP(secret).now()
    assert c.post(url, data={"code": now}).status_code == 400  # no CSRF token
    wrong = c.post(url, data={"csrf_token": csrf_token(page), "code": f"{(int(now) + 1) % 1_000_000:06d}"})
    assert wrong.status_code == 400 and "Ce code n&#39;est pas valide" in wrong.get_data(as_text=True)
    assert c.post(url, data={"csrf_token": csrf_token(page), "code": old[0]}).status_code == 400
    resp = c.post(url, data={"csrf_token": csrf_token(page), "code": now})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "les précédents ne fonctionnent plus" in html
    codes = re.findall(r"<li>([a-z0-9-]{19})</li>", html)
    assert len(codes) == 10 and not set(codes) & set(old)
    assert "Codes de secours inutilisés : 10" in c.get("/account/second-factor").get_data(as_text=True)
    for code, expected in ((old[1], 401), (codes[0], 302)):  # the old set is gone, the new one logs in
        other = app.test_client()
        login(other, "chef", PASSWORD)
        code_page = other.get("/login/code").get_data(as_text=True)
        assert other.post("/login/code", data={"csrf_token": csrf_token(code_page), "code": code}
                          ).status_code == expected
    assert actions(platform).count("totp.recovery_codes") == 1


def test_api_makes_new_recovery_codes(required: Any) -> None:
    app, platform = required
    c, secret, old = enrol_at_login(app)
    headers = {"X-CSRFToken": csrf_token(c.get("/account/second-factor").get_data(as_text=True))}
    url = "/api/v1/me/totp/recovery-codes"
    now = pyotp.TOTP(secret).now()
    assert c.post(url, json={"code": now}).status_code == 400  # no CSRF token
    assert c.post(url, json={}, headers=headers).status_code == 400
    wrong = c.post(url, json={"code": f"{(int(now) + 1) % 1_000_000:06d}"}, headers=headers)
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "bad_request"
    resp = c.post(url, json={"code": now}, headers=headers)
    assert resp.status_code == 201
    codes = resp.get_json()["recovery_codes"]
    assert len(codes) == 10 and not set(codes) & set(old)
    assert c.get("/api/v1/me/totp").get_json()["recovery_codes_left"] == 10
    assert c.post(url, json={"code": now}, headers=headers).status_code == 400  # the code was used
    with platform.db.session() as s:
        user = s.scalar(select(User).where(User.username == "chef"))
        assert user is not None
        assert totp.verify(s, user, totp.SecretBox(platform.settings.effective_secret_key()), old[0]) is None
        assert totp.verify(s, user, totp.SecretBox(platform.settings.effective_secret_key()), codes[0]) == "recovery"
    # no second factor: nothing to replace
    ana = app.test_client()
    login(ana, "ana", PASSWORD)
    ana_headers = {"X-CSRFToken": csrf_token(ana.get("/account/second-factor").get_data(as_text=True))}
    assert ana.post(url, json={"code": now}, headers=ana_headers).status_code == 409


def test_admin_resets_a_lost_device_and_the_user_enrols_again(required: Any) -> None:
    app, platform = required
    admin, _, _ = enrol_at_login(app)
    analyst = app.test_client()
    login(analyst, "ana", PASSWORD)
    page = analyst.get("/account/second-factor").get_data(as_text=True)
    page = analyst.post("/account/second-factor/enrol", data={"csrf_token": csrf_token(page)}).get_data(as_text=True)
    analyst.post("/account/second-factor/confirm", data={"csrf_token": csrf_token(page),
                                                         "code": pyotp.TOTP(secret_of(page)).now()})
    with platform.db.session() as s:
        ana_id = s.scalar(select(User.id).where(User.username == "ana"))
    # an analyst cannot reset anybody
    assert analyst.post(f"/admin/second-factor/{ana_id}/reset", data={"csrf_token": csrf_token(page)}
                        ).status_code == 403
    listing = admin.get("/admin/second-factor").get_data(as_text=True)
    assert "ana" in listing and "actif" in listing
    resp = admin.post(f"/admin/second-factor/{ana_id}/reset", data={"csrf_token": csrf_token(listing)})
    assert resp.status_code == 303
    assert login(app.test_client(), "ana", PASSWORD).headers["Location"].endswith("/alerts/")
    with platform.db.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "totp.reset"))
        assert entry is not None and entry.actor == "chef" and entry.details["username"] == "ana"
    assert admin.post("/admin/second-factor/999999/reset", data={"csrf_token": csrf_token(listing)}
                      ).status_code == 404


def test_api_enrol_confirm_disable(required: Any) -> None:
    app, platform = required
    c = app.test_client()
    login(c, "ana", PASSWORD)
    page = c.get("/account/second-factor").get_data(as_text=True)
    headers = {"X-CSRFToken": csrf_token(page)}
    assert c.get("/api/v1/me/totp").get_json() == {"enrolled": False, "pending": False, "required": False,
                                                   "recovery_codes_left": 0}
    assert c.post("/api/v1/me/totp").status_code == 400  # no CSRF token
    resp = c.post("/api/v1/me/totp", headers=headers)
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["uri"].startswith("otpauth://totp/Vigie:ana?") and body["qr"].startswith("data:image/svg+xml;base64,")
    assert c.get("/api/v1/me/totp").get_json()["pending"] is True
    bad = c.post("/api/v1/me/totp/confirm", json={"code": "abc"}, headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"] == "bad_request"
    assert c.post("/api/v1/me/totp/confirm", json=["x"], headers=headers).status_code == 400
    ok = c.post("/api/v1/me/totp/confirm", json={"code": previous_code(body["secret"])},
                headers=headers)
    assert ok.status_code == 200 and len(ok.get_json()["recovery_codes"]) == 10
    assert c.post("/api/v1/me/totp", headers=headers).status_code == 409  # already active
    assert c.get("/api/v1/me/totp").get_json()["recovery_codes_left"] == 10
    assert c.post("/api/v1/me/totp/disable", json={"code": "000000x"}, headers=headers).status_code == 400
    resp = c.post("/api/v1/me/totp/disable", json={"code": pyotp.TOTP(body["secret"]).now()}, headers=headers)
    assert resp.status_code == 204
    assert c.get("/api/v1/me/totp").get_json()["enrolled"] is False
    # the admin reset: admins only
    with platform.db.session() as s:
        ana_id = s.scalar(select(User.id).where(User.username == "ana"))
    assert c.delete(f"/api/v1/users/{ana_id}/totp", headers=headers).status_code == 403


def test_api_admin_reset(required: Any) -> None:
    app, platform = required
    admin, _, _ = enrol_at_login(app)
    page = admin.get("/admin/second-factor").get_data(as_text=True)
    headers = {"X-CSRFToken": csrf_token(page)}
    with platform.db.session() as s:
        chef_id = s.scalar(select(User.id).where(User.username == "chef"))
    assert admin.delete("/api/v1/users/999999/totp", headers=headers).status_code == 404
    assert admin.delete(f"/api/v1/users/{chef_id}/totp", headers=headers).status_code == 204
    assert "totp.reset" in actions(platform)


def test_production_defaults_require_admins_and_responders(settings: Settings) -> None:
    production = replace(settings, database_url=f"sqlite:///{settings.data_dir / 'prod.sqlite3'}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app, platform = make_app(production)
    try:
        assert platform.settings.mode == "production"
        assert login(app.test_client(), "chef", PASSWORD).headers["Location"].endswith("/login/enrol")
        assert login(app.test_client(), "ana", PASSWORD).headers["Location"].endswith("/alerts/")
    finally:
        platform.close()
