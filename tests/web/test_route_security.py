"""Every route of the URL map refuses anonymous access, except the login page, static files and the
health probe; every POST route needs a CSRF token. Every /api/ route refuses missing, unknown,
expired and revoked API tokens (401), and tokens without its scope (403); console routes ignore
tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from support import login, route_calls
from werkzeug.test import TestResponse

from cert.accounts.tokens import SCOPES, SHARE_SCOPE, create_token, revoke_token
from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.runtime.platform import Platform
from cert.storage.models.tokens import ApiToken
from web.access import PUBLIC_ENDPOINTS
from web.api_auth import SESSION_ONLY
from web.app import create_app


def test_every_route_refuses_anonymous_access(platform: Platform) -> None:
    app = create_app(platform=platform)
    client = app.test_client()
    calls = [(method, url) for method, url, endpoint in route_calls(app) if endpoint not in PUBLIC_ENDPOINTS]
    for method, url in calls:
        resp = client.open(url, method=method)
        assert resp.status_code in (302, 400, 401), f"{method} {url} answered {resp.status_code} anonymously"
        if resp.status_code == 302:
            assert "/login" in resp.headers["Location"]
    assert len(calls) >= 15


def test_public_endpoints_are_only_login_static_health_and_the_acknowledgement_link(settings: Settings) -> None:
    assert {"auth.login", "oidc.login", "oidc.callback", "static", "healthz", "totp.login_code",
            "totp.login_enrol", "public_report.form", "ack.acknowledge_link"} == PUBLIC_ENDPOINTS


def test_session_cookie_is_http_only(platform: Platform) -> None:
    app = create_app(platform=platform)
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


# ---- bearer API tokens: every /api/v1 route, every kind of token ----------------------------------

def api_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(method, url, endpoint) of every /api/ route: the REST API, the TAXII 2.1 server, the served
    MISP feed."""
    return [(method, url, endpoint) for method, url, endpoint in route_calls(app) if url.startswith("/api/")]


def error_kind(resp: TestResponse) -> str:
    """The error an /api/ answer names: ``error`` of the API's JSON, or, for the TAXII server's
    error message (``title``, ``http_status``), the name of its status."""
    body = resp.get_json(silent=True) or {}
    if "error" in body:
        return str(body["error"])
    return {401: "unauthorized", 403: "forbidden"}.get(int(body.get("http_status", 0)), "?")


def console_routes(app: Flask) -> list[tuple[str, str]]:
    return [(method, url) for method, url, endpoint in route_calls(app)
            if not url.startswith("/api/") and endpoint not in PUBLIC_ENDPOINTS]


#: Every scope but ``share``, which a partner CERT's token holds alone.
COMBINABLE = [scope for scope in SCOPES if scope != SHARE_SCOPE]


def make_token(platform: Platform, name: str, scopes: list[str], lifetime: str = "90d") -> str:
    with platform.db.session() as s:
        partner = platform.constituency.partner("cert-voisin") if scopes == [SHARE_SCOPE] else None
        return create_token(s, name, "tests", actor="test", scopes=scopes, lifetime=lifetime, partner=partner)[1]


@pytest.fixture
def token_secrets(platform: Platform) -> dict[str, str]:
    """A token per scope (a partner's for ``share``), a token of all scopes but one per scope, and
    expired, revoked, all-scopes tokens (all but ``share``, which no token combines)."""
    out = {f"only-{scope}": make_token(platform, f"only-{scope}", [scope]) for scope in SCOPES}
    out |= {f"all-but-{scope}": make_token(platform, f"all-but-{scope}", [x for x in COMBINABLE if x != scope])
            for scope in SCOPES}
    out["all"] = make_token(platform, "all", COMBINABLE)
    out["expired"] = make_token(platform, "expired", COMBINABLE, "1h")
    out["revoked"] = make_token(platform, "revoked", COMBINABLE, "never")
    with platform.db.session() as s:
        s.scalars(select(ApiToken).where(ApiToken.name == "expired")).one().expires_at = (
            datetime.now(UTC) - timedelta(seconds=1))
        revoke_token(s, "revoked", actor="test")
    return out


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_every_api_route_declares_a_known_scope(platform: Platform) -> None:
    app = create_app(platform=platform)
    routes = api_routes(app)
    assert len(routes) >= 13
    for method, url, endpoint in routes:
        assert getattr(app.view_functions[endpoint], "api_scope", None) in {*SCOPES, SESSION_ONLY}, f"{method} {url}"


def test_every_api_route_checks_the_token_and_its_scope(platform: Platform, token_secrets: dict[str, str]) -> None:
    app = create_app(platform=platform)
    client = app.test_client()
    for method, url, endpoint in api_routes(app):
        scope = app.view_functions[endpoint].api_scope
        where = f"{method} {url} ({scope})"
        for credentials in ({}, bearer(token_secrets["expired"]), bearer(token_secrets["revoked"]),
                            bearer("vigie_unknown-token"), bearer(""), {"Authorization": "Basic YWRtaW46eA=="}):
            resp = client.open(url, method=method, headers=credentials)
            assert resp.status_code == 401, f"{where} with {credentials} answered {resp.status_code}"
            assert error_kind(resp) == "unauthorized" and "Set-Cookie" not in resp.headers, where
        if scope == SESSION_ONLY:  # a person's own settings: no token, whatever its scopes
            resp = client.open(url, method=method, headers=bearer(token_secrets["all"]))
            assert resp.status_code == 403 and error_kind(resp) == "forbidden", where
            continue
        resp = client.open(url, method=method, headers=bearer(token_secrets[f"all-but-{scope}"]))
        assert resp.status_code == 403 and error_kind(resp) == "forbidden", where
        assert scope in resp.get_data(as_text=True), where
        resp = client.open(url, method=method, headers=bearer(token_secrets[f"only-{scope}"]))
        assert resp.status_code not in (401, 403), f"{where} answered {resp.status_code} to its scope"
        assert "Set-Cookie" not in resp.headers, where


def test_a_session_still_needs_csrf_on_the_api_even_with_a_token(platform: Platform,
                                                                 token_secrets: dict[str, str]) -> None:
    with platform.db.session() as s:
        create_user(s, "chef", "admin-password-1", "admin")
    app = create_app(platform=platform)
    client = app.test_client()
    assert login(client, "chef", "admin-password-1").status_code == 302
    posts = [(m, url) for m, url, _ in api_routes(app) if m == "POST"]
    assert len(posts) >= 6
    for method, url in posts:
        for headers in ({}, bearer(token_secrets["all"])):
            resp = client.open(url, method=method, headers=headers)
            assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True), f"{method} {url} {headers}"


def test_console_routes_refuse_bearer_tokens(platform: Platform, token_secrets: dict[str, str]) -> None:
    """A token is a credential of the API only: on the console the request is anonymous."""
    app = create_app(platform=platform)
    client = app.test_client()
    routes = console_routes(app)
    assert len(routes) >= 15
    for method, url in routes:
        resp = client.open(url, method=method, headers=bearer(token_secrets["all"]))
        if method == "GET":
            assert resp.status_code == 302 and "/login" in resp.headers["Location"], f"{method} {url}"
        else:
            assert resp.status_code in (302, 400), f"{method} {url} answered {resp.status_code} to a token"


def test_every_admin_route_refuses_other_roles(platform: Platform) -> None:
    """Routes marked ``@requires("admin")`` (users, tokens, audit) answer 403 to an analyst and a
    responder, whatever the method."""
    from support import login, route_calls

    from cert.demo import ensure_demo_users

    creds = ensure_demo_users(platform)
    app = create_app(platform=platform)
    clients = {name: app.test_client() for name in ("analyste", "intervenant")}
    for username, client in clients.items():
        assert login(client, username, creds[username]).status_code == 302
    app.config["WTF_CSRF_ENABLED"] = False  # the role check, not the CSRF check, must refuse
    checked = 0
    for username, client in clients.items():
        for method, url, endpoint in route_calls(app):
            if getattr(app.view_functions[endpoint], "required_role", None) != "admin":
                continue
            resp = client.open(url, method=method)
            assert resp.status_code == 403, f"{username}: {method} {url} answered {resp.status_code}"
            checked += 1
    assert checked >= 2 * 15


def test_a_password_to_change_opens_only_the_change_form(platform: Platform) -> None:
    """After a reset, every route but the password change and logout sends to the change form."""
    from sqlalchemy import select
    from support import login, route_calls

    from cert.accounts.users import reset_password
    from cert.demo import ensure_demo_users
    from cert.storage.models import User

    ensure_demo_users(platform)
    with platform.db.session() as s:
        temporary = reset_password(s, s.scalars(select(User).where(User.username == "admin")).one(), "test")
    app = create_app(platform=platform)
    client = app.test_client()
    assert login(client, "admin", temporary).status_code == 302
    allowed = {"auth.change_password", "users_api.api_change_password", "auth.logout", "static",
               *PUBLIC_ENDPOINTS}
    calls = [(method, url) for method, url, endpoint in route_calls(app) if endpoint not in allowed]
    for method, url in calls:
        resp = client.open(url, method=method)
        if url.startswith("/api/"):
            assert resp.status_code in (400, 403), f"{method} {url} answered {resp.status_code}"
        else:
            assert resp.status_code in (302, 400), f"{method} {url} answered {resp.status_code}"
            if resp.status_code == 302:
                assert resp.headers["Location"].endswith("/account/password"), url
    assert len(calls) >= 30


# ---- outsiders: focal points and partners are not staff ------------------------------------------

#: what any logged-in person may reach, whatever the role: their own account
OWN_ACCOUNT = frozenset({"auth.index", "auth.change_password", "auth.logout", "users_api.api_change_password",
                         "api.me", "totp.account", "totp.account_enrol", "totp.account_confirm", "totp.account_disable",
                         "totp.api_status",
                         "totp.api_enrol", "totp.api_confirm", "totp.api_disable",
                         "totp.account_recovery_codes", "totp.api_recovery_codes"})
#: the reads a focal point may make, answered with its organisations' data only
FOCAL_POINT_READS = frozenset({
    "intake_api.list_reports", "intake_api.get_report",
    "documents.incident_pdf", "documents.incident_html", "documents.monthly_form",
    "documents.monthly_pdf", "documents.monthly_html",
    "documents_api.incident_report_document", "documents_api.monthly_report_document",
    "dashboard_api.get_metrics", "dashboard_api.get_dashboard", "dashboard_api.incident_sla_clocks", "dashboard_api.alert_sla_clocks",
})
#: the focal-point portal: what a focal point reads and does for its organisations (CERT staff and
#: partners are refused it)
PORTAL = frozenset({
    "portal.index", "portal.incident", "portal.acknowledge_incident", "portal.add_comment", "portal.add_evidence",
    "portal.answer_countermeasure",
    "portal_api.list_incidents", "portal_api.get_incident", "portal_api.acknowledge_incident",
    "portal_api.add_comment", "portal_api.add_evidence", "portal_api.answer_countermeasure",
})


def test_own_account_endpoints_exist(platform: Platform) -> None:
    app = create_app(platform=platform)
    assert set(app.view_functions) >= OWN_ACCOUNT | FOCAL_POINT_READS | PORTAL
    opened = {e for e, view in app.view_functions.items() if getattr(view, "focal_points", False)}
    assert opened == FOCAL_POINT_READS | PORTAL


@pytest.mark.parametrize(("role", "organization"), [("focal_point", "min-interieur"), ("partner", "CERT-XY")])
def test_outsiders_are_refused_every_route_but_their_own_account(platform: Platform, role: str,
                                                                 organization: str) -> None:
    """A logged-in focal point or partner gets 403 on every console and API route, but for their
    own account pages (and, for a focal point, the scoped reads of alerts and cases, and the
    portal: its pages, and its actions, refused here for their empty forms or for an incident
    that is not of its organisation)."""
    with platform.db.session() as s:
        create_user(s, "dehors", "outsider-password-1", role, organization=organization,
                    constituency=platform.constituency)
    app = create_app(platform=platform)
    client = app.test_client()
    assert login(client, "dehors", "outsider-password-1").status_code == 302
    app.config["WTF_CSRF_ENABLED"] = False  # the role check, not the CSRF check, must refuse
    allowed = OWN_ACCOUNT | PUBLIC_ENDPOINTS | {"static"}
    calls = [(method, url, endpoint) for method, url, endpoint in route_calls(app) if endpoint not in allowed]
    for method, url, endpoint in calls:
        resp = client.open(url, method=method)
        if role == "focal_point" and endpoint in FOCAL_POINT_READS:
            assert resp.status_code in (200, 404), f"{role}: {method} {url} answered {resp.status_code}"
        elif role == "focal_point" and endpoint in PORTAL:
            lists = endpoint in ("portal.index", "portal_api.list_incidents")
            assert resp.status_code in ((200,) if lists else (400, 404)), f"{role}: {method} {url} answered {resp.status_code}"
        else:  # the ingest routes take an API token only: a session is no credential there (401)
            expected = 401 if endpoint.startswith("ingest_api.") else 403
            assert resp.status_code == expected, f"{role}: {method} {url} answered {resp.status_code}"
    assert len(calls) >= 50
    for url in ("/account/password", "/account/second-factor", "/api/v1/me", "/api/v1/me/totp"):
        assert client.get(url).status_code == 200, url
    assert client.get("/api/v1/me").get_json() == {"username": "dehors", "role": role,
                                                   "organization": organization, "auth_source": "local"}
