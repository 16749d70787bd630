"""Single sign-on through a real Keycloak on 127.0.0.1 (scripts/keycloak_node.py, realm
tests/fixtures/keycloak-realm.json): the console is served by a real HTTP server, and an HTTP client
follows the redirects and fills in Keycloak's login form as a browser would."""

from __future__ import annotations

import contextlib
import html
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.cookiejar import Cookie, CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select
from support import csrf_token
from werkzeug.serving import make_server

from cert.accounts.users import authenticate, create_user
from cert.core.config import Settings
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, User
from web.app import create_app

pytestmark = pytest.mark.keycloak

CLIENT_SECRET = "vigie-test-client-secret"
ADMIN_CLIENT = ("vigie-tests-admin", "vigie-tests-admin-secret")
LOGIN_FORM = re.compile(r'<form\b[^>]*\bid="kc-form-login"[^>]*>')
ACTION = re.compile(r'\baction="([^"]+)"')


@pytest.fixture
def sso_platform(keycloak: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the provider is on the loopback
    settings = replace(
        Settings(), data_dir=tmp_path / "data", secret_key="test-secret-key",
        oidc_issuer=keycloak.issuer("vigie"), oidc_client_id="vigie", oidc_client_secret=CLIENT_SECRET,
        oidc_provider_name="Keycloak", oidc_group_organizations={"/ministere-interieur": "min-interieur"},
    )
    platform = Platform(settings)
    platform.db.upgrade()
    yield platform
    platform.close()


@pytest.fixture
def console(sso_platform: Platform) -> Iterator[str]:
    """The console served on a free loopback port by werkzeug's threaded server."""
    app = create_app(platform=sso_platform)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


class LoopbackIsSecure(DefaultCookiePolicy):
    """Send ``Secure`` cookies to http://127.0.0.1 as browsers do (a loopback origin is a secure
    context): Keycloak marks its login-session cookies ``Secure`` even over plain HTTP."""

    def return_ok_secure(self, cookie: Cookie, request: urllib.request.Request) -> bool:
        return urlsplit(request.full_url).hostname == "127.0.0.1" or super().return_ok_secure(cookie, request)


@dataclass
class Page:
    status: int
    url: str
    text: str
    location: str = ""

    def json(self) -> Any:
        return json.loads(self.text)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """What the test needs of a browser: one cookie jar, redirects followed, forms posted, no proxy."""

    def __init__(self) -> None:
        jar = CookieJar(LoopbackIsSecure())
        handlers = (urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar))
        self._follow = urllib.request.build_opener(*handlers)
        self._stay = urllib.request.build_opener(*handlers, NoRedirect())

    def open(self, url: str, data: dict[str, str] | None = None, *, follow: bool = True) -> Page:
        assert url.startswith("http://127.0.0.1:"), url  # the console and Keycloak, nothing else
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(url, data=body, headers={"Accept-Language": "fr"})  # noqa: S310 - checked above
        try:
            with (self._follow if follow else self._stay).open(request, timeout=30) as resp:
                return Page(resp.status, resp.geturl(), resp.read().decode())
        except urllib.error.HTTPError as exc:
            return Page(exc.code, exc.geturl(), exc.read().decode(errors="replace"), exc.headers.get("Location", ""))

    def get(self, url: str, *, follow: bool = True) -> Page:
        return self.open(url, follow=follow)

    def post(self, url: str, data: dict[str, str]) -> Page:
        return self.open(url, data)


def keycloak_login(http: Browser, console: str, keycloak: Any, username: str, password: str,
                   path: str = "/login/oidc") -> Page:
    """Start single sign-on at the console, submit Keycloak's login form, follow redirects back."""
    page = http.get(console + path)
    assert page.url.startswith(keycloak.issuer("vigie")), f"not sent to Keycloak: {page.url}"
    form = LOGIN_FORM.search(page.text)
    assert form, f"no login form on Keycloak's page:\n{page.text[:2000]}"
    action = ACTION.search(form.group(0))
    assert action
    return http.post(html.unescape(action.group(1)), {"username": username, "password": password})


def me(http: Browser, console: str) -> dict[str, Any]:
    resp = http.get(console + "/api/v1/me")
    assert resp.status == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


@contextlib.contextmanager
def in_group(keycloak: Any, username: str, group: str) -> Iterator[None]:
    """Put ``username`` in ``group`` at the provider (its admin REST API), and out again afterwards."""
    http = requests.Session()
    http.trust_env = False
    token = http.post(f"{keycloak.issuer('vigie')}/protocol/openid-connect/token", timeout=30,
                      data={"grant_type": "client_credentials", "client_id": ADMIN_CLIENT[0],
                            "client_secret": ADMIN_CLIENT[1]}).json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    admin = f"{keycloak.url}/admin/realms/vigie"
    user_id = http.get(f"{admin}/users", params={"username": username, "exact": "true"}, timeout=30).json()[0]["id"]
    group_id = next(g["id"] for g in http.get(f"{admin}/groups", timeout=30).json() if g["path"] == group)
    assert http.put(f"{admin}/users/{user_id}/groups/{group_id}", timeout=30).status_code == 204
    try:
        yield
    finally:
        http.delete(f"{admin}/users/{user_id}/groups/{group_id}", timeout=30)


def test_login_page_offers_single_sign_on_and_the_request_uses_pkce_state_and_nonce(
        console: str, keycloak: Any) -> None:
    http = Browser()
    assert "Se connecter avec Keycloak" in http.get(console + "/login").text
    start = http.get(console + "/login/oidc", follow=False)
    assert start.status == 302
    url = urlsplit(start.location)
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{keycloak.issuer('vigie')}/protocol/openid-connect/auth"
    assert query["client_id"] == ["vigie"] and query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert query["state"][0] and query["nonce"][0] and "openid" in query["scope"][0].split()
    assert query["redirect_uri"] == [f"{console}/login/oidc/callback"]
    assert CLIENT_SECRET not in start.location


def test_alice_logs_in_through_keycloak_as_responder_of_her_ministry(
        console: str, keycloak: Any, sso_platform: Platform) -> None:
    http = Browser()
    landing = keycloak_login(http, console, keycloak, "alice", "alice-password-1", "/login/oidc?next=/cases/")
    assert landing.status == 200 and landing.url == f"{console}/cases/"
    assert "alice" in landing.text
    assert me(http, console) == {"username": "alice", "role": "responder", "organization": "min-interieur",
                                 "auth_source": "oidc"}
    with sso_platform.db.session() as s:
        user = s.scalar(select(User).where(User.username == "alice"))
        assert user is not None and user.auth_source == "oidc" and user.external_subject
        # an external account has no password at Vigie: not even the provider's one opens it
        assert authenticate(s, "alice", "alice-password-1") is None
        entries = [(e.actor, e.action, e.details) for e in s.scalars(select(AuditEntry))]
    actions = [(actor, action, details.get("source")) for actor, action, details in entries]
    assert ("alice", "user.create", "oidc") in actions and ("alice", "login", "oidc") in actions
    assert CLIENT_SECRET not in str(entries)


def test_bob_in_no_mapped_group_is_refused_with_a_french_message_and_audited(
        console: str, keycloak: Any, sso_platform: Platform) -> None:
    http = Browser()
    landing = keycloak_login(http, console, keycloak, "bob", "bob-password-1")
    assert landing.url.startswith(f"{console}/login")
    assert "n&#39;est dans aucun groupe qui donne accès à Vigie" in landing.text
    assert http.get(console + "/api/v1/me").status == 401
    with sso_platform.db.session() as s:
        assert s.scalar(select(User).where(User.username == "bob")) is None
        refused = s.scalars(select(AuditEntry).where(AuditEntry.action == "login.failed")).all()
    assert [(e.actor, e.details["source"]) for e in refused] == [("bob", "oidc")]


def test_a_group_change_at_the_provider_applies_at_the_next_login(
        console: str, keycloak: Any, sso_platform: Platform) -> None:
    first = Browser()
    keycloak_login(first, console, keycloak, "alice", "alice-password-1")
    assert me(first, console)["role"] == "responder"
    with in_group(keycloak, "alice", "/vigie-admins"):
        second = Browser()
        keycloak_login(second, console, keycloak, "alice", "alice-password-1")
        assert me(second, console)["role"] == "admin"
        assert second.get(console + "/admin/users").status == 200
    third = Browser()
    keycloak_login(third, console, keycloak, "alice", "alice-password-1")
    assert me(third, console)["role"] == "responder"
    assert third.get(console + "/admin/users").status == 403
    with sso_platform.db.session() as s:
        assert len(s.scalars(select(User).where(User.auth_source == "oidc")).all()) == 1
        changes = s.scalars(select(AuditEntry).where(AuditEntry.action == "user.update")).all()
    assert [(e.details["previous_role"], e.details["role"]) for e in changes] == [("responder", "admin"),
                                                                                    ("admin", "responder")]


def test_a_local_account_logs_in_beside_single_sign_on(console: str, sso_platform: Platform) -> None:
    with sso_platform.db.session() as s:
        create_user(s, "analyste-local", "local-password-123", "analyst")
    http = Browser()
    page = http.get(console + "/login").text
    resp = http.post(console + "/login", {"username": "analyste-local", "password": "local-password-123",
                                          "csrf_token": csrf_token(page)})
    assert resp.status == 200 and resp.url == f"{console}/alerts/"
    assert me(http, console) == {"username": "analyste-local", "role": "analyst", "organization": None,
                                 "auth_source": "local"}
