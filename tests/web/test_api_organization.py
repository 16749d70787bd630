"""The organisation of an event posted to the ingest API comes from the constituency or the sending
token, never from the event itself: a sender cannot make an alert belong to a ministry (and have
its focal point notified)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from cert.accounts.tokens import create_token
from cert.core.tlp import TLP
from cert.detection.indicators.store import IndicatorRecord, upsert
from cert.detection.run import run_detection
from cert.incidents.cases import promote_alert
from cert.response.runs import execute_run, request_run
from cert.runtime.platform import Platform
from cert.storage.models import Alert, Notification
from web.app import create_app

INTERIEUR = "Ministère de l'Intérieur"


def _post(p: Platform, secret: str, *events: dict[str, Any]) -> None:
    body = b"\n".join(orjson.dumps(e) for e in events) + b"\n"
    resp = create_app(platform=p).test_client().post(
        "/api/v1/events", data=body, headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 200, resp.get_json()


def _known_bad(p: Platform, ip: str) -> None:
    with p.db.session() as s:
        upsert(s, "partner-green", [IndicatorRecord("ip", ip, tlp=TLP.GREEN, confidence=90)])


def _event(ip: str, dest: str, **extra: Any) -> dict[str, Any]:
    return {"@timestamp": "2026-03-01T10:00:00Z", "source": {"ip": ip}, "destination": {"ip": dest},
            "event": {"category": ["network"]}, **extra}


def _alert(p: Platform, ip: str) -> Alert:
    with p.db.session() as s:
        alert = s.scalar(select(Alert).where(Alert.source_ip == ip))
        assert alert is not None
        s.expunge(alert)
        return alert


def test_a_claimed_organization_is_not_believed_and_nobody_is_notified(platform: Platform) -> None:
    with platform.db.session() as s:
        secret = create_token(s, "shipper", "someone", actor="test")[1]
    _known_bad(platform, "203.0.113.77")
    _known_bad(platform, "203.0.113.78")
    _post(platform, secret,
          _event("203.0.113.77", "192.0.2.10", organization={"name": INTERIEUR, "id": "min-interieur"}),
          # an address of the constituency decides, whatever the event says
          _event("203.0.113.78", "10.11.0.5", organization={"name": INTERIEUR}))
    run_detection(platform)

    outside = _alert(platform, "203.0.113.77")
    assert outside.organization is None
    assert _alert(platform, "203.0.113.78").organization == "Ministère de la Justice"
    [stored] = platform.events.get(outside.event_ids)
    assert "organization" not in stored and stored["vigie"]["claimed_organization"] == INTERIEUR

    with platform.db.session() as s:
        alert = s.get_one(Alert, outside.id)
        case = promote_alert(s, alert, [stored], "ana", platform.constituency, tlp="amber")
        assert case.organization is None
        run_id = request_run(platform, s, case, "brute-force-response", "resp").id
    execute_run(platform, run_id)
    with platform.db.session() as s:
        assert s.scalars(select(Notification)).all() == []  # no focal point was written to


def test_a_token_of_an_organization_gives_it_to_events_outside_the_constituency(platform: Platform) -> None:
    with platform.db.session() as s:
        org = platform.constituency.find("min-finances")
        secret = create_token(s, "soc-finances", "soc", actor="test", organization=org)[1]
    _known_bad(platform, "203.0.113.79")
    _post(platform, secret, _event("203.0.113.79", "192.0.2.11", organization={"name": INTERIEUR}))
    run_detection(platform)
    assert _alert(platform, "203.0.113.79").organization == "Ministère des Finances"
