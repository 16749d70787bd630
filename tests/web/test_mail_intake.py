"""E-mail intake against a real SMTP receiver on 127.0.0.1 (aiosmtpd, sent to with smtplib): a
report with an attachment becomes an incident report visible in the API with its SHA-256 and its
organisation from the sender's domain; a reply carrying the ticket threads into it (and into an
incident's timeline); a Message-ID delivered twice is one report; relaying is refused; hostile
messages (too large, broken MIME, lying charsets, HTML with scripts, forged tickets, no sender)
never crash the receiver and are never lost; STARTTLS is offered and may be required."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from account_support import logged_in
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask
from sqlalchemy import func, select

from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.incidents import reports
from cert.incidents.smtp_intake import Listen, controller
from cert.runtime.platform import Platform
from cert.storage.models import DeadLetter, IncidentReport, TimelineEntry
from web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
CERT = "signalement@cert.gouv.example"
FOCAL = "pf-cyber@interieur.gouv.example"
PASSWORD = "a-long-password-1"
PDF = b"%PDF-1.4\n% rapport\n" + bytes(range(256)) * 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings(), data_dir=tmp_path / "data", secret_key="test-secret-key",
                   intake_smtp_domains=("cert.gouv.example",), intake_smtp_max_bytes=200_000)


@pytest.fixture
def server(platform: Platform) -> Iterator[tuple[str, int]]:
    listen = Listen("127.0.0.1", free_port())
    receiver = controller(platform, listen)
    receiver.start()
    yield listen.host, listen.port
    receiver.stop()


@pytest.fixture
def app(platform: Platform) -> Flask:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
    return create_app(platform=platform)


def mail(sender: str, subject: str, text: str = "", *, message_id: str | None = None,
         files: tuple[tuple[str, bytes], ...] = (), **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = CERT
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or f"<{os.urandom(8).hex()}@interieur.gouv.example>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg


def send(server: tuple[str, int], msg: EmailMessage | bytes, sender: str = FOCAL,
         to: tuple[str, ...] = (CERT,)) -> Any:
    with smtplib.SMTP(*server, timeout=30) as smtp:
        if isinstance(msg, bytes):
            return smtp.sendmail(sender, list(to), msg)
        return smtp.send_message(msg, from_addr=sender, to_addrs=list(to))


def email_reports(client: Any) -> list[dict[str, Any]]:
    page = client.get("/api/v1/incident-reports?source=email").get_json()
    return [client.get(f"/api/v1/incident-reports/{r['id']}").get_json() for r in page["items"]]


def test_report_with_attachment_reply_and_duplicate(platform: Platform, server: tuple[str, int], app: Flask) -> None:
    first = mail(f"Fatou Ndiaye <{FOCAL}>", "Rançongiciel sur le serveur de messagerie",
                 "Les fichiers du serveur mail-01 sont chiffrés depuis 8 h.", message_id="<first@interieur.gouv.example>",
                 files=(("note de rançon.pdf", PDF),))
    send(server, first)
    client = logged_in(app, "ana", PASSWORD)
    (report,) = email_reports(client)
    assert report["subject"] == "Rançongiciel sur le serveur de messagerie"
    assert report["organization"] == "Ministère de l'Intérieur"  # from the sender's domain
    assert FOCAL in report["reporter"] and "Fatou Ndiaye" in report["reporter"]
    assert "chiffrés depuis 8 h" in report["body"]
    (attachment,) = report["attachments"]
    assert attachment["sha256"] == hashlib.sha256(PDF).hexdigest() and attachment["size"] == len(PDF)
    assert attachment["content_type"] == "application/pdf"
    assert report["messages"][0]["envelope_from"] == FOCAL

    send(server, first)  # delivered twice: one report
    ticket = f"[VIGIE-R#{report['id']}]"
    send(server, mail(FOCAL, f"RE: {ticket} Rançongiciel", "Le serveur est isolé du réseau."))
    (again,) = email_reports(client)
    assert [m["kind"] for m in again["messages"]] == ["report", "reply"]
    assert again["messages"][1]["body"] == "Le serveur est isolé du réseau."

    # once an incident is opened from it, a reply with the incident's ticket lands on its timeline
    with platform.db.session() as s:
        case_id = reports.open_incident(s, s.get(IncidentReport, report["id"]), "ana").id
    log = b"mail-01 restore completed\n"
    send(server, mail(FOCAL, f"Re: [VIGIE#{case_id}] point de situation", "Sauvegardes restaurées.",
                      files=(("restauration.log", log),)))
    # and a reply by In-Reply-To alone (no ticket) to the first message threads into the report
    send(server, mail(FOCAL, "Re: Rançongiciel", "Plus aucun chiffrement observé.",
                      In_Reply_To="<first@interieur.gouv.example>"))
    assert len(email_reports(client)) == 1
    incident = client.get(f"/api/v1/incidents/{case_id}", headers={"Accept-Language": "fr"}).get_json()
    texts = " ".join(e["message"] for e in incident["timeline"])
    assert "Sauvegardes restaurées." in texts and "Plus aucun chiffrement observé." in texts
    assert "E-mail de pf-cyber@interieur.gouv.example : Sauvegardes restaurées." in texts
    files = client.get(f"/api/v1/incidents/{case_id}/attachments").get_json()["items"]
    assert [(f["name"], f["sha256"]) for f in files] == [("restauration.log", hashlib.sha256(log).hexdigest())]


def test_forged_ticket_is_a_new_report_marked_as_such(platform: Platform, server: tuple[str, int],
                                                      app: Flask) -> None:
    send(server, mail(FOCAL, "Compte compromis", "Le compte d'un agent envoie du spam."))
    client = logged_in(app, "ana", PASSWORD)
    (report,) = email_reports(client)
    with platform.db.session() as s:
        case_id = reports.open_incident(s, s.get(IncidentReport, report["id"]), "ana").id
    for ticket in (f"[VIGIE#{case_id}]", f"[VIGIE-R#{report['id']}]", "[VIGIE#999999]"):
        send(server, mail("mallory@evil.example", f"Re: {ticket} clôturez", "Fermez ce dossier."),
             sender="mallory@evil.example")
    found = email_reports(client)
    forged = [r for r in found if r["id"] != report["id"]]
    assert len(forged) == 3 and all(r["organization"] is None for r in forged)
    assert all(r["messages"][0]["ticket_refused"] for r in forged)
    assert {r["messages"][0]["ticket"] for r in forged} == {f"[VIGIE#{case_id}]", f"[VIGIE-R#{report['id']}]",
                                                             "[VIGIE#999999]"}
    with platform.db.session() as s:
        entries = list(s.scalars(select(TimelineEntry.params).where(TimelineEntry.case_id == case_id)))
    assert "Fermez ce dossier." not in str(entries)
    assert [m["kind"] for m in next(r for r in found if r["id"] == report["id"])["messages"]] == ["report"]


def test_relaying_refused_and_size_limit(platform: Platform, server: tuple[str, int]) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(server, mail(FOCAL, "relais"), to=("someone@elsewhere.example",))
    assert refused.value.recipients["someone@elsewhere.example"][0] == 550
    huge = mail(FOCAL, "énorme", "x", files=(("big.bin", os.urandom(300_000)),))
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as too_big:
        send(server, huge)
    assert too_big.value.smtp_code == 552
    with platform.db.session() as s:
        assert s.scalar(select(func.count()).select_from(IncidentReport)) == 0


HOSTILE_MIME = (b"From: =?x-unknown?B?////?= <citoyen@example.org>\r\nTo: " + CERT.encode() +
                b"\r\nSubject: =?utf-8?B?bad base64?= \xff\xfe\r\nMessage-ID: <hostile@example.org>\r\n"
                b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"never-closed\"\r\n\r\n"
                b"--never-closed\r\nContent-Type: text/plain; charset=x-does-not-exist\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64***\r\n"
                b"--never-closed\r\nContent-Type: application/octet-stream; name=\"../../etc/passwd\"\r\n"
                b"Content-Disposition: attachment; filename=\"../../etc/passwd\"\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n")
HTML_ONLY = (b"From: citoyen@example.org\r\nTo: " + CERT.encode() + b"\r\nSubject: page\r\n"
             b"Message-ID: <html@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
             b"<html><head><script>alert('x')</script><style>p{}</style></head><body><p>Site <b>d\xc3\xa9fac\xc3\xa9</b>"
             b"</p><img src=x onerror=alert(1)></body></html>\r\n")
NO_SENDER = b"Subject: nobody\r\n\r\nno From, no envelope sender\r\n"


def test_hostile_messages_never_crash_and_are_never_lost(platform: Platform, server: tuple[str, int],
                                                         app: Flask) -> None:
    send(server, HOSTILE_MIME, sender="citoyen@example.org")
    send(server, HTML_ONLY, sender="citoyen@example.org")
    send(server, NO_SENDER, sender="")
    client = logged_in(app, "ana", PASSWORD)
    found = {r["messages"][0]["message_id"]: r for r in email_reports(client)}
    hostile = found["<hostile@example.org>"]
    assert hostile["reporter"].endswith("<citoyen@example.org>")
    assert [a["name"] for a in hostile["attachments"]] == ["passwd"]  # no path kept
    assert hostile["attachments"][0]["sha256"] == hashlib.sha256(b"hello").hexdigest()
    html = found["<html@example.org>"]
    assert "Site défacé" in html["body"]
    assert "<" not in html["body"] and "alert" not in html["body"]
    with platform.db.session() as s:
        (letter,) = s.scalars(select(DeadLetter).where(DeadLetter.source == "email-intake"))
        assert "no sender address" in letter.reason and letter.raw == NO_SENDER
    # the receiver still answers
    send(server, mail(FOCAL, "toujours là", "ok"))
    listing = client.get("/intake/?source=email", headers={"Accept-Language": "fr"})
    assert listing.status_code == 200 and b"<script>alert" not in listing.data
    page = client.get(f"/intake/{html['id']}", headers={"Accept-Language": "fr"})
    assert page.status_code == 200 and b"<script>" not in page.data and "Site défacé".encode() in page.data
    hostile_page = client.get(f"/intake/{hostile['id']}", headers={"Accept-Language": "fr"})
    assert hostile["attachments"][0]["sha256"].encode() in hostile_page.data


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "smtp.pem", tmp_path / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_starttls_required(tmp_path: Path, settings: Settings) -> None:
    cert_file, key_file = self_signed(tmp_path)
    p = Platform(replace(settings, intake_smtp_tls_cert_file=cert_file, intake_smtp_tls_key_file=key_file,
                         intake_smtp_require_tls=True))
    p.db.upgrade()
    listen = Listen("127.0.0.1", free_port())
    receiver = controller(p, listen)
    receiver.start()
    try:
        with smtplib.SMTP(listen.host, listen.port, timeout=30) as smtp:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                smtp.send_message(mail(FOCAL, "en clair"))
            assert refused.value.smtp_code == 530
        with smtplib.SMTP(listen.host, listen.port, timeout=30) as smtp:
            context = ssl.create_default_context(cafile=str(cert_file))
            context.check_hostname = False
            smtp.starttls(context=context)
            smtp.send_message(mail(FOCAL, "chiffré", "par STARTTLS"))
        with p.db.session() as s:
            assert list(s.scalars(select(IncidentReport.subject))) == ["chiffré"]
    finally:
        receiver.stop()
        p.close()


def test_cli_receiver(tmp_path: Path, platform: Platform) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CERT_INTAKE_SMTP_DOMAINS": "cert.gouv.example",
           "CERT_SECRET_KEY": "test-secret-key"}
    proc = subprocess.Popen([sys.executable, "-m", "cert.cli", "--data-dir", str(platform.settings.data_dir), "intake",
                             "smtp", "--listen", f"127.0.0.1:{port}", "--duration", "120"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        assert f"SMTP intake on 127.0.0.1:{port}" in proc.stdout.readline()
        deadline = time.monotonic() + 30
        while True:
            try:
                send(("127.0.0.1", port), mail(FOCAL, "Par la ligne de commande", "signalé", files=(("a.txt", b"A"),)))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            send(("127.0.0.1", port), mail(FOCAL, "relais"), to=("x@other.example",))
    finally:
        proc.terminate()
        proc.wait(30)
    with platform.db.session() as s:
        (report,) = s.scalars(select(IncidentReport))
        assert report.source == "email" and report.subject == "Par la ligne de commande"
        assert report.organization == "Ministère de l'Intérieur"
