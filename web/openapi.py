"""The OpenAPI 3.1 description of the REST API (``GET /api/v1/openapi.json``), made from the
routes themselves so that it cannot drift from them: every ``/api/v1`` route and method, its path
parameters, the view's docstring (summary and description), who may call it (the console role a
session needs, ``x-vigie-role``; the scope a bearer token needs, or none for a person's own
settings) and the error answers every route shares."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

import cert
from web.access import requires
from web.api_auth import SESSION_ONLY, api_scope

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

API_PREFIX = "/api/v1"
_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>\w+)>")
_ERROR = {"$ref": "#/components/schemas/Error"}
_STATUS = {"POST": "201 or 200", "DELETE": "204 or 200"}


def _errors() -> dict[str, Any]:
    described = {"400": "The request is not valid (the message says why).",
                 "401": "No session, or an unknown, expired or revoked API token.",
                 "403": "The role or the token's scope does not allow it.",
                 "404": "No such object (or not one the caller may see)."}
    return {code: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
            for code, text in described.items()}


def _operation(app: Flask, endpoint: str, method: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    view = app.view_functions[endpoint]
    doc = (view.__doc__ or "").strip()
    summary, _sep, description = doc.partition("\n")
    scope = getattr(view, "api_scope", None)
    op: dict[str, Any] = {
        "operationId": f"{endpoint.replace('.', '_')}_{method.lower()}",
        "summary": " ".join(summary.split()),
        "tags": [endpoint.split(".")[0]],
        "responses": {"200": {"description": f"Done ({_STATUS.get(method, '200')}).",
                              "content": {"application/json": {"schema": {"type": "object"}}}}, **_errors()},
    }
    if description.strip():
        op["description"] = " ".join(description.split())
    if params:
        op["parameters"] = params
    if method in ("POST", "PATCH", "PUT"):
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}
    role = getattr(view, "required_role", None)
    if isinstance(role, str):
        op["x-vigie-role"] = role
    if scope == SESSION_ONLY:
        op["security"] = [{"session": []}]
    elif isinstance(scope, str):
        op["security"] = [{"bearer": [scope]}, {"session": []}]
        op["x-vigie-scope"] = scope
    return op


def build(app: Flask) -> dict[str, Any]:
    """The description of every ``/api/v1`` route of ``app``."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: str(r)):
        if not str(rule).startswith(API_PREFIX):
            continue
        params = [{"name": m["name"], "in": "path", "required": True,
                   "schema": {"type": "integer", "minimum": 0} if m["conv"] == "int" else {"type": "string"}}
                  for m in _PARAM.finditer(str(rule))]
        path = _PARAM.sub(lambda m: "{" + m["name"] + "}", str(rule))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(app, rule.endpoint, method, params)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Vigie", "version": cert.__version__,
                 "description": "The REST API of Vigie. Errors answer {error, message, status}; messages are "
                                "in the caller's language (Accept-Language or ?lang=)."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API token (cert token create); its scopes: read, triage, write, "
                                          "ingest, admin."},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "The console's session; unsafe methods also need the X-CSRFToken header."},
            },
            "schemas": {"Error": {"type": "object", "required": ["error", "message", "status"],
                                  "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                                                 "status": {"type": "integer"}}}},
        },
    }


@bp.get("/openapi.json")
@requires("analyst")
@api_scope("read")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 description of this API."""
    return jsonify(build(current_app))
