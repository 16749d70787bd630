"""REST administration of API tokens (admin role, or a token with the ``admin`` scope):

- ``GET /api/v1/tokens``: every token, never a secret;
- ``POST /api/v1/tokens`` ``{"name", "owner", "scopes": [...], "organization", "expires"}``: 201
  with the token and its ``secret``, shown in this answer only;
- ``POST /api/v1/tokens/<name>/revoke``: the revoked token (404 when unknown).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from cert.accounts.tokens import DEFAULT_LIFETIME, create_token, list_tokens, revoke_token, status
from cert.storage.models.tokens import ApiToken
from web.access import actor, platform, remote_addr, requires
from web.api_auth import api_scope
from web.api_spec import Response, body, iso, spec
from web.schemas.tokens import TokenCreated, TokenIn, TokenList, TokenOut
from web.sharing_api import partner_named

bp = Blueprint("api_tokens", __name__, url_prefix="/api/v1/tokens")


def token_json(t: ApiToken) -> dict[str, Any]:
    return {"name": t.name, "owner": t.owner, "scopes": list(t.scope_list), "organization": t.organization,
            "partner": t.partner, "created_by": t.created_by, "created_at": iso(t.created_at),
            "expires_at": iso(t.expires_at),
            "last_used_at": iso(t.last_used_at), "last_used_from": t.last_used_from, "status": status(t),
            "revoked_at": iso(t.revoked_at)}


@bp.get("")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=Response(HTTP_200=TokenList), tags=["tokens"])
def index() -> ResponseReturnValue:
    """The API tokens: name, scopes, organisation, expiry, last use, status (never a secret)."""
    with platform().db.session() as s:
        return jsonify({"items": [token_json(t) for t in list_tokens(s)]})


@bp.post("")
@requires("admin")
@api_scope("admin")
@spec.validate(json=TokenIn, resp=Response(HTTP_201=TokenCreated), tags=["tokens"])
def create() -> ResponseReturnValue:
    """Create a token (``name``, ``scopes``, ``organization``, ``expires``); 201 with its secret, shown
    only in this answer."""
    wanted = body(TokenIn)
    p = platform()
    org_ref = wanted.organization or ""
    org = p.constituency.find(org_ref) if org_ref.strip() else None
    partner = partner_named(wanted.partner) if wanted.partner and wanted.partner.strip() else None
    with p.db.session() as s:
        token, secret = create_token(s, wanted.name, wanted.owner or wanted.name, actor(), wanted.scopes,
                                     remote_addr(), org, wanted.expires or DEFAULT_LIFETIME, partner)
        answer = token_json(token)
    return jsonify({**answer, "secret": secret}), 201


@bp.post("/<name>/revoke")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=Response(HTTP_200=TokenOut), tags=["tokens"],
               path_parameter_descriptions={"name": "The token's name."})
def revoke(name: str) -> ResponseReturnValue:
    """Revoke a token: it is refused from now on."""
    with platform().db.session() as s:
        return jsonify(token_json(revoke_token(s, name, actor(), remote_addr())))
