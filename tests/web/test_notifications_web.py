"""Notifications in the console and the API, with a real SMTP server on 127.0.0.1: a delivery
failure is listed with its error and sent again on request; "Notify the organisation" queues the
focal point's message; the signed link of a message acknowledges the incident (a confirmation
page, a CSRF-protected form), which stops escalation, and a forged link is a 400 in French; an
advisory reaches French and English contacts each in their language, never above AMBER."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from account_support import api_csrf, logged_in
from flask import Flask
from mail_support import SmtpServer, start_smtp
from sqlalchemy import select
from support import INTERIEUR, csrf_token

from cert.accounts.users import create_user
from cert.incidents.acks import acknowledgement
from cert.notify import ack_token, deliver_due, escalate, read_ack_token
from cert.runtime.platform import Platform
from cert.storage.models import Case, Notification
from web.app import create_app

PASSWORD = "correct horse battery staple"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp()
    yield server
    server.controller.stop()


@pytest.fixture
def app(platform: Platform, smtp: SmtpServer) -> Flask:
    platform.settings = replace(platform.settings, smtp_host="127.0.0.1", smtp_port=smtp.port,
                                notify_max_attempts=1, duty_email="permanence@cert.example")
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
        create_user(s, "rita", PASSWORD, "responder")
    return create_app(platform=platform)


def new_case(platform: Platform, severity: str = "critical") -> int:
    with platform.db.session() as s:
        case = Case(title="Rançongiciel sur le serveur de l'état civil", tlp="amber", created_by="ana",
                    organization=INTERIEUR, severity=severity)
        s.add(case)
        s.flush()
        return case.id


def notify_from_console(app: Flask, case_id: int) -> Any:
    client = logged_in(app, "rita", PASSWORD)
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="notify-organization"' in page
    return client.post(f"/cases/{case_id}/notify", data={"csrf_token": csrf_token(page)})


def test_a_failure_is_listed_with_its_error_and_sent_again(platform: Platform, app: Flask, smtp: SmtpServer) -> None:
    case_id = new_case(platform)
    assert notify_from_console(app, case_id).status_code == 302
    smtp.handler.refuse = 1
    assert deliver_due(platform).dead == 1  # one attempt allowed here
    client = logged_in(app, "ana", PASSWORD)
    listed = client.get("/api/v1/notifications?state=dead").get_json()
    (item,) = listed["items"]
    assert item["recipient_email"] == "pf-cyber@interieur.gouv.example" and item["ticket"] == f"VIGIE#{case_id}"
    assert item["last_error"].startswith("451") and item["attempts"] == 1
    page = client.get("/notifications").get_data(as_text=True)
    row = page.split(f"<td>{item['id']}</td>", 1)[1].split("</tr>", 1)[0]
    assert "451 4.3.0 mailbox temporarily unavailable" in row and "Renvoyer" in row, row
    assert client.post(f"/api/v1/notifications/{item['id']}/retry").status_code == 400  # no CSRF token
    resp = client.post(f"/api/v1/notifications/{item['id']}/retry", headers=api_csrf(client))
    assert resp.status_code == 200 and resp.get_json()["state"] == "queued"
    assert client.post(f"/api/v1/notifications/{item['id']}/retry", headers=api_csrf(client)).status_code == 409
    assert deliver_due(platform).sent == 1
    assert [r.recipients for r in smtp.handler.received] == [["pf-cyber@interieur.gouv.example"]]


def test_the_signed_link_acknowledges_and_stops_escalation(platform: Platform, app: Flask,
                                                         smtp: SmtpServer) -> None:
    case_id = new_case(platform)
    notify_from_console(app, case_id)
    deliver_due(platform)
    body = smtp.handler.received[0].message.get_body().get_content()  # type: ignore[union-attr]
    link = next(line.strip() for line in body.splitlines() if "/ack/" in line)
    path = "/ack/" + link.rsplit("/ack/", 1)[1]
    browser = app.test_client()  # no account: whoever received the message
    page = browser.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Prendre en charge un incident" in html and f"VIGIE#{case_id}" in html and 'id="ack-form"' in html
    assert browser.post(path).status_code == 400  # no CSRF token
    with platform.db.session() as s:
        assert acknowledgement(s, case_id, "min-interieur") is None
    done = browser.post(path, data={"csrf_token": csrf_token(html)})
    assert done.status_code == 200 and 'id="ack-done"' in done.get_data(as_text=True)
    with platform.db.session() as s:
        row = acknowledgement(s, case_id, "min-interieur")
        assert row is not None and row.via == "link"
        assert escalate(s, platform, now=datetime.now(UTC) + timedelta(days=3)) == []
    forged = browser.get(path[:-3] + "abc")
    assert forged.status_code == 400 and "n&#39;est pas valide" in forged.get_data(as_text=True)
    other = browser.get("/ack/" + ack_token(replace(platform.settings, secret_key="another-key"), case_id,
                                            "min-interieur"))
    assert other.status_code == 400
    old = ack_token(platform.settings, case_id, "min-interieur")
    with pytest.raises(Exception, match="expired"):
        read_ack_token(platform.settings, old, now=datetime.now(UTC) + timedelta(days=15))


def test_an_unacknowledged_incident_escalates_and_shows_on_its_timeline(platform: Platform, app: Flask) -> None:
    case_id = new_case(platform)
    notify_from_console(app, case_id)
    with platform.db.session() as s:
        queued = s.scalars(select(Notification)).one().created_at
        assert [r.recipient_role for r in escalate(s, platform, now=queued + timedelta(minutes=61))] == ["deputy"]
    client = logged_in(app, "ana", PASSWORD)
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "escalade vers Ibrahima Sow (suppléant), étape 1" in page


def test_an_advisory_in_each_contact_language(platform: Platform, app: Flask, smtp: SmtpServer) -> None:
    client = logged_in(app, "ana", PASSWORD)
    csrf = api_csrf(client)
    advisory = {"title_fr": "Vulnérabilité critique dans Exim", "title_en": "Critical vulnerability in Exim",
                "body_fr": "Mettez à jour Exim.", "body_en": "Update Exim.", "tlp": "green",
                "organizations": ["min-interieur"]}
    red = client.post("/api/v1/advisories", json=advisory | {"tlp": "red"}, headers=csrf)
    assert red.status_code == 400 and "TLP:RED" in red.get_json()["message"]
    made = client.post("/api/v1/advisories", json=advisory, headers=csrf)
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["recipients"] == 2  # the focal point (French) and the CISO (English)
    deliver_due(platform)
    subjects = {r.recipients[0]: str(r.message["Subject"]) for r in smtp.handler.received}
    number = made.get_json()["id"]
    assert subjects == {
        "pf-cyber@interieur.gouv.example": f"[TLP:GREEN] [VIGIE-AV#{number}] Bulletin de sécurité : "
                                           "Vulnérabilité critique dans Exim",
        "rssi@interieur.gouv.example": f"[TLP:GREEN] [VIGIE-AV#{number}] Security advisory: "
                                       "Critical vulnerability in Exim"}
    listed = client.get("/api/v1/advisories").get_json()
    assert listed["total"] == 1 and listed["items"][0]["title_en"] == "Critical vulnerability in Exim"
    page = client.get(f"/advisories/{number}").get_data(as_text=True)
    assert "Mettez à jour Exim." in page and "rssi@interieur.gouv.example" in page
