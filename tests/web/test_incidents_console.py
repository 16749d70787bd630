"""Running an incident in the console and the API: opening one from a template, editing each
field (what the page shows, and a timeline entry in French by default and in English on
request), closing with a resolution, reopening, merging, and the incident list's filters."""

from __future__ import annotations

import html
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from account_support import api_csrf, logged_in
from flask import Flask
from sqlalchemy import select
from support import DGPN, INTERIEUR, JUSTICE, csrf_token

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.incidents.templates import ensure_defaults
from cert.runtime.platform import Platform
from cert.storage.models import Alert, Case, Task
from web.app import create_app

PASSWORD = "a-long-password-1"


@pytest.fixture
def plat(settings: Settings) -> Iterator[Platform]:
    p = Platform(replace(settings, plugins=("playbooks.steps", "detectors.indicators", "detectors.yara")))
    p.db.upgrade()
    with p.db.session() as s:
        ensure_defaults(s)
        create_user(s, "awa", PASSWORD, "analyst")
        create_user(s, "moussa", PASSWORD, "analyst")
        create_user(s, "chef", PASSWORD, "admin")
        create_user(s, "pf-justice", PASSWORD, "focal_point", organization="min-justice", constituency=p.constituency)
    yield p
    p.close()


@pytest.fixture
def app(plat: Platform) -> Flask:
    return create_app(platform=plat)


def text(resp: Any) -> str:
    return html.unescape(resp.get_data(as_text=True))


def post_form(client: Any, page_url: str, action: str, data: dict[str, Any]) -> Any:
    token = csrf_token(client.get(page_url).get_data(as_text=True))
    return client.post(action, data={**data, "csrf_token": token})


def open_from_template(client: Any, template: str = "phishing", **fields: Any) -> int:
    resp = post_form(client, "/cases/new", "/cases/new", {"title": "Campagne de faux courriels", "template": template,
                                                          **fields})
    assert resp.status_code == 303, text(resp)[:2000]
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


def test_a_template_opens_an_incident_and_each_field_edit_shows_with_a_french_timeline(app: Flask,
                                                                                         plat: Platform) -> None:
    awa = logged_in(app, "awa", PASSWORD)
    assert "Hameçonnage" in text(awa.get("/cases/new"))  # the template list, in French
    case_id = open_from_template(awa, organizations=["Ministère de la Justice"])
    page = text(awa.get(f"/cases/{case_id}"))
    assert "Fraude › Hameçonnage" in page and "moyenne" in page  # RSIT and severity from the template
    assert "Incident ouvert à la main depuis le modèle « Hameçonnage »" in page
    with plat.db.session() as s:
        tasks = list(s.scalars(select(Task.title).where(Task.case_id == case_id).order_by(Task.position)))
    assert tasks[0] == "Qualifier l'incident et confirmer le périmètre" and len(tasks) == 5  # the opener's language

    url = f"/cases/{case_id}"
    resp = post_form(awa, url, f"{url}/edit", {
        "title": "Hameçonnage ciblant la Justice", "description": "Courriels reçus par 40 agents.",
        "severity": "critical", "pap": "red", "rsit": "intrusions:unprivileged-account-compromise",
        "attack": "t1566.002, T1078", "organizations": ["Ministère de la Justice", "Ministère de l'Intérieur"],
        "assignee": "moussa"})
    assert resp.status_code == 303
    page = text(awa.get(url))
    for shown in ("Hameçonnage ciblant la Justice", "Courriels reçus par 40 agents.", "PAP:RED", "T1566.002",
                  "T1078", "Intrusions › Compromission d'un compte non privilégié",
                  "Ministère de la Justice (principale); Ministère de l'Intérieur", 'id="case-assignee">moussa'):
        assert shown in page, shown
    for entry in ("Titre changé de « Campagne de faux courriels » en « Hameçonnage ciblant la Justice »",
                  "Description modifiée", "Gravité changée de moyenne à critique", "PAP changé de PAP:AMBER à PAP:RED",
                  "Classe RSIT fixée à Compromission d'un compte non privilégié "
                  "(intrusions:unprivileged-account-compromise)",
                  "Techniques ATT&CK : T1566.002, T1078", "Organisations touchées : Ministère de la Justice, "
                  "Ministère de l'Intérieur (principale : Ministère de la Justice)", "Attribué à moussa"):
        assert entry in page, entry
    english = text(awa.get(f"{url}?lang=en"))
    assert "Severity changed from medium to critical" in english
    assert "RSIT class set to Unprivileged account compromise" in english
    assert "Incident opened by hand from the template “Phishing”" in english
    awa.get(f"{url}?lang=fr")

    bad = post_form(awa, url, f"{url}/edit", {"title": "x", "rsit": "fraud:nope", "severity": "low", "pap": "red"})
    assert bad.status_code == 400 and "n'est pas un type d'incident RSIT" in text(bad)
    bad = post_form(awa, url, f"{url}/edit", {"title": "x", "attack": "T12", "severity": "low", "pap": "red"})
    assert bad.status_code == 400 and "technique ATT&CK" in text(bad)


def test_closing_needs_a_resolution_and_reopening_clears_it(app: Flask) -> None:
    awa = logged_in(app, "awa", PASSWORD, "127.0.0.1")
    case_id = open_from_template(awa, "scanning")
    url = f"/cases/{case_id}"
    refused = post_form(awa, url, f"{url}/close", {"resolution": "", "comment": ""})
    assert refused.status_code == 400 and "Clore un incident demande une résolution" in text(refused)
    api = awa.patch(f"/api/v1/incidents/{case_id}", json={"status": "closed"}, headers=api_csrf(awa))
    assert api.status_code == 400 and "Clore un incident demande une résolution" in api.get_json()["message"]
    assert awa.get(f"/api/v1/incidents/{case_id}").get_json()["status"] == "open"

    assert post_form(awa, url, f"{url}/close", {"resolution": "false-positive",
                                                "comment": "scanner de l'hébergeur"}).status_code == 303
    page = text(awa.get(url))
    assert 'id="case-status">clos' in page and "faux positif" in page
    assert "Clos comme faux positif : scanner de l'hébergeur" in page and 'id="reopen-incident"' in page
    assert post_form(awa, url, f"{url}/reopen", {}).status_code == 303
    page = text(awa.get(url))
    assert 'id="case-status">ouvert' in page and 'id="case-resolution"' not in page
    assert "Rouvert (il était clos comme faux positif)" in page
    got = awa.get(f"/api/v1/incidents/{case_id}").get_json()
    assert (got["status"], got["resolution"], got["closed_at"]) == ("open", None, None)


def test_api_patch_round_trip_and_refusals(app: Flask) -> None:
    awa = logged_in(app, "awa", PASSWORD)
    headers = {**api_csrf(awa), "Accept-Language": "en"}
    made = awa.post("/api/v1/incidents", json={"title": "DDoS sur le portail", "template": "ddos",
                                               "organizations": ["min-interieur"]}, headers=headers)
    assert made.status_code == 201, made.get_json()
    case = made.get_json()
    assert (case["rsit"], case["severity"], case["pap"], case["organizations"]) == \
        ("availability:ddos", "high", "green", [INTERIEUR])
    url = f"/api/v1/incidents/{case['id']}"
    resp = awa.patch(url, json={"severity": "critical", "rsit": 'rsit:availability="dos"', "attack": ["t1498"],
                                "assignee": "moussa", "organizations": ["dgpn", "min-interieur"],
                                "status": "contained", "tlp": "red"}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    got = awa.get(url, headers={"Accept-Language": "en"}).get_json()
    assert (got["severity"], got["rsit"], got["rsit_label"], got["attack"], got["assignee"], got["tlp"]) == \
        ("critical", "availability:dos", "Denial of service", ["T1498"], "moussa", "red")
    assert (got["organization"], sorted(got["organizations"])) == (DGPN, sorted([DGPN, INTERIEUR]))
    assert got["status"] == "contained" and got["contained_at"] and got["acknowledged_at"]
    messages = [t["message"] for t in got["timeline"]]
    assert "Severity changed from high to critical" in messages and "TLP changed from TLP:AMBER to TLP:RED" in messages
    severity = next(t for t in got["timeline"] if t["kind"] == "severity")
    assert severity["message_id"] == "Severity changed from %(old_term)s to %(new_term)s"
    assert severity["params"] == {"old_term": "high", "new_term": "critical"}
    french = awa.get(url, headers={"Accept-Language": "fr"}).get_json()
    assert "Gravité changée de élevée à critique" in [t["message"] for t in french["timeline"]]
    for body, needle in (({"rsit": "fraud:nope"}, "RSIT"), ({"attack": ["T12"]}, "ATT&CK"),
                         ({"assignee": "nobody"}, "nobody"), ({"organizations": ["nowhere"]}, "nowhere"),
                         ({"severity": "urgent"}, "severity"), ({"nope": 1}, "nope")):
        bad = awa.patch(url, json=body, headers=headers)
        assert bad.status_code == 400 and needle in bad.get_json()["message"], (body, bad.get_json())
    listed = awa.get("/api/v1/incidents?rsit=availability&status=contained&q=portail").get_json()
    assert [i["id"] for i in listed["items"]] == [case["id"]] and listed["total"] == 1
    assert awa.get("/api/v1/incidents?status=closed").get_json()["total"] == 0
    assert awa.get("/api/v1/incidents?assignee=moussa&organization=" + DGPN).get_json()["total"] == 1
    assert awa.get("/api/v1/incidents?sort=sideways").status_code == 400
    assert awa.get("/api/v1/cases").get_json()["total"] == 1  # the older name answers too


def test_merge_in_the_console_moves_alerts_and_closes_the_duplicate(app: Flask, plat: Platform) -> None:
    awa = logged_in(app, "awa", PASSWORD)
    first = open_from_template(awa, "account-compromise", tlp="green")
    second = open_from_template(awa, "account-compromise", tlp="amber")
    now = datetime.now(UTC)
    with plat.db.session() as s:
        s.add(Alert(rule_id="r", rule_title="SSH brute force", detector="sigma", severity="high", first_seen=now,
                    last_seen=now, case_id=second))
    url = f"/cases/{first}"
    assert post_form(awa, url, f"{url}/merge", {"source": first}).status_code == 400
    assert post_form(awa, url, f"{url}/merge", {"source": second}).status_code == 303
    page = text(awa.get(url))
    assert f"Incident n° {second} fusionné dans celui-ci : 1 alerte(s)" in page and "5 tâche(s)" in page
    assert "SSH brute force" in page and "TLP:AMBER" in page
    dup = text(awa.get(f"/cases/{second}"))
    assert f"Fusionné dans l'incident n° {first}" in dup and "doublon" in dup
    with plat.db.session() as s:
        assert s.get(Case, second).merged_into == first
        assert len(list(s.scalars(select(Task).where(Task.case_id == first)))) == 10
    again = awa.post(f"/api/v1/incidents/{second}/merge", json={"from": first}, headers=api_csrf(awa))
    assert again.status_code == 409 and "clos" in again.get_json()["message"]


def test_another_organisations_incident_is_a_404_for_a_focal_point_and_an_org_token(app: Flask,
                                                                                    plat: Platform) -> None:
    awa = logged_in(app, "awa", PASSWORD)
    theirs = open_from_template(awa, "scanning", organizations=["Ministère de la Justice"])
    other = open_from_template(awa, "scanning", organizations=["Ministère de l'Intérieur"])
    shared = open_from_template(awa, "scanning", organizations=["Ministère de l'Intérieur",
                                                                "Ministère de la Justice"])
    fp = logged_in(app, "pf-justice", PASSWORD)
    assert fp.get(f"/api/v1/incidents/{theirs}").status_code == 403  # the CERT's view: the portal is theirs
    assert fp.get(f"/api/v1/portal/incidents/{theirs}").status_code == 200
    assert fp.get(f"/api/v1/portal/incidents/{shared}").status_code == 200  # affected, though not primary
    assert fp.get(f"/api/v1/portal/incidents/{other}").get_json()["error"] == "not_found"
    assert {i["id"] for i in fp.get("/api/v1/portal/incidents").get_json()["items"]} == {theirs, shared}
    assert fp.patch(f"/api/v1/incidents/{theirs}", json={"severity": "low"}, headers=api_csrf(fp)).status_code == 403
    with plat.db.session() as s:
        secret = create_token(s, "justice", "chef", actor="test", scopes=["read", "write"],
                              organization=plat.constituency.by_id("min-justice"))[1]
    bearer = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    assert client.get(f"/api/v1/incidents/{other}", headers=bearer).status_code == 404
    assert client.patch(f"/api/v1/incidents/{other}", json={"severity": "low"}, headers=bearer).status_code == 404
    assert client.post(f"/api/v1/incidents/{theirs}/merge", json={"from": other}, headers=bearer).status_code == 404
    assert client.patch(f"/api/v1/incidents/{theirs}", json={"severity": "low"}, headers=bearer).status_code == 200
    assert JUSTICE in client.get(f"/api/v1/incidents/{theirs}", headers=bearer).get_json()["organizations"]


def test_templates_are_administered_by_admins(app: Flask) -> None:
    chef = logged_in(app, "chef", PASSWORD)
    headers = api_csrf(chef)
    made = chef.post("/api/v1/incident-templates", json={
        "key": "rancongiciel", "names": {"fr": "Rançongiciel", "en": "Ransomware"},
        "rsit_class": "malicious-code:infected-system", "severity": "critical", "tlp": "amber+strict",
        "tasks": [{"title": {"fr": "Isoler", "en": "Isolate"}, "due_hours": 1}]}, headers=headers)
    assert made.status_code == 201, made.get_json()
    assert chef.post("/api/v1/incident-templates", json={"key": "rancongiciel", "names": {"fr": "a", "en": "b"}},
                     headers=headers).status_code == 409
    bad = chef.post("/api/v1/incident-templates", json={"key": "x", "names": {"fr": "a", "en": "b"},
                                                        "rsit_class": "nope:nope"}, headers=headers)
    assert bad.status_code == 400
    patched = chef.patch("/api/v1/incident-templates/rancongiciel", json={"severity": "high"}, headers=headers)
    assert patched.get_json()["severity"] == "high" and patched.get_json()["tasks"][0]["due_hours"] == 1
    awa = logged_in(app, "awa", PASSWORD)
    assert awa.delete("/api/v1/incident-templates/rancongiciel", headers=api_csrf(awa)).status_code == 403
    case_id = open_from_template(awa, "rancongiciel")
    got = awa.get(f"/api/v1/incidents/{case_id}").get_json()
    assert (got["tlp"], got["severity"], got["template"]) == ("amber+strict", "high", "rancongiciel")
    assert chef.delete("/api/v1/incident-templates/rancongiciel", headers=headers).status_code == 204
    assert chef.get("/api/v1/incident-templates/rancongiciel").status_code in (404, 405)
    page = text(chef.get("/incident-templates/"))
    assert "Hameçonnage" in page and "rancongiciel" not in page


def test_timeline_of_promotion_tlp_and_upload_is_french_by_default_and_english_on_request(
        app: Flask, plat: Platform) -> None:
    now = datetime.now(UTC)
    with plat.db.session() as s:
        alert = Alert(rule_id="ssh-bf", rule_title="SSH Brute Force", detector="sigma", severity="high",
                      first_seen=now, last_seen=now, organization=JUSTICE, tlp="clear")
        s.add(alert)
        s.flush()
        alert_id = alert.id
    awa = logged_in(app, "awa", PASSWORD)
    resp = post_form(awa, f"/alerts/{alert_id}", f"/alerts/{alert_id}/promote", {"tlp": "green"})
    assert resp.status_code == 303
    url = resp.headers["Location"]
    case_id = int(url.rstrip("/").split("/")[-1])
    assert post_form(awa, url, f"/cases/{case_id}/tlp", {"tlp": "amber", "reason": ""}).status_code == 303
    token = csrf_token(awa.get(url).get_data(as_text=True))
    up = awa.post(f"/cases/{case_id}/files", data={"csrf_token": token, "file": (io.BytesIO(b"hello"), "note.txt")},
                  content_type="multipart/form-data")
    assert up.status_code == 303
    french = text(awa.get(url))
    assert f"Incident ouvert depuis l'alerte n° {alert_id} : SSH Brute Force" in french
    assert "TLP changé de TLP:GREEN à TLP:AMBER" in french
    assert "Fichier note.txt déposé (5 octets, SHA-256 " in french and "aucune règle ne correspond" in french
    english = text(awa.get(f"{url}?lang=en"))
    assert f"Incident opened from alert #{alert_id}: SSH Brute Force" in english
    assert "TLP changed from TLP:GREEN to TLP:AMBER" in english
    assert "File note.txt uploaded (5 bytes, SHA-256 " in english and "YARA: no rule matched" in english
    assert " UTC" in english  # dates with their time zone
    awa.get(f"{url}?lang=fr")
