"""Bearer API tokens on the REST API (``/api/``): authentication, scopes, CSRF.

- A request to ``/api/`` with ``Authorization: Bearer <token>`` (or HTTP Basic with the token as
  the password, the user name being free: what TAXII clients and MISP feeds send) is authenticated
  by the token alone: the session is not consulted, and an unknown, expired or revoked token gets 401 JSON.
  The principal is ``TokenPrincipal`` (the audit trail's actor is ``token:<name>``); it holds
  no console role.
- Each API view declares the scope it needs with ``@api_scope("read")`` (the scopes and what
  they allow: ``cert.accounts.tokens.SCOPES``); a token without it gets 403, and a view that
  declares none refuses every token. A session user is authorised by ``@requires`` (its role),
  as in the console.
- Console routes (outside ``/api/``) ignore the header: a token is no credential there, the
  request is anonymous (redirected to the login page, or refused by the CSRF check).
- CSRF: checked on every unsafe request that carries the session (or remember) cookie. A request
  to ``/api/`` without those cookies carries no ambient authority (a cross-site page cannot make
  a browser add an Authorization header), so it is not checked: it is a bearer request, or
  anonymous and answered 401.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import UserMixin
from flask_wtf.csrf import CSRFProtect

from cert.accounts import tokens
from cert.accounts.access import TOKEN_ROLE
from web.access import api_error, platform, remote_addr

F = TypeVar("F", bound=Callable[..., Any])

API_PREFIX = "/api/"


class TokenPrincipal(UserMixin):
    """Who a valid API token speaks for: no console role, only its scopes."""

    def __init__(self, token_id: int, name: str, scopes: tuple[str, ...], organization: str | None = None,
                 partner: str | None = None) -> None:
        self.id = token_id
        self.token_name = name
        self.scopes = scopes
        self.organization = organization  # the constituency id it acts for
        self.partner = partner  # a partner CERT's token: the partner's id
        self.username = f"token:{name}"
        self.role = TOKEN_ROLE  # its organisation, if any, narrows what it reads (cert.accounts.access)
        #: set once the route's scope is found among ``scopes`` (``web.access.requires`` then
        #: lets the token through instead of checking a console role)
        self.scope_checked = False

    def get_id(self) -> str:
        return f"token:{self.id}"

    def can(self, role: str) -> bool:
        return False


def api_scope(scope: str) -> Callable[[F], F]:
    """Route decorator: a bearer token needs ``scope`` for this API route."""
    if scope not in tokens.SCOPES:
        raise ValueError(f"unknown API scope {scope!r}")

    def deco(view: F) -> F:
        view.api_scope = scope  # type: ignore[attr-defined]
        return view

    return deco


#: What a session-only API view declares instead of a scope: it acts for the person logged in
#: (their own second factor...), which no token is; every token gets 403 there.
SESSION_ONLY = "session-only"


def session_only(view: F) -> F:
    """Route decorator: this API route is for a logged-in person, never for a token."""
    view.api_scope = SESSION_ONLY  # type: ignore[attr-defined]
    return view


def route_scope(endpoint: str | None) -> str | None:
    """The scope the view of ``endpoint`` declares, or None (none, or session-only)."""
    view = current_app.view_functions.get(endpoint) if endpoint else None
    scope = getattr(view, "api_scope", None)
    return scope if isinstance(scope, str) and scope in tokens.SCOPES else None


def bearer_secret() -> str | None:
    """The token of an ``Authorization: Bearer`` header, or the password of a ``Basic`` one (maybe
    empty; "" when it cannot be decoded), or None without either."""
    scheme, _sep, secret = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return secret.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(secret.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return None


def _unauthorized(message: str) -> ResponseReturnValue:
    resp, status = api_error(401, message)
    basic = request.headers.get("Authorization", "").strip().lower().startswith("basic")
    resp.headers["WWW-Authenticate"] = 'Basic realm="vigie"' if basic else 'Bearer realm="vigie"'
    return resp, status


def authenticate_bearer() -> ResponseReturnValue | None:
    """before_request: on ``/api/``, a bearer token becomes the request's user, or the answer is
    401 (bad token) or 403 (the route's scope is not among the token's)."""
    if not request.path.startswith(API_PREFIX):
        return None
    secret = bearer_secret()
    if secret is None:
        return None
    with platform().db.session() as s:
        token = tokens.authenticate(s, secret, remote_addr())
        if token is None:
            return _unauthorized(_("The API token is unknown, expired or revoked."))
        principal = TokenPrincipal(token.id, token.name, token.scope_list, token.organization, token.partner)
    g.api_token = principal  # the request's user from now on (``token_user``), whatever the session holds
    # Flask-Login's user of this request, set here so that a cookie sent beside the token is never
    # read (its session protection would otherwise drop the request's user for a session without
    # a login, a language choice alone)
    g._login_user = principal
    if request.endpoint is None:
        return None  # no such route (404) or method (405): Flask answers
    needed = route_scope(request.endpoint)
    if needed is None or needed not in principal.scopes:
        return api_error(403, _("This API token lacks the scope this route needs (%(scope)s).",
                                scope=needed or _("none: not open to tokens")))
    principal.scope_checked = True
    return None


def token_user(_request: Any) -> TokenPrincipal | None:
    """Flask-Login's request loader: the principal of a valid bearer token of this request."""
    principal = g.get("api_token")
    return principal if isinstance(principal, TokenPrincipal) else None


class CSRF(CSRFProtect):
    """CSRFProtect that leaves alone the ``/api/`` requests carrying no session cookie."""

    def protect(self, apply_exemptions: bool = False) -> None:
        cookies = {current_app.config.get("SESSION_COOKIE_NAME", "session"),
                   current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")}
        if request.path.startswith(API_PREFIX) and not cookies & request.cookies.keys():
            return
        super().protect(apply_exemptions)


def init_app(app: Flask) -> None:
    """Before ``web.access.enforce_login``: the bearer token is the user it checks."""
    app.before_request(authenticate_bearer)
    app.login_manager.request_loader(token_user)  # type: ignore[attr-defined]
