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
(``{error, message, status, fields}``); a view's answer that does not fit its model is a defect
(SpecTree answers 500, and the schemathesis test finds it)."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Request, request
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, ValidationError
from spectree import Response, SpecTree

import cert
from cert.core.errors import N_, InvalidInput

__all__ = ["ApiModel", "Page", "Response", "body", "query", "spec"]

M = TypeVar("M", bound=BaseModel)


class ApiModel(BaseModel):
    """Base of every request and response model: unknown fields in a request are refused."""

    model_config = ConfigDict(extra="forbid")


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


def _refuse(req: Request, resp: Any, err: Exception | None, instance: Any, *_rest: Any) -> None:
    """SpecTree's ``before`` hook: a request that fails validation becomes an ``InvalidInput``,
    answered like every 400 of the API, in the reader's language."""
    if not isinstance(err, ValidationError):
        return
    problems = [f"{_where(dict(e))}: {_problem(dict(e))}" for e in err.errors(include_url=False)[:10]]
    raise InvalidInput(N_("The request is not valid: %(problems)s."), problems="; ".join(problems))


spec = SpecTree(
    "flask",
    mode="greedy",
    title="Vigie",
    version=cert.__version__,
    path="api/v1/spectree",
    before=_refuse,
    validation_error_status=400,
    annotations=False,  # views read their models with body() and query()
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)
