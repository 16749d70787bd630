"""The readable page of the REST API (/docs/api): an analyst reads, in French or in English, every
operation grouped by tag with the scope and role it needs, its parameters with their types and
constraints, the fields of its body and of its answers, and every model."""

from __future__ import annotations

import re

from flask import Flask
from support import login

from cert.accounts.users import create_user
from cert.runtime.platform import Platform
from web.app import create_app
from web.openapi import build

PASSWORD = "a long analyst passphrase"


def analyst(platform: Platform) -> tuple[Flask, object]:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
    app = create_app(platform=platform)
    client = app.test_client()
    assert login(client, "ana", PASSWORD).status_code == 302
    return app, client


def section(html: str, element_id: str) -> str:
    """The HTML of the element with this id, up to the next one of its kind."""
    start = html.index(f'id="{element_id}"')
    end = html.find("<article", start + 1)
    return html[start:end if end > 0 else None]


def test_an_analyst_reads_the_api_in_french(platform: Platform) -> None:
    app, client = analyst(platform)
    resp = client.get("/docs/api")  # type: ignore[attr-defined]
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    # grouped by tag, in the reader's language
    headings = re.findall(r'<section class="api-tag" id="tag-([a-z]+)">\s*<h2>([^<]+)</h2>', html)
    assert [tag for tag, _title in headings][:3] == ["alerts", "incidents", "ingest"]
    assert dict(headings)["alerts"] == "Alertes" and "Paramètres" in html and "Réponses" in html
    # every operation of the description is on the page
    doc = build(app)
    for item in doc["paths"].values():
        for op in item.values():
            assert f'id="{op["operationId"]}"' in html, op["operationId"]
    # a list: its query parameters with types and constraints, its answer's fields
    listing = section(html, "api_list_alerts_get")
    assert "<code>limit</code>" in listing and "≤ 1000" in listing and "≥ 1" in listing and "query" in listing
    assert "Portée du jeton" in listing and "<span class=\"badge\">read</span>" in listing
    assert 'href="#model-AlertPage"' in listing and "<code>items</code>" in listing
    # a body: its fields, required or not, with their constraints
    creation = section(html, "api_tokens_create_post")
    assert "<code>name</code>" in creation and "<code>scopes</code>" in creation and "admin" in creation
    assert "pattern ^[A-Za-z0-9]" in creation and "each one of: read, triage, write, ingest, admin" in creation
    # raw lines for ingest, and its parser among those installed
    ingest = section(html, "ingest_api_ingest_lines_post")
    assert "text/plain" in ingest and "linux.auth" in ingest and "IngestResult | Error" in ingest
    # the operations for a person only, and the models
    assert "Session uniquement" in section(html, "api_me_get")
    model = section(html, "model-AlertOut")
    assert "<code>first_seen</code>" in model and "string (date-time)" in model


def test_and_in_english(platform: Platform) -> None:
    _app, client = analyst(platform)
    html = client.get("/docs/api?lang=en").get_data(as_text=True)  # type: ignore[attr-defined]
    assert "<h2>Alerts</h2>" in html and "Parameters" in html and "Token scope" in html and "Answers" in html
    assert "Authorization: Bearer" in html and "acknowledge alerts, promote an alert to a case" in html


def test_it_needs_a_login(platform: Platform) -> None:
    client = create_app(platform=platform).test_client()
    assert client.get("/docs/api").status_code == 302
