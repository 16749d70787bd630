"""Publishing an incident to partner CERTs through the API: published to the partners named (or to
every partner taking a served channel), each publication audited with the values that partner
receives, listed with what leaves now; withdrawn on request; raising the incident to TLP:RED
withdraws it from every partner, on its timeline; an incident with nothing shareable is refused
with the reason in French."""

from __future__ import annotations

from account_support import logged_in
from flask import Flask
from sqlalchemy import select
from support import INTERIEUR, csrf_token

from cert.accounts.users import create_user
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.sharing.publications import published_for
from cert.storage.models import AuditEntry, Case, TimelineEntry
from web.app import create_app

PASSWORD = "a-long-password-1"


def _mixed_case(platform: Platform) -> int:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
        case = Case(title="Fuite chez le ministre X", title_tlp="amber", tlp="amber", pap="green",
                    description="Le compte de M. Y", created_by="ana", organization=INTERIEUR)
        s.add(case)
        s.flush()
        for kind, value, tlp in (("ip", "198.51.100.10", "clear"), ("domain", "green-c2.example", "green"),
                                 ("ip", "203.0.113.20", "amber"), ("ip", "192.0.2.30", "red")):
            add_observable(s, case, kind, value, tlp=tlp)
        return case.id


def test_publish_list_withdraw_and_red_withdraws(platform: Platform) -> None:
    case_id = _mixed_case(platform)
    app: Flask = create_app(platform=platform)
    ana = logged_in(app, "ana", PASSWORD)
    csrf = {"X-CSRFToken": csrf_token(ana.get("/alerts/").get_data(as_text=True))}
    assert ana.post(f"/api/v1/incidents/{case_id}/publications", json={}).status_code == 400  # no CSRF token
    done = ana.post(f"/api/v1/incidents/{case_id}/publications", json={}, headers=csrf)
    assert done.status_code == 200, done.get_json()
    items = {p["partner"]: p for p in done.get_json()["items"]}
    assert set(items) == {"cert-voisin", "cert-regional"}
    assert items["cert-voisin"]["items"] == 2 and items["cert-regional"]["items"] == 3
    assert all(p["live"] and p["published_by"] == "ana" for p in items.values())
    with platform.db.session() as s:
        sent = {e.details["partner"]: e.details for e in
                s.scalars(select(AuditEntry).where(AuditEntry.action == "sharing.publish"))}
        assert sent["cert-voisin"]["items"] == ["ip:198.51.100.10", "domain:green-c2.example"]
        assert sent["cert-voisin"]["title"] == f"Incident #{case_id}"
        assert "ip:203.0.113.20" in sent["cert-regional"]["items"]
        assert [c.id for _p, c in published_for(s, "cert-voisin")] == [case_id]
    again = ana.post(f"/api/v1/incidents/{case_id}/publications/withdraw", json={"partners": ["cert-voisin"]},
                     headers={**csrf, "Accept-Language": "fr"})
    live = {p["partner"]: p["live"] for p in again.get_json()["items"]}
    assert live == {"cert-voisin": False, "cert-regional": True}
    with platform.db.session() as s:
        assert published_for(s, "cert-voisin") == []
    twice = ana.post(f"/api/v1/incidents/{case_id}/publications/withdraw", json={"partners": ["cert-voisin"]},
                     headers={**csrf, "Accept-Language": "fr"})
    assert twice.status_code == 404 and "n'est pas publié" in twice.get_json()["message"]
    red = ana.post(f"/api/v1/cases/{case_id}/tlp", json={"tlp": "red"}, headers=csrf)
    assert red.status_code == 200
    listed = ana.get(f"/api/v1/incidents/{case_id}/publications").get_json()["items"]
    assert not any(p["live"] for p in listed)
    with platform.db.session() as s:
        assert published_for(s, "cert-regional") == []
        kinds = [t.data.get("partners") for t in s.scalars(select(TimelineEntry).where(
            TimelineEntry.case_id == case_id, TimelineEntry.kind == "sharing"))]
        assert ["cert-regional"] in kinds
    with platform.db.session() as s:
        only_red = Case(title="t", tlp="amber", created_by="ana")
        s.add(only_red)
        s.flush()
        add_observable(s, only_red, "ip", "192.0.2.31", tlp="red")
        red_id = only_red.id
    refused = ana.post(f"/api/v1/incidents/{red_id}/publications", json={"partners": ["cert-regional"]},
                       headers={**csrf, "Accept-Language": "fr"})
    assert refused.status_code == 400
    message = refused.get_json()["message"]
    assert "Rien de cet incident" in message and "cert-regional" in message
    unknown = ana.post(f"/api/v1/incidents/{case_id}/publications", json={"partners": ["nobody"]}, headers=csrf)
    assert unknown.status_code == 404
