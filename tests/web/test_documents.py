"""An incident's report as PDF and HTML: a real PDF whose every page carries the TLP marking, in
French by default and in English on request; nothing marked above the report's TLP in it (counted
as withheld); a recipient ceiling drops the title for a neutral one; organisation scope; audited;
the renderer never fetches anything from the network."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select
from support import INTERIEUR, JUSTICE, login

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.incidents.cases import add_timeline
from cert.runtime.platform import Platform
from cert.storage.models import Alert, AuditEntry, Case, Countermeasure, Observable, Task
from web.app import create_app
from web.documents.render import LocalOnlyFetcher, to_pdf

OPENED = datetime(2025, 3, 4, 14, 5, tzinfo=UTC)
PASSWORD = "a long analyst passphrase"


def pdf_pages(data: bytes) -> list[str]:
    assert data.startswith(b"%PDF-")
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


def make_incident(platform: Platform, *, entries: int = 120, organization: str = JUSTICE) -> int:
    """An AMBER incident whose title is AMBER, with a long timeline (several pages), observables at
    GREEN, AMBER and RED, a task, a countermeasure and a linked alert."""
    with platform.db.session() as s:
        case = Case(title="Rançongiciel au greffe de Lyon", description="Chiffrement des partages du greffe.",
                    severity="high", tlp="amber", title_tlp="amber", pap="amber", created_by="ana",
                    rsit_class="malicious-code:ransomware", organization=organization, created_at=OPENED,
                    detected_at=OPENED, attack=["T1486"], assignee="ana")
        s.add(case)
        s.flush()
        add_timeline(s, case, "ana", "tlp", "TLP changed from TLP:GREEN to TLP:AMBER", {"from": "green", "to": "amber"})
        for i in range(entries):
            add_timeline(s, case, "ana", "note", f"Analyse du poste {i}")
        s.add_all([
            Observable(case_id=case.id, type="ip", value="198.51.100.7", tlp="green"),
            Observable(case_id=case.id, type="domain", value="amber-c2.example", tlp="amber"),
            Observable(case_id=case.id, type="ip", value="203.0.113.66", tlp="red"),
            Task(case_id=case.id, title="Isoler les postes du greffe", status="in-progress", created_by="ana"),
            Countermeasure(case_id=case.id, kind="block-ip", target="198.51.100.7", status="done", created_by="ana"),
            Alert(rule_id="r1", rule_title="Chiffrement massif de fichiers", detector="sigma", severity="critical",
                  organization=organization, first_seen=OPENED, last_seen=OPENED, case_id=case.id, tlp="clear"),
        ])
        return case.id


def analyst_client(platform: Platform) -> tuple[Flask, FlaskClient]:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
    app = create_app(platform=platform)
    client = app.test_client()
    assert login(client, "ana", PASSWORD).status_code == 302
    return app, client


def test_the_pdf_is_marked_tlp_amber_on_every_page_and_in_french_by_default(platform: Platform) -> None:
    case_id = make_incident(platform)
    _app, client = analyst_client(platform)
    resp = client.get(f"/cases/{case_id}/report.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.headers["X-TLP"] == "TLP:AMBER"
    pages = pdf_pages(resp.data)
    assert len(pages) >= 3
    for number, text in enumerate(pages, 1):
        assert "TLP:AMBER" in text, f"page {number} has no TLP marking"
    for page in PdfReader(io.BytesIO(resp.data)).pages:  # TLP 2.0 colours: #FFC000 on black
        drawing = page.get_contents().get_data()
        assert b"1 0.752941 0 rg" in drawing and b"0 0 0 rg" in drawing
    everything = "\n".join(pages)
    assert "Rançongiciel au greffe de Lyon" in everything
    assert "Chronologie" in everything and "Observables" in everything and "Contre-mesures" in everything
    assert "4 mars 2025" in everything and "TU" in everything  # a French date, with its time zone
    assert "TLP changé de TLP:GREEN à TLP:AMBER" in everything  # a timeline entry in the reader's language
    assert "Analyse du poste 119" in everything
    assert "besoin d'en connaître" in everything  # TLP 2.0's AMBER definition, in French
    assert "Isoler les postes du greffe" in everything and "blocage d'adresse ip" in everything.lower()
    assert "Chiffrement massif de fichiers" in everything


def test_english_on_request(platform: Platform) -> None:
    case_id = make_incident(platform, entries=3)
    _app, client = analyst_client(platform)
    html = client.get(f"/cases/{case_id}/report.html?lang=en").get_data(as_text=True)
    assert "Timeline" in html and "Countermeasures" in html and "Chronologie" not in html
    assert "March 4, 2025" in html and "UTC" in html
    assert "TLP changed from TLP:GREEN to TLP:AMBER" in html
    pages = pdf_pages(client.get(f"/cases/{case_id}/report.pdf?lang=en").data)
    assert "Timeline" in "\n".join(pages) and all("TLP:AMBER" in p for p in pages)


def test_a_red_observable_is_left_out_of_an_amber_report_and_counted(platform: Platform) -> None:
    case_id = make_incident(platform, entries=3)
    _app, client = analyst_client(platform)
    text = "\n".join(pdf_pages(client.get(f"/cases/{case_id}/report.pdf").data))
    assert "203.0.113.66" not in text
    assert "198.51.100.7" in text and "amber-c2.example" in text
    assert "Exclus de ce rapport car marqués au-dessus de TLP:AMBER : 1 élément(s)." in text
    assert "Observables exclus : 1." in text


def test_a_green_ceiling_drops_the_amber_title_description_and_items_above_green(platform: Platform) -> None:
    case_id = make_incident(platform, entries=3)
    _app, client = analyst_client(platform)
    resp = client.get(f"/cases/{case_id}/report.pdf?tlp=green")
    assert resp.headers["X-TLP"] == "TLP:GREEN"
    pages = pdf_pages(resp.data)
    assert all("TLP:GREEN" in p and "TLP:AMBER" not in p for p in pages)
    text = "\n".join(pages)
    assert "Rançongiciel" not in text and "Chiffrement des partages" not in text and "Analyse du poste" not in text
    assert "amber-c2.example" not in text and "203.0.113.66" not in text and "Isoler les postes" not in text
    assert JUSTICE not in text
    assert f"CERT — incident n°{case_id} (malicious-code:ransomware)" in text
    assert "Le titre est remplacé par un titre neutre." in text
    html = client.get(f"/cases/{case_id}/report.html?tlp=green").get_data(as_text=True)
    assert "Rançongiciel" not in html and f"incident n°{case_id}" in html
    # a ceiling above the incident's TLP does not raise the report's: it stays AMBER, RED still out
    red = client.get(f"/cases/{case_id}/report.html?tlp=red")
    assert red.headers["X-TLP"] == "TLP:AMBER" and "203.0.113.66" not in red.get_data(as_text=True)


def test_an_unknown_ceiling_or_format_is_a_400_in_french(platform: Platform) -> None:
    case_id = make_incident(platform, entries=1)
    _app, client = analyst_client(platform)
    resp = client.get(f"/cases/{case_id}/report.pdf?tlp=purple")
    assert resp.status_code == 400 and "TLP inconnu" in resp.get_data(as_text=True)
    assert client.get(f"/cases/{case_id}/report.pdf?lang=de").status_code == 400
    assert client.get("/cases/999999/report.pdf").status_code == 404


def test_a_focal_point_gets_only_the_reports_of_their_organisation(platform: Platform) -> None:
    theirs = make_incident(platform, entries=1, organization=JUSTICE)
    other = make_incident(platform, entries=1, organization=INTERIEUR)
    with platform.db.session() as s:
        create_user(s, "fp", PASSWORD, "focal_point", organization="min-justice", constituency=platform.constituency)
        _token, secret = create_token(s, "justice", "tests", actor="test", scopes=["read"],
                                      organization=platform.constituency.find("min-interieur"))
    client = create_app(platform=platform).test_client()
    assert login(client, "fp", PASSWORD).status_code == 302
    assert client.get(f"/cases/{theirs}/report.html").status_code == 200
    assert client.get(f"/cases/{other}/report.pdf").status_code == 404
    assert client.get(f"/api/v1/incidents/{other}/report?format=html").status_code == 404
    bearer = create_app(platform=platform).test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    assert bearer.get(f"/api/v1/incidents/{theirs}/report", headers=auth).status_code == 404
    assert bearer.get(f"/api/v1/incidents/{other}/report", headers=auth).status_code == 200


def test_the_api_answers_the_pdf_and_every_download_is_audited(platform: Platform) -> None:
    case_id = make_incident(platform, entries=1)
    with platform.db.session() as s:
        _token, secret = create_token(s, "reports", "tests", actor="test", scopes=["read"])
        _t2, ingest_only = create_token(s, "ingest", "tests", actor="test", scopes=["ingest"])
    client = create_app(platform=platform).test_client()
    auth = {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}
    bad = client.get(f"/api/v1/incidents/{case_id}/report?format=docx", headers=auth)
    assert bad.status_code == 400 and "format" in bad.get_json()["message"]
    resp = client.get(f"/api/v1/incidents/{case_id}/report?tlp=green", headers=auth)
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert "Timeline" in "\n".join(pdf_pages(resp.data))
    html = client.get(f"/api/v1/incidents/{case_id}/report?format=html&lang=fr", headers=auth)
    assert html.mimetype == "text/html" and "Chronologie" in html.get_data(as_text=True)
    denied = client.get(f"/api/v1/incidents/{case_id}/report", headers={"Authorization": f"Bearer {ingest_only}"})
    assert denied.status_code == 403
    with platform.db.session() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "document.incident_report")
                              .order_by(AuditEntry.id)))
    assert [(r.actor, r.object_id, r.details["tlp"], r.details["format"]) for r in rows] == [
        ("token:reports", str(case_id), "green", "pdf"), ("token:reports", str(case_id), "amber", "html")]
    assert rows[0].details["withheld"] >= 5


def test_the_openapi_description_declares_the_pdf_answer(platform: Platform) -> None:
    from web.openapi import build

    spec = build(create_app(platform=platform))
    op = spec["paths"]["/api/v1/incidents/{case_id}/report"]["get"]
    assert op["summary"] and op["x-vigie-scope"] == "read"
    assert set(op["responses"]["200"]["content"]) == {"application/pdf", "text/html"}
    assert {p["name"] for p in op["parameters"]} >= {"case_id", "format", "lang", "tlp"}


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    sock.settimeout(0.2)
    yield sock
    sock.close()


def test_the_renderer_fetches_nothing_but_static_files(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    fetcher = LocalOnlyFetcher()
    for url in (f"http://127.0.0.1:{port}/x.css", f"https://127.0.0.1:{port}/", "file:///etc/passwd",
                "data:text/css,body{}", "ftp://127.0.0.1/x"):
        with pytest.raises(ValueError, match="refused to fetch"):
            fetcher(url)
    assert b"@page" in fetcher.fetch(LocalOnlyFetcher().root.joinpath("documents.css").as_uri()).read()
    html = (f'<html><head><link rel="stylesheet" href="http://127.0.0.1:{port}/evil.css"></head><body>'
            f'<img src="http://127.0.0.1:{port}/pixel.png"><p style="background: url(http://127.0.0.1:{port}/bg)">'
            'x</p></body></html>')
    assert to_pdf(html).startswith(b"%PDF-")
    with pytest.raises(TimeoutError):
        listener.accept()  # nobody connected
