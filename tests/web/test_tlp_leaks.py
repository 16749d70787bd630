"""TLP as analysts, responders and recipients meet it: a title written from a partner's TLP:RED
indicator never leaves, whatever the case's TLP says; raising a case's TLP withdraws its MISP
event; lowering it is a responder's decision, with a reason, audited; promoting an alert twice
says so, and a TLP raised by an indicator is shown."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import orjson
import pytest
from flask import Flask
from sqlalchemy import select
from support import csrf_token, login

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.core.tlp import TLP
from cert.detection.indicators.store import IndicatorRecord, upsert
from cert.detection.run import run_detection
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.storage.models import Alert, AuditEntry, Case, Notification
from web.app import create_app

RED_IP = "203.0.113.251"
GREEN_IP = "203.0.113.252"
PASSWORDS = {"ana": "analyst-password-1", "resp": "responder-password-1"}


@pytest.fixture
def app(platform: Platform) -> Flask:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORDS["ana"], "analyst")
        create_user(s, "resp", PASSWORDS["resp"], "responder")
        secret = create_token(s, "shipper", "someone", actor="test")[1]
        upsert(s, "partner-red", [IndicatorRecord("ip", RED_IP, tlp=TLP.RED, confidence=90)])
        upsert(s, "partner-green", [IndicatorRecord("ip", GREEN_IP, tlp=TLP.GREEN, confidence=90)])
    app = create_app(platform=platform)
    events = [{"@timestamp": "2026-03-01T10:00:00Z", "source": {"ip": ip}, "destination": {"ip": "10.10.4.21"},
               "event": {"category": ["network"]}} for ip in (RED_IP, GREEN_IP)]
    resp = app.test_client().post("/api/v1/events", data=b"\n".join(orjson.dumps(e) for e in events) + b"\n",
                                  headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 200, resp.get_json()
    run_detection(platform)
    return app


def user(app: Flask, name: str) -> Any:
    client = app.test_client()
    assert login(client, name, PASSWORDS[name]).status_code == 302
    return client


def alert_of(platform: Platform, ip: str) -> int:
    with platform.db.session() as s:
        alert = s.scalar(select(Alert).where(Alert.source_ip == ip))
        assert alert is not None
        return alert.id


def promote(client: Any, alert_id: int, tlp: str) -> tuple[int, str]:
    page = client.get(f"/alerts/{alert_id}").get_data(as_text=True)
    resp = client.post(f"/alerts/{alert_id}/promote", data={"csrf_token": csrf_token(page), "tlp": tlp})
    assert resp.status_code == 303
    url = resp.headers["Location"]
    return int(url.rstrip("/").split("/")[-1]), client.get(url).get_data(as_text=True)


def set_tlp(client: Any, case_id: int, tlp: str, reason: str = "") -> Any:
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    return client.post(f"/cases/{case_id}/tlp", data={"csrf_token": csrf_token(page), "tlp": tlp, "reason": reason})


def test_a_title_from_a_red_indicator_never_leaves_even_when_the_case_is_lowered(app: Flask,
                                                                                 platform: Platform) -> None:
    aid = alert_of(platform, RED_IP)
    with platform.db.session() as s:
        alert = s.get_one(Alert, aid)
        assert alert.rule_title == f"Known indicator: ip {RED_IP} (partner-red)"
    resp = user(app, "ana")
    page = resp.get(f"/alerts/{aid}").get_data(as_text=True)
    url = resp.post(f"/alerts/{aid}/promote", data={"csrf_token": csrf_token(page), "tlp": "amber"}).headers["Location"]
    case_id = int(url.rstrip("/").split("/")[-1])

    responder = user(app, "resp")
    assert set_tlp(responder, case_id, "amber", "reviewed with the partner: the case may go to the ministry"
                   ).status_code == 303
    with platform.db.session() as s:
        case = s.get_one(Case, case_id)
        assert case.tlp == "amber" and "partner-red" in case.title
        add_observable(s, case, "domain", "c2.example.net", tlp="amber")  # an indicator that may be shared

    page = responder.get(f"/cases/{case_id}").get_data(as_text=True)
    responder.post(f"/cases/{case_id}/playbooks",
                   data={"csrf_token": csrf_token(page), "playbook": "brute-force-response"})
    platform.jobs.wait()
    with platform.db.session() as s:
        [queued] = s.scalars(select(Notification)).all()
        subject, raw = queued.subject, queued.subject + queued.body
    assert subject.endswith(f"Incident #{case_id} — Ministère de l'Intérieur")
    assert RED_IP not in raw and "partner-red" not in raw and "c2.example.net" in raw

    page = responder.get(f"/cases/{case_id}").get_data(as_text=True)
    assert responder.post(f"/cases/{case_id}/export/misp", data={"csrf_token": csrf_token(page)}).status_code == 303
    feed = platform.settings.feed_dir
    (uuid,) = json.loads((feed / "manifest.json").read_text())
    text = (feed / f"{uuid}.json").read_text() + (feed / "manifest.json").read_text()
    assert RED_IP not in text and "partner-red" not in text
    event = json.loads((feed / f"{uuid}.json").read_text())["Event"]
    assert event["info"].startswith(f"{platform.settings.org_name} — incident #{case_id}")
    assert [a["value"] for a in event["Attribute"]] == ["c2.example.net"]
    with platform.db.session() as s:  # the title keeps the TLP of the alert it was written from
        assert s.get_one(Alert, aid).tlp == "red" and s.get_one(Case, case_id).title_tlp == "red"


def test_lowering_a_case_tlp_needs_a_responder_and_a_reason(app: Flask, platform: Platform) -> None:
    analyst = user(app, "ana")
    case_id, _ = promote(analyst, alert_of(platform, GREEN_IP), "red")
    resp = set_tlp(analyst, case_id, "amber", "I think so")
    assert resp.status_code == 403 and "Abaisser le TLP d&#39;un dossier nécessite le rôle intervenant" in (
        resp.get_data(as_text=True))
    page = analyst.get(f"/cases/{case_id}").get_data(as_text=True)
    api = analyst.post(f"/api/v1/cases/{case_id}/tlp", json={"tlp": "clear", "reason": "x"},
                       headers={"X-CSRFToken": csrf_token(page)})
    assert api.status_code == 403 and "intervenant" in api.get_json()["message"]
    assert set_tlp(analyst, case_id, "red").status_code == 303  # raising or keeping stays open to analysts

    responder = user(app, "resp")
    resp = set_tlp(responder, case_id, "amber")
    assert resp.status_code == 400 and "nécessite un motif" in resp.get_data(as_text=True)
    assert set_tlp(responder, case_id, "amber", "partner agreed to AMBER on 2026-03-02").status_code == 303
    page = responder.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "TLP changé de TLP:RED à TLP:AMBER. Motif : partner agreed to AMBER on 2026-03-02" in page
    with platform.db.session() as s:
        assert s.get_one(Case, case_id).tlp == "amber"
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "case.tlp.lower")).all()
        assert entry.actor == "resp" and entry.details["reason"] == "partner agreed to AMBER on 2026-03-02"
        assert entry.details["previous"] == "red" and entry.details["tlp"] == "amber"


def test_raising_a_case_tlp_above_the_feed_ceiling_withdraws_its_event(app: Flask, platform: Platform) -> None:
    analyst = user(app, "ana")
    case_id, page = promote(analyst, alert_of(platform, GREEN_IP), "green")
    assert analyst.post(f"/cases/{case_id}/export/misp", data={"csrf_token": csrf_token(page)}).status_code == 303
    feed = platform.settings.feed_dir
    (uuid,) = json.loads((feed / "manifest.json").read_text())
    assert uuid in (feed / "hashes.csv").read_text()

    assert set_tlp(analyst, case_id, "amber").status_code == 303  # still within the ceiling (AMBER)
    assert (feed / f"{uuid}.json").exists()
    resp = set_tlp(analyst, case_id, "red")
    assert resp.status_code == 303
    assert not (feed / f"{uuid}.json").exists()
    assert json.loads((feed / "manifest.json").read_text()) == {}
    assert not [r for r in csv.reader(io.StringIO((feed / "hashes.csv").read_text())) if uuid in r]
    page = analyst.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "son événement MISP a été retiré du flux" in page  # the flash
    assert (f"Événement MISP {uuid} retiré du flux : le dossier est maintenant TLP:RED, au-dessus du plafond "
            "du flux TLP:AMBER.") in page  # the timeline
    en = analyst.get(f"/cases/{case_id}?lang=en").get_data(as_text=True)
    assert f"MISP event {uuid} withdrawn from the feed" in en


def test_promoting_twice_says_so_and_a_red_indicator_raise_is_shown(app: Flask, platform: Platform) -> None:
    analyst = user(app, "ana")
    aid = alert_of(platform, RED_IP)
    case_id, page = promote(analyst, aid, "green")
    assert "TLP relevé à TLP:RED à cause de l&#39;indicateur de partner-red." in page  # the flash
    assert "TLP relevé de TLP:GREEN à TLP:RED à cause de l&#39;indicateur de partner-red." in page  # timeline

    stale = analyst.get(f"/alerts/{alert_of(platform, GREEN_IP)}").get_data(as_text=True)  # any valid token
    resp = analyst.post(f"/alerts/{aid}/promote", data={"csrf_token": csrf_token(stale), "tlp": "clear",
                                                        "title": "another title"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/cases/{case_id}")
    page = analyst.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"L&#39;alerte n°{aid} est déjà dans le dossier n°{case_id}" in page
    api = analyst.post(f"/api/v1/alerts/{aid}/promote", json={"tlp": "clear", "title": "x"},
                       headers={"X-CSRFToken": csrf_token(page)})
    assert api.status_code == 409 and api.get_json()["case_id"] == case_id
    with platform.db.session() as s:
        case = s.get_one(Case, case_id)
        assert case.tlp == "red" and case.title != "another title"
        assert len(s.scalars(select(Case)).all()) == 1

    other = alert_of(platform, GREEN_IP)
    api = analyst.post(f"/api/v1/alerts/{other}/promote", json={"tlp": "clear"},
                       headers={"X-CSRFToken": csrf_token(page)})
    assert api.status_code == 201
    body = api.get_json()
    assert body["tlp"] == "green" and body["tlp_raised"]["sources"] == ["partner-green"]
