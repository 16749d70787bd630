"""Typed REST endpoints: request and response models (pydantic) declared on each ``/api/v1`` view
with ``@spec.validate``, validated by SpecTree, and the source of the OpenAPI description
(``web.openapi``).

A view declares what it reads and answers::

    @bp.post("/cases/<int:case_id>/tasks")
    @requires("analyst")
    @api_scope("write")
    @spec.validate(json=TaskIn, resp=Response(HTTP_201=TaskOut), tags=["incidents"])
    def add_task(case_id: int) -> ResponseReturnValue:
        task = body(TaskIn)
        ...

Authentication and authorisation (``requires``, ``api_scope``) run before validation. A request
that does not fit its model is a 400 in the reader's language that names the field
(``{error, message, status}``); a view's answer that does not fit its model is a defect, logged
and answered 500 (the schemathesis test finds them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, overload

from flask import Request, current_app, request
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from spectree import Response, SpecTree
from werkzeug.exceptions import InternalServerError, UnsupportedMediaType

import cert
from cert.core.errors import N_, InvalidInput

__all__ = ["ApiModel", "Error", "Page", "QueryModel", "Response", "body", "iso", "query", "raw_body", "spec"]

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])


class ApiModel(BaseModel):
    """Base of every request and response model: unknown fields in a request are refused, and a
    date and time has its time zone (RFC 3339, as ``format: date-time`` says): write answers'
    dates with ``iso``."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _zoned(cls, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError(_("needs its time zone (2030-01-31T09:00:00+01:00, or Z for UTC)"))
        return value


@overload
def iso(moment: datetime) -> str: ...
@overload
def iso(moment: None) -> None: ...
def iso(moment: datetime | None) -> str | None:
    """A date and time of the database as RFC 3339 text, with its offset: the embedded database
    gives them back without one, in UTC."""
    if moment is None:
        return None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()


class Error(BaseModel):
    """Every error answer of the API: ``{error, message, status}``, the message in the reader's
    language; a 409 may add what it is about (the id of the incident an alert is in...)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="A code: bad_request, unauthorized, forbidden, not_found, conflict...")
    message: str = Field(description="For a person, in the caller's language.")
    status: int


class QueryModel(ApiModel):
    """Base of every query-string model: ``lang`` chooses the language of the answer's messages,
    as on every page of the console."""

    lang: Literal["fr", "en"] | None = Field(None, description="The language of messages (else Accept-Language).")


class Page(ApiModel):
    """The paging part of a list's answer; a list model adds ``items``."""

    total: int
    offset: int
    limit: int


def body(model: type[M]) -> M:
    """The request's JSON body, as validated by ``@spec.validate(json=model)``."""
    value = getattr(getattr(request, "context", None), "json", None)
    if not isinstance(value, model):
        raise TypeError(f"the view reads a {model.__name__} body it did not declare")
    return value


def query(model: type[M]) -> M:
    """The request's query string, as validated by ``@spec.validate(query=model)``."""
    value = getattr(getattr(request, "context", None), "query", None)
    if not isinstance(value, model):
        raise TypeError(f"the view reads a {model.__name__} query it did not declare")
    return value


def raw_body(*media_types: str, description: str, example: str = "") -> Callable[[F], F]:
    """Route decorator: the view reads a body that is not JSON (log lines...), as a string of one of
    ``media_types``; the OpenAPI description (``web.openapi``) shows it as the request body."""

    def deco(view: F) -> F:
        view.raw_body = (media_types, description, example)  # type: ignore[attr-defined]
        return view

    return deco


def raw_answer(*media_types: str, description: str) -> Callable[[F], F]:
    """Route decorator: the view answers a file (a download), streamed and never read into memory
    for validation; the OpenAPI description (``web.openapi``) shows its 200 with ``media_types``."""

    def deco(view: F) -> F:
        view.raw_answer = (media_types, description)  # type: ignore[attr-defined]
        return view

    return deco


def _problem(error: dict[str, Any]) -> str:
    """One validation problem in the reader's language."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return str(_("is required"))
    if kind == "extra_forbidden":
        return str(_("is not a known field"))
    if kind in ("string_type", "string_sub_type"):
        return str(_("must be text"))
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return str(_("must be a whole number"))
    if kind in ("bool_type", "bool_parsing"):
        return str(_("must be true or false"))
    if kind in ("list_type", "tuple_type", "set_type"):
        return str(_("must be a list"))
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return str(_("must be an object"))
    if kind in ("datetime_type", "datetime_parsing", "datetime_from_date_parsing", "date_parsing", "date_type"):
        return str(_("must be a date and time (ISO 8601)"))
    if kind in ("literal_error", "enum"):
        return str(_("must be one of: %(values)s", values=str(ctx.get("expected", "")).replace("'", "")))
    if kind == "string_too_short":
        return str(_("must have at least %(min)s characters", min=ctx.get("min_length", 1)))
    if kind == "string_too_long":
        return str(_("must have at most %(max)s characters", max=ctx.get("max_length", 0)))
    if kind == "too_short":
        return str(_("must have at least %(min)s items", min=ctx.get("min_length", 1)))
    if kind == "too_long":
        return str(_("must have at most %(max)s items", max=ctx.get("max_length", 0)))
    if kind in ("greater_than_equal", "greater_than"):
        return str(_("must be at least %(min)s", min=ctx.get("ge", ctx.get("gt", ""))))
    if kind in ("less_than_equal", "less_than"):
        return str(_("must be at most %(max)s", max=ctx.get("le", ctx.get("lt", ""))))
    if kind == "string_pattern_mismatch":
        return str(_("is not in the expected form"))
    if kind == "value_error":
        return str(ctx.get("error", error.get("msg", "")))
    return str(_("is not valid"))


def _where(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    if len(loc) > 1 and loc[0] in ("body", "query", "path"):  # where, when the validator says it
        loc = loc[1:]
    return ".".join(loc) or str(_("the body"))


JSON_TYPES = ("application/json",)


def _is_json(mimetype: str) -> bool:
    return mimetype in JSON_TYPES or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _check_json_body(req: Request) -> None:
    """A view that declares a JSON body gets one: a JSON object, sent as ``application/json``, with
    text that a database can store (no NUL, no lone surrogate). SpecTree alone would read a
    malformed or non-JSON body as ``{}``."""
    data = req.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413
    if (data or req.mimetype) and not _is_json(req.mimetype):
        raise UnsupportedMediaType(_("The body must be JSON (Content-Type: application/json)."))
    if not data:
        return
    try:
        value = current_app.json.loads(data)
        if isinstance(value, dict):
            json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone surrogate (\ud800) fails here
    except (ValueError, UnicodeError):
        raise InvalidInput(N_("The body is not valid JSON.")) from None
    if not isinstance(value, dict):
        raise InvalidInput(N_("The body must be a JSON object."))
    if _has_nul(value):
        raise InvalidInput(N_("Text may not contain the NUL character."))


def _declares_json(req: Request) -> bool:
    view = current_app.view_functions.get(req.endpoint or "")
    metadata = spec.get_function_metadata(view) if view is not None else None
    return metadata is not None and metadata.json is not None


def _refuse(req: Request, resp: Any, err: Exception | None, instance: Any, *_rest: Any) -> None:
    """SpecTree's ``before`` hook: a body that is not a JSON object where the view declares one is a
    415 or a 400; a request that fails validation becomes an ``InvalidInput``, answered like every
    400 of the API, in the reader's language."""
    if req.method not in ("GET", "HEAD", "DELETE") and _declares_json(req):
        _check_json_body(req)
    if any("\x00" in key or "\x00" in value for key, value in req.args.items(multi=True)):
        raise InvalidInput(N_("Text may not contain the NUL character."))
    if not isinstance(err, ValidationError):
        return
    problems = [f"{_where(dict(e))}: {_problem(dict(e))}" for e in err.errors(include_url=False)[:10]]
    raise InvalidInput(N_("The request is not valid: %(problems)s."), problems="; ".join(problems))


def _answered(req: Request, resp: Any, err: Exception | None, instance: Any, *_rest: Any) -> None:
    """SpecTree's ``after`` hook: an answer that breaks its model is a defect, logged with what
    broke; the client gets the API's usual 500, without the answer's data."""
    if err is not None:
        current_app.logger.error("the answer of %s %s breaks its model: %s", req.method, req.path, err)
        raise InternalServerError()


spec = SpecTree(
    "flask",
    mode="greedy",
    title="Vigie",
    version=cert.__version__,
    path="api/v1/spectree",
    before=_refuse,
    after=_answered,
    validation_error_status=400,
    validation_error_model=Error,
    annotations=False,  # views read their models with body() and query()
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)
