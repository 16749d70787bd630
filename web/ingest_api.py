"""Bulk ingest API, for machines: ``Authorization: Bearer <API token>`` (scope ``ingest``).

- ``POST /api/v1/ingest/<parser>``: the body is raw lines (a log file's content), one event per
  line, read by that parser (``linux.auth``, ``syslog``, ``suricata.eve``…).
- ``POST /api/v1/events``: the body is NDJSON, one event already in ECS per line.

Answers (JSON): 200 with the counts when every line was stored; 202 when some wait in the spool
(the event store is down; they are stored when it is back); 400 with the counts and the
per-line errors when lines were dead-lettered (the other lines ARE stored: re-sending the whole
body is safe, event ids are deterministic); 401 without a valid token; 404 for an unknown
parser; 413 over ``ingest_api_max_mb``.

Authentication, scopes and CSRF: ``web.api_auth``. These routes are for tokens only: a session
user (even an admin) gets 401 here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from cert.pipeline.bulk import ingest_body
from web.access import api_error, platform
from web.api_auth import TokenPrincipal, api_scope
from web.api_spec import Response, raw_body, spec
from web.schemas.ingest import IngestResult

bp = Blueprint("ingest_api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])


def requires_token(scope: str) -> Callable[[F], F]:
    """Route decorator: a bearer token with ``scope`` (checked by ``web.api_auth``); a session
    user gets 401."""

    def deco(view: F) -> F:
        view.required_role = f"token:{scope}"  # type: ignore[attr-defined]

        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if g.get("api_token") is None:
                resp, status = api_error(401, _("A valid API token is required (Authorization: Bearer <token>)."))
                resp.headers["WWW-Authenticate"] = 'Bearer realm="vigie"'
                return resp, status
            return view(*args, **kwargs)

        return api_scope(scope)(wrapped)  # type: ignore[return-value]

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


#: 200: every line stored; 202: some wait in the spool; 400: some were dead-lettered (the others are stored)
ANSWERS = Response(HTTP_200=(IngestResult, "Every line was stored (or was already)."),
                   HTTP_202=(IngestResult, "Some lines wait in the spool: the event store is down."),
                   HTTP_400=(IngestResult, "Some lines were dead-lettered (the others are stored); "
                                           "or the request is not valid (an error)."))


@bp.post("/ingest/<parser>")
@requires_token("ingest")
@raw_body("text/plain", description="Log lines, one event per line, as the parser reads them.",
          example="Jan 12 06:25:43 gw sshd[2714]: Failed password for root from 203.0.113.7 port 52011 ssh2\n")
@spec.validate(resp=ANSWERS, tags=["ingest"],
               path_parameter_descriptions={"parser": "A parser of this installation (linux.auth, syslog...)."})
def ingest_lines(parser: str) -> ResponseReturnValue:
    """Raw log lines (the body, one per line) through the named parser into the event store; per-line
    errors in the answer, bad lines dead-lettered."""
    return _answer(parser)


@bp.post("/events")
@requires_token("ingest")
@raw_body("application/x-ndjson", "text/plain", description="Events in ECS, one JSON object per line.",
          example='{"@timestamp": "2030-01-31T08:00:00Z", "event": {"category": ["authentication"]}, '
                  '"source": {"ip": "203.0.113.7"}}\n')
@spec.validate(resp=ANSWERS, tags=["ingest"])
def ingest_events() -> ResponseReturnValue:
    """Events already in ECS (NDJSON, one event per line) into the event store."""
    return _answer("ecs")
