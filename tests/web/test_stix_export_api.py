"""The STIX 2.1 export of an incident through the API: a TLP:GREEN partner gets a bundle the OASIS
validator accepts with the GREEN and CLEAR indicators and nothing else (no AMBER or RED value,
no title, no description anywhere in the answer); the export is audited with the partner and the
ids and values sent; a second export gives the same ids; an unknown partner is a 404 naming it,
an incident with nothing to share a 409 in French, another organisation's token a 404."""

from __future__ import annotations

import json

from account_support import logged_in
from flask import Flask
from sqlalchemy import select
from stix2validator import ValidationOptions, validate_instance
from support import INTERIEUR

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, Case
from web.app import create_app

PASSWORD = "a-long-password-1"


def test_the_stix_bundle_for_a_green_partner(platform: Platform) -> None:
    c = platform.constituency
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
        token = create_token(s, "soc-justice", "tests", actor="test", scopes=["read"],
                             organization=c.find("min-justice"))[1]
        case = Case(title="Fuite chez le ministre X", title_tlp="amber", tlp="amber", pap="green",
                    description="Le compte de M. Y (AMBER)", created_by="ana", organization=INTERIEUR)
        red = Case(title="Rouge", title_tlp="red", tlp="red", pap="red", description="", created_by="ana",
                   organization=INTERIEUR)
        s.add_all([case, red])
        s.flush()
        for kind, value, tlp in (("ip", "198.51.100.10", "clear"), ("domain", "green-c2.example", "green"),
                                 ("ip", "203.0.113.20", "amber"), ("domain", "strict.example", "amber+strict"),
                                 ("ip", "192.0.2.30", "red")):
            add_observable(s, case, kind, value, tlp=tlp)
        add_observable(s, red, "ip", "192.0.2.31", tlp="red")
        case_id, red_id = case.id, red.id
    app: Flask = create_app(platform=platform)
    ana = logged_in(app, "ana", PASSWORD)
    got = ana.get(f"/api/v1/incidents/{case_id}/stix?partner=cert-voisin")
    assert got.status_code == 200
    text, bundle = got.get_data(as_text=True), got.get_json()
    result = validate_instance(bundle, ValidationOptions(strict=False))
    assert result.is_valid and not result.errors, [str(e) for e in result.errors]
    for secret in ("203.0.113.20", "strict.example", "192.0.2.30", "ministre X", "M. Y"):
        assert secret not in text
    indicators = {o["id"]: o["pattern"] for o in bundle["objects"] if o["type"] == "indicator"}
    assert sorted(indicators.values()) == ["[domain-name:value = 'green-c2.example']",
                                           "[ipv4-addr:value = '198.51.100.10']"]
    with platform.db.session() as s:
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "sharing.stix_export"))
        assert entry.actor == "ana" and entry.object_id == str(case_id)
        assert entry.details["partner"] == "cert-voisin"
        assert {(i["id"], i["value"]) for i in entry.details["items"]} == {
            (ident, p.split("'")[1]) for ident, p in indicators.items()}
    again = ana.get(f"/api/v1/incidents/{case_id}/stix?partner=cert-voisin").get_json()
    assert {o["id"] for o in again["objects"]} == {o["id"] for o in bundle["objects"]}
    unknown = ana.get(f"/api/v1/incidents/{case_id}/stix?partner=nobody")
    assert unknown.status_code == 404 and "nobody" in unknown.get_json()["message"]
    refused = ana.get(f"/api/v1/incidents/{case_id}/stix?partner=cert-regional", headers={"Accept-Language": "fr"})
    assert refused.status_code == 403  # its terms list the MISP feed and TAXII only
    assert refused.get_json()["message"] == ("Le partenaire cert-regional ne reçoit pas stix (ses canaux : misp-feed, "
                                             "taxii).")
    nothing = ana.get(f"/api/v1/incidents/{red_id}/stix?partner=cert-voisin", headers={"Accept-Language": "fr"})
    assert nothing.status_code == 409 and "192.0.2.31" not in nothing.get_data(as_text=True)
    assert nothing.get_json()["message"] == f"Rien de l'incident {red_id} ne peut sortir pour ce partenaire."
    other = app.test_client().get(f"/api/v1/incidents/{case_id}/stix?partner=cert-voisin",
                                  headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 404


def test_the_bundle_carries_the_certs_sightings_as_observed_data(platform: Platform) -> None:
    """Vigie saw a shared value in two alerts of the incident: the bundle holds the value as a
    cyber-observable, its observed data (first and last observed, two observations) and the CERT's
    sighting of the indicator; an alert of a partner's AMBER indicator gives no sighting to a
    GREEN partner, and the ministry is named nowhere."""
    from datetime import UTC, datetime, timedelta

    from cert.storage.models import Alert

    t0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
        case = Case(title="Brute force", title_tlp="green", tlp="green", pap="green", description="",
                    created_by="ana", organization=INTERIEUR)
        s.add(case)
        s.flush()
        add_observable(s, case, "ip", "198.51.100.10", tlp="green")
        add_observable(s, case, "domain", "quiet.example", tlp="green")
        for hours, tlp, entities in ((0, "green", {"source.ip": "198.51.100.10"}),
                                     (5, "clear", {"source.ip": "198.51.100.10", "host.name": "srv-1"}),
                                     (9, "green", {"indicator": {"value": "quiet.example", "tlp": "amber"}})):
            s.add(Alert(rule_id="r", rule_title="alert", detector="sigma", severity="high", case_id=case.id,
                        tlp=tlp, entities=entities, first_seen=t0 + timedelta(hours=hours),
                        last_seen=t0 + timedelta(hours=hours, minutes=20), status="promoted"))
        case_id = case.id
    app: Flask = create_app(platform=platform)
    ana = logged_in(app, "ana", PASSWORD)
    got = ana.get(f"/api/v1/incidents/{case_id}/stix?partner=cert-voisin")
    assert got.status_code == 200
    bundle = got.get_json()
    assert validate_instance(bundle, ValidationOptions(version="2.1")).is_valid
    by_type: dict[str, list[dict[str, object]]] = {}
    for obj in bundle["objects"]:
        by_type.setdefault(str(obj["type"]), []).append(obj)
    assert [o["value"] for o in by_type["ipv4-addr"]] == ["198.51.100.10"] and "domain-name" not in by_type
    (observed,) = by_type["observed-data"]
    assert observed["number_observed"] == 2 and observed["object_refs"] == [by_type["ipv4-addr"][0]["id"]]
    assert observed["first_observed"] == "2026-11-02T08:00:00Z" and observed["last_observed"] == "2026-11-02T13:20:00Z"
    (sighting,) = by_type["sighting"]
    (identity,) = by_type["identity"]
    indicator = next(o for o in by_type["indicator"] if "198.51.100.10" in str(o["pattern"]))
    assert sighting["sighting_of_ref"] == indicator["id"] and sighting["count"] == 2
    assert sighting["where_sighted_refs"] == [identity["id"]] and identity["name"] == platform.settings.org_name
    raw = json.dumps(bundle, ensure_ascii=False)
    assert INTERIEUR not in raw and "Intérieur" not in raw and "srv-1" not in raw
