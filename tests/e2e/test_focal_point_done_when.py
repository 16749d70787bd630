"""A ministry notified of its incidents, end to end with real servers and a real browser:

- an incident on a server of the Interior ministry triggers a notification (a responder clicks
  "Notifier l'organisation" on the incident page); `cert notify deliver` sends it to a real SMTP
  server on 127.0.0.1, which receives it in French, marked TLP, with its ticket, signed with the
  CERT's OpenPGP key (gpg verifies the signature of the bytes received);
- the ministry's focal point logs in to the portal, sees its ministry's incidents and not the
  Justice ministry's, acknowledges the first and comments;
- the second incident, notified too and never acknowledged, escalates on schedule: escalation runs
  with the clock moved past the SLA, and the deputy receives the escalation while the
  acknowledged incident does not escalate.

The console runs as `cert init` + `cert useradd` + `cert serve`; `cert notify deliver` as a
separate process with the same settings. Processes are stopped by their pid."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mail_support import SmtpServer, drop_keyring, keyring, signed_parts, start_smtp
from test_browser import CHROMIUM, LOOPBACK, Processes, browser_page, free_port, wait_healthy

pytestmark = pytest.mark.browser

__all__ = ["browser_page"]

RESPONDER = "intervenant-pf"
FOCAL_POINT = "pf-interieur"
FIRST = "Webshell sur le serveur de messagerie"
SECOND = "Balayage depuis le serveur de fichiers"
OTHER = "Rançongiciel au greffe"
COMMENT = "Serveur isolé, analyse en cours"
INTERIEUR = "Ministère de l'Intérieur"


@dataclass
class Served:
    url: str
    password: str
    ids: dict[str, int]
    procs: Processes
    smtp: SmtpServer
    env: dict[str, str]
    data_dir: Path
    gpg: Any
    fingerprint: str

    def diagnostics(self) -> str:
        return "\n".join(f"--- {name}\n{path.read_text(errors='replace')[-3000:]}"
                         for name, path in self.procs.logs.items())


def _incidents(data_dir: Path, env: dict[str, str]) -> dict[str, int]:
    from cert.core.config import load_settings
    from cert.incidents.cases import add_observable
    from cert.runtime.platform import Platform
    from cert.storage.models import Case

    platform = Platform(replace(load_settings(env=env), data_dir=data_dir))
    try:
        with platform.db.session() as s:
            made = {}
            for key, title, org, server in (("first", FIRST, INTERIEUR, "10.10.5.20"),
                                            ("second", SECOND, INTERIEUR, "10.10.7.3"),
                                            ("other", OTHER, "Ministère de la Justice", "10.11.2.9")):
                case = Case(title=title, title_tlp="green", tlp="green", pap="green", severity="high",
                            description="Détecté par la règle de webshell", created_by=RESPONDER, organization=org)
                s.add(case)
                s.flush()
                add_observable(s, case, "ip", server, tlp="green")
                made[key] = case.id
            return made
    finally:
        platform.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    smtp = start_smtp()
    gpg, home = keyring("cert@cert.example")
    fingerprint = gpg.list_keys(True)[0]["fingerprint"]
    data_dir, workdir = tmp_path / "data", tmp_path / "run"
    workdir.mkdir()
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", CERT_SMTP_HOST="127.0.0.1", CERT_SMTP_PORT=str(smtp.port),
               CERT_SMTP_FROM="cert@cert.example", CERT_DUTY_EMAIL="permanence@cert.example",
               CERT_NOTIFY_GPG_HOME=str(home), CERT_NOTIFY_GPG_KEY=fingerprint, CERT_NOTIFY_PUBLIC_URL=url,
               CERT_NOTIFY_TLP_CEILING="green", CERT_SECRET_KEY="done-when-secret")
    password = secrets.token_urlsafe(12)
    procs = Processes(workdir, env)
    base = ["--data-dir", str(data_dir)]
    try:
        procs.run("init", *base, "init", timeout=60)
        procs.run("responder", *base, "useradd", RESPONDER, "--role", "responder", f"--password={password}",
                  timeout=60)
        procs.run("focal", *base, "useradd", FOCAL_POINT, "--role", "focal_point", "--organization",
                  "min-interieur", f"--password={password}", timeout=60)
        ids = _incidents(data_dir, env)
        server = procs.spawn("serve", *base, "serve", "--host", LOOPBACK, "--port", str(port))
        wait_healthy(url, server, procs.logs["serve"])
        yield Served(url, password, ids, procs, smtp, env, data_dir, gpg, fingerprint)
    finally:
        procs.stop_all()
        smtp.controller.stop()
        drop_keyring(gpg, home)


def _login(page: Any, url: str, username: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("main form button[type=submit]").click()


def _notify(page: Any, served: Served, key: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{served.url}/cases/{served.ids[key]}")
    page.locator("form#notify-organization button[type=submit]").click()
    expect(page.locator("p.flash.ok")).to_contain_text("notification(s)")


def test_notified_in_french_signed_acknowledged_in_the_portal_and_escalated_when_not(served: Served,
                                                                                    browser_page: Any) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, ["--data-dir", str(served.data_dir)]
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    # the responder notifies the ministry of both incidents; the delivery process sends them
    _login(page, served.url, RESPONDER, served.password)
    page.wait_for_url(re.compile(r"/alerts/"))
    _notify(page, served, "first")
    _notify(page, served, "second")
    page.locator("header form button[type=submit]").click()
    served.procs.run("deliver", *base, "notify", "deliver", timeout=120)
    received = [m for m in served.smtp.handler.received if m.recipients == ["pf-cyber@interieur.gouv.example"]]
    assert len(received) == 2, served.diagnostics()
    first = next(m for m in received if f"[VIGIE#{served.ids['first']}]" in str(m.message["Subject"]))
    subject = str(first.message["Subject"])
    assert subject.startswith(f"[TLP:GREEN] [VIGIE#{served.ids['first']}]") and INTERIEUR in subject
    assert first.message.get_content_type() == "multipart/signed"
    signed, signature = signed_parts(first.raw)
    sig_file = served.procs.workdir / "first.asc"
    sig_file.write_bytes(signature)
    verified = served.gpg.verify_data(str(sig_file), signed)
    assert verified.valid and verified.fingerprint == served.fingerprint
    text = signed.decode("utf-8", errors="replace")
    assert f"Incident de sécurité concernant {INTERIEUR}" in subject
    assert "10.10.5.20" in text and OTHER not in text

    # the focal point sees its ministry's incidents only, acknowledges the first and comments
    _login(page, served.url, FOCAL_POINT, served.password)
    page.wait_for_url(re.compile(r"/portal/$"))
    listing = page.locator("table#portal-incidents")
    expect(listing).to_contain_text(FIRST)
    expect(listing).to_contain_text(SECOND)
    assert OTHER not in page.content()
    assert page.goto(f"{served.url}/portal/incidents/{served.ids['other']}").status == 404
    page.goto(f"{served.url}/portal/incidents/{served.ids['first']}")
    page.locator("form#acknowledge button[type=submit]").click()
    expect(page.locator("p.flash.ok")).to_contain_text("accusée pour Ministère de l'Intérieur")
    page.fill("#portal-comment-text", COMMENT)
    page.locator("form#add-comment button[type=submit]").click()
    expect(page.locator("ol#timeline")).to_contain_text(COMMENT)

    # five hours later (the clock injected; a high incident is to be acknowledged within four): the
    # second incident escalates to the deputy, the acknowledged one does not
    from cert.core.config import load_settings
    from cert.notify import deliver_due, escalate
    from cert.runtime.platform import Platform

    later = datetime.now(UTC) + timedelta(hours=5)
    platform = Platform(replace(load_settings(env=served.env), data_dir=served.data_dir))
    try:
        with platform.db.session() as s:
            queued = escalate(s, platform, now=later)
            escalated = sorted({int(n.case_id or 0) for n in queued})
        assert escalated == [served.ids["second"]]
        assert deliver_due(platform, now=later).sent == 1
    finally:
        platform.close()
    deputy = [m for m in served.smtp.handler.received if m.recipients == ["suppleant-cyber@interieur.gouv.example"]]
    assert len(deputy) == 1 and f"[VIGIE#{served.ids['second']}]" in str(deputy[0].message["Subject"])

    # the responder's incident pages show the acknowledgement, the comment and the escalation
    page.locator("header form button[type=submit]").click()
    _login(page, served.url, RESPONDER, served.password)
    page.wait_for_url(re.compile(r"/alerts/"))
    page.goto(f"{served.url}/cases/{served.ids['first']}")
    timeline = page.locator("ol#timeline")
    expect(timeline).to_contain_text("a accusé réception de l'incident dans le portail")
    expect(timeline).to_contain_text(COMMENT)
    page.goto(f"{served.url}/cases/{served.ids['second']}")
    expect(page.locator("ol#timeline")).to_contain_text(
        f"Non pris en charge par {INTERIEUR} en 240 minutes : escalade vers Ibrahima Sow")
    assert not problems, [*problems, served.diagnostics()]
