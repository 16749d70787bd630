"""The OpenAPI description: a valid OpenAPI 3.1 document that holds every /api/v1 route and
method, each with its summary, the console role it needs and the token scope (or session only)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate
from support import login

from cert.accounts.tokens import SCOPES, create_token
from cert.accounts.users import create_user
from cert.runtime.platform import Platform
from web.access import requires
from web.api_auth import api_scope
from web.app import create_app
from web.openapi import build

ERROR = {"$ref": "#/components/schemas/Error"}


def assert_typed_success(spec: dict[str, Any], method: str, path: str, op: dict[str, Any]) -> None:
    """Every operation declares what it answers when it succeeds: a model of its own (a component
    schema), a declared non-JSON media type, or a 204 without a body."""
    successes = {code: answer for code, answer in op["responses"].items() if code.startswith("2")}
    assert successes, f"{method.upper()} {path}: no 2xx answer declared (resp=Response(HTTP_200=Model))"
    for code, answer in successes.items():
        content = answer.get("content")
        if code == "204":
            assert not content, f"{method.upper()} {path}: a 204 has no body"
            continue
        assert content, f"{method.upper()} {path}: the {code} answer has no declared content"
        for media, described in content.items():
            if media == "application/json":
                ref = described.get("schema", {}).get("$ref", "")
                assert ref.startswith("#/components/schemas/"), f"{method.upper()} {path}: {code} is untyped"
                assert ref.rsplit("/", 1)[-1] in spec["components"]["schemas"], ref


def test_the_description_is_valid_and_holds_every_api_route(platform: Platform) -> None:
    app: Flask = create_app(platform=platform)
    spec = build(app)
    validate(spec)
    seen = 0
    for rule in app.url_map.iter_rules():
        if not str(rule).startswith("/api/v1"):
            continue
        path = str(rule)
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", f"{{{arg}}}").replace(f"<{arg}>", f"{{{arg}}}")
        view = app.view_functions[rule.endpoint]
        for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
            op = spec["paths"][path][method.lower()]
            assert op["summary"], f"{method} {path}: the view needs a docstring"
            scope = getattr(view, "api_scope", None)
            if scope in SCOPES:
                assert op["security"][0] == {"bearer": [scope]}, f"{method} {path}"
            else:
                assert op["security"] == [{"session": []}], f"{method} {path}"
            path_params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert path_params == set(rule.arguments), f"{method} {path}"
            bad_request = op["responses"]["400"]["content"]["application/json"]["schema"]
            assert "422" not in op["responses"] and ERROR in (bad_request, *bad_request.get("anyOf", [])), path
            assert_typed_success(spec, method, path, op)
            query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            assert not query or "lang" in query, f"{method} {path}: its query model derives from QueryModel"
            seen += 1
    assert seen >= 25
    assert build(app) == spec, "the description is the same each time it is made"
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs and refs <= spec["components"]["schemas"].keys(), refs - spec["components"]["schemas"].keys()
    assert spec["paths"]["/api/v1/cases/{case_id}/tlp"]["post"]["x-vigie-scope"] == "write"
    listing = spec["paths"]["/api/v1/alerts"]["get"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AlertPage"}
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert limit["in"] == "query" and limit["schema"]["maximum"] == 1000


def test_it_is_served_to_a_session_and_to_a_read_token(platform: Platform) -> None:
    with platform.db.session() as s:
        create_user(s, "ana", "a long analyst passphrase", "analyst")
        _token, secret = create_token(s, "docs", "tests", actor="test", scopes=["read"])
    app = create_app(platform=platform)
    client = app.test_client()
    assert client.get("/api/v1/openapi.json").status_code == 401
    bearer = client.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {secret}"})
    assert bearer.status_code == 200 and bearer.get_json()["openapi"] == "3.1.0"
    assert login(client, "ana", "a long analyst passphrase").status_code == 302
    assert "/api/v1/alerts" in client.get("/api/v1/openapi.json").get_json()["paths"]


def test_a_request_that_does_not_fit_its_model_is_a_400_naming_the_field_in_french(platform: Platform) -> None:
    with platform.db.session() as s:
        _token, secret = create_token(s, "triage", "tests", actor="test", scopes=["read", "triage", "write"])
    client = create_app(platform=platform).test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    bad_query = client.get("/api/v1/alerts?limit=0", headers=auth)
    assert bad_query.status_code == 400
    assert bad_query.get_json()["message"].startswith("La requête n'est pas valide") and "limit" in bad_query.get_json()["message"]
    wrong_type = client.post("/api/v1/cases/1/tlp", json={"tlp": 3, "%(x)s": 1}, headers=auth)
    assert wrong_type.status_code == 400 and wrong_type.get_json()["status"] == 400
    assert "tlp" in wrong_type.get_json()["message"] and "%(x)s" in wrong_type.get_json()["message"]
    english = client.get("/api/v1/alerts?limit=x", headers={**auth, "Accept-Language": "en"})
    assert english.status_code == 400 and "limit: must be a whole number" in english.get_json()["message"]


def test_lang_on_an_api_call_answers_in_that_language_and_hands_out_no_cookie(platform: Platform) -> None:
    with platform.db.session() as s:
        _token, secret = create_token(s, "reader", "tests", actor="test", scopes=["read"])
    client = create_app(platform=platform).test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    english = client.get("/api/v1/alerts?limit=0&lang=en", headers=auth)
    assert english.status_code == 400 and "limit: must be at least 1" in english.get_json()["message"]
    assert "Set-Cookie" not in english.headers
    assert client.get("/api/v1/alerts", headers=auth).status_code == 200


def test_an_operation_without_a_typed_answer_fails_the_check(platform: Platform) -> None:
    app: Flask = create_app(platform=platform)

    @requires("analyst")
    @api_scope("read")
    def untyped() -> dict[str, str]:
        """An answer no model describes."""
        return {"free": "form"}

    app.add_url_rule("/api/v1/untyped", view_func=untyped)
    spec = build(app)
    op = spec["paths"]["/api/v1/untyped"]["get"]
    with pytest.raises(AssertionError, match="no 2xx answer declared"):
        assert_typed_success(spec, "get", "/api/v1/untyped", op)
    typed = spec["paths"]["/api/v1/alerts"]["get"]
    assert_typed_success(spec, "get", "/api/v1/alerts", typed)
