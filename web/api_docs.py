"""The readable page of the REST API (``GET /docs/api``), made from its OpenAPI description
(``web.openapi.build``): the operations grouped by tag, each with the scope and role it needs, its
parameters with their types and constraints, the fields of its body and of its answers; and every
model with its fields. The page's own words are in the reader's language."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l

METHODS = ("get", "post", "put", "patch", "delete")
REF = "#/components/schemas/"

TAG_TITLES = {"alerts": _l("Alerts"), "incidents": _l("Incidents"), "ingest": _l("Ingest"),
              "accounts": _l("Accounts"), "tokens": _l("API tokens"), "api": _l("This description")}
ANSWERS = {"200": _l("Done."), "201": _l("Created."), "202": _l("Accepted: the work is queued."),
           "204": _l("Done, nothing to answer."), "400": _l("The request is not valid (the message says why)."),
           "401": _l("No session, or an unknown, expired or revoked API token."),
           "403": _l("The role or the token's scope does not allow it."),
           "404": _l("No such object (or not one the caller may see)."),
           "409": _l("The object's state does not allow it (the message says why)."),
           "413": _l("The body is too large."), "415": _l("The body is not of the type the operation reads.")}


@dataclass
class Field:
    name: str
    type: str
    required: bool
    constraints: list[str]
    description: str
    where: str = ""  # a parameter's place: path, query


@dataclass
class Answer:
    code: str
    meaning: str
    media: str
    model: str  # the name of a model of the Models section, or ""
    fields: list[Field]


@dataclass
class Operation:
    id: str
    method: str
    path: str
    summary: str
    description: str
    scope: str | None
    role: str | None
    session_only: bool
    parameters: list[Field]
    body_media: list[str]
    body_model: str
    body_fields: list[Field]
    body_description: str
    answers: list[Answer]


@dataclass
class Group:
    tag: str
    title: str
    description: str
    operations: list[Operation] = field(default_factory=list)


@dataclass
class Model:
    name: str
    description: str
    fields: list[Field]


def model_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    return ref[len(REF):] if ref.startswith(REF) else ""


def type_text(schema: dict[str, Any]) -> str:
    """A schema's type as a person reads it: ``string``, ``integer (int64)``, ``list of AlertOut``,
    ``string | null``, ``one of: a, b``."""
    if "$ref" in schema:
        return model_name(schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(type_text(part) for part in schema[key])
    if "enum" in schema:
        return "one of: " + ", ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array":
        return f"list of {type_text(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {type_text(schema['additionalProperties'])}"
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def constraints(schema: dict[str, Any]) -> list[str]:
    out = []
    for key, label in (("minLength", "min length"), ("maxLength", "max length"), ("minimum", "≥"),
                       ("maximum", "≤"), ("exclusiveMinimum", ">"), ("exclusiveMaximum", "<"),
                       ("minItems", "min items"), ("maxItems", "max items"), ("pattern", "pattern")):
        if key in schema:
            out.append(f"{label} {schema[key]}")
    for part in schema.get("anyOf", []):
        out.extend(constraints(part))
    if "items" in schema and isinstance(schema["items"], dict) and "enum" in schema["items"]:
        out.append("each one of: " + ", ".join(str(v) for v in schema["items"]["enum"]))
    if "default" in schema:
        out.append(f"default {json.dumps(schema['default'], ensure_ascii=False)}")
    return out


def fields_of(schema: dict[str, Any], schemas: dict[str, Any]) -> list[Field]:
    """The fields of an object schema (following one ``$ref``)."""
    if "$ref" in schema:
        schema = schemas.get(model_name(schema), {})
    required = set(schema.get("required", []))
    return [Field(name, type_text(prop), name in required, constraints(prop), str(prop.get("description", "")))
            for name, prop in schema.get("properties", {}).items()]


def _operation(path: str, method: str, op: dict[str, Any], schemas: dict[str, Any]) -> Operation:
    parameters = [Field(p["name"], type_text(p.get("schema", {})), bool(p.get("required")),
                        constraints(p.get("schema", {})), str(p.get("description", "")), p.get("in", ""))
                  for p in op.get("parameters", [])]
    body = op.get("requestBody", {})
    content = body.get("content", {})
    json_schema = content.get("application/json", {}).get("schema", {})
    answers = []
    for code, answer in sorted(op.get("responses", {}).items()):
        content_of: dict[str, Any] = answer.get("content", {})
        media = next(iter(content_of), "")
        schema: dict[str, Any] = content_of.get(media, {}).get("schema", {})
        name = model_name(schema) or " | ".join(model_name(s) for s in schema.get("anyOf", []) if model_name(s))
        meaning = str(ANSWERS.get(code, "")) if code in ANSWERS and not code.startswith("2") else ""
        answers.append(Answer(code, meaning or str(answer.get("description") or ANSWERS.get(code, "")), media, name,
                              fields_of(schema, schemas) if code.startswith("2") and model_name(schema) else []))
    security = op.get("security", [])
    return Operation(
        id=str(op.get("operationId", f"{method}-{path}")), method=method.upper(), path=path,
        summary=str(op.get("summary", "")), description=str(op.get("description", "")),
        scope=op.get("x-vigie-scope"), role=op.get("x-vigie-role"), session_only=security == [{"session": []}],
        parameters=parameters, body_media=list(content), body_model=model_name(json_schema),
        body_fields=fields_of(json_schema, schemas) if json_schema else [],
        body_description=str(body.get("description", "")), answers=answers)


def page(doc: dict[str, Any]) -> tuple[list[Group], list[Model]]:
    """The operations of ``doc`` by tag (in the description's order of tags), and its models."""
    schemas: dict[str, Any] = doc.get("components", {}).get("schemas", {})
    groups = {t["name"]: Group(t["name"], str(TAG_TITLES.get(t["name"], t["name"])), str(t.get("description", "")))
              for t in doc.get("tags", [])}
    for path, item in sorted(doc.get("paths", {}).items()):
        for method in METHODS:
            if method in item:
                op = item[method]
                tag = (op.get("tags") or ["api"])[0]
                group = groups.setdefault(tag, Group(tag, str(TAG_TITLES.get(tag, tag)), ""))
                group.operations.append(_operation(path, method, op, schemas))
    models = [Model(name, str(schema.get("description", "")), fields_of(schema, schemas))
              for name, schema in sorted(schemas.items())]
    return [g for g in groups.values() if g.operations], models
