"""The console as a user meets it: login, queue, evidence, case, playbook, MISP export, in French and English."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from support import csrf_token, login

from cert.runtime.platform import Platform
from cert.storage.models import Alert, AuditEntry, Notification
from web.app import create_app


@pytest.fixture
def app(demo: tuple[Platform, dict[str, str]]) -> Flask:
    platform, _ = demo
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return app


def client_as(app: Flask, demo: tuple[Platform, dict[str, str]], user: str) -> Any:
    client = app.test_client()
    resp = login(client, user, demo[1][user])
    assert resp.status_code == 302
    return client


def alert_id(platform: Platform, title_part: str) -> int:
    with platform.db.session() as s:
        return next(a.id for a in s.scalars(select(Alert)) if title_part in a.rule_title)


def test_queue_is_french_by_default_newest_first_and_switches_to_english(app: Flask, demo: Any) -> None:
    c = client_as(app, demo, "analyste")
    html = c.get("/alerts/").get_data(as_text=True)
    assert "File des alertes" in html and "Ministère" in html
    rows = html.split("<tbody>")[1]
    assert rows.index("Cross-Site Scripting") < rows.index("SSH Brute Force")  # newest first
    assert "Ministère de l&#39;Intérieur" in html and "203.0.113.66" in html and "élevée" in html
    html_en = c.get("/alerts/?lang=en").get_data(as_text=True)
    assert "Alert queue" in html_en and "Ministry" in html_en
    assert "Alert queue" in c.get("/alerts/").get_data(as_text=True)  # the choice sticks


def test_wrong_password_is_refused_and_audited(app: Flask, demo: Any) -> None:
    c = app.test_client()
    resp = login(c, "analyste", "wrong-password-123")
    assert resp.status_code == 401
    assert "Identifiant ou mot de passe incorrect" in resp.get_data(as_text=True)
    assert c.get("/alerts/").status_code == 302
    with demo[0].db.session() as s:
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "login.failed")) is not None


def test_hostile_log_content_renders_inert(app: Flask, demo: Any) -> None:
    c = client_as(app, demo, "analyste")
    html = c.get(f"/alerts/{alert_id(demo[0], 'Cross-Site')}").get_data(as_text=True)
    assert "&lt;script&gt;" in html
    assert "<script" not in html.lower()
    assert "onerror=alert" not in html.replace("&#34;", "").replace("&quot;", "") or "&lt;img" in html
    resp = c.get("/alerts/")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


def test_full_case_flow_promote_playbook_export(app: Flask, demo: Any, tmp_path: Any) -> None:
    platform: Platform = demo[0]
    c = client_as(app, demo, "intervenant")
    aid = alert_id(platform, "Brute Force")
    page = c.get(f"/alerts/{aid}").get_data(as_text=True)
    assert "Failed password" in page  # evidence events are shown
    assert c.post(f"/alerts/{aid}/acknowledge", data={"csrf_token": csrf_token(page)}).status_code == 303
    resp = c.post(
        f"/alerts/{aid}/promote", data={"csrf_token": csrf_token(page), "title": "Force brute SSH", "tlp": "amber"}
    )
    assert resp.status_code == 303
    case_url = resp.headers["Location"]
    case_id = int(case_url.rstrip("/").split("/")[-1])
    page = c.get(case_url).get_data(as_text=True)
    assert "203.0.113.66" in page and "Force brute SSH" in page

    resp = c.post(
        f"/cases/{case_id}/playbooks", data={"csrf_token": csrf_token(page), "playbook": "brute-force-response"}
    )
    assert resp.status_code == 303
    platform.jobs.wait()
    page = c.get(case_url).get_data(as_text=True)
    # each step's result on the timeline, in the reader's language
    assert "[sightings] Événements contenant chaque observable sur les 365 derniers jours" in page
    assert "ip 203.0.113.66: 20 (" in page
    assert "[notify_focal_point] Notification à Fatou Ndiaye" in page
    english = c.get(case_url + "?lang=en").get_data(as_text=True)
    assert "[sightings] Events holding each observable over the last 365 days" in english
    assert "[notify_focal_point] Notification to Fatou Ndiaye" in english
    c.get(case_url + "?lang=fr")
    with platform.db.session() as s:
        (queued,) = s.scalars(select(Notification)).all()
        assert queued.subject.startswith(f"[TLP:AMBER] [VIGIE#{case_id}]") and queued.state == "queued"

    resp = c.post(f"/cases/{case_id}/export/misp", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 303
    feed = platform.settings.feed_dir
    manifest = json.loads((feed / "manifest.json").read_text())
    (uuid,) = manifest
    event = json.loads((feed / f"{uuid}.json").read_text())["Event"]
    values = {a["value"]: a["type"] for a in event["Attribute"]}
    assert values.get("203.0.113.66") == "ip-src"
    assert "10.10.4.21" not in values  # our own server is not an indicator
    assert {"name": "tlp:amber"} in [{"name": t["name"]} for t in event["Tag"]]
    assert uuid in (feed / "hashes.csv").read_text()
    # a second export updates the same event
    page = c.get(case_url).get_data(as_text=True)
    c.post(f"/cases/{case_id}/export/misp", data={"csrf_token": csrf_token(page)})
    assert list(json.loads((feed / "manifest.json").read_text())) == [uuid]

    # TLP:RED never leaves
    c.post(f"/cases/{case_id}/tlp", data={"csrf_token": csrf_token(page), "tlp": "red"})
    resp = c.post(f"/cases/{case_id}/export/misp", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 403 and "TLP:RED" in resp.get_data(as_text=True)

    with platform.db.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    for action in ("login", "alert.acknowledge", "case.create", "playbook.run", "case.export.misp", "case.tlp"):
        assert action in actions


def test_analyst_cannot_run_playbooks_or_admin(app: Flask, demo: Any) -> None:
    c = client_as(app, demo, "analyste")
    aid = alert_id(demo[0], "SQL Injection")
    page = c.get(f"/alerts/{aid}").get_data(as_text=True)
    case_url = c.post(f"/alerts/{aid}/promote", data={"csrf_token": csrf_token(page), "tlp": "green"}).headers[
        "Location"
    ]
    case_id = case_url.rstrip("/").split("/")[-1]
    page = c.get(case_url).get_data(as_text=True)
    assert "nécessite le rôle intervenant" in page
    resp = c.post(
        f"/cases/{case_id}/playbooks", data={"csrf_token": csrf_token(page), "playbook": "web-attack-response"}
    )
    assert resp.status_code == 403
    assert c.get("/admin/users").status_code == 403


def test_bad_input_answers_4xx_with_a_message(app: Flask, demo: Any) -> None:
    c = client_as(app, demo, "admin")
    page = c.get("/admin/users").get_data(as_text=True)
    resp = c.post(
        "/admin/users", data={"csrf_token": csrf_token(page), "username": "x", "password": "short", "role": "analyst"}
    )
    assert resp.status_code == 400
    assert c.get("/alerts/99999").status_code == 404
    api = c.get("/api/v1/alerts/99999")
    assert api.status_code == 404 and api.get_json()["message"] == "alert 99999 does not exist"
    assert c.get("/api/v1/alerts?limit=abc").status_code == 400
    # a form without its CSRF token is refused
    aid = alert_id(demo[0], "Path Traversal")
    assert c.post(f"/alerts/{aid}/promote", data={"tlp": "amber"}).status_code == 400
