"""Notifications to the constituency through a real SMTP server on 127.0.0.1: what it received is
in the contact's language, marked with its TLP in subject and body, holds nothing above the
recipient's ceiling, carries the incident's ticket, is signed (OpenPGP, S/MIME) so that gpg and
openssl verify it; a refusal is retried with back-off, a message dies after the most attempts;
escalation reaches the deputy, the CISO, then the duty officer on an injected clock."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mail_support import SmtpServer, drop_keyring, keyring, self_signed, signed_parts, start_smtp
from sqlalchemy import select
from support import INTERIEUR, reseed_constituency

from cert.core.tlp import TLP
from cert.incidents.acks import acknowledge
from cert.incidents.cases import add_observable
from cert.notify import deliver_due, escalate, notify_incident, read_ack_token
from cert.runtime.platform import Platform
from cert.storage.models import Case, Notification, TimelineEntry

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)

CONSTITUENCY = """
[[organization]]
id = "min-interieur"
name = "Ministère de l'Intérieur"
networks = ["10.10.0.0/16"]
focal_point = {{ name = "Fatou Ndiaye", email = "pf-cyber@interieur.gouv.example" }}

[[organization.contact]]
role = "deputy"
name = "Ibrahima Sow"
email = "suppleant-cyber@interieur.gouv.example"

[[organization.contact]]
role = "ciso"
name = "Claire Martin"
email = "rssi@interieur.gouv.example"
language = "en"

[[organization]]
id = "min-justice"
name = "Ministère de la Justice"
networks = ["10.11.0.0/16"]
focal_point = {{ name = "Ibrahima Sow", email = "pf-cyber@justice.gouv.example", language = "en", pgp_key = '''{pgp}''' }}

[[organization]]
id = "min-finances"
name = "Ministère des Finances"
networks = ["10.12.0.0/16"]
focal_point = {{ name = "Aminata Koné", email = "pf-cyber@finances.gouv.example", smime_cert = '''{smime}''' }}
"""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp()
    yield server
    server.controller.stop()


def configure(platform: Platform, smtp: SmtpServer, tmp_path: Path, **more: object) -> Platform:
    path = tmp_path / "constituency.toml"
    if not path.exists():
        path.write_text(CONSTITUENCY.format(pgp="", smime=""), encoding="utf-8")
    platform.settings = replace(platform.settings, smtp_host="127.0.0.1", smtp_port=smtp.port,
                                smtp_from="cert@cert.example", duty_email="permanence@cert.example",
                                **more)  # type: ignore[arg-type]
    reseed_constituency(platform, path)
    return platform


def mixed_incident(platform: Platform, organization: str = INTERIEUR, severity: str = "high",
                   rsit_class: str = "") -> int:
    with platform.db.session() as s:
        case = Case(title="Compte du ministre X compromis", title_tlp="amber", tlp="amber", pap="green",
                    description="Détail AMBER : le mot de passe de M. Y", created_by="ana", organization=organization,
                    severity=severity, rsit_class=rsit_class, created_at=T0)
        s.add(case)
        s.flush()
        for kind, value, tlp in (("ip", "198.51.100.10", "clear"), ("domain", "green-c2.example", "green"),
                                 ("ip", "203.0.113.20", "amber"), ("ip", "192.0.2.30", "red")):
            add_observable(s, case, kind, value, tlp=tlp)
        return case.id


def notify(platform: Platform, case_id: int, now: datetime = T0) -> list[int]:
    with platform.db.session() as s:
        return [r.id for r in notify_incident(s, platform, s.get_one(Case, case_id), "ana", now=now)]


def test_a_french_focal_point_receives_a_green_signed_message_with_its_ticket(
        platform: Platform, smtp: SmtpServer, tmp_path: Path) -> None:
    gpg, home = keyring("cert@cert.example")
    try:
        fingerprint = gpg.list_keys(True)[0]["fingerprint"]
        configure(platform, smtp, tmp_path, notify_tlp_ceiling=TLP.GREEN, notify_gpg_home=home,
                  notify_gpg_key=fingerprint)
        case_id = mixed_incident(platform, rsit_class="malicious-code:trojan")
        notify(platform, case_id)
        assert deliver_due(platform, now=T0).sent == 1
        (got,) = smtp.handler.received
        assert got.recipients == ["pf-cyber@interieur.gouv.example"]
        message = got.message
        subject = str(message["Subject"])
        assert subject.startswith(f"[TLP:GREEN] [VIGIE#{case_id}] Incident de sécurité concernant {INTERIEUR}")
        assert message.get_content_type() == "multipart/signed"
        signed, signature = signed_parts(got.raw)
        sig_file = tmp_path / "sig.asc"
        sig_file.write_bytes(signature)
        verified = gpg.verify_data(str(sig_file), signed)
        assert verified.valid and verified.fingerprint == fingerprint
        assert not gpg.verify_data(str(sig_file), signed.replace(b"198.51.100.10", b"198.51.100.11")).valid
        body = message.get_body().get_content()  # type: ignore[union-attr]
        assert body.startswith("TLP:GREEN")
        assert "Bonjour Fatou Ndiaye" in body and f"Ticket : VIGIE#{case_id}" in body
        assert "ip: 198.51.100.10 (TLP:CLEAR)" in body and "domain: green-c2.example" in body
        assert "isolez les machines" in body  # the text of the malicious-code class
        everything = got.raw.decode("utf-8", "replace") + subject + body
        for secret in ("203.0.113.20", "192.0.2.30", "ministre X", "M. Y", "AMBER :"):
            assert secret not in everything
        link = next(line for line in body.splitlines() if "/ack/" in line).strip()
        claim = read_ack_token(platform.settings, link.rsplit("/", 1)[1])
        assert (claim.case_id, claim.organization) == (case_id, "min-interieur")
    finally:
        drop_keyring(gpg, home)


def test_escalation_deputy_then_ciso_then_duty_on_schedule(platform: Platform, smtp: SmtpServer,
                                                           tmp_path: Path) -> None:
    configure(platform, smtp, tmp_path)
    case_id = mixed_incident(platform, severity="critical")  # 60 minutes to acknowledge each step
    notify(platform, case_id)
    steps = []
    for minutes in (59, 61, 100, 122, 183, 400):
        with platform.db.session() as s:
            steps.append([(r.recipient_email, r.escalation_step)
                          for r in escalate(s, platform, now=T0 + timedelta(minutes=minutes))])
    assert steps == [[], [("suppleant-cyber@interieur.gouv.example", 1)], [], [("rssi@interieur.gouv.example", 2)],
                     [("permanence@cert.example", 3)], []]
    deliver_due(platform, now=T0 + timedelta(hours=8))
    by_recipient = {r.recipients[0]: r.message for r in smtp.handler.received}
    assert str(by_recipient["suppleant-cyber@interieur.gouv.example"]["Subject"]).startswith(
        f"[TLP:AMBER] [VIGIE#{case_id}] Escalade")
    english = by_recipient["rssi@interieur.gouv.example"]
    assert str(english["Subject"]).startswith(f"[TLP:AMBER] [VIGIE#{case_id}] Escalation: incident VIGIE#{case_id}")
    assert "nobody has acknowledged it yet" in english.get_body().get_content()  # type: ignore[union-attr]
    with platform.db.session() as s:
        entries = s.scalars(select(TimelineEntry).where(TimelineEntry.case_id == case_id,
                                                        TimelineEntry.kind == "escalated")).all()
        assert [e.data["step"] for e in entries] == [1, 2, 3]


def test_an_acknowledgement_stops_escalation(platform: Platform, smtp: SmtpServer, tmp_path: Path) -> None:
    configure(platform, smtp, tmp_path)
    case_id = mixed_incident(platform, severity="critical")
    notify(platform, case_id)
    with platform.db.session() as s:
        acknowledge(s, s.get_one(Case, case_id), "min-interieur", "link", "link", now=T0 + timedelta(minutes=5))
        assert escalate(s, platform, now=T0 + timedelta(hours=10)) == []


def test_a_refusal_is_retried_with_back_off_and_a_message_dies_after_the_most_attempts(
        platform: Platform, smtp: SmtpServer, tmp_path: Path) -> None:
    configure(platform, smtp, tmp_path, notify_retry_seconds=60, notify_max_attempts=3)
    smtp.handler.refuse = 1
    (first,) = notify(platform, mixed_incident(platform))
    report = deliver_due(platform, now=T0)
    assert (report.sent, report.failed) == (0, 1)
    with platform.db.session() as s:
        row = s.get_one(Notification, first)
        assert (row.state, row.attempts) == ("failed", 1) and row.last_error.startswith("451")
    assert deliver_due(platform, now=T0 + timedelta(seconds=59)).sent == 0  # not before its time
    assert deliver_due(platform, now=T0 + timedelta(seconds=61)).sent == 1
    assert len(smtp.handler.received) == 1

    smtp.handler.refuse = 10
    (second,) = notify(platform, mixed_incident(platform), now=T0)
    moments = [T0, T0 + timedelta(seconds=61), T0 + timedelta(seconds=61 + 121)]
    for when in moments:
        deliver_due(platform, now=when)
    with platform.db.session() as s:
        row = s.get_one(Notification, second)
        assert (row.state, row.attempts) == ("dead", 3) and "451" in row.last_error
    assert deliver_due(platform, now=T0 + timedelta(days=1)).sent == 0  # dead stays dead, still listed
    assert len(smtp.handler.received) == 1


def test_starttls_and_login_and_a_wrong_password_never_logged(platform: Platform, tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    import ssl

    cert, key = self_signed(tmp_path)
    server = start_smtp(tls=(cert, key), password="s3cret-relay")
    try:
        configure(platform, server, tmp_path, smtp_starttls=True, smtp_username="vigie",
                  smtp_password="wrong-password-xyz")
        trust = ssl.create_default_context(cafile=str(cert))
        notify(platform, mixed_incident(platform))
        assert deliver_due(platform, now=T0, tls_context=trust).failed == 1
        with platform.db.session() as s:
            (row,) = s.scalars(select(Notification)).all()
            assert row.state == "failed" and "535" in row.last_error
        assert "wrong-password-xyz" not in caplog.text and "wrong-password-xyz" not in row.last_error
        assert platform.settings.redacted()["smtp_password"] == "***"
        platform.settings = replace(platform.settings, smtp_password="s3cret-relay")
        assert deliver_due(platform, now=T0 + timedelta(hours=1), tls_context=trust).sent == 1
        assert server.logins and server.logins[0][0] == "vigie"
        assert len(server.handler.received) == 1
    finally:
        server.controller.stop()


def test_pgp_encrypted_to_the_contact_and_signed_by_the_cert(platform: Platform, smtp: SmtpServer,
                                                             tmp_path: Path) -> None:
    cert_gpg, cert_home = keyring("cert@cert.example")
    contact_gpg, contact_home = keyring("pf-cyber@justice.gouv.example")
    try:
        public = contact_gpg.export_keys(contact_gpg.list_keys()[0]["fingerprint"])
        (tmp_path / "constituency.toml").write_text(CONSTITUENCY.format(pgp=public, smime=""), encoding="utf-8")
        fingerprint = cert_gpg.list_keys(True)[0]["fingerprint"]
        configure(platform, smtp, tmp_path, notify_gpg_home=cert_home, notify_gpg_key=fingerprint)
        contact_gpg.import_keys(cert_gpg.export_keys(fingerprint))
        case_id = mixed_incident(platform, organization="Ministère de la Justice")
        notify(platform, case_id)
        assert deliver_due(platform, now=T0).sent == 1
        (got,) = smtp.handler.received
        assert got.message.get_content_type() == "multipart/encrypted"
        assert b"198.51.100.10" not in got.raw and b"Hello Ibrahima" not in got.raw  # the body is encrypted
        armoured = got.raw.split(b"-----BEGIN PGP MESSAGE-----", 1)[1].split(b"-----END PGP MESSAGE-----")[0]
        clear = contact_gpg.decrypt(b"-----BEGIN PGP MESSAGE-----" + armoured + b"-----END PGP MESSAGE-----")
        assert clear.ok and clear.valid and clear.fingerprint == fingerprint
        text = clear.data.decode()
        assert "Hello Ibrahima Sow" in text and f"VIGIE#{case_id}" in str(got.message["Subject"])
    finally:
        drop_keyring(cert_gpg, cert_home)
        drop_keyring(contact_gpg, contact_home)


def test_smime_signed_for_a_contact_with_a_certificate(platform: Platform, smtp: SmtpServer, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "cert-smime")
    contact_cert, _ = self_signed(tmp_path, "contact")
    (tmp_path / "constituency.toml").write_text(
        CONSTITUENCY.format(pgp="", smime=contact_cert.read_text()), encoding="utf-8")
    configure(platform, smtp, tmp_path, notify_smime_cert_file=cert, notify_smime_key_file=key)
    notify(platform, mixed_incident(platform, organization="Ministère des Finances"))
    assert deliver_due(platform, now=T0).sent == 1
    (got,) = smtp.handler.received
    assert got.message.get_content_type() == "multipart/signed"
    mail = tmp_path / "received.eml"
    mail.write_bytes(got.raw)
    ok = subprocess.run(["openssl", "smime", "-verify", "-in", str(mail), "-CAfile", str(cert), "-purpose", "any"],
                        capture_output=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert b"Bonjour Aminata" in ok.stdout or b"Bonjour Aminata" in got.raw
    mail.write_bytes(got.raw.replace(b"Aminata", b"Aminatx"))
    tampered = subprocess.run(["openssl", "smime", "-verify", "-in", str(mail), "-CAfile", str(cert),
                               "-purpose", "any"], capture_output=True, timeout=60)
    assert tampered.returncode != 0


def test_the_cli_delivers_escalates_and_aggregates(platform: Platform, smtp: SmtpServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from cert.cli import main

    configure(platform, smtp, tmp_path)
    notify(platform, mixed_incident(platform), now=datetime.now(UTC) - timedelta(hours=5))
    for name, value in (("SMTP_HOST", "127.0.0.1"), ("SMTP_PORT", str(smtp.port)), ("DUTY_EMAIL", "p@cert.example"),
                        ("CONSTITUENCY_FILE", str(tmp_path / "constituency.toml")), ("SECRET_KEY", "test-secret-key")):
        monkeypatch.setenv(f"CERT_{name}", value)
    data = ["--data-dir", str(platform.settings.data_dir)]
    assert main([*data, "notify", "escalate"]) == 0  # high: 4 hours to acknowledge, 5 have passed
    assert main([*data, "notify", "deliver"]) == 0
    assert main([*data, "notify", "aggregate"]) == 0
    out = capsys.readouterr().out
    assert "escalations queued: 1" in out and "notifications: 2 sent, 0 failed" in out
    assert sorted(r.recipients[0] for r in smtp.handler.received) == [
        "pf-cyber@interieur.gouv.example", "suppleant-cyber@interieur.gouv.example"]


def test_the_notify_service_escalates_and_delivers_in_one_pass(platform: Platform, smtp: SmtpServer,
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`cert notify run` (the compose service's command, without --loop): one pass queues the
    escalation that is due and sends it with the first notification."""
    from cert.cli import main

    configure(platform, smtp, tmp_path)
    notify(platform, mixed_incident(platform), now=datetime.now(UTC) - timedelta(hours=5))
    for name, value in (("SMTP_HOST", "127.0.0.1"), ("SMTP_PORT", str(smtp.port)),
                        ("CONSTITUENCY_FILE", str(tmp_path / "constituency.toml")), ("SECRET_KEY", "test-secret-key")):
        monkeypatch.setenv(f"CERT_{name}", value)
    assert main(["--data-dir", str(platform.settings.data_dir), "notify", "run"]) == 0
    assert "escalations queued: 1; aggregated: 0; 2 sent, 0 failed" in capsys.readouterr().out
    assert sorted(r.recipients[0] for r in smtp.handler.received) == [
        "pf-cyber@interieur.gouv.example", "suppleant-cyber@interieur.gouv.example"]
