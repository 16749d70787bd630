"""Opening an alert changes nothing; acknowledging it is an explicit POST (console button with its
CSRF token, or the API), which the audit trail records."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from support import csrf_token, login

from cert.runtime.platform import Platform
from cert.storage.models import Alert, AuditEntry
from web.app import create_app


@pytest.fixture
def app(demo: tuple[Platform, dict[str, str]]) -> Flask:
    app = create_app(platform=demo[0])
    app.config["TESTING"] = True
    return app


def analyst(app: Flask, demo: tuple[Platform, dict[str, str]]) -> Any:
    client = app.test_client()
    assert login(client, "analyste", demo[1]["analyste"]).status_code == 302
    return client


def state(platform: Platform, alert_id: int) -> tuple[str, list[tuple[str, str]]]:
    """The alert's status and its acknowledgement entries in the audit trail."""
    with platform.db.session() as s:
        status = s.get_one(Alert, alert_id).status
        trail = [(e.actor, e.action) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "alert", AuditEntry.object_id == str(alert_id)))]
    return status, trail


def new_alert(platform: Platform) -> int:
    with platform.db.session() as s:
        return int(s.scalars(select(Alert.id).where(Alert.status == "new").order_by(Alert.id)).first() or 0)


def test_opening_an_alert_changes_nothing(app: Flask, demo: Any) -> None:
    platform = demo[0]
    client = analyst(app, demo)
    aid = new_alert(platform)
    with platform.db.session() as s:
        audit_before = s.scalar(select(func.count()).select_from(AuditEntry))
    for _ in range(2):
        assert client.get(f"/alerts/{aid}").status_code == 200
        assert client.get(f"/api/v1/alerts/{aid}").get_json()["status"] == "new"
    assert state(platform, aid) == ("new", [])
    with platform.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audit_before


def test_the_acknowledge_button_acknowledges_and_audits(app: Flask, demo: Any) -> None:
    platform = demo[0]
    client = analyst(app, demo)
    aid = new_alert(platform)
    page = client.get(f"/alerts/{aid}").get_data(as_text=True)
    assert 'id="acknowledge"' in page and "Acquitter" in page
    # without its CSRF token the POST is refused
    assert client.post(f"/alerts/{aid}/acknowledge").status_code == 400
    assert state(platform, aid) == ("new", [])
    resp = client.post(f"/alerts/{aid}/acknowledge", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/alerts/{aid}")
    assert state(platform, aid) == ("acknowledged", [("analyste", "alert.acknowledge")])
    page = client.get(f"/alerts/{aid}").get_data(as_text=True)
    assert "Alerte acquittée." in page and 'id="acknowledge"' not in page
    # once acknowledged, a second POST changes nothing and writes nothing
    client.post(f"/alerts/{aid}/acknowledge", data={"csrf_token": csrf_token(page)})
    assert state(platform, aid) == ("acknowledged", [("analyste", "alert.acknowledge")])


def test_the_api_acknowledges_with_a_post(app: Flask, demo: Any) -> None:
    platform = demo[0]
    client = analyst(app, demo)
    aid = new_alert(platform)
    token = csrf_token(client.get("/alerts/").get_data(as_text=True))
    refused = client.post(f"/api/v1/alerts/{aid}/acknowledge")
    assert refused.status_code == 400 and refused.get_json()["error"] == "bad_request"
    assert state(platform, aid) == ("new", [])
    resp = client.post(f"/api/v1/alerts/{aid}/acknowledge", headers={"X-CSRFToken": token})
    assert resp.status_code == 200 and resp.get_json()["status"] == "acknowledged"
    assert state(platform, aid) == ("acknowledged", [("analyste", "alert.acknowledge")])
    assert client.get(f"/api/v1/alerts/{aid}/acknowledge").status_code == 405
    missing = client.post("/api/v1/alerts/999999/acknowledge", headers={"X-CSRFToken": token})
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
