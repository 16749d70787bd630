"""Every route of the URL map refuses anonymous access, except the login page, static files and the
health probe; every POST route needs a CSRF token."""

from __future__ import annotations

from flask import Flask

from cert.core.config import Settings
from cert.runtime.platform import Platform
from web.access import PUBLIC_ENDPOINTS
from web.app import create_app


def build_url(app: Flask, rule: object) -> str:
    path = str(rule)
    for arg in rule.arguments:  # type: ignore[attr-defined]
        path = path.replace(f"<int:{arg}>", "1").replace(f"<{arg}>", "x").replace(f"<path:{arg}>", "x")
    return path


def test_every_route_refuses_anonymous_access(platform: Platform) -> None:
    app = create_app(platform=platform)
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = build_url(app, rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):  # type: ignore[operator]
            resp = client.open(url, method=method)
            assert resp.status_code in (302, 400, 401), f"{method} {url} answered {resp.status_code} anonymously"
            if resp.status_code == 302:
                assert "/login" in resp.headers["Location"]
            checked += 1
    assert checked >= 15


def test_public_endpoints_are_only_login_static_and_health(settings: Settings) -> None:
    assert {"auth.login", "static", "healthz"} == PUBLIC_ENDPOINTS


def test_session_cookie_is_http_only(platform: Platform) -> None:
    app = create_app(platform=platform)
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_every_admin_route_refuses_other_roles(platform: Platform) -> None:
    """Routes marked ``@requires("admin")`` (users, tokens, audit) answer 403 to an analyst and a
    responder, whatever the method."""
    from support import login

    from cert.demo import ensure_demo_users

    creds = ensure_demo_users(platform)
    app = create_app(platform=platform)
    clients = {name: app.test_client() for name in ("analyste", "intervenant")}
    for username, client in clients.items():
        assert login(client, username, creds[username]).status_code == 302
    app.config["WTF_CSRF_ENABLED"] = False  # the role check, not the CSRF check, must refuse
    checked = 0
    for username, client in clients.items():
        for rule in app.url_map.iter_rules():
            if getattr(app.view_functions[rule.endpoint], "required_role", None) != "admin":
                continue
            url = build_url(app, rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):  # type: ignore[operator]
                resp = client.open(url, method=method)
                assert resp.status_code == 403, f"{username}: {method} {url} answered {resp.status_code}"
                checked += 1
    assert checked >= 2 * 15


def test_a_password_to_change_opens_only_the_change_form(platform: Platform) -> None:
    """After a reset, every route but the password change and logout sends to the change form."""
    from sqlalchemy import select
    from support import login

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
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in allowed:
            continue
        url = build_url(app, rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):  # type: ignore[operator]
            resp = client.open(url, method=method)
            if url.startswith("/api/"):
                assert resp.status_code in (400, 403), f"{method} {url} answered {resp.status_code}"
            else:
                assert resp.status_code in (302, 400), f"{method} {url} answered {resp.status_code}"
                if resp.status_code == 302:
                    assert resp.headers["Location"].endswith("/account/password"), url
            checked += 1
    assert checked >= 30
