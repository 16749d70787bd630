"""The alert queue and the case list are read a page at a time, with the total shown; the queue
puts the most recently raised alerts first, so an alert over late or back-filled logs is seen."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from support import login

from cert.core.contracts import Hit
from cert.demo import ensure_demo_users
from cert.detection import alerts
from cert.runtime.platform import Platform
from cert.storage.models import Alert, Case
from web.app import create_app

NOW = datetime.now(UTC)


@pytest.fixture
def app(platform: Platform) -> Flask:
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return app


def analyst(app: Flask, platform: Platform) -> Any:
    client = app.test_client()
    assert login(client, "analyste", ensure_demo_users(platform)["analyste"]).status_code == 302
    return client


def hit(n: int, seen: datetime) -> Hit:
    return Hit(f"rule-{n}", f"Rule number {n}", "medium", "sigma", (f"event-{n}",), seen, seen)


def raise_alerts(platform: Platform, n: int) -> None:
    """n alerts raised over recent events, the first raised first."""
    with platform.db.session() as s:
        for i in range(n):
            alerts.upsert_hits(s, [hit(i, NOW - timedelta(minutes=n - i))], suppression_minutes=30)
            s.flush()


def queue_ids(html: str) -> list[int]:
    rows = html.split('id="alert-queue"')[1].split("</table>")[0]
    return [int(x) for x in re.findall(r'href="/alerts/(\d+)"', rows)]


def test_250_alerts_are_all_reachable_with_the_total_shown(app: Flask, platform: Platform) -> None:
    raise_alerts(platform, 250)
    client = analyst(app, platform)
    first = client.get("/alerts/").get_data(as_text=True)
    assert "1–50 sur 250" in first
    assert len(queue_ids(first)) == 50
    assert 'rel="next" href="/alerts/?page=2"' in first and 'rel="prev"' not in first
    seen: list[int] = []
    for page in range(1, 6):
        html = client.get(f"/alerts/?page={page}").get_data(as_text=True)
        assert f"{(page - 1) * 50 + 1}–{page * 50} sur 250" in html
        seen += queue_ids(html)
    assert len(seen) == len(set(seen)) == 250
    last = client.get("/alerts/?page=5").get_data(as_text=True)
    assert 'rel="next"' not in last and 'rel="prev" href="/alerts/?page=4"' in last
    # a page past the end shows the last page, a page that is not a number the first
    assert queue_ids(client.get("/alerts/?page=99999999999999999999999").get_data(as_text=True)) == queue_ids(last)
    assert "1–50 sur 250" in client.get("/alerts/?page=x").get_data(as_text=True)
    assert "51–100 of 250" in client.get("/alerts/?page=2&lang=en").get_data(as_text=True)
    # the status filter counts only its alerts, and its pages keep the filter
    with platform.db.session() as s:
        for a in s.query(Alert).order_by(Alert.id).limit(60):
            a.status = "acknowledged"
    html = client.get("/alerts/?status=acknowledged").get_data(as_text=True)
    assert "1–50 of 60" in html and 'href="/alerts/?status=acknowledged&amp;page=2"' in html
    assert "51–60 of 60" in client.get("/alerts/?status=acknowledged&page=2").get_data(as_text=True)


def test_the_api_gives_pages_with_the_total(app: Flask, platform: Platform) -> None:
    raise_alerts(platform, 250)
    client = analyst(app, platform)
    body = client.get("/api/v1/alerts").get_json()
    assert body["total"] == 250 and body["offset"] == 0 and body["limit"] == 100 and len(body["items"]) == 100
    tail = client.get("/api/v1/alerts?limit=100&offset=200").get_json()
    assert tail["total"] == 250 and len(tail["items"]) == 50
    everything = [a["id"] for off in (0, 100, 200) for a in
                  client.get(f"/api/v1/alerts?limit=100&offset={off}").get_json()["items"]]
    assert len(set(everything)) == 250
    for bad in ("-1", "x", str(2**63)):
        resp = client.get(f"/api/v1/alerts?offset={bad}")
        assert resp.status_code == 400 and "offset" in resp.get_json()["message"]


def test_a_back_filled_alert_comes_first(app: Flask, platform: Platform) -> None:
    raise_alerts(platform, 5)
    with platform.db.session() as s:  # raised now, over events of a month ago (a late log)
        alerts.upsert_hits(s, [hit(99, NOW - timedelta(days=30))], suppression_minutes=30)
    client = analyst(app, platform)
    with platform.db.session() as s:
        late = s.query(Alert).filter(Alert.rule_id == "rule-99").one().id
    assert queue_ids(client.get("/alerts/").get_data(as_text=True))[0] == late
    assert client.get("/api/v1/alerts").get_json()["items"][0]["id"] == late


def test_the_case_list_has_pages_with_the_total(app: Flask, platform: Platform) -> None:
    with platform.db.session() as s:
        s.add_all(Case(title=f"Case number {i}", created_by="analyste") for i in range(210))
    client = analyst(app, platform)
    html = client.get("/cases/").get_data(as_text=True)
    assert "1–50 sur 210" in html and 'rel="next" href="/cases/?page=2"' in html
    last = client.get("/cases/?page=5").get_data(as_text=True)
    assert "201–210 sur 210" in last and "Case number 0<" in last
    body = client.get("/api/v1/cases?limit=200&offset=200").get_json()
    assert body["total"] == 210 and [c["title"] for c in body["items"]][-1] == "Case number 0"
    assert len(body["items"]) == 10
