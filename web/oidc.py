"""Single sign-on with an OpenID Connect provider (Authlib's Flask client).

``/login/oidc`` sends the browser to the provider (authorisation code flow with PKCE, a state
and a nonce kept in the session); ``/login/oidc/callback`` takes the code back, has Authlib
check the state, exchange the code and verify the ID token (signature, issuer, audience, nonce),
then maps the person's groups to a Vigie role and organisation (cert/accounts/external.py) and
logs them in. The callback URL given to the provider is the setting ``oidc_redirect_uri`` when
set (a console behind a reverse proxy), else built from the request's host. Every outcome is
audited. Local accounts keep logging in with their password beside it. Off while the setting
``oidc_issuer`` is empty (the routes answer 404).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, flash, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from joserfc.errors import JoseError

from cert.accounts import external, sessions
from cert.core.config import Settings
from cert.core.errors import ConfigError, VigieError
from cert.runtime.platform import Platform
from cert.storage import audit
from web.access import platform, remote_addr
from web.auth import _safe_next
from web.login_session import open_session

log = logging.getLogger(__name__)

bp = Blueprint("oidc", __name__)

SOURCE = "oidc"
EXTENSION = "vigie.oidc"
NEXT_KEY = "oidc_next"
HTTP_TIMEOUT = 10  # seconds, for each call to the provider (discovery, keys, token)


def init_app(app: Flask, vigie: Platform) -> None:
    """Register the provider when ``oidc_issuer`` is set; check the group mappings first."""
    settings = vigie.settings
    app.register_blueprint(bp)
    app.context_processor(lambda: {"oidc_provider": settings.oidc_provider_name if settings.oidc_issuer else None})
    if not settings.oidc_issuer:
        return
    if not settings.oidc_client_id:
        raise ConfigError("oidc_client_id is required when oidc_issuer is set")
    external.check_group_roles(settings.oidc_group_roles)
    organizations = {o.id for o in vigie.constituency.organizations} if settings.oidc_group_organizations else set()
    unknown = sorted(set(settings.oidc_group_organizations.values()) - organizations)
    if unknown:
        raise ConfigError(f"oidc_group_organizations: unknown organisation(s) {', '.join(unknown)}")
    if settings.oidc_redirect_uri and urlsplit(settings.oidc_redirect_uri).scheme not in ("https", "http"):
        raise ConfigError("oidc_redirect_uri must be a full http(s) URL (https://<host>/login/oidc/callback)")
    oauth = OAuth(app)
    app.extensions[EXTENSION] = oauth.register(
        "oidc",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret or None,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256",
                       "default_timeout": HTTP_TIMEOUT},
    )


def _client() -> Any:
    client = current_app.extensions.get(EXTENSION)
    if client is None:
        abort(404)
    return client


def _settings() -> Settings:
    return platform().settings


def redirect_uri(settings: Settings) -> str:
    """The callback URL the provider sends the browser back to: ``oidc_redirect_uri`` when set,
    else this console's callback route on the host the request came to."""
    return settings.oidc_redirect_uri or url_for("oidc.callback", _external=True)


def _refuse(message: str, username: str = "", reason: str = "") -> ResponseReturnValue:
    """Back to the login page with ``message``; the refusal is audited."""
    with platform().db.session() as s:
        audit.record(s, username, "login.failed", "user", "", remote_addr(), source=SOURCE, reason=reason)
    flash(message, "error")
    return redirect(url_for("auth.login"))


def _unreachable() -> str:
    return str(_("The identity provider cannot be reached; try again later or log in with a Vigie account."))


@bp.get("/login/oidc")
def login() -> ResponseReturnValue:
    client = _client()
    session[NEXT_KEY] = _safe_next(request.args.get("next"))
    try:
        response: ResponseReturnValue = client.authorize_redirect(redirect_uri(_settings()))
    except (requests.RequestException, AuthlibBaseError, ValueError, RuntimeError) as exc:
        log.warning("OpenID Connect provider unreachable: %s", type(exc).__name__)
        flash(_unreachable(), "error")
        return redirect(url_for("auth.login"))
    return response


def _provider_claims(client: Any, groups_claim: str) -> dict[str, Any]:
    """The verified claims of the ID token (Authlib checks state, PKCE, signature, issuer,
    audience, expiry and nonce), completed from the userinfo endpoint when the groups are not in it."""
    token = client.authorize_access_token()
    claims: dict[str, Any] = dict(token.get("userinfo") or {})
    if claims.get("sub") and groups_claim not in claims:
        userinfo = dict(client.userinfo(token=token))
        if userinfo.get("sub") == claims["sub"]:
            claims = {**userinfo, **claims}
    return claims


@bp.get("/login/oidc/callback")
def callback() -> ResponseReturnValue:
    client = _client()
    settings = _settings()
    failed = str(_("Single sign-on failed; try again."))
    try:
        claims = _provider_claims(client, settings.oidc_groups_claim)
    except (AuthlibBaseError, JoseError) as exc:  # wrong or replayed state, provider error, bad ID token
        reason = getattr(exc, "error", None) or type(exc).__name__
        return _refuse(failed, reason=str(reason)[:80])
    except (requests.RequestException, ValueError, RuntimeError) as exc:
        log.warning("OpenID Connect provider unreachable: %s", type(exc).__name__)
        return _refuse(_unreachable(), reason="provider_unreachable")
    if not claims.get("sub"):
        return _refuse(failed, reason="no_id_token")
    username = str(claims.get("preferred_username") or claims.get("email") or claims["sub"])
    identity = external.ExternalIdentity(
        source=SOURCE, subject=str(claims["sub"]), username=username,
        groups=external.groups_of(claims.get(settings.oidc_groups_claim)),
    )
    try:
        with platform().db.session() as s:
            signed = external.sign_in(s, identity, settings.oidc_group_roles, settings.oidc_group_organizations)
            user = signed.user
            details: dict[str, Any] = {"source": SOURCE, "role": user.role, "organization": user.organization}
            if signed.created:
                audit.record(s, username, "user.create", "user", user.id, remote_addr(), **details)
            elif (signed.previous_role, signed.previous_organization) != (user.role, user.organization):
                audit.record(s, username, "user.update", "user", user.id, remote_addr(), **details,
                             previous_role=signed.previous_role,
                             previous_organization=signed.previous_organization)
                sessions.end_all(s, user.id, "role changed")  # at the provider: its other sessions end too
            audit.record(s, username, "login", "user", user.id, remote_addr(), **details)
            target = open_session(s, user, _safe_next(session.pop(NEXT_KEY, None)))
    except VigieError as exc:
        message = str(_(exc.message_id, **exc.params)) if exc.message_id else str(exc)
        return _refuse(message, username, reason=str(exc)[:200])
    return redirect(target)
