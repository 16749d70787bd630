"""The public report form (/report): no account needed, CSRF-protected, validated with French
messages, rate-limited per client address (the clock injected), an optional file hashed and
size-limited, answered with a ticket number; what a stranger wrote is inert in the analyst's view."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from account_support import client_from, fake_clock, logged_in
from flask import Flask
from support import csrf_token

from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.runtime.platform import Platform
from web.app import create_app

PASSWORD = "a-long-password-1"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings(), data_dir=tmp_path / "data", secret_key="test-secret-key", intake_form_per_hour=3,
                   intake_form_max_file_mb=1)


@pytest.fixture
def app(platform: Platform) -> Flask:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
    return create_app(platform=platform)


def submit(client: Any, lang: str = "fr", **fields: Any) -> Any:
    page = client.get(f"/report?lang={lang}")
    assert page.status_code == 200
    data = {"csrf_token": csrf_token(page.get_data(as_text=True)), "subject": "Site défiguré",
            "description": "La page d'accueil affiche un message de revendication.", **fields}
    return client.post("/report", data=data, content_type="multipart/form-data")


def test_anyone_files_a_report_and_gets_a_ticket(app: Flask) -> None:
    client = client_from(app, "198.51.100.7")
    data = b"\x89PNG\r\n\x1a\n" + b"capture" * 100
    sent = submit(client, name="Awa Citoyenne", email="awa@example.org", organization="Mairie",
                  attachment=(io.BytesIO(data), "capture d'écran.png"))
    assert sent.status_code == 201
    html = sent.get_data(as_text=True)
    assert "Votre numéro de ticket" in html and "[VIGIE-R#1]" in html
    assert hashlib.sha256(data).hexdigest() in html
    analyst = logged_in(app, "ana", PASSWORD)
    report = analyst.get("/api/v1/incident-reports/1").get_json()
    assert report["source"] == "web-form" and report["subject"] == "Site défiguré"
    assert report["reporter"] == "Awa Citoyenne <awa@example.org> (Mairie)" and report["organization"] is None
    assert report["attachments"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert report["attachments"][0]["content_type"] == "image/png"
    english = submit(client, lang="en")
    assert english.status_code == 201 and "Your ticket number" in english.get_data(as_text=True)


def test_csrf_and_validation_in_french(app: Flask, platform: Platform) -> None:
    client = client_from(app, "198.51.100.8")
    no_token = client.post("/report", data={"subject": "x", "description": "y"})
    assert no_token.status_code == 400
    empty = submit(client, subject="", description="", email="pas-une-adresse")
    text = empty.get_data(as_text=True)
    assert empty.status_code == 400
    assert "Description: Ce champ est requis." in text
    assert "Ceci n&#39;est pas une adresse e-mail." in text
    too_long = submit(client, subject="x" * 301)
    assert too_long.status_code == 400 and "300 caractères" in too_long.get_data(as_text=True)
    big = submit(client, attachment=(io.BytesIO(b"a" * (1024 * 1024 + 1)), "gros.bin"))
    assert big.status_code == 400 and "Le fichier fait plus de 1 Mo." in big.get_data(as_text=True)
    analyst = logged_in(app, "ana", PASSWORD)
    assert analyst.get("/api/v1/incident-reports?source=web-form").get_json()["total"] == 0


def test_rate_limited_per_address(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = fake_clock(monkeypatch)
    client = client_from(app, "203.0.113.9")
    assert [submit(client).status_code for _ in range(3)] == [201, 201, 201]
    refused = submit(client)
    assert refused.status_code == 429 and "Trop de signalements" in refused.get_data(as_text=True)
    assert submit(client_from(app, "203.0.113.10")).status_code == 201  # another address is not held back
    clock.advance(hours=1, seconds=1)
    assert submit(client).status_code == 201


def test_hostile_text_is_inert_for_the_analyst(app: Flask) -> None:
    client = client_from(app, "198.51.100.9")
    assert submit(client, subject=HOSTILE, description=HOSTILE * 3, name=HOSTILE).status_code == 201
    analyst = logged_in(app, "ana", PASSWORD)
    for url in ("/intake/", "/intake/1"):
        page = analyst.get(url).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page
