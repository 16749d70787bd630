"""Single sign-on as configured, without a provider: the login page, the routes when it is off,
an unreachable provider, a forged callback, the callback URL sent to the provider, and the checks
of its settings."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from cert.core.config import Settings, load_settings
from cert.core.errors import ConfigError
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry
from web.app import create_app
from web.oidc import EXTENSION


def closed_port() -> int:
    import socket

    with socket.socket() as sock:  # bound then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sso_settings(settings: Settings, **more: object) -> Settings:
    return replace(settings, oidc_issuer=f"http://127.0.0.1:{closed_port()}/realms/vigie",
                   oidc_client_id="vigie", oidc_client_secret="client-secret-xyz", oidc_provider_name="Keycloak",
                   **more)  # type: ignore[arg-type]


def test_without_an_issuer_there_is_no_single_sign_on(platform: Platform) -> None:
    client = create_app(platform=platform).test_client()
    assert "Se connecter avec" not in client.get("/login").get_data(as_text=True)
    assert client.get("/login/oidc").status_code == 404
    assert client.get("/login/oidc/callback?code=x&state=y").status_code == 404


def test_an_unreachable_provider_is_a_message_not_an_error(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    platform = Platform(sso_settings(settings))
    platform.db.upgrade()
    client = create_app(platform=platform).test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "Se connecter avec Keycloak" in page and 'href="/login/oidc"' in page
    resp = client.get("/login/oidc", follow_redirects=True)
    assert resp.status_code == 200 and "fournisseur d&#39;identité est injoignable" in resp.get_data(as_text=True)
    platform.close()


def test_a_forged_callback_is_refused_and_audited(settings: Settings) -> None:
    platform = Platform(sso_settings(settings))
    platform.db.upgrade()
    client = create_app(platform=platform).test_client()
    resp = client.get("/login/oidc/callback?code=stolen-code&state=forged-state", follow_redirects=True)
    assert resp.request.path == "/login"
    assert "authentification unique a échoué" in resp.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401
    with platform.db.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "login.failed"))
        assert entry is not None and entry.details["source"] == "oidc"
        assert entry.details["reason"] == "mismatching_state"
    platform.close()


@pytest.fixture
def discovery(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An issuer on the loopback that serves only its discovery document (enough to build the
    authorisation redirect); its URL."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            issuer = f"http://127.0.0.1:{self.server.server_address[1]}/realms/vigie"
            body = json.dumps({"issuer": issuer, "authorization_endpoint": f"{issuer}/auth",
                               "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/certs"}).encode()
            found = self.path == "/realms/vigie/.well-known/openid-configuration"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if found else b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/realms/vigie"
    server.shutdown()
    server.server_close()
    thread.join(5)


def redirect_uri_sent(settings: Settings, host: str) -> str:
    """The redirect_uri of the browser's trip to the provider, for a request that came to ``host``."""
    app = create_app(settings=settings)
    resp = app.test_client().get("/login/oidc", headers={"Host": host})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    location = urlsplit(resp.headers["Location"])
    assert location.path.endswith("/realms/vigie/auth")
    [uri] = parse_qs(location.query)["redirect_uri"]
    return uri


def test_the_callback_url_is_the_configured_one_behind_a_proxy(settings: Settings, discovery: str) -> None:
    sso = replace(settings, oidc_issuer=discovery, oidc_client_id="vigie")
    assert redirect_uri_sent(sso, "10.0.0.5:8000") == "http://10.0.0.5:8000/login/oidc/callback"  # the request's host
    public = "https://vigie.cert.gouv.example/login/oidc/callback"
    assert redirect_uri_sent(replace(sso, oidc_redirect_uri=public), "10.0.0.5:8000") == public
    with pytest.raises(ConfigError, match="oidc_redirect_uri"):
        create_app(settings=replace(sso, oidc_redirect_uri="vigie.cert.gouv.example/login/oidc/callback"))


def test_mappings_to_unknown_roles_or_organisations_stop_the_start(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="superuser"):
        create_app(settings=sso_settings(settings, oidc_group_roles={"/admins": "superuser"}))
    with pytest.raises(ConfigError, match="ministere-inconnu"):
        create_app(settings=sso_settings(settings, oidc_group_organizations={"/m": "ministere-inconnu"}))
    app = create_app(settings=sso_settings(settings, oidc_group_organizations={"/m": "min-interieur"}))
    assert EXTENSION in app.extensions


def test_oidc_settings_from_file_and_environment_and_the_secret_is_redacted(tmp_path: Path) -> None:
    cfg = tmp_path / "vigie.toml"
    cfg.write_text('oidc_issuer = "https://sso.gouv.example/realms/etat"\noidc_client_secret = "s3cret-value"\n'
                   '[oidc_group_organizations]\n"/ministere-interieur" = "min-interieur"\n')
    s = load_settings(cfg, env={"CERT_OIDC_GROUP_ROLES": '{"/soc": "analyst", "/csirt": "responder"}'})
    assert s.oidc_group_organizations == {"/ministere-interieur": "min-interieur"}
    assert s.oidc_group_roles == {"/soc": "analyst", "/csirt": "responder"}
    assert "s3cret-value" not in str(s.redacted()) and s.redacted()["oidc_client_secret"] == "***"
    with pytest.raises(ConfigError, match="oidc_group_roles"):
        load_settings(env={"CERT_OIDC_GROUP_ROLES": "analyst"})
