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
    assert {"auth.login", "oidc.login", "oidc.callback", "static", "healthz"} == PUBLIC_ENDPOINTS


def test_session_cookie_is_http_only(platform: Platform) -> None:
    app = create_app(platform=platform)
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
