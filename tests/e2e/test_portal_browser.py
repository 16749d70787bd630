"""End to end, in a real browser: the Interior ministry's focal point logs in to the portal, sees
its ministry's incident and not the Justice ministry's, acknowledges it and comments; the
analyst's page of the incident then shows the acknowledgement and the comment on its timeline.

The console runs as `cert init` + `cert useradd` + `cert serve` on a fresh data directory
(embedded mode, the shipped constituency); the incidents are written into the data directory's
database before the server starts. Processes are stopped by their pid.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from test_browser import CHROMIUM, LOOPBACK, Processes, browser_page, free_port, wait_healthy

pytestmark = pytest.mark.browser

__all__ = ["browser_page"]  # the fixture, shared with the console's browser test

ANALYST = "analyste-portail"
FOCAL_POINT = "pf-interieur"
MINE = "Hameçonnage visant la messagerie"
OTHER = "Rançongiciel au greffe"
COMMENT = "Serveur isolé à 10h <b>ce matin</b>"


@dataclass
class Served:
    url: str
    password: str
    mine: int
    other: int
    procs: Processes

    def diagnostics(self) -> str:
        return "\n".join(f"--- {name}\n{path.read_text(errors='replace')[-3000:]}"
                         for name, path in self.procs.logs.items())


def _incidents(data_dir: Path) -> tuple[int, int]:
    from cert.core.config import Settings
    from cert.incidents.cases import add_observable
    from cert.runtime.platform import Platform
    from cert.storage.models import Case

    platform = Platform(replace(Settings(), data_dir=data_dir))
    try:
        with platform.db.session() as s:
            mine = Case(title=MINE, tlp="amber", severity="high", description="Des courriels piégés depuis mx1",
                        created_by=ANALYST, organization="Ministère de l'Intérieur")
            other = Case(title=OTHER, tlp="amber", created_by=ANALYST, organization="Ministère de la Justice")
            s.add_all([mine, other])
            s.flush()
            add_observable(s, mine, "domain", "phish-interieur.example", tlp="amber")
            return mine.id, other.id
    finally:
        platform.close()


@pytest.fixture
def portal_console(tmp_path: Path) -> Iterator[Served]:
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
        procs.run("analyst", *base, "useradd", ANALYST, "--role", "analyst", f"--password={password}", timeout=60)
        procs.run("focal", *base, "useradd", FOCAL_POINT, "--role", "focal_point", "--organization",
                  "min-interieur", f"--password={password}", timeout=60)
        mine, other = _incidents(data_dir)
        url = f"http://{LOOPBACK}:{free_port()}"
        server = procs.spawn("serve", *base, "serve", "--host", LOOPBACK, "--port", url.rsplit(":", 1)[1])
        wait_healthy(url, server, procs.logs["serve"])
        yield Served(url, password, mine, other, procs)
    finally:
        procs.stop_all()


def _login(page: Any, url: str, username: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("main form button[type=submit]").click()


def test_a_focal_point_acknowledges_and_comments_and_the_analyst_sees_it(portal_console: Served,
                                                                         browser_page: Any) -> None:
    from playwright.sync_api import expect

    served, page = portal_console, browser_page
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    # the focal point lands on its ministry's incidents, and only those
    _login(page, served.url, FOCAL_POINT, served.password)
    page.wait_for_url(re.compile(r"/portal/$"))
    listing = page.locator("table#portal-incidents")
    expect(listing).to_contain_text(MINE)
    expect(listing.locator(f"#portal-incident-{served.mine} .ack-state")).to_contain_text("pas encore")
    assert OTHER not in page.content()
    assert page.goto(f"{served.url}/portal/incidents/{served.other}").status == 404

    # it opens its incident, acknowledges it, and comments
    page.goto(f"{served.url}/portal/")
    listing.get_by_role("link", name=MINE).click()
    page.wait_for_url(re.compile(rf"/portal/incidents/{served.mine}$"))
    expect(page.locator("#portal-items")).to_contain_text("phish-interieur.example")
    page.locator("form#acknowledge button[type=submit]").click()
    expect(page.locator("p.flash.ok")).to_contain_text(f"Réception de l'incident #{served.mine} accusée pour "
                                                       "Ministère de l'Intérieur")
    expect(page.locator("#ack-done")).to_contain_text(f"par {FOCAL_POINT}")
    page.fill("#portal-comment-text", COMMENT)
    page.locator("form#add-comment button[type=submit]").click()
    expect(page.locator("p.flash.ok")).to_contain_text("Votre commentaire est sur la chronologie")
    expect(page.locator("ol#timeline")).to_contain_text(COMMENT)  # as typed: the markup is text
    assert page.locator("ol#timeline b").count() == 0
    page.goto(f"{served.url}/portal/")
    expect(page.locator(f"#portal-incident-{served.mine} .ack-state")).to_contain_text("oui")
    page.locator("header form button[type=submit]").click()  # log out

    # the analyst's page of the incident shows both on the timeline
    _login(page, served.url, ANALYST, served.password)
    page.wait_for_url(re.compile(r"/alerts/"))
    page.goto(f"{served.url}/cases/{served.mine}")
    timeline = page.locator("ol#timeline")
    expect(timeline).to_contain_text("Ministère de l'Intérieur a accusé réception de l'incident dans le portail.")
    expect(timeline).to_contain_text(f"de Ministère de l'Intérieur : {COMMENT}")
    expect(timeline).to_contain_text(FOCAL_POINT)
    assert timeline.locator("b").count() == 0
    assert not problems, [*problems, served.diagnostics()]
