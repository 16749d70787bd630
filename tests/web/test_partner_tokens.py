"""A partner CERT's credential: a token bound to the partner, holding the ``share`` scope alone,
created through the REST API and the command line; it reads none of the internal alerts and
cases, and HTTP Basic (the token as password, as TAXII clients and MISP feeds send it) is taken
like a bearer token."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from support import seed_by_organization

from cert.accounts.access import TOKEN_ROLE, Principal, visible_organizations
from cert.accounts.tokens import create_token
from cert.cli import main as cli_main
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry
from cert.storage.models.tokens import ApiToken
from web.app import create_app


def basic(secret: str, user: str = "cert-voisin") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def test_a_partner_token_is_made_for_a_known_partner_with_the_share_scope_alone(platform: Platform) -> None:
    with platform.db.session() as s:
        admin = create_token(s, "admin-bot", "tests", actor="test", scopes="admin")[1]
    client = create_app(platform=platform).test_client()
    auth = {"Authorization": f"Bearer {admin}", "Accept-Language": "fr"}
    made = client.post("/api/v1/tokens", json={"name": "voisin-feed", "scopes": ["share"], "partner": "cert-voisin"},
                       headers=auth)
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["partner"] == "cert-voisin" and body["scopes"] == ["share"] and body["organization"] is None
    refused = {
        "share without a partner": {"name": "x1", "scopes": ["share"]},
        "a partner with another scope": {"name": "x2", "scopes": ["read"], "partner": "cert-voisin"},
        "a partner and an organisation": {"name": "x3", "scopes": ["share"], "partner": "cert-voisin",
                                          "organization": "min-justice"},
    }
    for why, wanted in refused.items():
        answer = client.post("/api/v1/tokens", json=wanted, headers=auth)
        assert answer.status_code == 400, why
        assert "share" in answer.get_json()["message"], why
    unknown = client.post("/api/v1/tokens", json={"name": "x4", "scopes": ["share"], "partner": "nobody"},
                          headers=auth)
    assert unknown.status_code == 404 and "nobody" in unknown.get_json()["message"]
    with platform.db.session() as s:
        assert s.scalar(select(ApiToken.partner).where(ApiToken.name == "voisin-feed")) == "cert-voisin"
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "token.create",
                                                   AuditEntry.object_id == "voisin-feed")).one()
        assert entry.details["partner"] == "cert-voisin"
        assert s.scalar(select(ApiToken).where(ApiToken.name.in_(["x1", "x2", "x3", "x4"]))) is None


def test_a_partner_token_reads_no_internal_alert_or_case(platform: Platform) -> None:
    seed_by_organization(platform)
    with platform.db.session() as s:
        partner = platform.constituency.partner("cert-voisin")
        secret = create_token(s, "voisin-feed", "tests", actor="test", scopes="share", partner=partner)[1]
    assert visible_organizations(Principal(TOKEN_ROLE, None, "cert-voisin"), platform.constituency) == frozenset()
    client = create_app(platform=platform).test_client()
    for path in ("/api/v1/alerts", "/api/v1/cases", "/api/v1/tokens"):
        got = client.get(path, headers={"Authorization": f"Bearer {secret}"})
        assert got.status_code == 403, path
        assert "alert " not in got.get_data(as_text=True)


def test_http_basic_carries_a_token_as_its_password(platform: Platform) -> None:
    seed_by_organization(platform)
    with platform.db.session() as s:
        secret = create_token(s, "reader", "tests", actor="test", scopes="read")[1]
    app: Flask = create_app(platform=platform)
    client = app.test_client()
    ok = client.get("/api/v1/alerts", headers=basic(secret, "anyone"))
    assert ok.status_code == 200 and ok.get_json()["total"] == 4
    for headers in (basic("vigie_wrong"), {"Authorization": "Basic !!not-base64!!"},
                    {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode()}):
        bad = client.get("/api/v1/alerts", headers=headers)
        assert bad.status_code == 401 and bad.headers["WWW-Authenticate"] == 'Basic realm="vigie"'
        assert "alert " not in bad.get_data(as_text=True)


def test_the_command_line_makes_a_partner_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CERT_SECRET_KEY", "test-secret-key")
    d = str(tmp_path / "data")
    assert cli_main(["--data-dir", d, "init"]) == 0
    capsys.readouterr()
    assert cli_main(["--data-dir", d, "token", "create", "voisin-taxii", "--partner", "cert-voisin"]) == 0
    out = capsys.readouterr().out
    assert "partner CERT voisin" in out or "partner" in out
    secret = out.split("shown only now:")[1].split()[0]
    assert secret.startswith("vigie_")
    assert cli_main(["--data-dir", d, "token", "create", "x", "--partner", "nobody"]) != 0
    assert "nobody" in capsys.readouterr().err


def test_an_organisation_token_cannot_administer(platform: Platform) -> None:
    """Users, tokens and second factors are the CERT's: a token bound to a ministry never holds
    the admin scope (it would reach every account, whatever its organisation)."""
    with platform.db.session() as s:
        admin = create_token(s, "admin-bot", "tests", actor="test", scopes="admin")[1]
    client = create_app(platform=platform).test_client()
    refused = client.post("/api/v1/tokens", json={"name": "x", "scopes": ["read", "admin"],
                                                  "organization": "min-justice"},
                          headers={"Authorization": f"Bearer {admin}", "Accept-Language": "fr"})
    assert refused.status_code == 400 and "admin" in refused.get_json()["message"]
    with platform.db.session() as s:
        assert s.scalar(select(ApiToken).where(ApiToken.name == "x")) is None
