"""In a real browser: a responder contains a brute force, a second responder approves, the address
is blocked on a real gateway and unblocked on schedule.

The console runs as `cert demo --no-serve` then `cert serve` (embedded mode), its block action
driving the nftables of a private network namespace (the "gateway") that holds the demo's
attacking address 203.0.113.66, a server and another client, with the response timer every
second and the containment playbook's block lasting 10 seconds (a copy of the shipped playbooks).

Through clicks only: the responder promotes the brute-force alert, dry-runs the containment
playbook (the attacker is left out: the incident's PAP:AMBER allows no active action), sets the
PAP to GREEN, dry-runs again (the block of 203.0.113.66 on the gateway), runs it; the run waits
for approval and the requester is offered no approval form. A second responder approves with a
reason; the address is then in the gateway's set and its connections are dropped while another
address still connects. The block expires and the timer undoes it: the set is empty, the
connection works, the incident shows the change reverted by ``system:expiry``; the timeline and
the audit trail hold the run, the approval, the block and the undo.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_browser import (
    ATTACKER_IP,
    BRUTE_FORCE,
    CHROMIUM,
    LOOPBACK,
    Processes,
    browser_page,  # noqa: F401 - fixture
    free_port,
    wait_healthy,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "response"))  # the gateway of the response tests
from test_block_ip import Gateway, gateway  # noqa: F401 - fixture
from test_playbook_actions import blocked

pytestmark = [pytest.mark.browser, pytest.mark.nftables]

PLAYBOOK = "brute-force-containment"
SECOND = "veilleur"
SECOND_PASSWORD = "a-second-responder-password"


@dataclass
class Served:
    url: str
    password: str
    data_dir: Path
    logs: dict[str, Path]


@pytest.fixture
def console(tmp_path: Path, gateway: Gateway) -> Iterator[Served]:  # noqa: F811
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    data_dir, workdir, books = tmp_path / "data", tmp_path / "run", tmp_path / "playbooks"
    workdir.mkdir()
    shutil.copytree(Path(__file__).resolve().parents[2] / "playbooks", books,
                    ignore=shutil.ignore_patterns("steps", "__pycache__", "*.py"))
    shipped = (books / f"{PLAYBOOK}.yml").read_text(encoding="utf-8")
    assert "expires: 24h" in shipped
    (books / f"{PLAYBOOK}.yml").write_text(shipped.replace("expires: 24h", "expires: 10s"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", CERT_PLAYBOOKS_DIR=str(books),
               CERT_RESPONSE_NFT_COMMAND=f"ip netns exec {gateway.ns} nft", CERT_RESPONSE_NFT_GATEWAY="gw-test",
               CERT_RESPONSE_TIMER_SECONDS="1")
    procs = Processes(workdir, env)
    base = ["--data-dir", str(data_dir)]
    try:
        procs.run("demo", *base, "demo", "--no-serve", timeout=120)
        procs.run("useradd", *base, "users", "add", SECOND, "--role", "responder", "--password", SECOND_PASSWORD,
                  timeout=60)
        creds = dict(line.split(" ", 1) for line in (data_dir / "demo-credentials.txt").read_text().splitlines())
        url = f"http://{LOOPBACK}:{free_port()}"
        server = procs.spawn("serve", *base, "serve", "--host", LOOPBACK, "--port", url.rsplit(":", 1)[1])
        wait_healthy(url, server, procs.logs["serve"])
        yield Served(url, creds["intervenant"], data_dir, procs.logs)
    finally:
        procs.stop_all()


def test_block_approved_by_a_second_responder_then_undone_on_schedule(
        console: Served, gateway: Gateway, browser_page: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page = browser_page
    url = console.url
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    def diag() -> str:
        return "".join(f"\n----- {n} -----\n{p.read_text(errors='replace')[-3000:]}" for n, p in console.logs.items())

    def log_in(user: str, password: str) -> None:
        page.goto(url + "/login")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(re.compile(r"/alerts/"))

    def until(predicate: Any, what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            page.reload()
            if predicate():
                return
            page.wait_for_timeout(500)
        pytest.fail(f"{what} within {seconds:.0f} s{diag()}")

    # the responder promotes the brute force
    log_in("intervenant", console.password)
    page.locator("table#alert-queue a", has_text=BRUTE_FORCE).click()
    page.wait_for_url(re.compile(r"/alerts/\d+$"))
    page.locator("form#promote button[type=submit]").click()
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    case_url = page.url

    # dry run: PAP:AMBER allows no block; PAP:GREEN does, on the gateway, nothing done yet
    form = page.locator("form#run-playbook")
    form.locator("select[name=playbook]").select_option(PLAYBOOK)
    page.locator("#dry-run-button").click()
    block = page.locator("#plan-block")
    expect(block).to_contain_text(ATTACKER_IP)
    expect(block.locator("ul.plan-excluded")).to_contain_text("PAP:AMBER")
    page.goto(case_url)
    page.locator("form#edit-incident select[name=pap]").select_option("green")
    page.locator("form#edit-incident button[type=submit]").click()
    page.wait_for_url(case_url)
    page.locator("form#run-playbook select[name=playbook]").select_option(PLAYBOOK)
    page.locator("#dry-run-button").click()
    expect(page.locator("#plan-block ul.plan-targets")).to_contain_text(ATTACKER_IP)
    expect(page.locator("#plan-block")).to_contain_text("gw-test")
    expect(page.locator("#plan-block")).to_contain_text("pas le demandeur")  # another responder approves
    assert blocked(gateway) == [] and gateway.connect(ATTACKER_IP) == "ok"

    # run it: the block waits for another responder's approval
    page.locator("#run-after-dry-run button[type=submit]").click()
    page.wait_for_url(case_url)
    page.locator("table#playbook-runs tbody tr a").last.click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    run_url = page.url
    until(lambda: "attente d'approbation" in page.locator("#step-2 .step-status").inner_text(),
          "the block step did not wait for approval")
    assert page.locator("form.approve-step").count() == 0, "the requester may approve their own run"
    assert blocked(gateway) == []

    # a second responder approves with a reason
    page.locator("header form[action$='/logout'] button").click()
    log_in(SECOND, SECOND_PASSWORD)
    page.goto(run_url)
    approve = page.locator("#step-2 form.approve-step")
    approve.locator("input[name=reason]").fill("Attaquant confirmé, blocage 24 h demandé par le ministère")
    approve.locator("button[type=submit]").click()
    page.wait_for_url(run_url)
    until(lambda: page.locator("#run-status").inner_text().strip() in ("terminé", "done"),
          "the run did not finish")
    expect(page.locator("#step-2 .decision")).to_contain_text(SECOND)
    assert blocked(gateway) == [ATTACKER_IP], diag()
    assert gateway.connect(ATTACKER_IP) == "timeout" and gateway.connect("10.77.0.3") == "ok"

    # the block expires: the timer undoes it, the incident says so
    page.goto(case_url)
    until(lambda: "system:expiry" in page.locator("#response-actions").inner_text(),
          "the block was not undone by the timer", seconds=40)
    assert blocked(gateway) == [] and gateway.connect(ATTACKER_IP) == "ok"
    timeline = page.locator("ol#timeline").inner_text()
    assert "approuvé par veilleur" in timeline and ATTACKER_IP in timeline, timeline
    assert not problems, problems

    # the audit trail: the run, the approval, the block and its undo
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{console.data_dir / 'vigie.sqlite3'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT actor, action FROM audit")).all()
    engine.dispose()
    assert {("intervenant", "playbook.run"), (SECOND, "playbook.approve"),
            (f"playbook:{PLAYBOOK}", "response.action"), ("system:expiry", "response.undo")} <= set(rows), rows
