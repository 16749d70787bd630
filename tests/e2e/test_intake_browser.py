"""In a real browser: a citizen reports an incident with the public form (no account) and gets a
ticket number; a ministry e-mails a report to ``cert intake smtp`` and replies with the ticket;
the analyst sees both reports, the reply threaded into the e-mailed one, the file's SHA-256, and
what the citizen typed shown as text, never run.

The console runs as `cert init` then `cert serve` (embedded mode, plain http on the loopback),
the SMTP receiver as `cert intake smtp`, all on a fresh data directory."""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from test_browser import (
    CHROMIUM,
    LOOPBACK,
    Processes,
    browser_page,  # noqa: F401 - fixture
    free_port,
    wait_healthy,
)

pytestmark = pytest.mark.browser

ADMIN_PASSWORD = "an-admin-password-1"
CERT = "signalement@cert.gouv.example"
FOCAL = "pf-cyber@interieur.gouv.example"
HOSTILE = '<img src=x onerror="document.title=\'pwned\'">Site défiguré'


@dataclass
class Served:
    url: str
    smtp_port: int


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Served]:
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    data_dir, workdir = tmp_path / "data", tmp_path / "run"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", CERT_ADMIN_PASSWORD=ADMIN_PASSWORD,
               CERT_SESSION_COOKIE_SECURE="false", CERT_INTAKE_SMTP_DOMAINS="cert.gouv.example")
    procs = Processes(workdir, env)
    base = ["--data-dir", str(data_dir)]
    try:
        procs.run("init", *base, "init", timeout=120)
        port, smtp_port = free_port(), free_port()
        url = f"http://{LOOPBACK}:{port}"
        server = procs.spawn("serve", *base, "serve", "--host", LOOPBACK, "--port", str(port))
        procs.spawn("smtp", *base, "intake", "smtp", "--listen", f"{LOOPBACK}:{smtp_port}")
        wait_healthy(url, server, procs.logs["serve"])
        yield Served(url, smtp_port)
    finally:
        procs.stop_all()


def send(port: int, subject: str, text: str, files: tuple[tuple[str, bytes], ...] = ()) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Fatou Ndiaye <{FOCAL}>", CERT, subject
    msg["Message-ID"] = f"<{os.urandom(8).hex()}@interieur.gouv.example>"
    msg.set_content(text)
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    deadline = time.monotonic() + 30
    while True:
        try:
            with smtplib.SMTP(LOOPBACK, port, timeout=30) as smtp:
                smtp.send_message(msg)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_public_form_and_emailed_report(console: Served, browser_page: Any, tmp_path: Path) -> None:  # noqa: F811
    page = browser_page
    evidence = tmp_path / "capture.png"
    evidence.write_bytes(b"\x89PNG\r\n\x1a\n" + b"pixels" * 200)

    page.goto(console.url + "/report")
    assert page.locator("h1").inner_text() == "Signaler un incident au CERT"
    page.fill("#subject", HOSTILE)
    page.fill("#description", "La page d'accueil du site de la mairie affiche un message de revendication.")
    page.fill("#email", "awa@example.org")
    page.set_input_files("#attachment", str(evidence))
    page.click("#public-report button[type=submit]")
    ticket = page.locator("#ticket").inner_text()
    assert re.fullmatch(r"\[VIGIE-R#\d+\]", ticket)
    assert page.locator("#file-sha256").inner_text() == hashlib.sha256(evidence.read_bytes()).hexdigest()

    send(console.smtp_port, "Hameçonnage visant les agents", "Un faux portail de messagerie circule.",
         files=(("message.eml", b"From: x@evil.example\r\n\r\nfaux portail\r\n"),))
    page.goto(console.url + "/login")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("form button[type=submit]")
    page.goto(console.url + "/intake/?source=email")
    page.click("text=Hameçonnage visant les agents")
    emailed = page.locator("#report-ticket").inner_text()
    assert "Ministère de l'Intérieur" in page.content()
    send(console.smtp_port, f"RE: {emailed} Hameçonnage", "Le faux portail est bloqué sur notre proxy.")
    page.reload()
    assert "Le faux portail est bloqué sur notre proxy." in page.locator("#report-messages").inner_text()
    assert hashlib.sha256(b"From: x@evil.example\r\n\r\nfaux portail\r\n").hexdigest() in page.locator(
        "#report-files").inner_text()

    page.goto(console.url + "/intake/?source=web-form")
    page.click("text=Site défiguré")
    assert HOSTILE in page.locator("h1").inner_text()  # shown as text
    assert page.title() != "pwned" and page.locator("img[src=x]").count() == 0
