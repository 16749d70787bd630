"""End to end, in a real browser: an admin whose role requires a second factor (the
``totp_required_roles`` setting) logs in, is sent to the enrolment page, reads the key shown
beside the QR code, types the code of an authenticator (computed here with pyotp), keeps the
recovery codes, logs out, and logs in again with password and code; the same code is then
refused, and a recovery code works.

The console runs as `cert init` + `cert useradd` + `cert serve` on a fresh data directory (embedded mode);
processes are stopped by their pid.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from test_browser import CHROMIUM, LOOPBACK, Console, Processes, browser_page, free_port, wait_healthy

pytestmark = pytest.mark.browser

__all__ = ["browser_page"]  # the fixture, shared with the console's browser test

ADMIN = "chef"


@pytest.fixture
def totp_console(tmp_path: Path) -> Iterator[Console]:
    """`cert useradd` (an admin) then `cert serve`, admins required to use a second factor."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    data_dir, workdir = tmp_path / "data", tmp_path / "run"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", CERT_TOTP_REQUIRED_ROLES="admin")
    password = secrets.token_urlsafe(12)
    procs = Processes(workdir, env)
    base = ["--data-dir", str(data_dir)]
    try:
        procs.run("init", *base, "init", timeout=60)
        procs.run("useradd", *base, "useradd", ADMIN, "--role", "admin", f"--password={password}", timeout=60)
        url = f"http://{LOOPBACK}:{free_port()}"
        server = procs.spawn("serve", *base, "serve", "--host", LOOPBACK, "--port", url.rsplit(":", 1)[1])
        wait_healthy(url, server, procs.logs["serve"])
        yield Console("embedded", url, data_dir, password, procs.logs)
    finally:
        procs.stop_all()


def log_in(page: Any, console: Console) -> None:
    page.goto(console.url + "/login")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", console.password)
    page.locator("main form button[type=submit]").click()


def type_code(page: Any, code: str) -> None:
    page.wait_for_url(re.compile(r"/login/code$"))
    page.fill("form#totp-code input[name=code]", code)
    page.locator("form#totp-code button[type=submit]").click()


def test_enrol_then_log_in_with_password_and_code(totp_console: Console, browser_page: Any) -> None:
    from playwright.sync_api import expect

    page, console = browser_page, totp_console
    diag = console.diagnostics

    # 1. the password alone leads to the enrolment page, and nowhere else
    log_in(page, console)
    page.wait_for_url(re.compile(r"/login/enrol$"))
    expect(page.locator("h1")).to_have_text("Configurer un second facteur")
    page.goto(console.url + "/alerts/")
    page.wait_for_url(re.compile(r"/login"))
    assert "/alerts/" not in page.url.split("?")[0], page.url
    page.goto(console.url + "/login/enrol")

    # 2. the QR code is drawn (an inline SVG image the CSP allows) and the key is shown beside it
    qr = page.locator("img#totp-qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR code image did not load" + diag()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    otp = pyotp.TOTP(secret)
    page.fill("form#totp-confirm input[name=code]", otp.at(time.time() - 30))  # an authenticator a bit late
    page.locator("form#totp-confirm button[type=submit]").click()

    # 3. recovery codes, shown once; then the console
    expect(page.locator("h1")).to_have_text("Codes de secours")
    codes = [c.strip() for c in page.locator("#recovery-codes li").all_inner_texts()]
    assert len(codes) == 10, codes
    page.locator("a#continue").click()
    page.wait_for_url(re.compile(r"/alerts/"))
    expect(page.locator("h1")).to_have_text("File des alertes")

    # 4. log out, log in with password and the current code
    page.locator("header form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/login"))
    log_in(page, console)
    code = otp.now()
    type_code(page, code)
    page.wait_for_url(re.compile(r"/alerts/"))
    expect(page.locator("header .who")).to_contain_text(ADMIN)

    # 5. the same code a second time is refused; a recovery code works once
    page.locator("header form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/login"))
    log_in(page, console)
    type_code(page, code)
    expect(page.locator("p.flash.error")).to_contain_text("Ce code n'est pas valide")
    assert page.url.endswith("/login/code"), page.url
    page.fill("form#totp-code input[name=code]", codes[0])
    page.locator("form#totp-code button[type=submit]").click()
    page.wait_for_url(re.compile(r"/alerts/"))
    expect(page.locator("h1")).to_have_text("File des alertes")
