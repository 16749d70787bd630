"""GET /api/v1/metrics, /api/v1/dashboard and the SLA clocks of an incident or an alert: typed
answers with the figures of the known data set, and only their organisations' figures for a
focal point and an organisation's token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from metrics_data import DGPN, INTERIEUR, JUSTICE, seed
from sqlalchemy import select
from support import login

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.runtime.platform import Platform
from cert.storage.models import Alert, Case
from web.app import create_app
from web.schemas.dashboard import DashboardOut, MetricsOut, SlaOut


@pytest.fixture
def app(platform: Platform) -> Flask:
    with platform.db.session() as s:
        seed(s, datetime.now(UTC))
        create_user(s, "awa", "analyst-password-1", "analyst")
        create_user(s, "pf.justice", "focal-point-password-1", "focal_point", organization="min-justice",
                    constituency=platform.constituency)
        create_user(s, "pf.interieur", "focal-point-password-1", "focal_point", organization="min-interieur",
                    constituency=platform.constituency)
    return create_app(platform=platform)


def client_of(app: Flask, username: str, password: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username, password).status_code == 302
    return client


def ids(platform: Platform) -> dict[str, int]:
    """Incident ids by title, alert ids by rule."""
    with platform.db.session() as s:
        found = {c.title: c.id for c in s.scalars(select(Case))}
        found |= {a.rule_id: a.id for a in s.scalars(select(Alert))}
    return found


def get(client: FlaskClient, url: str, **headers: str) -> dict[str, Any]:
    resp = client.get(url, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body: dict[str, Any] = resp.get_json()
    return body


def test_metrics_answer_the_known_figures(app: Flask) -> None:
    body = get(client_of(app, "awa", "analyst-password-1"), "/api/v1/metrics?period=30")
    MetricsOut.model_validate(body)
    assert (body["opened"], body["closed"]) == (6, 4)
    assert body["durations"]["acknowledge"] == {"count": 5, "mean_seconds": 4860.0, "median_seconds": 1800.0}
    assert body["durations"]["detect"] == {"count": 3, "mean_seconds": 2600.0, "median_seconds": 1800.0}
    assert body["sla_compliance"]["resolve"] == {"met": 2, "breached": 1, "overdue": 2, "running": 1, "percent": 40.0}
    narrowed = get(client_of(app, "awa", "analyst-password-1"),
                   f"/api/v1/metrics?period=30&severity=critical&rsit=intrusions&organization={DGPN}")
    assert (narrowed["opened"], narrowed["organization"], narrowed["severity"]) == (1, DGPN, "critical")
    assert narrowed["sla_compliance"]["acknowledge"]["breached"] == 1


def test_dashboard_answer(app: Flask) -> None:
    body = get(client_of(app, "awa", "analyst-password-1"), "/api/v1/dashboard?period=7", **{"Accept-Language": "en"})
    DashboardOut.model_validate(body)
    assert len(body["alerts_per_day"]["days"]) == 8
    series = {s["severity"]: s for s in body["alerts_per_day"]["series"]}
    assert sum(series["high"]["counts"]) == 4 and sum(series["low"]["counts"]) == 2
    assert body["alerts_total"] == 7
    assert [(r["rule_id"], r["alerts"]) for r in body["top_rules"]] == [("r-brute", 4), ("r-scan", 2), ("r-ps", 1)]
    seen = {t["technique"]: t for t in body["techniques_seen"]}
    assert seen["T1110"] == {"technique": "T1110", "alerts": 4, "incidents": 0, "covered": True}
    # T1059 is covered by the rare-Windows-behaviour anomaly detector, and T1133 by a Sigma rule
    assert seen["T1059"]["covered"] is True and {"T1133", "T1059"} <= set(body["techniques_covered"])
    assert body["open_incidents_by_organization"] == [
        {"organization": DGPN, "open": 1}, {"organization": JUSTICE, "open": 1}, {"organization": None, "open": 1}]


def test_focal_points_get_their_organisations_figures_only(app: Flask, platform: Platform) -> None:
    justice = client_of(app, "pf.justice", "focal-point-password-1")
    body = get(justice, "/api/v1/dashboard?period=30")
    assert body["metrics"]["opened"] == 1 and body["alerts_total"] == 1
    assert [r["rule_id"] for r in body["top_rules"]] == ["r-ps"]
    assert body["open_incidents_by_organization"] == [{"organization": JUSTICE, "open": 1}]
    # asking for another organisation gives nothing of it
    other = get(justice, f"/api/v1/metrics?period=30&organization={INTERIEUR}")
    assert (other["opened"], other["closed"]) == (0, 0)
    # the Interior's focal point sees the Police nationale under it too
    interieur = get(client_of(app, "pf.interieur", "focal-point-password-1"), "/api/v1/metrics?period=30")
    assert (interieur["opened"], interieur["closed"]) == (4, 4)
    known = ids(platform)
    assert justice.get(f"/api/v1/incidents/{known['four']}/sla").status_code == 200
    assert justice.get(f"/api/v1/incidents/{known['one']}/sla").status_code == 404
    assert justice.get(f"/api/v1/alerts/{known['r-ps']}/sla").status_code == 200
    assert justice.get(f"/api/v1/alerts/{known['r-scan']}/sla").status_code == 404
    assert justice.get("/dashboard").status_code == 403  # the console is the staff's


def test_an_organisations_token_is_scoped(app: Flask, platform: Platform) -> None:
    with platform.db.session() as s:
        _, secret = create_token(s, "justice-read", "tests", actor="test", scopes="read",
                                 organization=platform.constituency.by_id("min-justice"))
        _, everything = create_token(s, "soc-read", "tests", actor="test", scopes="read")
    client = app.test_client()
    scoped = get(client, "/api/v1/metrics?period=30", Authorization=f"Bearer {secret}")
    assert scoped["opened"] == 1
    assert get(client, "/api/v1/metrics?period=30", Authorization=f"Bearer {everything}")["opened"] == 6


def test_sla_clocks_of_an_incident_and_an_alert(app: Flask, platform: Platform) -> None:
    client = client_of(app, "awa", "analyst-password-1")
    known = ids(platform)
    two = get(client, f"/api/v1/incidents/{known['two']}/sla")
    SlaOut.model_validate(two)
    assert [(c["clock"], c["state"]) for c in two["clocks"]] == [
        ("acknowledge", "breached"), ("contain", "breached"), ("resolve", "overdue")]
    assert two["overdue"] is True and two["severity"] == "critical"
    ack = two["clocks"][0]
    assert ack["target_seconds"] == 900 and ack["elapsed_seconds"] == 1200 and ack["remaining_seconds"] is None
    four = get(client, f"/api/v1/incidents/{known['four']}/sla")
    assert {c["state"] for c in four["clocks"]} == {"running"} and four["overdue"] is False
    assert 1700 < four["clocks"][0]["remaining_seconds"] <= 1800  # 60 min target, opened 30 min ago
    alert = get(client, f"/api/v1/alerts/{known['r-ps']}/sla")
    assert [c["clock"] for c in alert["clocks"]] == ["acknowledge", "resolve"]
    assert alert["clocks"][0]["state"] == "overdue"  # critical: 15 minutes, raised 2 hours ago
    assert client.get("/api/v1/incidents/999999/sla").status_code == 404


@pytest.mark.parametrize("query", ["period=0", "period=367", "period=x", "severity=urgent", "organization=" + "x" * 201,
                                   "extra=1"])
def test_bad_queries_are_400_in_french(app: Flask, query: str) -> None:
    resp = client_of(app, "awa", "analyst-password-1").get("/api/v1/metrics?" + query)
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["error"] == "bad_request" and "La requête" in body["message"]
