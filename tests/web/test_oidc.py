"""Single sign-on as configured, without a provider: the login page, the routes when it is off,
an unreachable provider, a forged callback, and the checks of its settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

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
