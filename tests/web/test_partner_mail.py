"""An incident e-mailed to a partner CERT: the message in the outbox holds the GREEN and CLEAR
indicators of a mixed incident for a TLP:GREEN partner and nothing else (subject, body and CSV
attachment read back with the standard e-mail parser), is written in the partner's language,
is marked with the highest TLP it holds, is audited and on the timeline; a partner that does not
take e-mail is refused, a shared title with line breaks never adds a header."""

from __future__ import annotations

from dataclasses import replace
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from account_support import logged_in
from flask import Flask
from sqlalchemy import select
from support import INTERIEUR, csrf_token

from cert.accounts.users import create_user
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, Case, TimelineEntry
from web.app import create_app

PASSWORD = "a-long-password-1"
AMBER_OR_RED = ("203.0.113.20", "192.0.2.30", "ministre X", "M. Y", "=HYPER")


def _message(platform: Platform, name: str) -> EmailMessage:
    raw = (platform.settings.outbox_dir / name).read_bytes()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def _case(platform: Platform, title: str = "Fuite chez le ministre X", title_tlp: str = "amber") -> int:
    with platform.db.session() as s:
        case = Case(title=title, title_tlp=title_tlp, tlp="amber", pap="green",
                    description="Le compte de M. Y", created_by="ana", organization=INTERIEUR)
        s.add(case)
        s.flush()
        for kind, value, tlp in (("ip", "198.51.100.10", "clear"), ("domain", "green-c2.example", "green"),
                                 ("ip", "203.0.113.20", "amber"), ("ip", "192.0.2.30", "red"),
                                 ("user-agent", "=HYPERLINK(\"http://x\")", "green")):
            add_observable(s, case, kind, value, tlp=tlp, ioc=True)
        return case.id


def test_a_green_partner_mail_holds_green_and_clear_only_in_its_language(platform: Platform) -> None:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
    case_id = _case(platform)
    app: Flask = create_app(platform=platform)
    ana = logged_in(app, "ana", PASSWORD)
    csrf = {"X-CSRFToken": csrf_token(ana.get("/alerts/").get_data(as_text=True))}
    sent = ana.post(f"/api/v1/incidents/{case_id}/partner-mail", json={"partner": "cert-voisin"}, headers=csrf)
    assert sent.status_code == 200, sent.get_json()
    answer = sent.get_json()
    assert answer["tlp"] == "TLP:GREEN" and answer["to"] == "echanges@cert-voisin.example"
    msg = _message(platform, answer["file"])
    assert msg["To"] == "CERT national voisin <echanges@cert-voisin.example>" and msg["Bcc"] is None
    assert msg["Subject"] == f"[TLP:GREEN] [{platform.settings.org_name} #{case_id}] Incident #{case_id}"
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "partage un incident avec CERT national voisin" in text and "Indicateurs (3)" in text
    assert "198.51.100.10" in text and "green-c2.example" in text
    attachment = next(msg.iter_attachments())
    rows = attachment.get_content().splitlines()
    assert rows[0] == "type,value,tlp,pap" and "ip,198.51.100.10,TLP:CLEAR,PAP:GREEN" in rows
    assert any(r.startswith("user-agent,\"'=HYPERLINK") for r in rows)  # a formula stays text
    everything = (platform.settings.outbox_dir / answer["file"]).read_bytes().decode()
    for secret in AMBER_OR_RED[:4]:
        assert secret not in everything and secret not in text
    with platform.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "sharing.email")).one()
        assert entry.details["partner"] == "cert-voisin" and "ip:203.0.113.20" not in entry.details["items"]
        kinds = [t.kind for t in s.scalars(select(TimelineEntry).where(TimelineEntry.case_id == case_id))]
        assert "sharing" in kinds
    page = ana.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Envoyé par courriel au partenaire cert-voisin" in page


def test_an_english_partner_reads_english_and_other_channels_are_refused(platform: Platform) -> None:
    voisin = platform.constituency.partner("cert-voisin")
    assert voisin is not None
    platform.constituency.partners[platform.constituency.partners.index(voisin)] = replace(voisin, language="en")
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
    case_id = _case(platform, "Phishing campaign\r\nBcc: attacker@evil.example", title_tlp="green")
    app: Flask = create_app(platform=platform)
    ana = logged_in(app, "ana", PASSWORD)
    csrf = {"X-CSRFToken": csrf_token(ana.get("/alerts/").get_data(as_text=True)), "Accept-Language": "fr"}
    sent = ana.post(f"/api/v1/incidents/{case_id}/partner-mail", json={"partner": "cert-voisin"}, headers=csrf)
    msg = _message(platform, sent.get_json()["file"])
    assert msg["Bcc"] is None and msg["Subject"].endswith("] Phishing campaign Bcc: attacker@evil.example")
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "shares an incident with CERT national voisin" in text and "Indicators (3), each with its own" in text
    refused = ana.post(f"/api/v1/incidents/{case_id}/partner-mail", json={"partner": "cert-regional"}, headers=csrf)
    assert refused.status_code == 403 and "courriel" not in refused.get_json()["message"]
    assert "email" in refused.get_json()["message"]


def test_the_incident_page_e_mails_a_partner_and_says_so(platform: Platform) -> None:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
    case_id = _case(platform)
    app: Flask = create_app(platform=platform)
    ana = logged_in(app, "ana", PASSWORD)
    page = ana.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="mail-cert-voisin"' in page and 'id="mail-cert-regional"' not in page  # it takes no e-mail
    assert ana.post(f"/cases/{case_id}/partners/cert-voisin/mail").status_code == 400  # no CSRF token
    sent = ana.post(f"/cases/{case_id}/partners/cert-voisin/mail", data={"csrf_token": csrf_token(page)},
                    follow_redirects=True)
    text = sent.get_data(as_text=True)
    assert "Courriel à CERT national voisin mis en file (3 indicateur(s), TLP:GREEN)" in text
    assert "Envoyé par courriel au partenaire cert-voisin" in text
    files = list(platform.settings.outbox_dir.glob("partner-cert-voisin-*.eml"))
    assert len(files) == 1 and "203.0.113.20" not in files[0].read_text()
    refused = ana.post(f"/cases/{case_id}/partners/cert-regional/mail", data={"csrf_token": csrf_token(page)},
                       follow_redirects=True).get_data(as_text=True)
    assert "Le partenaire cert-regional ne reçoit pas email" in refused
    assert len(list(platform.settings.outbox_dir.glob("partner-cert-regional-*.eml"))) == 0
