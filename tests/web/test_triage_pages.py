"""The triage seen from an alert's page and an incident's: the alert's assignee, close reason,
SLA clocks and its triage buttons (close, assign, link, report); the incident's SLA clocks and
linked reports; an incident opened from many alerts with a template gets its tasks and RSIT
class, in the console and through the API."""

from __future__ import annotations

import pytest
from account_support import api_csrf, logged_in
from flask import Flask
from markupsafe import escape
from sqlalchemy import select
from support import csrf_token
from triage_data import Seeded, seed

from cert.accounts.users import create_user
from cert.incidents.templates import ensure_defaults
from cert.runtime.platform import Platform
from cert.storage.models import Alert, Case, IncidentReport, Task
from web.app import create_app

PASSWORD = "a-long-password-1"


@pytest.fixture
def seeded(platform: Platform) -> Seeded:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
        create_user(s, "bea", PASSWORD, "analyst")
        ensure_defaults(s)
    return seed(platform)


@pytest.fixture
def app(platform: Platform, seeded: Seeded) -> Flask:
    return create_app(platform=platform)


def test_an_alert_page_closes_assigns_and_reports_the_alert(app: Flask, platform: Platform, seeded: Seeded) -> None:
    client = logged_in(app, "ana", PASSWORD)
    alert_id = seeded.sqli[0]
    page = client.get(f"/alerts/{alert_id}").get_data(as_text=True)
    assert 'id="alert-triage"' in page and "Déposer un signalement" in page
    assert 'data-clock="acknowledge"' in page  # the SLA clocks of a new alert
    token = csrf_token(page)
    assigned = client.post("/alerts/bulk", data={"csrf_token": token, "from_alert": str(alert_id), "ids": str(alert_id),
                                                 "action": "assign", "assignee": "bea"})
    assert assigned.status_code in (302, 303)
    closed = client.post("/alerts/bulk", data={"csrf_token": token, "from_alert": str(alert_id), "ids": str(alert_id),
                                               "action": "close", "reason": "false-positive",
                                               "comment": "scanner interne <b>autorisé</b>"}, follow_redirects=True)
    page = closed.get_data(as_text=True)
    assert 'id="alert-assignee">bea<' in page
    assert "faux positif" in page.lower() and "scanner interne &lt;b&gt;autorisé&lt;/b&gt;" in page
    assert 'data-clock="acknowledge"' not in page  # a closed alert runs no clock
    reported = client.post("/intake/from-alert", data={"csrf_token": token, "alert": str(alert_id)})
    assert reported.status_code in (302, 303)
    with platform.db.session() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and (alert.status, alert.assignee, alert.close_reason) == ("closed", "bea",
                                                                                           "false-positive")
        assert s.scalar(select(IncidentReport).where(IncidentReport.alert_id == alert_id)) is not None


def test_an_incident_from_many_alerts_and_a_template(app: Flask, platform: Platform, seeded: Seeded) -> None:
    client = logged_in(app, "ana", PASSWORD)
    page = client.get("/alerts/").get_data(as_text=True)
    assert 'name="template"' in page and "Hameçonnage" in page
    ids = seeded.brute[:3]
    opened = client.post("/alerts/bulk", data={"csrf_token": csrf_token(page), "back": "", "action": "open",
                                               "ids": [str(i) for i in ids], "title": "Force brute SSH",
                                               "tlp": "amber", "template": "account-compromise"})
    assert opened.status_code in (302, 303)
    with platform.db.session() as s:
        case = s.scalar(select(Case).where(Case.title == "Force brute SSH"))
        assert case is not None and case.template == "account-compromise"
        tasks = list(s.scalars(select(Task).where(Task.case_id == case.id)))
        assert tasks and all(t.title for t in tasks)
        assert {a.case_id for a in s.scalars(select(Alert).where(Alert.id.in_(ids)))} == {case.id}
        case_id, task_titles = case.id, [t.title for t in tasks]
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="case-sla"' in page and 'data-clock="resolve"' in page
    assert all(str(escape(title)) in page for title in task_titles)
    assert 'id="section-reports"' in page and "Alertes (3)" in page
    # through the API, in English: the template's tasks in the caller's language
    headers = api_csrf(client)
    answer = client.post("/api/v1/incidents/from-alerts?lang=en", headers=headers,
                         json={"ids": seeded.sqli[:2], "title": "SQLi", "template": "web-compromise"})
    assert answer.status_code == 201, answer.get_json()
    unknown = client.post("/api/v1/incidents/from-alerts", headers=headers,
                          json={"ids": seeded.sqli[2:4], "template": "no-such-template"})
    assert unknown.status_code == 404
    with platform.db.session() as s:
        created = s.get(Case, answer.get_json()["id"])
        assert created is not None and created.template == "web-compromise"
        assert s.scalars(select(Task).where(Task.case_id == created.id)).first() is not None
        assert {a.case_id for a in s.scalars(select(Alert).where(Alert.id.in_(seeded.sqli[2:4])))} == {None}
