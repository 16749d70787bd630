"""Bulk ingest API, for machines: ``Authorization: Bearer <API token>`` (scope ``ingest``).

- ``POST /api/v1/ingest/<parser>``: the body is raw lines (a log file's content), one event per
  line, read by that parser (``linux.auth``, ``syslog``, ``suricata.eve``…).
- ``POST /api/v1/events``: the body is NDJSON, one event already in ECS per line.

Answers (JSON): 200 with the counts when every line was stored; 202 when some wait in the spool
(the event store is down; they are stored when it is back); 400 with the counts and the
per-line errors when lines were dead-lettered (the other lines ARE stored: re-sending the whole
body is safe, event ids are deterministic); 401 without a valid token; 404 for an unknown
parser; 413 over ``ingest_api_max_mb``.

CSRF: these two routes are exempt from the CSRF check, and only because they authenticate by
the bearer token alone: a session cookie grants nothing here (a logged-in browser without the
token gets 401), and a cross-site page cannot make a browser send an Authorization header. The
token is looked up only for this blueprint's routes (``load_principal``), never creates a
session, and its principal holds no console role.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Flask, Request, abort, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import UserMixin

from cert.accounts import tokens
from cert.pipeline.bulk import ingest_body
from web.access import api_error, platform

bp = Blueprint("ingest_api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])


class TokenPrincipal(UserMixin):
    """Who a valid API token speaks for: no console role at all, only its scope."""

    def __init__(self, token_id: int, name: str, scope: str, organization: str | None = None) -> None:
        self.id = token_id
        self.token_name = name
        self.scope = scope
        self.organization = organization  # the constituency id its events default to
        self.username = f"token:{name}"
        self.role = "api-token"

    def get_id(self) -> str:
        return f"token:{self.id}"

    def can(self, role: str) -> bool:
        return False


def load_principal(req: Request) -> TokenPrincipal | None:
    """Flask-Login request loader: a bearer token, on this blueprint's routes only."""
    if req.blueprint != bp.name:
        return None
    scheme, _, secret = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    with platform().db.session() as s:
        token = tokens.authenticate(s, secret.strip())
        if token is None:
            return None
        principal = TokenPrincipal(token.id, token.name, token.scope, token.organization)
    g.api_token = principal
    return principal


def init_app(app: Flask) -> None:
    app.extensions["csrf"].exempt(bp)  # bearer-token routes: see the module docstring
    app.login_manager.request_loader(load_principal)  # type: ignore[attr-defined]


def requires_token(scope: str) -> Callable[[F], F]:
    def deco(view: F) -> F:
        view.required_role = f"token:{scope}"  # type: ignore[attr-defined]

        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            principal = g.get("api_token")
            if principal is None:
                resp, status = api_error(401, _("A valid API token is required (Authorization: Bearer <token>)."))
                resp.headers["WWW-Authenticate"] = 'Bearer realm="vigie"'
                return resp, status
            if principal.scope != scope:
                abort(403, description=f"this API token is not allowed to {scope}")
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return deco


def _body() -> bytes:
    limit = platform().settings.ingest_api_max_mb * 1024 * 1024
    if request.content_length is not None and request.content_length > limit:
        abort(413, description=f"body over {limit} bytes: send smaller batches")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        abort(413, description=f"body over {limit} bytes: send smaller batches")
    return body


def _answer(parser: str) -> ResponseReturnValue:
    body = _body()
    principal: TokenPrincipal = g.api_token
    p = platform()
    org = p.constituency.by_id(principal.organization) if principal.organization else None
    result = ingest_body(p, parser, body, f"api://{principal.token_name}", organization=org)
    status = 400 if result.dead_lettered else 202 if result.spooled else 200
    return jsonify(result.as_dict()), status


@bp.post("/ingest/<parser>")
@requires_token("ingest")
def ingest_lines(parser: str) -> ResponseReturnValue:
    return _answer(parser)


@bp.post("/events")
@requires_token("ingest")
def ingest_events() -> ResponseReturnValue:
    return _answer("ecs")
