"""The rules console: analysts browse the catalogue (filters, provenance, ATT&CK, rule source);
responders disable rules, override severities and add false-positive exceptions, which the next
detection batch applies; every change is in the rule's history and the audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from support import csrf_token, login

from cert.core.ecs import put
from cert.detection.alerts import raise_alerts
from cert.detection.overrides import current_overrides
from cert.detection.run import build_detectors, detect_batch, handling_exceptions
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry
from web.app import create_app

SQLI = "3e7b1a90-5c2d-4e8f-a6b4-9d0c1f2e3a75"  # rules/sigma/web/sql_injection.yml


@pytest.fixture
def app(demo: tuple[Platform, dict[str, str]]) -> Flask:
    app = create_app(platform=demo[0])
    app.config["TESTING"] = True
    return app


def client_as(app: Flask, demo: tuple[Platform, dict[str, str]], user: str) -> Any:
    client = app.test_client()
    assert login(client, user, demo[1][user]).status_code == 302
    return client


def web_event(i: int, query: str, ip: str) -> dict[str, Any]:
    ev: dict[str, Any] = {"@timestamp": f"2026-11-21T10:00:{i:02d}.000Z"}
    put(ev, "event.id", f"web-{i}")
    put(ev, "event.category", ["web"])
    put(ev, "url.query", query)
    put(ev, "source.ip", ip)
    return ev


def test_analyst_browses_rules_in_french_with_filters_and_source(app: Flask, demo: Any) -> None:
    c = client_as(app, demo, "analyste")
    html = c.get("/rules/").get_data(as_text=True)
    assert "Règles de détection" in html and "SQL Injection Attempt on a Web Portal" in html
    assert "attack.t1190" in html and "locale" in html  # ATT&CK tags, provenance "local" in French
    html = c.get("/rules/?q=brute&lang=en").get_data(as_text=True)
    assert "SSH Brute Force" in html and "SQL Injection" not in html and "correlation" in html
    html = c.get(f"/rules/{SQLI}").get_data(as_text=True)
    assert "union select" in html and "attack.initial-access" in html  # the rule's YAML source, escaped
    assert 'id="rule-enabled"' not in html  # analysts see no change form
    resp = c.post(f"/rules/{SQLI}/enabled", data={"csrf_token": csrf_token(html), "enabled": "off"})
    assert resp.status_code == 403
    assert c.get("/rules/no-such-rule").status_code == 404


def test_responder_changes_apply_to_the_next_detection_batch(app: Flask, demo: Any) -> None:
    platform: Platform = demo[0]
    c = client_as(app, demo, "intervenant")
    page = c.get(f"/rules/{SQLI}").get_data(as_text=True)
    token = csrf_token(page)
    engines = build_detectors(platform.settings)
    events = [web_event(1, "id=1' UNION SELECT pass FROM users", "198.51.100.7"),
              web_event(2, "id=1 union select 1", "10.20.0.5")]

    def sqli_hits() -> list[Any]:
        overrides = current_overrides(platform.db)
        with platform.db.session() as s:
            raised = raise_alerts(s, detect_batch(engines, events, overrides), overrides, events=events,
                                  handled=handling_exceptions(engines), suppression_minutes=0)
            s.rollback()
        return [h for h in raised.hits if h.rule_id == SQLI]

    assert sorted(ip for h in sqli_hits() for ip in [h.entities["source.ip"]]) == ["10.20.0.5", "198.51.100.7"]
    # the internal vulnerability scanner is a known false positive
    resp = c.post(f"/rules/{SQLI}/exceptions", data={
        "csrf_token": token, "field": "source.ip", "operator": "cidr", "values": "10.20.0.0/24",
        "comment": "Scanner de vulnérabilités interne"})
    assert resp.status_code == 303
    resp = c.post(f"/rules/{SQLI}/severity", data={"csrf_token": token, "severity": "critical"})
    assert resp.status_code == 303
    hits = sqli_hits()
    assert [h.entities["source.ip"] for h in hits] == ["198.51.100.7"] and hits[0].severity == "critical"
    resp = c.post(f"/rules/{SQLI}/enabled", data={"csrf_token": token, "enabled": "off", "comment": "bruit"})
    assert resp.status_code == 303
    assert sqli_hits() == []
    page = c.get(f"/rules/{SQLI}?lang=en").get_data(as_text=True)
    assert "disabled" in page and "10.20.0.0/24" in page and "Scanner de vuln" in page
    assert page.count("intervenant") >= 3  # the history names who changed what
    html = c.get("/rules/?state=disabled&lang=en").get_data(as_text=True)
    assert "SQL Injection Attempt" in html and "SSH Brute Force" not in html
    with platform.db.session() as s:
        actions = [a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.object_type == "rule"))]
    assert actions == ["rule_exception_add", "rule_severity", "rule_disable"]
    # a bad exception is refused with a message, nothing recorded
    page = c.get(f"/rules/{SQLI}").get_data(as_text=True)
    resp = c.post(f"/rules/{SQLI}/exceptions", data={
        "csrf_token": csrf_token(page), "field": "source.ip", "operator": "cidr", "values": "not-a-network",
        "comment": "x"}, follow_redirects=True)
    assert "not an IP network" in resp.get_data(as_text=True)


def test_forms_need_csrf(app: Flask, demo: Any) -> None:
    c = client_as(app, demo, "admin")
    resp = c.post(f"/rules/{SQLI}/enabled", data={"enabled": "off"})
    assert resp.status_code == 400
