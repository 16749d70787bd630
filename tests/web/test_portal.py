"""The focal-point portal: a ministry's focal point reads its organisation's incidents as far as
each item's TLP allows, acknowledges, comments (inert, on the timeline), sends evidence (hashed,
kept with its custody, scanned with YARA: a match is an alert for the analysts) and answers the
countermeasures requested of it; in the console and through the API (its session, or a token
bound to its organisation). Everything in the reader's language, French by default."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from account_support import api_csrf, logged_in
from flask import Flask
from sqlalchemy import select
from support import DGPN, INTERIEUR, JUSTICE, csrf_token

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.incidents.cases import add_observable, add_timeline
from cert.incidents.comments import add_comment
from cert.runtime.platform import Platform
from cert.storage.models import (
    Alert,
    Attachment,
    AuditEntry,
    Case,
    CaseAcknowledgement,
    Countermeasure,
    CustodyEntry,
)
from web.app import create_app

PASSWORD = "a-long-password-1"
CHOPPER = b'<%@ Page Language="Jscript"%><%eval(Request.Item["z"],"unsafe");%>'


@dataclass
class Seeded:
    interieur: int
    justice: int
    red_dgpn: int
    cm_interieur: int
    cm_justice: int
    cm_proposed: int


@pytest.fixture
def plat(settings: Settings) -> Iterator[Platform]:
    p = Platform(replace(settings, plugins=("playbooks.steps", "detectors.indicators", "detectors.yara"),
                         yara_max_file_mb=1))
    p.db.upgrade()
    yield p
    p.close()


@pytest.fixture
def seeded(plat: Platform) -> Seeded:
    with plat.db.session() as s:
        c = plat.constituency
        create_user(s, "ana", PASSWORD, "analyst")
        create_user(s, "pf-interieur", PASSWORD, "focal_point", organization="min-interieur", constituency=c)
        create_user(s, "pf-police", PASSWORD, "focal_point", organization="dgpn", constituency=c)
        create_user(s, "pf-justice", PASSWORD, "focal_point", organization="min-justice", constituency=c)
        mine = Case(title="Messagerie compromise", title_tlp="amber", tlp="amber", severity="high",
                    description="Le serveur mx1 relaie du hameçonnage", organization=INTERIEUR, created_by="ana")
        other = Case(title="Greffe chiffré JUSTICE-ONLY", tlp="amber", description="rançongiciel JUSTICE-ONLY",
                     organization=JUSTICE, created_by="ana")
        red = Case(title="Fuite au cabinet RED-TITLE", title_tlp="red", tlp="red", description="RED-DESCRIPTION",
                   organization=DGPN, created_by="ana")
        s.add_all([mine, other, red])
        s.flush()
        add_observable(s, mine, "ip", "203.0.113.5", tlp="amber")
        add_observable(s, mine, "domain", "red-only.example", tlp="red")
        add_observable(s, red, "ip", "192.0.2.99", tlp="red")
        add_timeline(s, mine, "ana", "note", "Internal lead: red-only.example")
        add_timeline(s, mine, "ana", "note", "Note interne du CERT NOTE-ONLY")
        add_comment(s, mine, "ana", "Merci de bloquer 203.0.113.5")
        cms = [Countermeasure(case_id=mine.id, kind="block-ip", target="203.0.113.5", organization=INTERIEUR,
                              status="requested", created_by="ana"),
               Countermeasure(case_id=mine.id, kind="block-domain", target="justice-only.example",
                              organization=JUSTICE, status="requested", created_by="ana"),
               Countermeasure(case_id=mine.id, kind="patch", target="", organization=INTERIEUR,
                              status="proposed", comment="draft DRAFT-ONLY", created_by="ana")]
        s.add_all(cms)
        s.flush()
        return Seeded(mine.id, other.id, red.id, cms[0].id, cms[1].id, cms[2].id)


@pytest.fixture
def app(plat: Platform, seeded: Seeded) -> Flask:
    return create_app(platform=plat)


def text(resp: Any) -> str:
    return str(resp.get_data(as_text=True))


def post_form(client: Any, page_url: str, url: str, data: dict[str, Any], **kw: Any) -> Any:
    token = csrf_token(text(client.get(page_url)))
    return client.post(url, data={**data, "csrf_token": token}, **kw)


def test_the_list_shows_the_organisations_incidents_only(app: Flask, seeded: Seeded) -> None:
    fp = logged_in(app, "pf-interieur", PASSWORD)
    assert fp.get("/").headers["Location"].endswith("/portal/")  # a focal point lands on the portal
    page = text(fp.get("/portal/"))
    assert "Incidents de Ministère de l&#39;Intérieur" in page
    assert f'id="portal-incident-{seeded.interieur}"' in page and "Messagerie compromise" in page
    assert f'id="portal-incident-{seeded.red_dgpn}"' in page  # its directorate's
    assert "JUSTICE-ONLY" not in page and f'id="portal-incident-{seeded.justice}"' not in page
    assert "RED-TITLE" not in page and f"Incident #{seeded.red_dgpn}" in page  # a neutral title
    assert "pas encore" in page and "TLP:AMBER" in page and "sev-high" in page
    police = text(logged_in(app, "pf-police", PASSWORD).get("/portal/"))
    assert f'id="portal-incident-{seeded.red_dgpn}"' in police and "RED-TITLE" in police  # named by its RED
    assert f'id="portal-incident-{seeded.interieur}"' not in police and "Messagerie" not in police


def test_an_incident_page_shows_only_what_each_tlp_allows(app: Flask, seeded: Seeded) -> None:
    fp = logged_in(app, "pf-interieur", PASSWORD)
    page = text(fp.get(f"/portal/incidents/{seeded.interieur}"))
    assert "Le serveur mx1 relaie du hameçonnage" in page and "203.0.113.5" in page
    assert "Merci de bloquer 203.0.113.5" in page  # the analyst's comment
    assert "red-only.example" not in page  # a TLP:RED item of an AMBER incident, and the note naming it
    assert "NOTE-ONLY" not in page  # the CERT's notes
    assert f'id="countermeasure-{seeded.cm_interieur}"' in page
    assert "justice-only.example" not in page and "DRAFT-ONLY" not in page  # another's, and a draft
    # a RED incident: its own organisation is named by it; the ministry above it is not
    red = text(fp.get(f"/portal/incidents/{seeded.red_dgpn}"))
    assert "192.0.2.99" not in red and "RED-DESCRIPTION" not in red and "RED-TITLE" not in red
    police = text(logged_in(app, "pf-police", PASSWORD).get(f"/portal/incidents/{seeded.red_dgpn}"))
    assert "192.0.2.99" in police and "RED-DESCRIPTION" in police and "RED-TITLE" in police


def test_another_organisations_incident_does_not_exist(app: Flask, plat: Platform, seeded: Seeded) -> None:
    police = logged_in(app, "pf-police", PASSWORD)
    resp = police.get(f"/portal/incidents/{seeded.interieur}")  # its parent's
    assert resp.status_code == 404 and "Messagerie" not in text(resp)
    token = csrf_token(text(police.get("/portal/")))
    for url, data in ((f"/portal/incidents/{seeded.interieur}/acknowledge", {}),
                      (f"/portal/incidents/{seeded.interieur}/comments", {"text": "intrus"}),
                      (f"/portal/incidents/{seeded.interieur}/countermeasures/{seeded.cm_interieur}/answer",
                       {"status": "done"})):
        resp = police.post(url, data={**data, "csrf_token": token})
        assert resp.status_code == 404, url
    fp = logged_in(app, "pf-interieur", PASSWORD)
    resp = post_form(fp, "/portal/", f"/portal/incidents/{seeded.interieur}/countermeasures/{seeded.cm_justice}"
                     "/answer", {"status": "done"})
    assert resp.status_code == 404  # a countermeasure of its incident requested of another ministry
    with plat.db.session() as s:
        assert s.scalars(select(CaseAcknowledgement)).all() == []
        assert s.get_one(Countermeasure, seeded.cm_justice).status == "requested"
        assert not [t for t in s.get_one(Case, seeded.interieur).timeline if "intrus" in t.message]


def test_staff_and_partners_are_refused_the_portal(app: Flask, plat: Platform) -> None:
    ana = logged_in(app, "ana", PASSWORD)
    assert ana.get("/portal/").status_code == 403
    assert ana.get("/api/v1/portal/incidents").status_code == 403


def test_acknowledging_in_the_portal(app: Flask, plat: Platform, seeded: Seeded) -> None:
    fp = logged_in(app, "pf-interieur", PASSWORD)
    url = f"/portal/incidents/{seeded.interieur}"
    assert fp.post(f"{url}/acknowledge").status_code == 400  # no CSRF token
    resp = post_form(fp, url, f"{url}/acknowledge", {}, follow_redirects=True)
    page = text(resp)
    assert f"Réception de l&#39;incident #{seeded.interieur} accusée pour Ministère de l&#39;Intérieur." in page
    assert "Acquitté pour Ministère de l&#39;Intérieur par pf-interieur" in page
    resp = post_form(fp, url, f"{url}/acknowledge", {}, follow_redirects=True)
    assert "a déjà accusé réception de l" in text(resp)
    # the parent acts for its directorate on the directorate's incident
    post_form(fp, url, f"/portal/incidents/{seeded.red_dgpn}/acknowledge", {})
    with plat.db.session() as s:
        rows = {(r.case_id, r.organization, r.via, r.acknowledged_by) for r in s.scalars(select(CaseAcknowledgement))}
        assert rows == {(seeded.interieur, "min-interieur", "portal", "pf-interieur"),
                        (seeded.red_dgpn, "dgpn", "portal", "pf-interieur")}
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "case.acknowledge")).all()
    listing = text(fp.get("/portal/?lang=en"))
    assert "Incidents of Ministère de l&#39;Intérieur" in listing and "yes, " in listing
    analyst = text(logged_in(app, "ana", PASSWORD).get(url.replace("/portal/incidents", "/cases")))
    assert "Ministère de l&#39;Intérieur a accusé réception de l&#39;incident dans le portail." in analyst


def test_a_comment_lands_inert_on_the_timeline(app: Flask, plat: Platform, seeded: Seeded) -> None:
    fp = logged_in(app, "pf-interieur", PASSWORD)
    url = f"/portal/incidents/{seeded.interieur}"
    payload = "<script>alert(1)</script> bloqué à 14h"
    resp = post_form(fp, url, f"{url}/comments", {"text": payload}, follow_redirects=True)
    page = text(resp)
    assert "Votre commentaire est sur la chronologie de l&#39;incident." in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; bloqué à 14h" in page
    assert post_form(fp, url, f"{url}/comments", {"text": "  "}).status_code == 400
    analyst = text(logged_in(app, "ana", PASSWORD).get(f"/cases/{seeded.interieur}"))
    assert "de Ministère de l&#39;Intérieur : &lt;script&gt;" in analyst and "<script>alert(1)" not in analyst
    with plat.db.session() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "case.comment.add",
                                                   AuditEntry.actor == "pf-interieur")).one()
        assert audit.details["organization"] == INTERIEUR


def test_evidence_is_kept_hashed_and_scanned_for_the_analysts(app: Flask, plat: Platform, seeded: Seeded) -> None:
    fp = logged_in(app, "pf-interieur", PASSWORD)
    url = f"/portal/incidents/{seeded.interieur}"
    resp = post_form(fp, url, f"{url}/evidence", {"file": (io.BytesIO(CHOPPER), "shell.aspx")},
                     content_type="multipart/form-data", follow_redirects=True)
    page = text(resp)
    import hashlib

    digest = hashlib.sha256(CHOPPER).hexdigest()
    assert f"Preuve reçue (SHA-256 {digest})" in page and digest in page
    assert "Webshell_China_Chopper" not in page  # the CERT's rules stay with the CERT
    with plat.db.session() as s:
        att = s.scalars(select(Attachment)).one()
        assert (att.case_id, att.sha256, att.uploaded_by, att.tlp) == (seeded.interieur, digest, "pf-interieur",
                                                                        "amber")
        assert [(e.action, e.actor) for e in s.scalars(select(CustodyEntry))] == [("added", "pf-interieur")]
        [alert] = s.scalars(select(Alert)).all()
        assert alert.case_id == seeded.interieur and alert.rule_id == "yara:webshells.Webshell_China_Chopper"
    analyst = text(logged_in(app, "ana", PASSWORD).get(f"/cases/{seeded.interieur}"))
    assert "Webshell_China_Chopper" in analyst
    assert post_form(fp, url, f"{url}/evidence", {}).status_code == 400  # no file


def test_answering_a_requested_countermeasure(app: Flask, plat: Platform, seeded: Seeded) -> None:
    fp = logged_in(app, "pf-interieur", PASSWORD)
    url = f"/portal/incidents/{seeded.interieur}"
    answer = f"{url}/countermeasures/{seeded.cm_interieur}/answer"
    resp = post_form(fp, url, answer, {"status": "impossible", "reason": ""})
    assert resp.status_code == 400 and "demande un commentaire qui dit pourquoi" in text(resp)
    resp = post_form(fp, url, answer, {"status": "impossible", "reason": "Équipement hors support"},
                     follow_redirects=True)
    assert f"Contre-mesure #{seeded.cm_interieur} marquée impossible." in text(resp)
    resp = post_form(fp, url, answer, {"status": "done", "reason": ""})
    assert resp.status_code == 409  # answered already
    resp = post_form(fp, url, f"{url}/countermeasures/{seeded.cm_proposed}/answer", {"status": "done"})
    assert resp.status_code == 404  # a draft is not a request
    with plat.db.session() as s:
        cm = s.get_one(Countermeasure, seeded.cm_interieur)
        assert (cm.status, cm.comment) == ("impossible", "Équipement hors support")
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "case.countermeasure.status")).one().actor \
            == "pf-interieur"


def test_the_api_for_an_organisations_token_and_a_focal_points_session(app: Flask, plat: Platform,
                                                                         seeded: Seeded) -> None:
    with plat.db.session() as s:
        org = plat.constituency.by_id("min-justice")
        secret = create_token(s, "justice", "tests", actor="test", scopes=["read", "triage", "write"],
                              organization=org)[1]
        unbound = create_token(s, "cert-wide", "tests", actor="test", scopes=["read"])[1]
    client = app.test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    listing = client.get("/api/v1/portal/incidents", headers=auth).get_json()
    assert [i["id"] for i in listing["items"]] == [seeded.justice] and listing["total"] == 1
    assert listing["items"][0]["acknowledged"] is False
    assert client.get(f"/api/v1/portal/incidents/{seeded.interieur}", headers=auth).status_code == 404
    resp = client.post(f"/api/v1/portal/incidents/{seeded.justice}/acknowledge", headers=auth)
    assert resp.status_code == 201 and resp.get_json()["via"] == "api"
    assert resp.get_json()["organization"] == "min-justice"
    assert client.post(f"/api/v1/portal/incidents/{seeded.justice}/acknowledge", headers=auth).status_code == 200
    resp = client.post(f"/api/v1/portal/incidents/{seeded.justice}/comments", headers=auth,
                       json={"text": "Pris en charge"})
    assert resp.status_code == 201 and resp.get_json()["author"] == "token:justice"
    one = client.get(f"/api/v1/portal/incidents/{seeded.justice}?lang=en", headers=auth).get_json()
    assert one["acknowledged"] is True and one["description"] == "rançongiciel JUSTICE-ONLY"
    assert any("Comment #" in t["message"] and "Pris en charge" in t["message"] for t in one["timeline"])
    resp = client.post(f"/api/v1/portal/incidents/{seeded.justice}/evidence", headers=auth,
                       data={"file": (io.BytesIO(b"log line\n"), "auth.log")}, content_type="multipart/form-data")
    assert resp.status_code == 201 and len(resp.get_json()["sha256"]) == 64
    resp = client.get("/api/v1/portal/incidents", headers={"Authorization": f"Bearer {unbound}"})
    assert resp.status_code == 404 and resp.get_json()["error"] == "not_found"
    # the focal point's own session, with its CSRF header
    fp = logged_in(app, "pf-interieur", PASSWORD)
    answer = f"/api/v1/portal/incidents/{seeded.interieur}/countermeasures/{seeded.cm_interieur}/answer"
    assert fp.post(answer, json={"status": "done"}).status_code == 400  # no CSRF header
    resp = fp.post(answer, json={"status": "done", "reason": "Bloqué sur le pare-feu"}, headers=api_csrf(fp))
    assert resp.status_code == 200 and resp.get_json()["status"] == "done"
    assert resp.get_json()["answerable"] is False
    resp = fp.post(f"/api/v1/portal/incidents/{seeded.interieur}/countermeasures/{seeded.cm_justice}/answer",
                   json={"status": "done"}, headers=api_csrf(fp))
    assert resp.status_code == 404
