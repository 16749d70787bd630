"""Hostile or mistaken requests get a 4xx with a message, never a 500; the API answers its errors,
500 included, in JSON with a message in the user's language."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from support import login

import cert.detection.triage
from cert.demo import ensure_demo_users
from cert.runtime.platform import Platform
from web.app import create_app


@pytest.fixture
def app(platform: Platform) -> Flask:
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return app


def admin_client(app: Flask, platform: Platform) -> Any:
    client = app.test_client()
    assert login(client, "admin", ensure_demo_users(platform)["admin"]).status_code == 302
    return client


def id_routes(app: Flask) -> list[tuple[str, list[str], str]]:
    """(rule, its int arguments, method) for every route of the URL map that takes an int id."""
    found = []
    for rule in app.url_map.iter_rules():
        ints = [arg for arg in rule.arguments if f"<int:{arg}>" in rule.rule]
        if ints:
            found.extend((rule.rule, ints, method)
                         for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))  # type: ignore[operator]
    return found


#: a value for each string argument of a route with an integer id too
STRING_ARGS = {"<rule_id>": "some-rule", "<direction>": "up", "<playbook>": "brute-force-response",
               "<partner_id>": "cert-voisin", "<org_id>": "min-interieur"}


@pytest.mark.parametrize("big", [2**63, 2**64, 10**30])
def test_ids_past_the_sql_integer_range_answer_404_on_every_route(app: Flask, platform: Platform, big: int) -> None:
    client = admin_client(app, platform)
    routes = id_routes(app)
    assert len({r for r, _, _ in routes}) >= 8  # alerts, cases, API, notes, export, promote, exception delete...
    for rule, ints, method in routes:
        url = rule
        for arg in ints:
            url = url.replace(f"<int:{arg}>", str(big))
        for arg, value in STRING_ARGS.items():
            url = url.replace(arg, value)
        assert "<" not in url, f"argument left in {url}"
        resp = client.open(url, method=method)
        assert resp.status_code == 404, f"{method} {url} answered {resp.status_code}"
        if url.startswith("/api/"):
            assert resp.get_json()["error"] == "not_found"


def test_api_not_found_is_json_with_a_translated_message(app: Flask, platform: Platform) -> None:
    client = admin_client(app, platform)
    resp = client.get("/api/v1/alerts/99999")
    assert resp.status_code == 404 and resp.is_json
    assert resp.get_json() == {"error": "not_found", "message": "alert 99999 does not exist", "status": 404}
    resp = client.get(f"/api/v1/cases/{2**63}")
    assert resp.status_code == 404 and resp.get_json()["message"] == "Cette page ou cet objet n'existe pas."
    resp = client.get(f"/api/v1/cases/{2**63}?lang=en")
    assert resp.get_json()["message"] == "This page or object does not exist."
    # the console still answers pages
    page = client.get(f"/alerts/{2**64}")
    assert page.status_code == 404 and "text/html" in page.content_type


def test_an_api_500_is_json_and_shows_no_internals(app: Flask, platform: Platform,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the error handler answers
    client = admin_client(app, platform)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("database said: <script>secret</script>")

    monkeypatch.setattr(cert.detection.triage, "search", broken)
    resp = client.get("/api/v1/alerts")
    assert resp.status_code == 500 and resp.is_json
    body = resp.get_json()
    assert body["error"] == "internal_error" and body["status"] == 500
    assert body["message"].startswith("Erreur interne")
    assert "secret" not in resp.get_data(as_text=True)
    page = client.get("/alerts/")
    assert page.status_code == 500 and "text/html" in page.content_type and "secret" not in page.get_data(as_text=True)


@pytest.mark.parametrize("limit", ["-1", "0", "1001", "99999999999999999999", "abc", "1.5"])
def test_api_limit_out_of_range_is_refused_with_a_message(app: Flask, platform: Platform, limit: str) -> None:
    client = admin_client(app, platform)
    resp = client.get(f"/api/v1/alerts?limit={limit}&lang=en")
    assert resp.status_code == 400, f"limit={limit} answered {resp.status_code}"
    assert resp.get_json()["error"] == "bad_request" and "limit" in resp.get_json()["message"]


def test_api_limit_within_range_is_accepted(app: Flask, platform: Platform) -> None:
    client = admin_client(app, platform)
    for limit in ("1", "1000"):
        assert client.get(f"/api/v1/alerts?limit={limit}").status_code == 200
