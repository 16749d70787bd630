"""The dashboard page: French labels and numbers, the tables under the charts, the chart data as
escaped JSON, Chart.js and the chart script served from /static with no inline script, the
filters, and the SLA partial other pages include."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from metrics_data import DGPN, INTERIEUR, seed
from support import login

from cert.accounts.users import create_user
from cert.detection import overrides
from cert.runtime.platform import Platform
from cert.storage.models import Alert, Case
from web.app import create_app

DATA = re.compile(r'<script type="application/json" id="dashboard-data">(.*?)</script>', re.S)


@pytest.fixture
def app(platform: Platform) -> Flask:
    with platform.db.session() as s:
        seed(s, datetime.now(UTC))
        create_user(s, "awa", "analyst-password-1", "analyst")
    return create_app(platform=platform)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert login(client, "awa", "analyst-password-1").status_code == 302
    return client


def row(html: str, table_id: str, header: str) -> list[str]:
    """The cells of the row of ``table_id`` whose header cell holds ``header``."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert table, table_id
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(0), re.S):
        cells = [unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)]
        if cells and header in cells[0]:
            return cells
    raise AssertionError(f"no row {header!r} in {table_id}")


def chart_data(html: str) -> dict[str, Any]:
    found = DATA.search(html)
    assert found, "no chart data element"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_french_labels_and_numbers(client: FlaskClient, platform: Platform) -> None:
    html = client.get("/dashboard?period=30").get_data(as_text=True)
    for text in ("Tableau de bord", "Alertes par jour et par sévérité", "Incidents ouverts par organisation",
                 "Respect des SLA", "Règles ayant levé le plus d'alertes", "Techniques ATT&CK observées"):
        assert text in unescape(html), text
    # 5 acknowledgements: 10, 20, 30, 45 min and 5 h: mean 1 h 21 min, median 30 min
    assert row(html, "durations", "Délai de prise en compte") == ["Délai de prise en compte", "5", "1 h 21 min",
                                                                  "30 min"]
    assert row(html, "durations", "Délai de résolution") == ["Délai de résolution", "3", "1 j 10 h", "20 h"]
    # French decimal comma; 3 met of 5 decided
    assert row(html, "table-sla-compliance", "Prise en compte") == ["Prise en compte", "3", "2", "0", "1", "60,0 %"]
    assert row(html, "table-sla-compliance", "Résolution")[-1] == "40,0 %"
    assert row(html, "table-top-rules", "Brute force")[1] == "4"
    assert row(html, "table-open-by-organization", DGPN)[1] == "1"
    assert row(html, "table-open-by-organization", "Sans organisation")[1] == "1"
    assert row(html, "table-attack", "T1110") == ["T1110", "4", "2", "oui"]
    # T1046 (network service discovery) is covered by the scan and volume anomaly detectors,
    # until both are disabled
    assert row(html, "table-attack", "T1046") == ["T1046", "2", "0", "oui"]
    with platform.db.session() as s:
        overrides.set_enabled(s, "vigie-anomaly-scan", False, "analyst")
        overrides.set_enabled(s, "vigie-anomaly-volume", False, "analyst")
    again = client.get("/dashboard?period=30").get_data(as_text=True)
    assert row(again, "table-attack", "T1046") == ["T1046", "2", "0", "non"]
    assert row(html, "sla-targets", "critique")[1:] == ["15 min", "4 h", "1 j"]
    assert " UTC" in re.search(r'<p class="muted" id="period">(.*?)</p>', html, re.S).group(1)  # type: ignore[union-attr]


def test_english_on_request(client: FlaskClient) -> None:
    html = client.get("/dashboard?period=30&lang=en").get_data(as_text=True)
    assert "Alerts per day by severity" in html and "Tableau de bord" not in html
    assert row(html, "table-sla-compliance", "Acknowledgement")[-1] == "60.0 %"
    assert row(html, "durations", "Time to resolve")[2] == "1 d 10 h"


def test_chart_data_is_json_in_the_readers_language(client: FlaskClient) -> None:
    html = client.get("/dashboard?period=7").get_data(as_text=True)
    data = chart_data(html)
    assert data["locale"] == "fr"
    charts = {c["id"]: c for c in data["charts"]}
    assert list(charts) == ["alerts-per-day", "open-by-organization", "sla-compliance", "top-rules", "attack"]
    per_day = charts["alerts-per-day"]
    assert per_day["stacked"] is True and len(per_day["labels"]) == 8  # the 8 days 7 days up to now touch
    assert sum(sum(ds["data"]) for ds in per_day["datasets"]) == 7
    assert [ds["label"] for ds in per_day["datasets"]] == ["critique", "élevée", "moyenne", "faible", "information"]
    assert charts["sla-compliance"]["labels"] == ["Prise en compte", "Confinement", "Résolution"]
    assert [ds["label"] for ds in charts["attack"]["datasets"]] == ["Couverte par une règle active",
                                                                    "Non couverte par une règle active"]
    assert charts["top-rules"]["datasets"][0]["data"] == [4, 2, 1]


def test_no_inline_script_and_the_chart_files_are_static(client: FlaskClient) -> None:
    resp = client.get("/dashboard")
    html = resp.get_data(as_text=True)
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    executable = [attrs for attrs, _body in scripts if 'type="application/json"' not in attrs]
    assert executable == [' src="/static/vendor/chartjs/chart.umd.js"', ' src="/static/dashboard.js"']
    assert all(not body.strip() for attrs, body in scripts if "src=" in attrs)
    assert " on" not in re.sub(r'"[^"]*"', "", "".join(re.findall(r"<[a-z][^>]*>", html)))  # no onclick= & co
    library = client.get("/static/vendor/chartjs/chart.umd.js")
    assert library.status_code == 200 and b"Chart.js v4" in library.data
    script = client.get("/static/dashboard.js")
    assert script.status_code == 200 and b"dashboard-data" in script.data and b"JSON.parse" in script.data
    assert client.get("/static/vendor/chartjs/LICENSE.md").status_code == 200


def test_data_from_the_logs_is_escaped(app: Flask, client: FlaskClient, platform: Platform) -> None:
    evil = "</script><script>alert(1)</script>"
    now = datetime.now(UTC)
    with platform.db.session() as s:
        for _i in range(5):
            s.add(Alert(rule_id="evil", rule_title=evil, detector="sigma", severity="low", first_seen=now,
                        last_seen=now, created_at=now - timedelta(minutes=5)))
    html = client.get("/dashboard").get_data(as_text=True)
    assert evil not in html and "<script>alert(1)" not in html
    assert len(re.findall(r"<script", html)) == 3
    assert evil in chart_data(html)["charts"][3]["labels"]  # intact as data, never markup


def test_filters(client: FlaskClient) -> None:
    html = client.get("/dashboard?period=30&organization=" + INTERIEUR).get_data(as_text=True)
    counts = re.search(r'<dl class="facts" id="incident-counts">(.*?)</dl>', html, re.S).group(1)  # type: ignore[union-attr]
    assert re.findall(r"<dd>(.*?)</dd>", counts) == ["3", "4", "5"]
    assert '<option value="30" selected>' in html
    quarter = client.get("/dashboard?period=90").get_data(as_text=True)  # the February incident and alert
    assert re.findall(r"<dd>(.*?)</dd>", quarter) == ["7", "4", "8"] and '<option value="90" selected>' in quarter
    critical = client.get("/dashboard?severity=critical").get_data(as_text=True)
    assert row(critical, "table-sla-compliance", "Prise en compte")[-1] == "50,0 %"
    intrusions = client.get("/dashboard?rsit=intrusions").get_data(as_text=True)
    assert re.findall(r"<dd>(.*?)</dd>", intrusions)[:2] == ["3", "2"]
    for bad in ("period=12", "period=abc", "organization=Nowhere", "rsit=bogus", "severity=urgent"):
        resp = client.get("/dashboard?" + bad)
        assert resp.status_code == 400, bad
        assert "valeur inconnue" in resp.get_data(as_text=True) or "jours" in resp.get_data(as_text=True)


def test_linked_from_the_nav(client: FlaskClient) -> None:
    assert 'href="/dashboard"' in client.get("/alerts/").get_data(as_text=True)


def test_sla_partial(app: Flask, platform: Platform) -> None:
    """The macros render a case's and an alert's clocks with their states, in French."""
    opened = datetime.now(UTC) - timedelta(hours=2)
    case = Case(title="t", severity="critical", created_by="x", created_at=opened,
                acknowledged_at=opened + timedelta(minutes=5))
    alert = Alert(rule_id="r", rule_title="r", detector="sigma", severity="high", first_seen=opened,
                  last_seen=opened, created_at=datetime.now(UTC) - timedelta(minutes=20))
    source = ('{% from "_sla.html" import sla_badges, sla_clocks %}'
              "{{ sla_clocks(sla_of_incident(case)) }}|{{ sla_badges(sla_of_alert(alert)) }}")
    with app.test_request_context("/"):
        html = render_template_string(source, case=case, alert=alert)
    clocks, badges = html.split("|")
    assert re.findall(r'data-clock="(\w+)" data-state="(\w+)"', clocks) == [
        ("acknowledge", "met"), ("contain", "running"), ("resolve", "running")]
    assert "respecté" in clocks and "en retard" not in clocks
    assert re.findall(r'data-clock="(\w+)" data-state="(\w+)"', badges) == [
        ("acknowledge", "running"), ("resolve", "running")]
    assert "reste 40 min" in badges
    late = Case(title="t", severity="critical", created_by="x", created_at=opened)
    with app.test_request_context("/"):
        html = render_template_string('{% from "_sla.html" import sla_clocks %}{{ sla_clocks(sla_of_incident(c)) }}',
                                      c=late)
    assert "sla-overdue" in html and "en retard" in html
