"""End to end, in a real browser: an analyst opens an incident of mixed markings, opens the
preview for the TLP:GREEN partner cert-voisin (its GREEN and CLEAR indicators leave, the AMBER
and RED ones stay with the policy's reasons in French, a neutral title replaces the AMBER one),
publishes the incident to it through the form, and sees the publication live.

The console runs as `cert init` + `cert useradd` + `cert serve` on a fresh data directory
(embedded mode, the shipped constituency and its sample partners); the incident is written into
the data directory's database before the server starts. Processes are stopped by their pid.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_browser import CHROMIUM, LOOPBACK, Console, Processes, browser_page, free_port, wait_healthy

pytestmark = pytest.mark.browser

__all__ = ["browser_page"]  # the fixture, shared with the console's browser test

ANALYST = "analyste-partage"
TITLE = "Fuite chez le ministre X"


def _mixed_incident(data_dir: Path) -> int:
    from cert.core.config import Settings
    from cert.incidents.cases import add_observable
    from cert.runtime.platform import Platform
    from cert.storage.models import Case

    platform = Platform(replace(Settings(), data_dir=data_dir))
    try:
        with platform.db.session() as s:
            case = Case(title=TITLE, title_tlp="amber", tlp="amber", pap="green", description="Le compte de M. Y",
                        created_by=ANALYST, organization="Ministère de l'Intérieur")
            s.add(case)
            s.flush()
            for kind, value, tlp in (("ip", "198.51.100.10", "clear"), ("domain", "green-c2.example", "green"),
                                     ("ip", "203.0.113.20", "amber"), ("ip", "192.0.2.30", "red")):
                add_observable(s, case, kind, value, tlp=tlp)
            return case.id
    finally:
        platform.close()


@pytest.fixture
def sharing_console(tmp_path: Path) -> Iterator[tuple[Console, int]]:
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    data_dir, workdir = tmp_path / "data", tmp_path / "run"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1")
    password = secrets.token_urlsafe(12)
    procs = Processes(workdir, env)
    base = ["--data-dir", str(data_dir)]
    try:
        procs.run("init", *base, "init", timeout=60)
        procs.run("useradd", *base, "useradd", ANALYST, "--role", "analyst", f"--password={password}", timeout=60)
        case_id = _mixed_incident(data_dir)
        url = f"http://{LOOPBACK}:{free_port()}"
        server = procs.spawn("serve", *base, "serve", "--host", LOOPBACK, "--port", url.rsplit(":", 1)[1])
        wait_healthy(url, server, procs.logs["serve"])
        yield Console("embedded", url, data_dir, password, procs.logs), case_id
    finally:
        procs.stop_all()


def test_an_analyst_previews_then_publishes_to_a_partner(sharing_console: tuple[Console, int],
                                                         browser_page: Any) -> None:
    from playwright.sync_api import expect

    (console, case_id), page = sharing_console, browser_page
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    page.goto(console.url + "/login")
    page.fill("input[name=username]", ANALYST)
    page.fill("input[name=password]", console.password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/alerts/"))
    case_url = f"{console.url}/cases/{case_id}"
    page.goto(case_url)

    # the panel: cert-voisin not yet published; its preview closed until opened
    row = page.locator("#partner-cert-voisin")
    expect(row.locator(".partner-terms")).to_contain_text("TLP:GREEN")
    expect(row.locator(".publication-state")).to_contain_text("non publié")
    preview = page.locator("#preview-cert-voisin")
    expect(preview.locator("table.preview-items")).to_be_hidden()
    preview.locator("summary").click()
    leaves = preview.locator("table.preview-items")
    expect(leaves).to_be_visible()
    expect(leaves).to_contain_text("198.51.100.10")
    expect(leaves).to_contain_text("green-c2.example")
    stays = preview.locator("table.preview-withheld")
    expect(stays).to_contain_text("TLP:AMBER est au-dessus du plafond du destinataire TLP:GREEN")
    expect(stays).to_contain_text("TLP:RED ne sort jamais dans un partage")
    expect(preview.locator(".preview-title")).to_contain_text("titre neutre")
    leaving = leaves.inner_text() + preview.locator(".preview-title").inner_text()
    assert "203.0.113.20" not in leaving and "192.0.2.30" not in leaving and "ministre X" not in leaving, leaving

    # publish to cert-voisin only
    page.locator("#publish-cert-voisin").check()
    page.locator("form#publish-partners button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/cases/{case_id}#section-partners$"))
    expect(page.locator("p.flash.ok")).to_contain_text("Publié à CERT national voisin")
    state = page.locator("#partner-cert-voisin .publication-state")
    expect(state.locator(".publication-live")).to_have_text("publié")
    expect(state).to_contain_text(f"par {ANALYST}")
    expect(page.locator("#partner-cert-voisin .leaving-count")).to_contain_text("2 sortent vers lui maintenant")
    expect(page.locator("#withdraw-cert-voisin button")).to_be_visible()
    expect(page.locator("#partner-cert-regional .publication-state")).to_contain_text("non publié")
    expect(page.locator("ol#timeline")).to_contain_text("Publié aux partenaires cert-voisin")
    assert not problems, [*problems, console.diagnostics()]
