"""An anomaly alert in the console and the API: its explanation (score, features against their
baseline in the reader's language, the chart's data as JSON, escaped), "mark as benign" (closes the
alert, records the mark the detector reads, audited), and the marks listed and deleted."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from account_support import api_csrf, logged_in
from sqlalchemy import select
from support import csrf_token

from cert.accounts.users import create_user
from cert.detection.anomaly_state import DbAnomalyState
from cert.runtime.platform import Platform
from cert.storage.models import Alert, AnomalyBenign, AuditEntry
from web.app import create_app

NOW = datetime.now(UTC)
HOSTILE = "<script>alert(1)</script>"
EXPLANATION: dict[str, Any] = {
    "score": 0.9312,
    "features": [{"name": "conns", "label": "Count", "value": 1234.5, "baseline": 12, "unit": ""},
                 {"name": "domain", "label": HOSTILE, "value": HOSTILE, "baseline": None, "unit": ""}],
    "chart": {"kind": "bar", "title": "Count", "labels": ["0-10", HOSTILE], "values": [3, 240]},
    "first_seen": NOW.isoformat(), "last_seen": NOW.isoformat(),
}


def anomaly_alert(p: Platform, key: str = "10.0.0.5->203.0.113.9", explanation: dict[str, Any] | None = None,
                  organization: str | None = None) -> int:
    with p.db.session() as s:
        alert = Alert(rule_id="vigie-anomaly-beacon", rule_title=f"Beaconing: {key}", detector="anomaly.beacon",
                      severity="medium", group_key=key, first_seen=NOW - timedelta(hours=1), last_seen=NOW,
                      explanation=EXPLANATION if explanation is None else explanation, organization=organization)
        s.add(alert)
        s.flush()
        return alert.id


@pytest.fixture
def users(platform: Platform) -> Platform:
    with platform.db.session() as s:
        create_user(s, "ana", "analyst-password-1", "analyst")
        create_user(s, "rita", "responder-password-1", "responder")
    return platform


def test_the_alert_page_explains_in_french_and_escapes_the_data(users: Platform) -> None:
    alert_id = anomaly_alert(users)
    client = logged_in(create_app(platform=users), "ana", "analyst-password-1")
    html = client.get(f"/alerts/{alert_id}").get_data(as_text=True)
    section = re.search(r'<section class="card" id="anomaly-explanation">(.*?)</section>', html, re.S)
    assert section is not None
    text = unescape(section.group(1))
    assert "Pourquoi c'est anormal" in text and "0,9312" in text
    # the detector's own title in the reader's language, its subject as it is
    assert "Communications périodiques (beaconing): 10.0.0.5-&gt;203.0.113.9</h1>" in html
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>\s*<td>(.*?)</td>\s*<td>(.*?)</td></tr>", section.group(1), re.S)
    cells = [[unescape(c).strip().replace("\u202f", " ").replace("\xa0", " ") for c in r] for r in rows]
    assert cells[0] == ["Nombre", "1 234,5", "12"] and cells[1][2] == "—"
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in section.group(1)
    data = json.loads(re.search(r'<script type="application/json" id="anomaly-chart-data">(.*?)</script>',
                                html, re.S).group(1))  # type: ignore[union-attr]
    assert data == {"kind": "bar", "title": "Nombre", "labels": ["0-10", HOSTILE], "values": [3, 240], "locale": "fr"}
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert [a for a, _ in scripts if "application/json" not in a] == [' src="/static/vendor/chartjs/chart.umd.js"',
                                                                      ' src="/static/anomaly.js"']
    english = client.get(f"/alerts/{alert_id}?lang=en").get_data(as_text=True)
    assert "Why this is anomalous" in english and "1,234.5" in english
    assert "Beaconing: 10.0.0.5-&gt;203.0.113.9</h1>" in english
    # a rule's alert has no explanation section
    with users.db.session() as s:
        plain = Alert(rule_id="r", rule_title="rule", detector="sigma", severity="low", first_seen=NOW, last_seen=NOW)
        s.add(plain)
        s.flush()
        plain_id = plain.id
    assert "anomaly-explanation" not in client.get(f"/alerts/{plain_id}").get_data(as_text=True)


def test_mark_as_benign_from_the_console(users: Platform) -> None:
    alert_id = anomaly_alert(users)
    client = logged_in(create_app(platform=users), "ana", "analyst-password-1")
    page = client.get(f"/alerts/{alert_id}").get_data(as_text=True)
    assert client.post(f"/alerts/{alert_id}/benign", data={"reason": "backup server"}).status_code in (303, 400)
    with users.db.session() as s:
        assert s.get_one(Alert, alert_id).status == "new"  # no CSRF token: nothing changed
    resp = client.post(f"/alerts/{alert_id}/benign", data={"reason": "backup server", "days": "7",
                                                            "csrf_token": csrf_token(page)})
    assert resp.status_code == 303
    with users.db.session() as s:
        alert = s.get_one(Alert, alert_id)
        assert (alert.status, alert.close_reason, alert.closed_by) == ("closed", "benign", "ana")
        mark = s.scalars(select(AnomalyBenign)).one()
        assert (mark.detector, mark.key, mark.reason, mark.created_by, mark.alert_id) == \
            ("anomaly.beacon", "10.0.0.5->203.0.113.9", "backup server", "ana", alert_id)
        actions = [a.action for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert "anomaly.benign" in actions and "alert.close" in actions
    state = DbAnomalyState(users.db)
    assert state.benign("anomaly.beacon", NOW) == {"10.0.0.5->203.0.113.9"}
    assert state.benign("anomaly.beacon", NOW + timedelta(days=8)) == set()
    assert state.benign("anomaly.dga", NOW) == set()
    shown = client.get(f"/alerts/{alert_id}").get_data(as_text=True)
    assert 'id="mark-benign"' not in shown and "anomaly-explanation" in shown


def test_the_api_explains_marks_lists_and_deletes(users: Platform) -> None:
    alert_id = anomaly_alert(users)
    app = create_app(platform=users)
    ana = logged_in(app, "ana", "analyst-password-1")
    got = ana.get(f"/api/v1/alerts/{alert_id}").get_json()
    assert got["explanation"] == EXPLANATION
    headers = api_csrf(ana)
    with users.db.session() as s:
        rule = Alert(rule_id="r", rule_title="rule", detector="sigma", severity="low", first_seen=NOW, last_seen=NOW)
        s.add(rule)
        s.flush()
        rule_id = rule.id
    assert ana.get(f"/api/v1/alerts/{rule_id}").get_json()["explanation"] == {}
    refused = ana.post(f"/api/v1/alerts/{rule_id}/benign", json={"reason": "x"}, headers=headers)
    assert refused.status_code == 400 and "anomalie" in refused.get_json()["message"]
    assert ana.post(f"/api/v1/alerts/{alert_id}/benign", json={"reason": ""}, headers=headers).status_code == 400
    assert ana.post(f"/api/v1/alerts/{alert_id}/benign", json={"reason": "x", "days": 0},
                    headers=headers).status_code == 400
    asked = datetime.now(UTC)
    made = ana.post(f"/api/v1/alerts/{alert_id}/benign", json={"reason": "cloud sync"}, headers=headers)
    assert made.status_code == 201
    mark = made.get_json()
    expires = datetime.fromisoformat(mark["expires_at"])
    assert abs(expires - (asked + timedelta(days=users.settings.anomaly_benign_days))) < timedelta(minutes=5)
    again = ana.post(f"/api/v1/alerts/{alert_id}/benign", json={"reason": "x"}, headers=headers)
    assert again.status_code == 409
    other = anomaly_alert(users, key="10.0.0.7->198.51.100.1")
    ana.post(f"/api/v1/alerts/{other}/benign", json={"reason": "vpn", "days": 3}, headers=headers)
    listed = ana.get("/api/v1/anomaly/benign").get_json()
    assert listed["total"] == 2 and [m["key"] for m in listed["items"]] == ["10.0.0.7->198.51.100.1",
                                                                             "10.0.0.5->203.0.113.9"]
    only = ana.get("/api/v1/anomaly/benign?key=10.0.0.7->198.51.100.1").get_json()
    assert only["total"] == 1 and only["items"][0]["reason"] == "vpn"
    assert ana.get("/api/v1/anomaly/benign?detector=anomaly.dga").get_json()["total"] == 0
    assert ana.delete(f"/api/v1/anomaly/benign/{mark['id']}", headers=headers).status_code == 403
    rita = logged_in(app, "rita", "responder-password-1")
    rita_headers = api_csrf(rita)
    assert rita.delete(f"/api/v1/anomaly/benign/{mark['id']}", headers=rita_headers).status_code == 204
    assert rita.delete(f"/api/v1/anomaly/benign/{mark['id']}", headers=rita_headers).status_code == 404
    assert [m["key"] for m in ana.get("/api/v1/anomaly/benign").get_json()["items"]] == ["10.0.0.7->198.51.100.1"]
    assert DbAnomalyState(users.db).benign("anomaly.beacon", NOW) == {"10.0.0.7->198.51.100.1"}
    with users.db.session() as s:
        assert "anomaly.benign_delete" in [a.action for a in s.scalars(select(AuditEntry))]


def test_a_volume_chart_carries_its_baseline_band_in_the_readers_language(users: Platform) -> None:
    band = {"kind": "line", "title": "Bytes sent", "labels": ["2026-03-01T10:00:00+00:00", "2026-03-01T10:05:00+00:00"],
            "values": [1200.0, 9.5e7], "band_low": [10.0, 10.0, 10.0], "band_high": [5000.0, "x", 5000.0]}
    alert_id = anomaly_alert(users, key="host|10.0.0.5", explanation={**EXPLANATION, "chart": band})
    client = logged_in(create_app(platform=users), "ana", "analyst-password-1")
    for lang, low in (("fr", "Bande de référence, bas"), ("en", "Baseline band, low")):
        html = client.get(f"/alerts/{alert_id}?lang={lang}").get_data(as_text=True)
        data = json.loads(re.search(r'<script type="application/json" id="anomaly-chart-data">(.*?)</script>',
                                    html, re.S).group(1))  # type: ignore[union-attr]
        # as many band points as values; what is not a number is 0
        assert data["band"]["low"] == [10.0, 10.0] and data["band"]["high"] == [5000.0, 0]
        assert data["band"]["low_label"] == low and data["kind"] == "line"


def test_focal_points_and_organisation_tokens_on_the_benign_routes(platform: Platform) -> None:
    """A focal point may neither mark nor list nor delete (staff decide what is normal); a token
    of an organisation marks and lists only that organisation's anomaly alerts."""
    from cert.accounts.tokens import create_token

    c = platform.constituency
    with platform.db.session() as s:
        create_user(s, "pf-justice", "focal-password-12", "focal_point", organization="min-justice", constituency=c)
        secret = create_token(s, "soc-justice", "tests", actor="test", scopes=["read", "triage"],
                              organization=c.find("min-justice"))[1]
    justice_org, interior_org = c.find("min-justice"), c.find("min-interieur")
    ours = anomaly_alert(platform, key="10.1.0.5->203.0.113.9", organization=justice_org.name)
    theirs = anomaly_alert(platform, key="10.2.0.5->203.0.113.9", organization=interior_org.name)
    app = create_app(platform=platform)
    fp = logged_in(app, "pf-justice", "focal-password-12")
    headers = api_csrf(fp)
    assert fp.post(f"/api/v1/alerts/{ours}/benign", json={"reason": "x"}, headers=headers).status_code == 403
    assert fp.get("/api/v1/anomaly/benign").status_code == 403
    assert fp.delete("/api/v1/anomaly/benign/1", headers=headers).status_code == 403
    page = fp.get(f"/alerts/{ours}")
    assert 'id="mark-benign"' not in page.get_data(as_text=True)
    assert fp.post(f"/alerts/{ours}/benign", data={"reason": "x"}).status_code in (400, 403)
    client = app.test_client()
    token = {"Authorization": f"Bearer {secret}"}
    assert client.post(f"/api/v1/alerts/{theirs}/benign", json={"reason": "x"}, headers=token).status_code == 404
    assert client.post(f"/api/v1/alerts/{ours}/benign", json={"reason": "backup"}, headers=token).status_code == 201
    with platform.db.session() as s:
        create_user(s, "ana2", "analyst-password-2", "analyst")
    ana = logged_in(app, "ana2", "analyst-password-2")
    ana.post(f"/api/v1/alerts/{theirs}/benign", json={"reason": "vpn"}, headers=api_csrf(ana))
    assert [m["key"] for m in client.get("/api/v1/anomaly/benign", headers=token).get_json()["items"]] == \
        ["10.1.0.5->203.0.113.9"]
    assert ana.get("/api/v1/anomaly/benign").get_json()["total"] == 2
    with platform.db.session() as s:
        assert s.get_one(Alert, theirs).status == "closed" and s.get_one(Alert, ours).status == "closed"


def test_the_web_scanning_title_is_in_the_readers_language(users: Platform) -> None:
    """The web attack detector's behaviour alert (many 404s from one source) is Vigie's own words:
    French by default, English on request, its subject kept as it is."""
    with users.db.session() as s:
        alert = Alert(rule_id="waf-probe-404", rule_title="Web scanning: 198.51.100.7 (20 × 404)",
                      detector="web_attacks", severity="medium", first_seen=NOW, last_seen=NOW)
        s.add(alert)
        s.flush()
        alert_id = alert.id
    client = logged_in(create_app(platform=users), "ana", "analyst-password-1")
    assert "Balayage web: 198.51.100.7 (20 × 404)" in client.get(f"/alerts/{alert_id}").get_data(as_text=True)
    english = client.get(f"/alerts/{alert_id}?lang=en").get_data(as_text=True)
    assert "Web scanning: 198.51.100.7 (20 × 404)" in english
