"""API tokens as an administrator and a program meet them: scopes, expiry, last use (time and
address), revocation, through the REST API, the console page and the migration of older tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from support import csrf_token, login

from cert.accounts.tokens import authenticate, create_token, expiry, status
from cert.accounts.users import create_user
from cert.core.errors import InvalidInput
from cert.runtime.platform import Platform
from cert.storage.db import MIGRATIONS_DIR, Database
from cert.storage.models import Alert, AuditEntry, Case
from cert.storage.models.tokens import ApiToken
from web.app import create_app

ADMIN_PW = "admin-password-1"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def make_token(platform: Platform, name: str, scopes: str, lifetime: str = "90d") -> str:
    with platform.db.session() as s:
        return create_token(s, name, "tests", actor="test", scopes=scopes, lifetime=lifetime)[1]


def stored(platform: Platform, name: str) -> ApiToken:
    with platform.db.session() as s:
        token = s.scalars(select(ApiToken).where(ApiToken.name == name)).one()
        s.expunge(token)
        return token


def trail(platform: Platform, action: str) -> list[tuple[str, str]]:
    with platform.db.session() as s:
        return [(e.actor, e.object_id) for e in s.scalars(select(AuditEntry).where(AuditEntry.action == action))]


@pytest.fixture
def app(platform: Platform) -> Flask:
    with platform.db.session() as s:
        create_user(s, "chef", ADMIN_PW, "admin")
        create_user(s, "ana", "analyst-password-1", "analyst")
    return create_app(platform=platform)


def session_client(app: Flask, user: str, password: str) -> tuple[FlaskClient, dict[str, str]]:
    """A logged-in browser and the CSRF header its API POSTs need."""
    client = app.test_client()
    assert login(client, user, password).status_code == 302
    page = client.get("/alerts/").get_data(as_text=True)
    return client, {"X-CSRFToken": csrf_token(page)}


def test_rest_token_admin_by_an_admin_token(app: Flask, platform: Platform) -> None:
    admin_secret = make_token(platform, "automation", "admin")
    client = app.test_client()
    resp = client.post("/api/v1/tokens", headers=bearer(admin_secret), json={
        "name": "soc-justice", "owner": "soc", "scopes": ["read", "triage"], "organization": "min-justice",
        "expires": "30d"})
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["scopes"] == ["read", "triage"] and created["organization"] == "min-justice"
    assert created["status"] == "active" and created["last_used_at"] is None
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    secret = created["secret"]
    assert secret.startswith("vigie_")
    assert trail(platform, "token.create")[-1] == ("token:automation", "soc-justice")

    # the new token reads the API, and nothing its scopes do not name
    assert client.get("/api/v1/alerts", headers=bearer(secret)).status_code == 200
    assert client.get("/api/v1/tokens", headers=bearer(secret)).status_code == 403
    assert client.post("/api/v1/events", data=b"{}", headers=bearer(secret)).status_code == 403

    listing = client.get("/api/v1/tokens", headers=bearer(admin_secret))
    assert listing.status_code == 200 and secret not in listing.get_data(as_text=True)
    rows = {t["name"]: t for t in listing.get_json()["items"]}
    assert set(rows) == {"automation", "soc-justice"} and "secret" not in rows["soc-justice"]
    assert rows["soc-justice"]["last_used_at"] is not None

    resp = client.post("/api/v1/tokens/soc-justice/revoke", headers=bearer(admin_secret))
    assert resp.status_code == 200 and resp.get_json()["status"] == "revoked"
    assert trail(platform, "token.revoke") == [("token:automation", "soc-justice")]
    answer = client.get("/api/v1/alerts", headers=bearer(secret))
    assert answer.status_code == 401 and answer.get_json()["error"] == "unauthorized"
    assert client.post("/api/v1/tokens/nobody/revoke", headers=bearer(admin_secret)).status_code == 404


@pytest.mark.parametrize(("body", "message"), [
    ({"name": "x", "scopes": ["root"]}, "Portée de jeton inconnue : root"),
    ({"name": "x", "scopes": []}, "au moins une portée"),
    ({"name": "x", "scopes": "read"}, "scopes: doit être une liste"),
    ({"name": "x", "expires": "yesterday"}, "Une expiration est une durée"),
    ({"name": "x", "expires": "2001-01-01"}, "doit être dans le futur"),
    ({"name": "x", "expires": "99999d"}, "5 ans au plus"),
    ({"name": "x", "organization": "Ministère X"}, "no organisation 'Ministère X'"),
    ({"name": "../x"}, "Un nom de jeton"),
    ({"name": "automation"}, "existe déjà"),
    ({"name": 3}, "name"),
    ([1], "objet JSON"),
])
def test_rest_token_creation_refuses_bad_input(app: Flask, platform: Platform, body: Any, message: str) -> None:
    admin_secret = make_token(platform, "automation", "admin")
    resp = app.test_client().post("/api/v1/tokens", headers=bearer(admin_secret), json=body)
    assert resp.status_code == 400 and message in resp.get_json()["message"], resp.get_json()


def test_rest_token_admin_by_session_needs_the_admin_role_and_csrf(app: Flask) -> None:
    analyst, analyst_csrf = session_client(app, "ana", "analyst-password-1")
    assert analyst.get("/api/v1/tokens").status_code == 403
    assert analyst.post("/api/v1/tokens", headers=analyst_csrf, json={"name": "x"}).status_code == 403
    admin, csrf = session_client(app, "chef", ADMIN_PW)
    assert admin.post("/api/v1/tokens", json={"name": "x"}).status_code == 400  # no CSRF token
    resp = admin.post("/api/v1/tokens", headers=csrf, json={"name": "x", "expires": "never"})
    assert resp.status_code == 201 and resp.get_json()["expires_at"] is None
    assert resp.get_json()["scopes"] == ["ingest"]  # the default scope
    assert [t["name"] for t in admin.get("/api/v1/tokens").get_json()["items"]] == ["x"]


def test_a_token_acts_in_the_audit_trail_and_timeline_under_its_name(demo: tuple[Platform, dict[str, str]]) -> None:
    platform = demo[0]
    client = create_app(platform=platform).test_client()
    triage, write, read = (make_token(platform, n, s) for n, s in
                           (("triage-bot", "triage"), ("case-bot", "write"), ("reader", "read")))
    with platform.db.session() as s:
        alert_id = s.scalars(select(Alert.id).where(Alert.status == "new").order_by(Alert.id)).first()
    assert alert_id is not None
    assert client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=bearer(read)).status_code == 403
    resp = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=bearer(triage))
    assert resp.status_code == 200 and resp.get_json()["status"] == "acknowledged"
    assert ("token:triage-bot", str(alert_id)) in trail(platform, "alert.acknowledge")

    resp = client.post(f"/api/v1/alerts/{alert_id}/promote", headers=bearer(triage), json={"tlp": "amber"})
    assert resp.status_code == 201, resp.get_json()
    case_id = resp.get_json()["id"]
    assert client.post(f"/api/v1/cases/{case_id}/tlp", headers=bearer(triage), json={"tlp": "red"}).status_code == 403
    resp = client.post(f"/api/v1/cases/{case_id}/tlp", headers=bearer(write), json={"tlp": "red"})
    assert resp.status_code == 200 and resp.get_json()["tlp"] == "red"
    # lowering a TLP is a responder's judgement: a token has no role
    lower = client.post(f"/api/v1/cases/{case_id}/tlp", headers=bearer(write), json={"tlp": "green", "reason": "r"})
    assert lower.status_code == 403
    with platform.db.session() as s:
        case = s.get_one(Case, case_id)
        assert case.tlp == "red"
        assert {"token:triage-bot", "token:case-bot"} <= {t.actor for t in case.timeline}


def test_last_use_is_written_at_most_once_a_minute_with_the_address(platform: Platform) -> None:
    secret = make_token(platform, "shipper", "ingest", "never")
    t0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    with platform.db.session() as s:
        assert authenticate(s, secret, "192.0.2.1", now=t0) is not None
    with platform.db.session() as s:
        assert authenticate(s, secret, "192.0.2.2", now=t0 + timedelta(seconds=59)) is not None
    token = stored(platform, "shipper")
    assert (token.last_used_at.replace(tzinfo=UTC), token.last_used_from) == (t0, "192.0.2.1")  # type: ignore[union-attr]
    with platform.db.session() as s:
        assert authenticate(s, secret, "192.0.2.3", now=t0 + timedelta(seconds=60)) is not None
    token = stored(platform, "shipper")
    assert token.last_used_from == "192.0.2.3"


def test_a_token_expires_at_its_time(platform: Platform) -> None:
    secret = make_token(platform, "short", "read", "1h")
    token = stored(platform, "short")
    assert token.expires_at is not None
    end = token.expires_at.replace(tzinfo=UTC)
    with platform.db.session() as s:
        assert authenticate(s, secret, now=end - timedelta(seconds=1)) is not None
        assert authenticate(s, secret, now=end) is None
    assert status(token, end) == "expired" and status(token, end - timedelta(seconds=1)) == "active"


def test_expiry_syntax() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert expiry("90d", now) == now + timedelta(days=90)
    assert expiry(" 12H ", now) == now + timedelta(hours=12)
    assert expiry("26w", now) == now + timedelta(weeks=26)
    assert expiry("2030-06-30", now) == datetime(2030, 6, 30, tzinfo=UTC)
    assert expiry("never", now) is None
    for bad in ("", "0d", "-1d", "90", "d", "2029-12-31", "forever", "1e3d", "6000d"):
        with pytest.raises(InvalidInput):
            expiry(bad, now)


def test_console_creates_with_scopes_organisation_expiry_and_lists_them(app: Flask, platform: Platform) -> None:
    admin = app.test_client()
    login(admin, "chef", ADMIN_PW)
    page = admin.get("/admin/tokens/").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="ingest"', page) and 'value="90d"' in page  # the defaults
    assert len(re.findall(r'<input checked[^>]*name="scopes"', page)) == 1
    form = {"name": "pare-feu", "owner": "noc", "scopes": ["read", "ingest"], "organization": "min-justice",
            "expires": "never", "csrf_token": csrf_token(page)}
    resp = admin.post("/admin/tokens/", data=form)
    assert resp.status_code == 201
    secret = resp.get_data(as_text=True).split('<pre class="secret"><code>')[1].split("</code>")[0]
    token = stored(platform, "pare-feu")
    assert (token.scopes, token.organization, token.expires_at) == ("ingest,read", "min-justice", None)
    assert trail(platform, "token.create") == [("chef", "pare-feu")]

    make_token(platform, "old", "read", "1h")
    with platform.db.session() as s:
        s.scalars(select(ApiToken).where(ApiToken.name == "old")).one().expires_at = datetime(2020, 1, 1, tzinfo=UTC)
    used = app.test_client().get("/api/v1/alerts", headers=bearer(secret), environ_base={"REMOTE_ADDR": "192.0.2.77"})
    assert used.status_code == 200
    listing = admin.get("/admin/tokens/").get_data(as_text=True)
    assert secret not in listing  # shown once
    row = listing.split("<td>pare-feu</td>")[1].split("</tr>")[0]
    assert "ingest, read" in row and "min-justice" in row and "jamais" in row and "(192.0.2.77)" in row
    assert "actif" in row
    assert "expiré" in listing.split("<td>old</td>")[1].split("</tr>")[0]

    bad = admin.post("/admin/tokens/", data={**form, "name": "other", "scopes": []})
    assert bad.status_code == 400 and "au moins une portée" in bad.get_data(as_text=True)
    bad = admin.post("/admin/tokens/", data={**form, "name": "other", "expires": "tomorrow"})
    assert bad.status_code == 400 and "Une expiration est une durée" in bad.get_data(as_text=True)
    bad = admin.post("/admin/tokens/", data={**form, "name": "other", "scopes": ["root"]})
    assert bad.status_code == 400


def test_older_tokens_keep_their_scope_and_no_expiry_through_the_migration(tmp_path: Any) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["engine"] = db.engine
        command.upgrade(cfg, "0009")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO api_tokens (name, owner, scope, token_hash, created_by, created_at, "
                              "revoked) VALUES ('shipper', 'noc', 'ingest', :h, 'admin', :t, false)"),
                         {"h": "a" * 64, "t": datetime(2026, 1, 1, tzinfo=UTC)})
        db.upgrade()
        with db.session() as s:
            token = s.scalars(select(ApiToken)).one()
            assert (token.scope_list, token.expires_at, status(token)) == (("ingest",), None, "active")
    finally:
        db.dispose()
