"""The OpenAPI 3.1 description of the REST API (``GET /api/v1/openapi.json``) and its readable
page in the console (``GET /docs/api``). SpecTree makes it from the routes and the request and response models
each view declares (``web.api_spec``), so it cannot drift from them; added here: who may call each
operation (the console role a session needs, ``x-vigie-role``; the scope a bearer token needs, or
none for a person's own settings) and the error answers every route shares."""

from __future__ import annotations

import copy
import threading
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from cert.accounts.tokens import SCOPES
from cert.core.parser import parsers
from web import api_docs
from web.access import requires
from web.api_auth import SESSION_ONLY, api_scope
from web.api_spec import Error, Response, spec
from web.schemas.docs import OpenApiDocument

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1")
pages = Blueprint("api_pages", __name__, url_prefix="/docs")

API_PREFIX = "/api/"
_ERROR = {"$ref": "#/components/schemas/Error"}
_METHODS = ("get", "post", "put", "patch", "delete")


#: the tags of the operations, in the order of the docs page
TAGS = {"alerts": "The alert queue and triage.",
        "incidents": "Incidents (cases) and what they hold.",
        "ingest": "Events in: raw lines and ECS events, and the health of the sources.",
        "accounts": "Users, their sessions, one's own password and second factor.",
        "tokens": "API tokens.",
        "sharing": "Sharing with partner CERTs: their terms, the preview, publications, exports.",
        "constituency": "The contact database: organisations, their network objects and contacts; CSV.",
        "taxii": "The TAXII 2.1 server partners read (a partner's token: HTTP Basic or bearer).",
        "portal": "The focal-point portal: an organisation's incidents, acknowledgements, comments, evidence.",
        "api": "This description."}

_GENERATING = threading.Lock()
ROW_ID = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**63 - 1}


def _errors(with_body: bool) -> dict[str, Any]:
    described = {"400": "The request is not valid (the message says why).",
                 "401": "No session, or an unknown, expired or revoked API token.",
                 "403": "The role or the token's scope does not allow it.",
                 "404": "No such object (or not one the caller may see).",
                 "409": "The object's state does not allow it (the message says why)."}
    if with_body:
        described["413"] = "The body is too large."
        described["415"] = "The body is not of the type the operation reads."
    return {code: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
            for code, text in described.items()}


def _raw_body(op: dict[str, Any], view: Any) -> None:
    """The request body of a view that reads something other than JSON (``web.api_spec.raw_body``)."""
    declared = getattr(view, "raw_body", None)
    if declared is None:
        return
    media_types, description, example = declared
    schema = {"type": "string", "minLength": 1, **({"examples": [example]} if example else {})}
    op["requestBody"] = {"required": True, "description": description,
                         "content": {media: {"schema": schema} for media in media_types}}


def _raw_answer(op: dict[str, Any], view: Any) -> None:
    """The 200 of a view that answers a file (``web.api_spec.raw_answer``)."""
    declared = getattr(view, "raw_answer", None)
    if declared is None:
        return
    media_types, description = declared
    op.setdefault("responses", {})["200"] = {
        "description": description,
        "content": {media: {"schema": {"type": "object"} if media == "application/json"
                            else {"type": "string", "contentMediaType": media}} for media in media_types}}


def _parameters(op: dict[str, Any]) -> None:
    for param in op.get("parameters", []):
        if param.get("in") != "path":
            continue
        schema = param.get("schema", {})
        if schema.get("type") == "integer":  # <int:...>: a row id (web.app.RowIdConverter)
            param["schema"] = dict(ROW_ID)
        elif param["name"] == "parser":
            param["schema"] = {"type": "string", "enum": parsers.names()}
        if not param.get("description"):
            param.pop("description", None)


def _views_by_operation(app: Flask) -> dict[tuple[str, str], tuple[str, Any]]:
    out: dict[tuple[str, str], tuple[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if str(rule).startswith(API_PREFIX):
            path = str(rule)
            for arg in rule.arguments:
                path = path.replace(f"<int:{arg}>", f"{{{arg}}}").replace(f"<{arg}>", f"{{{arg}}}")
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                out[(path, method.lower())] = (rule.endpoint, app.view_functions[rule.endpoint])
    return out


def _secure(op: dict[str, Any], endpoint: str, method: str, view: Any) -> None:
    op["operationId"] = f"{endpoint.replace('.', '_')}_{method}"
    if not op.get("description"):
        op.pop("description", None)
    scope = getattr(view, "api_scope", None)
    role = getattr(view, "required_role", None)
    if isinstance(role, str):
        op["x-vigie-role"] = role
    if scope == SESSION_ONLY:
        op["security"] = [{"session": []}]
    elif isinstance(scope, str):
        op["security"] = [{"bearer": [scope]}, {"session": []}]
        op["x-vigie-scope"] = scope
    _raw_body(op, view)
    _raw_answer(op, view)
    _parameters(op)
    responses = op.setdefault("responses", {})
    responses.pop("422", None)  # a request that fails validation is a 400 (web.api_spec)
    declared_400 = responses.get("400", {}).get("content", {}).get("application/json", {}).get("schema")
    responses.update(_errors("requestBody" in op))
    if declared_400 not in (None, _ERROR):  # an answer of its own besides the error (ingest's dead letters)
        responses["400"]["content"]["application/json"]["schema"] = {"anyOf": [declared_400, _ERROR]}


def build(app: Flask) -> dict[str, Any]:
    """The description of every ``/api/`` route of ``app``: the REST API, the TAXII 2.1 server, the
    MISP feed served to partners."""
    with app.app_context(), _GENERATING:
        # SpecTree caches one description per process (``spec.spec``), made from the first app; this
        # one is of ``app``'s routes. Making it moves the nested models out of ``spec.models``: it
        # works on a copy.
        models = spec.models
        spec.models = copy.deepcopy(models)
        try:
            generated = spec._generate_spec()
        finally:
            spec.models = models
    views = _views_by_operation(app)
    paths: dict[str, dict[str, Any]] = {}
    for path, item in generated.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method, op in item.items():
            if method in _METHODS and (path, method) in views:
                endpoint, view = views[(path, method)]
                _secure(op, endpoint, method, view)
        paths[path] = item
    schemas = dict(generated.get("components", {}).get("schemas", {}))
    schemas["Error"] = Error.model_json_schema()
    used = {tag for item in paths.values() for op in item.values() if isinstance(op, dict)
            for tag in op.get("tags", [])}
    tags = [{"name": name, "description": text} for name, text in TAGS.items() if name in used]
    tags += [{"name": name} for name in sorted(used - TAGS.keys())]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Vigie", "version": generated["info"]["version"],
                 "description": "The REST API of Vigie. Errors answer {error, message, status}; messages are "
                                "in the caller's language (Accept-Language or ?lang=)."},
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API token (cert token create); its scopes: read, triage, write, "
                                          "ingest, admin, share (a partner CERT's token). HTTP Basic with the "
                                          "token as password is taken too."},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "The console's session; unsafe methods also need the X-CSRFToken header."},
            },
            "schemas": schemas,
        },
    }


@bp.get("/openapi.json")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=OpenApiDocument), tags=["api"])
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 description of this API."""
    return jsonify(build(current_app))


@pages.get("/api")
@requires("analyst")
def docs() -> ResponseReturnValue:
    """A readable page of this API: every operation, its parameters, body and answers."""
    doc = build(current_app)
    groups, models = api_docs.page(doc)
    scopes = [(name, _(text)) for name, text in SCOPES.items()]
    return render_template("api_docs.html", doc=doc, groups=groups, models=models, scopes=scopes)
