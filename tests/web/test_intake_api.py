"""The incident reports' REST API (/api/v1/incident-reports): filed by a tool with an ``ingest``
token, from an alert, read within an organisation's scope, linked to incidents (their timelines
in French, the TLP raise), rejected only with a reason (a French 400), reopened, and an incident
opened from one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from account_support import api_csrf, logged_in
from flask import Flask
from support import DGPN, INTERIEUR, JUSTICE, seed_by_organization

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.sharing.actions import publish
from cert.storage.models import Alert, AuditEntry, Case
from web.app import create_app

PASSWORD = "a-long-password-1"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def app(platform: Platform) -> Flask:
    with platform.db.session() as s:
        c = platform.constituency
        create_user(s, "ana", PASSWORD, "analyst")
        create_user(s, "pf-interieur", PASSWORD, "focal_point", organization="min-interieur", constituency=c)
    return create_app(platform=platform)


def token(platform: Platform, name: str, scopes: list[str], organization: str | None = None) -> dict[str, str]:
    with platform.db.session() as s:
        org = platform.constituency.find(organization) if organization else None
        secret = create_token(s, name, "tests", actor="test", scopes=scopes, organization=org)[1]
    return {"Authorization": f"Bearer {secret}"}


def analyst(app: Flask) -> tuple[Any, dict[str, str]]:
    client = logged_in(app, "ana", PASSWORD)
    return client, api_csrf(client)


def file(client: Any, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/incident-reports", json={"subject": "Hameçonnage", **body}, headers=headers)


def new_case(platform: Platform, title: str, tlp: str = "amber", organization: str | None = None) -> int:
    with platform.db.session() as s:
        case = Case(title=title, tlp=tlp, organization=organization, created_by="test")
        s.add(case)
        s.flush()
        return case.id


def test_a_sensor_files_a_report_with_an_ingest_token(platform: Platform, app: Flask) -> None:
    client = app.test_client()
    sensor = token(platform, "sensor", ["ingest"])
    resp = file(client, sensor, body=HOSTILE, reporter="ids-01", organization="min-justice", tlp="green")
    assert resp.status_code == 201, resp.get_json()
    report = resp.get_json()
    assert (report["source"], report["status"], report["organization"], report["tlp"], report["created_by"]) == (
        "api", "new", JUSTICE, "green", "token:sensor")
    assert report["body"] == HOSTILE and report["incidents"] == []  # plain text, exactly as sent
    assert resp.headers["Content-Type"].startswith("application/json")
    with platform.db.session() as s:
        assert s.query(AuditEntry).filter_by(action="report.create", object_id=str(report["id"])).count() == 1
    # an ingest token reads nothing and decides nothing
    assert client.get(f"/api/v1/incident-reports/{report['id']}", headers=sensor).status_code == 403
    assert client.post(f"/api/v1/incident-reports/{report['id']}/reject", json={"reason": "x"},
                       headers=sensor).status_code == 403


def test_bad_reports_are_400s_in_french(platform: Platform, app: Flask) -> None:
    client, csrf = analyst(app)
    for body, expected in (({"subject": ""}, "subject"), ({"subject": "x" * 301}, "subject"),
                           ({"subject": "x", "body": "x" * 100_001}, "100000"), ({"subject": "x", "extra": 1}, "extra"),
                           ({"subject": "x", "tlp": "orange"}, "TLP"),
                           ({"subject": "x", "organization": "ailleurs"}, "ailleurs")):
        resp = client.post("/api/v1/incident-reports", json=body, headers=csrf)
        assert resp.status_code == 400, body
        answer = resp.get_json()
        assert answer["error"] == "bad_request" and expected in answer["message"], answer
    resp = client.post("/api/v1/incident-reports", json={"subject": "x", "organization": "ailleurs"}, headers=csrf)
    assert resp.get_json()["message"] == "Aucune organisation ailleurs dans le périmètre du CERT."


def test_an_organisation_token_files_for_its_organisation_only(platform: Platform, app: Flask) -> None:
    client = app.test_client()
    partner_tool = token(platform, "interieur-tool", ["ingest"], organization="min-interieur")
    own = file(client, partner_tool)
    assert own.status_code == 201 and own.get_json()["organization"] == INTERIEUR  # its own by default
    assert file(client, partner_tool, organization="dgpn").get_json()["organization"] == DGPN  # under it
    refused = file(client, partner_tool, organization="min-justice")
    assert refused.status_code == 403
    assert refused.get_json()["message"] == ("Vous ne pouvez déposer de signalement que pour votre propre "
                                             "organisation.")


def test_focal_points_and_organisation_tokens_see_only_their_reports(platform: Platform, app: Flask) -> None:
    client, csrf = analyst(app)
    ids = {org: file(client, csrf, subject=f"report {org}", organization=org).get_json()["id"]
           for org in (INTERIEUR, DGPN, JUSTICE)}
    ids[None] = file(client, csrf, subject="no organisation").get_json()["id"]
    staff = client.get("/api/v1/incident-reports").get_json()
    assert staff["total"] == 4
    focal = logged_in(app, "pf-interieur", PASSWORD)
    reader = token(platform, "interieur-reader", ["read"], organization="min-interieur")
    for who, headers in ((focal, {}), (app.test_client(), reader)):
        listing = who.get("/api/v1/incident-reports", headers=headers).get_json()
        assert {r["organization"] for r in listing["items"]} == {INTERIEUR, DGPN} and listing["total"] == 2
        assert who.get(f"/api/v1/incident-reports/{ids[DGPN]}", headers=headers).status_code == 200
        for org in (JUSTICE, None):
            resp = who.get(f"/api/v1/incident-reports/{ids[org]}", headers=headers)
            assert resp.status_code == 404 and resp.get_json()["error"] == "not_found"
            assert resp.get_json()["message"] == f"Le signalement d'incident n° {ids[org]} n'existe pas."
        justice = who.get("/api/v1/incident-reports?organization=min-justice", headers=headers).get_json()
        assert justice["total"] == 0
    # a focal point reads, but does not decide
    resp = focal.post(f"/api/v1/incident-reports/{ids[DGPN]}/reject", json={"reason": "x"}, headers=api_csrf(focal))
    assert resp.status_code == 403


def test_the_list_filters_and_pages(platform: Platform, app: Flask) -> None:
    client, csrf = analyst(app)
    first = file(client, csrf, subject="Défiguration", organization="min-justice").get_json()["id"]
    second = file(client, csrf, subject="Rançongiciel", body="fichiers chiffrés").get_json()["id"]
    client.post(f"/api/v1/incident-reports/{first}/reject", json={"reason": "test"}, headers=csrf)

    def listed(qs: str) -> list[int]:
        resp = client.get(f"/api/v1/incident-reports?{qs}")
        assert resp.status_code == 200, resp.get_json()
        return [r["id"] for r in resp.get_json()["items"]]

    assert listed("") == [second, first]
    assert listed("status=rejected") == [first] and listed("status=new") == [second]
    assert listed("organization=min-justice") == [first] and listed(f"organization={JUSTICE}") == [first]
    assert listed("q=chiffr") == [second] and listed("source=api") == [second, first]
    assert listed("source=alert") == []
    assert listed("limit=1&offset=1") == [first]
    assert client.get("/api/v1/incident-reports?status=open").status_code == 400
    # nothing a database refuses reaches it: a NUL is a 400 that says so
    for qs in ("organization=%00", "q=%00%ED"):
        refused = client.get(f"/api/v1/incident-reports?{qs}")
        assert refused.status_code == 400 and "NUL" in refused.get_json()["message"]


def test_linking_to_two_incidents_shows_on_both_french_timelines(platform: Platform, app: Flask) -> None:
    client, csrf = analyst(app)
    report = file(client, csrf, subject="Fuite <b>de</b> données").get_json()["id"]
    one, two = new_case(platform, "un"), new_case(platform, "deux")
    resp = client.post(f"/api/v1/incident-reports/{report}/links", json={"incidents": [one, two]}, headers=csrf)
    assert resp.status_code == 200, resp.get_json()
    answer = resp.get_json()
    assert answer["status"] == "linked" and [c["id"] for c in answer["incidents"]] == [one, two]
    assert answer["tlp_raised"] == []
    for case_id in (one, two):
        page = client.get(f"/cases/{case_id}").get_data(as_text=True)
        assert f"Signalement d&#39;incident n° {report} lié : Fuite &lt;b&gt;de&lt;/b&gt; données" in page
        assert "<b>de</b>" not in page
    english = client.get(f"/cases/{one}?lang=en").get_data(as_text=True)
    assert f"Incident report #{report} linked: Fuite &lt;b&gt;de&lt;/b&gt; données" in english
    client.get("/cases/?lang=fr")
    missing = client.post(f"/api/v1/incident-reports/{report}/links", json={"incidents": [999_999]}, headers=csrf)
    assert missing.status_code == 404 and missing.get_json()["message"] == "L'incident n° 999999 n'existe pas."
    for bad in ({"incidents": []}, {"incidents": [0]}, {"incidents": "1"}, {}):
        resp = client.post(f"/api/v1/incident-reports/{report}/links", json=bad, headers=csrf)
        assert resp.status_code == 400, bad
    gone = client.delete(f"/api/v1/incident-reports/{report}/links/{one}", headers=csrf)
    assert gone.status_code == 200 and [c["id"] for c in gone.get_json()["incidents"]] == [two]
    assert client.delete(f"/api/v1/incident-reports/{report}/links/{one}", headers=csrf).status_code == 404


def test_linking_a_red_report_raises_the_incident_and_says_so(platform: Platform, app: Flask) -> None:
    client, csrf = analyst(app)
    report = file(client, csrf, subject="Indicateurs d'un partenaire", tlp="red").get_json()["id"]
    amber = new_case(platform, "ambre", "amber")
    resp = client.post(f"/api/v1/incident-reports/{report}/links", json={"incidents": [amber]}, headers=csrf)
    raised = resp.get_json()["tlp_raised"]
    assert raised == [{"incident": amber, "old": "amber", "new": "red", "message": (
        f"Le TLP de l'incident n° {amber} a été relevé de TLP:AMBER à TLP:RED, celui du signalement.")}]
    assert client.get(f"/api/v1/cases/{amber}").get_json()["tlp"] == "red"
    page = client.get(f"/cases/{amber}").get_data(as_text=True)
    assert f"TLP relevé de TLP:AMBER à TLP:RED à cause du signalement d&#39;incident n° {report}." in page


def test_reject_needs_a_reason_and_reopen_undoes_it(platform: Platform, app: Flask) -> None:
    client, csrf = analyst(app)
    report = file(client, csrf).get_json()["id"]
    url = f"/api/v1/incident-reports/{report}"
    for body in ({"reason": ""}, {"reason": "   "}):
        resp = client.post(f"{url}/reject", json=body, headers=csrf)
        assert resp.status_code == 400 and resp.get_json()["message"] == "Rejeter un signalement nécessite un motif."
    missing = client.post(f"{url}/reject", json={}, headers=csrf)
    assert missing.status_code == 400
    assert missing.get_json()["message"] == "La requête n'est pas valide : reason: est obligatoire."
    english = client.post(f"{url}/reject", json={"reason": ""}, headers={**csrf, "Accept-Language": "en"})
    assert english.get_json()["message"] == "Rejecting a report needs a reason."
    assert client.get(url).get_json()["status"] == "new"
    rejected = client.post(f"{url}/reject", json={"reason": "campagne de test interne"}, headers=csrf).get_json()
    assert (rejected["status"], rejected["rejection_reason"]) == ("rejected", "campagne de test interne")
    conflict = client.post(f"{url}/links", json={"incidents": [new_case(platform, "x")]}, headers=csrf)
    assert conflict.status_code == 409
    assert client.post(f"{url}/reopen", headers=csrf).get_json()["status"] == "new"
    assert client.post(f"{url}/reopen", headers=csrf).status_code == 409


def test_an_incident_opened_from_a_report_is_linked_to_it(platform: Platform, app: Flask) -> None:
    client, csrf = analyst(app)
    report = file(client, csrf, subject="Compte compromis", body="détails", organization="dgpn",
                  tlp="amber+strict").get_json()["id"]
    resp = client.post(f"/api/v1/incident-reports/{report}/incident", json={"severity": "high"}, headers=csrf)
    assert resp.status_code == 201, resp.get_json()
    case = resp.get_json()
    assert (case["title"], case["tlp"], case["title_tlp"], case["organization"], case["severity"]) == (
        "Compte compromis", "amber+strict", "amber+strict", DGPN, "high")
    linked = client.get(f"/api/v1/incident-reports/{report}").get_json()
    assert linked["status"] == "linked" and [c["id"] for c in linked["incidents"]] == [case["id"]]
    page = client.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert f"Incident ouvert à partir du signalement d&#39;incident n° {report} : Compte compromis" in page
    defaults = client.post(f"/api/v1/incident-reports/{report}/incident", json={}, headers=csrf)
    assert defaults.status_code == 201 and defaults.get_json()["severity"] == "medium"


def test_the_report_of_an_alert(platform: Platform, app: Flask) -> None:
    ids = seed_by_organization(platform)
    alert_id = ids[INTERIEUR][0]
    with platform.db.session() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        alert.tlp, alert.source_ip, alert.last_seen = "green", "198.51.100.7", datetime.now(UTC)
    triage = token(platform, "triage", ["triage"])
    client = app.test_client()
    resp = client.post(f"/api/v1/alerts/{alert_id}/report", headers=triage)
    assert resp.status_code == 201, resp.get_json()
    report = resp.get_json()
    assert (report["source"], report["alert_id"], report["subject"], report["organization"], report["tlp"]) == (
        "alert", alert_id, f"alert {INTERIEUR}", INTERIEUR, "green")
    assert "source.ip: 198.51.100.7" in report["body"]
    again = client.post(f"/api/v1/alerts/{alert_id}/report", headers=triage)
    assert again.status_code == 409 and again.get_json()["report_id"] == report["id"]
    assert again.get_json()["message"] == f"L'alerte n° {alert_id} a déjà le signalement d'incident n° {report['id']}."
    scoped = token(platform, "triage-interieur", ["triage"], organization="min-interieur")
    assert client.post(f"/api/v1/alerts/{ids[JUSTICE][0]}/report", headers=scoped).status_code == 404


def test_a_tlp_raise_by_a_report_withdraws_the_incidents_misp_event(platform: Platform, app: Flask) -> None:
    with platform.db.session() as s:
        case = Case(title="scan", tlp="green", created_by="test")
        s.add(case)
        s.flush()
        add_observable(s, case, "ip", "203.0.113.77", tlp="green")
        case_id = case.id
    uuid = publish(platform, case_id, "ana", "misp-feed").reference
    feed = platform.settings.feed_dir
    assert (feed / f"{uuid}.json").exists()
    client, csrf = analyst(app)
    report = file(client, csrf, subject="Indicateur rouge d'un partenaire", tlp="red").get_json()["id"]
    resp = client.post(f"/api/v1/incident-reports/{report}/links", json={"incidents": [case_id]}, headers=csrf)
    assert resp.status_code == 200 and resp.get_json()["tlp_raised"][0]["new"] == "red"
    assert not (feed / f"{uuid}.json").exists()  # the case may no longer leave: its event is withdrawn
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert f"Événement MISP {uuid} retiré du flux : le dossier est maintenant TLP:RED" in page
