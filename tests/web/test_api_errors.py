"""Hostile or mistaken requests to the REST API: each is a 4xx in JSON, ``{error, message, status}``
with a message in the caller's language, never a 500 and never an HTML page."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cert.accounts.tokens import SCOPES, create_token
from cert.runtime.platform import Platform
from web.app import create_app


@pytest.fixture
def app(platform: Platform) -> Flask:
    app = create_app(platform=platform)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: a defect would be a 500 answer
    return app


@pytest.fixture
def bearer(platform: Platform) -> dict[str, str]:
    with platform.db.session() as s:
        _token, secret = create_token(s, "every-scope", "tests", "test", scopes=[x for x in SCOPES if x != "share"])
    return {"Authorization": f"Bearer {secret}"}


def error(resp: Any, status: int, code: str) -> str:
    """The message of a JSON error answer with this status and code."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.is_json, resp.content_type
    body = resp.get_json()
    assert body["error"] == code and body["status"] == status and body["message"], body
    return str(body["message"])


def test_unknown_paths_and_methods(app: Flask, bearer: dict[str, str]) -> None:
    client = app.test_client()
    assert "n'existe pas" in error(client.get("/api/v1/nothing-here", headers=bearer), 404, "not_found")
    error(client.get("/api/v2/alerts", headers=bearer), 404, "not_found")
    error(client.delete("/api/v1/alerts", headers=bearer), 405, "method_not_allowed")
    error(client.put("/api/v1/tokens", headers=bearer, json={}), 405, "method_not_allowed")
    assert "not allowed" in error(client.patch("/api/v1/openapi.json?lang=en", headers=bearer), 405,
                                  "method_not_allowed")
    # anonymous: 401 before anything else, even for a path that does not exist
    error(client.get("/api/v1/alerts"), 401, "unauthorized")
    error(client.get("/api/v1/nothing-here"), 401, "unauthorized")
    error(client.get("/api/v1/alerts", headers={"Authorization": "Bearer vigie_not-a-token"}), 401, "unauthorized")


@pytest.mark.parametrize(("data", "content_type", "status", "expected"), [
    (b'{"name": "x"', "application/json", 400, "n'est pas du JSON valide"),
    (b'{"name": "caf\xe9"}', "application/json", 400, "n'est pas du JSON valide"),  # Latin-1, not UTF-8
    (b"\xff\xfe\xfa", "application/json", 400, "n'est pas du JSON valide"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "n'est pas du JSON valide"),
    (b'{"name": ' + b"9" * 5000 + b"}", "application/json", 400, "n'est pas du JSON valide"),
    (b'{"name": "\\ud800"}', "application/json", 400, "n'est pas du JSON valide"),  # a lone surrogate
    (b'{"name": "a\\u0000b"}', "application/json", 400, "caractère NUL"),
    (b"null", "application/json", 400, "doit être un objet JSON"),
    (b"[1, 2]", "application/json", 400, "doit être un objet JSON"),
    (b'{"name": 1e400}', "application/json", 400, "name: doit être du texte"),
    (b'{"name": "x"}', "text/plain", 415, "doit être du JSON"),
    (b"name=x", "application/x-www-form-urlencoded", 415, "doit être du JSON"),
    (b"--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b",
     415, "doit être du JSON"),
    (b'{"name": "x"}', "", 415, "doit être du JSON"),
])
def test_a_body_that_is_not_a_json_object_is_refused(app: Flask, bearer: dict[str, str], data: bytes,
                                                     content_type: str, status: int, expected: str) -> None:
    headers = {**bearer, **({"Content-Type": content_type} if content_type else {})}
    resp = app.test_client().post("/api/v1/tokens", data=data, headers=headers)
    code = "unsupported_media_type" if status == 415 else "bad_request"
    assert expected in error(resp, status, code)


def test_an_empty_body_is_an_empty_object(app: Flask, bearer: dict[str, str], platform: Platform) -> None:
    """A POST whose fields are all optional may come without a body (promoting an alert)."""
    client = app.test_client()
    assert "name: est obligatoire" in error(client.post("/api/v1/tokens", headers=bearer), 400, "bad_request")
    error(client.post("/api/v1/alerts/1/promote", headers=bearer), 404, "not_found")


def test_numbers_out_of_range(app: Flask, bearer: dict[str, str]) -> None:
    client = app.test_client()
    for query in (f"limit={10**30}", "limit=0", "offset=-1", f"offset={2**63}", "limit=1e3", "limit=%00"):
        error(client.get(f"/api/v1/alerts?{query}", headers=bearer), 400, "bad_request")
    for url in (f"/api/v1/alerts/{10**30}", f"/api/v1/cases/{2**63}", "/api/v1/alerts/-1", "/api/v1/alerts/1.5"):
        error(client.get(url, headers=bearer), 404, "not_found")
    for method in ("get", "patch", "delete"):  # one rule per method on this path: still a 404, not a 405
        error(client.open(f"/api/v1/users/{2**64}", method=method, headers=bearer, json={}), 404, "not_found")


def test_the_query_string(app: Flask, bearer: dict[str, str]) -> None:
    client = app.test_client()
    assert client.get("/api/v1/alerts?lang=en&limit=5", headers=bearer).status_code == 200
    message = error(client.get("/api/v1/alerts?lang=en&limt=5", headers=bearer), 400, "bad_request")
    assert message == "The request is not valid: limt: is not a known field."
    error(client.get("/api/v1/alerts?lang=de", headers=bearer), 400, "bad_request")
    assert "NUL" in error(client.get("/api/v1/alerts?status=new%00", headers=bearer), 400, "bad_request")


def test_a_body_over_the_limit_is_a_413(app: Flask, bearer: dict[str, str]) -> None:
    big = b'{"name": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    resp = app.test_client().post("/api/v1/tokens", data=big, headers={**bearer, "Content-Type": "application/json"})
    error(resp, 413, "too_large")


def test_an_answer_that_breaks_its_model_is_a_json_500_not_a_leak(app: Flask, bearer: dict[str, str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """SpecTree checks each answer against its model: a view that breaks it is a defect the client
    sees as a 500 (schemathesis finds these), in JSON, with nothing of the data."""
    import web.api_tokens

    def broken(_token: Any) -> dict[str, Any]:
        return {"name": "<secret>", "unexpected": True}

    monkeypatch.setattr(web.api_tokens, "token_json", broken)
    client: FlaskClient = app.test_client()
    resp = client.get("/api/v1/tokens", headers=bearer)
    assert "Erreur interne" in error(resp, 500, "internal_error")
    assert "secret" not in resp.get_data(as_text=True) and "unexpected" not in resp.get_data(as_text=True)


def test_the_language_of_one_request_sets_no_cookie(app: Flask, bearer: dict[str, str]) -> None:
    client = app.test_client()
    english = client.get("/api/v1/alerts?lang=en&limit=0", headers=bearer)
    assert error(english, 400, "bad_request").startswith("The request is not valid")
    assert "Set-Cookie" not in english.headers
    assert error(client.get("/api/v1/alerts?limit=0", headers=bearer), 400, "bad_request").startswith(
        "La requête n'est pas valide")
    # a cookie of the console beside the token (a language chosen on the login page) changes nothing
    client.get("/login?lang=en")
    assert client.get_cookie("session") is not None
    assert client.get("/api/v1/alerts", headers=bearer).status_code == 200
