"""REST administration of API tokens (admin role, or a token with the ``admin`` scope):

- ``GET /api/v1/tokens``: every token, never a secret;
- ``POST /api/v1/tokens`` ``{"name", "owner", "scopes": [...], "organization", "expires"}``: 201
  with the token and its ``secret``, shown in this answer only;
- ``POST /api/v1/tokens/<name>/revoke``: the revoked token (404 when unknown).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from cert.accounts.tokens import DEFAULT_LIFETIME, create_token, list_tokens, revoke_token, status
from cert.core.errors import InvalidInput
from cert.storage.models.tokens import ApiToken
from web.access import actor, platform, remote_addr, requires
from web.api_auth import api_scope

bp = Blueprint("api_tokens", __name__, url_prefix="/api/v1/tokens")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def token_json(t: ApiToken) -> dict[str, Any]:
    return {"name": t.name, "owner": t.owner, "scopes": list(t.scope_list), "organization": t.organization,
            "created_by": t.created_by, "created_at": _iso(t.created_at), "expires_at": _iso(t.expires_at),
            "last_used_at": _iso(t.last_used_at), "last_used_from": t.last_used_from, "status": status(t),
            "revoked_at": _iso(t.revoked_at)}


@bp.get("")
@requires("admin")
@api_scope("admin")
def index() -> ResponseReturnValue:
    """The API tokens: name, scopes, organisation, expiry, last use, status (never a secret)."""
    with platform().db.session() as s:
        return jsonify({"items": [token_json(t) for t in list_tokens(s)]})


def _text(body: dict[str, Any], field: str, default: str = "") -> str:
    value = body.get(field, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput(_("%(field)s must be text.", field=field))
    return value


@bp.post("")
@requires("admin")
@api_scope("admin")
def create() -> ResponseReturnValue:
    """Create a token (``name``, ``scopes``, ``organization``, ``expires``); 201 with its secret, shown
    only in this answer."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput(_("The body must be a JSON object with: %(fields)s.",
                             fields="name, owner, scopes, organization, expires"))
    scopes = body.get("scopes", ["ingest"])
    if not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes):
        raise InvalidInput(_("scopes must be a list of scope names."))
    name = _text(body, "name")
    p = platform()
    org_ref = _text(body, "organization")
    org = p.constituency.find(org_ref) if org_ref.strip() else None
    with p.db.session() as s:
        token, secret = create_token(s, name, _text(body, "owner") or name, actor(), scopes, remote_addr(), org,
                                     _text(body, "expires", DEFAULT_LIFETIME))
        answer = token_json(token)
    return jsonify({**answer, "secret": secret}), 201


@bp.post("/<name>/revoke")
@requires("admin")
@api_scope("admin")
def revoke(name: str) -> ResponseReturnValue:
    """Revoke a token: it is refused from now on."""
    with platform().db.session() as s:
        return jsonify(token_json(revoke_token(s, name, actor(), remote_addr())))
