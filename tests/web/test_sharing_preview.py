"""What of an incident would leave for a partner CERT, through the API: the partners and their
terms, the preview for a TLP:GREEN partner of an incident of mixed markings (its GREEN and CLEAR
indicators only; neutral title; no free text; each withheld item with its reason in French), an
unknown partner a 404, another organisation's token a 404, a focal point a 403."""

from __future__ import annotations

import json

from account_support import logged_in
from flask import Flask
from support import INTERIEUR

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.storage.models import Case
from web.app import create_app

PASSWORD = "a-long-password-1"


def test_the_preview_for_a_green_partner(platform: Platform) -> None:
    c = platform.constituency
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
        create_user(s, "pf-justice", PASSWORD, "focal_point", organization="min-justice", constituency=c)
        token = create_token(s, "soc-justice", "tests", actor="test", scopes=["read"],
                             organization=c.find("min-justice"))[1]
        case = Case(title="Fuite chez le ministre X", title_tlp="amber", tlp="amber", pap="green",
                    description="Le compte de M. Y (AMBER)", created_by="ana", organization=INTERIEUR)
        s.add(case)
        s.flush()
        for kind, value, tlp in (("ip", "198.51.100.10", "clear"), ("domain", "green-c2.example", "green"),
                                 ("ip", "203.0.113.20", "amber"), ("ip", "192.0.2.30", "red")):
            add_observable(s, case, kind, value, tlp=tlp)
        case_id = case.id
    app: Flask = create_app(platform=platform)
    ana = logged_in(app, "ana", PASSWORD)
    partners = {p["id"]: p for p in ana.get("/api/v1/partners").get_json()["items"]}
    assert partners["cert-voisin"]["tlp_ceiling"] == "green" and "email" in partners["cert-voisin"]["channels"]
    got = ana.get(f"/api/v1/incidents/{case_id}/sharing-preview?partner=cert-voisin")
    assert got.status_code == 200
    body = got.get_json()
    assert body["leaves"] and body["terms"] == "TLP:GREEN/PAP:GREEN"
    assert [i["value"] for i in body["items"]] == ["198.51.100.10", "green-c2.example"]
    assert body["title"] == f"Incident #{case_id}" and body["title_neutral"] and body["description"] == ""
    reasons = {w["value"]: w["reason"] for w in body["withheld"]}
    assert reasons == {"203.0.113.20": "TLP:AMBER est au-dessus du plafond du destinataire TLP:GREEN",
                       "192.0.2.30": "TLP:RED ne sort jamais dans un partage"}
    sent = json.dumps({k: body[k] for k in ("title", "description", "items")})
    assert not any(secret in sent for secret in ("203.0.113.20", "192.0.2.30", "ministre X", "M. Y", INTERIEUR))
    regional = ana.get(f"/api/v1/incidents/{case_id}/sharing-preview?partner=cert-regional").get_json()
    assert [i["value"] for i in regional["items"]] == ["198.51.100.10", "green-c2.example", "203.0.113.20"]
    assert regional["title"] == "Fuite chez le ministre X" and not regional["title_neutral"]
    unknown = ana.get(f"/api/v1/incidents/{case_id}/sharing-preview?partner=nobody")
    assert unknown.status_code == 404 and "nobody" in unknown.get_json()["message"]
    client = app.test_client()
    other = client.get(f"/api/v1/incidents/{case_id}/sharing-preview?partner=cert-voisin",
                       headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 404
    focal = logged_in(app, "pf-justice", PASSWORD)
    assert focal.get("/api/v1/partners").status_code == 403
