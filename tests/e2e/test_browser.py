"""End to end, in a real browser: the console as `cert demo` + `cert serve` (+ `cert worker`) run it,
driven by Debian's headless chromium through Playwright.

Two modes:

* ``embedded``: a fresh data directory and nothing else (SQLite, embedded event store, in-process jobs);
* ``production``: Elasticsearch (``es_url``), Redis and PostgreSQL (a fresh database), a unique index
  prefix and rq queue, and a real ``cert worker`` process running the playbook.

The flow: log in as the responder (French UI), check the queue and that hostile log content is
inert, switch to English, open the brute-force alert, promote it, run the brute-force playbook,
wait for it, export the case to MISP and check the feed on disk, take a screenshot.

Every process started here is stopped by its pid. The server's stderr is kept in a file and its
tail goes into the failure messages.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LOOPBACK = "127.0.0.1"
ATTACKER_IP = "203.0.113.66"
BRUTE_FORCE = "SSH Brute Force Against a Government Server"
MINISTRY = "Ministère de l'Intérieur"
PLAYBOOK = "brute-force-response"
STARTUP_TIMEOUT = 60.0
PLAYBOOK_TIMEOUT = 60.0
DEMO_TIMEOUT = 180.0

pytestmark = pytest.mark.browser


# --------------------------------------------------------------------------- processes


def cert_command() -> list[str]:
    script = Path(sys.executable).with_name("cert")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cert.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except FileNotFoundError:
        return "(no log)"


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM by pid, then SIGKILL after ``timeout``; always reap."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def http_json(url: str, method: str = "GET", timeout: float = 5.0) -> Any:
    req = urllib.request.Request(url, method=method)  # noqa: S310 - loopback only
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
        return json.loads(resp.read() or b"null")


@dataclass
class Console:
    mode: str
    url: str
    data_dir: Path
    password: str
    logs: dict[str, Path] = field(default_factory=dict)

    def diagnostics(self) -> str:
        return "".join(f"\n----- {name} (tail) -----\n{tail(path)}" for name, path in self.logs.items())


@dataclass
class Processes:
    workdir: Path
    env: dict[str, str]
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[str, Path] = field(default_factory=dict)

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*cert_command(), *args], env=self.env, cwd=self.workdir,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.started.append(proc)
        return proc

    def run(self, name: str, *args: str, timeout: float) -> None:
        proc, log = self.spawn(name, *args), self.logs[name]
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(proc)
            pytest.fail(f"`cert {' '.join(args)}` did not finish in {timeout:.0f} s:\n{tail(log)}")
        assert code == 0, f"`cert {' '.join(args)}` exited {code}:\n{tail(log)}"

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            stop(proc)


def wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"`cert serve` exited {server.returncode} before answering /healthz:\n{tail(log)}")
        try:
            health = http_json(url + "/healthz", timeout=2)
            if isinstance(health, dict) and health.get("status") == "ok":
                return health
            last = repr(health)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.2)
    pytest.fail(f"/healthz did not answer 200 within {STARTUP_TIMEOUT:.0f} s ({last}):\n{tail(log)}")


def delete_indices(es_url: str, prefix: str) -> None:
    """Remove this run's indices (by name: wildcard deletes are refused by default)."""
    with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
        for row in http_json(f"{es_url}/_cat/indices/{prefix}*?format=json&expand_wildcards=all") or []:
            http_json(f"{es_url}/{row['index']}", method="DELETE")


@pytest.fixture(params=[
    "embedded",
    pytest.param("production", marks=[pytest.mark.elasticsearch, pytest.mark.redis, pytest.mark.postgres]),
])  # fmt: skip
def console(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Console]:
    """`cert demo --no-serve` then `cert serve` (and `cert worker` in production) on a fresh data dir."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"the playwright Python package is not installed: {exc}")

    mode: str = request.param
    data_dir = tmp_path / "data"
    workdir = tmp_path / "run"  # the processes' cwd: nothing may land in the repository
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1")
    cleanups: list[Any] = []
    if mode == "production":
        es_url: str = request.getfixturevalue("es_url")
        redis_server = request.getfixturevalue("redis_server")
        postgres_server = request.getfixturevalue("postgres_server")
        db_url = postgres_server.create_database()
        run_id = uuid.uuid4().hex[:8]
        prefix, queue = f"vigie-e2e-{run_id}", f"vigie-e2e-{run_id}"
        env.update(
            CERT_ELASTICSEARCH_URL=es_url,
            CERT_REDIS_URL=redis_server.url,
            CERT_DATABASE_URL=db_url,
            CERT_INDEX_PREFIX=prefix,
            CERT_RQ_QUEUE=queue,
        )
        cleanups += [
            lambda: postgres_server.drop_database(db_url),
            lambda: delete_indices(es_url, prefix),
            lambda: _delete_queue(redis_server.url, queue),
        ]

    procs = Processes(workdir, env)
    base = ["--data-dir", str(data_dir)]
    try:
        procs.run("demo", *base, "demo", "--no-serve", timeout=DEMO_TIMEOUT)
        lines = (data_dir / "demo-credentials.txt").read_text().splitlines()
        creds = dict(line.split(" ", 1) for line in lines if line)
        port = free_port()
        url = f"http://{LOOPBACK}:{port}"
        server = procs.spawn("serve", *base, "serve", "--host", LOOPBACK, "--port", str(port))
        worker = procs.spawn("worker", *base, "worker") if mode == "production" else None
        health = wait_healthy(url, server, procs.logs["serve"])
        assert health["mode"] == mode, f"/healthz says {health}, expected mode {mode}"
        if worker is not None:
            assert worker.poll() is None, (
                f"`cert worker` exited {worker.returncode}:\n{tail(procs.logs['worker'])}"
            )
        yield Console(mode, url, data_dir, creds["intervenant"], procs.logs)
    finally:
        procs.stop_all()
        for cleanup in cleanups:
            with contextlib.suppress(Exception):
                cleanup()


def _delete_queue(redis_url: str, name: str) -> None:
    from redis import Redis
    from rq import Queue

    conn = Redis.from_url(redis_url)
    try:
        Queue(name, connection=conn).delete(delete_jobs=True)
    finally:
        conn.close()


# --------------------------------------------------------------------------- browser


@pytest.fixture
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            pytest.skip(f"chromium at {CHROMIUM} could not be launched by Playwright: {exc}")
        try:
            context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 1000})
            # nothing but the console on the loopback: any other request is a bug
            context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), lambda route: route.abort())
            context.set_default_timeout(15_000)
            yield context.new_page()
        finally:
            browser.close()


def enrol_second_factor(page: Any) -> tuple[str, list[str]]:
    """On the enrolment page: read the key shown beside the QR code, type the code an
    authenticator shows (pyotp), continue past the recovery codes. The key and the codes."""
    import pyotp

    page.wait_for_url(re.compile(r"/login/enrol$"))
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.fill("form#totp-confirm input[name=code]", pyotp.TOTP(secret).at(time.time() - 30))
    page.locator("form#totp-confirm button[type=submit]").click()
    page.locator("#recovery-codes").wait_for()
    codes = [c.strip() for c in page.locator("#recovery-codes li").all_inner_texts()]
    page.locator("a#continue").click()
    return secret, codes


def test_console_end_to_end(console: Console, browser_page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    page = browser_page
    url = console.url
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    diag = console.diagnostics

    # 1. log in (French by default)
    page.goto(url + "/login")
    expect(page.locator("h1")).to_have_text("Connexion à Vigie")
    page.fill("input[name=username]", "intervenant")
    page.fill("input[name=password]", console.password)
    page.locator("main form button[type=submit]").click()
    if console.mode == "production":  # responders set up a second factor first (totp_required_roles)
        enrol_second_factor(page)
    page.wait_for_url(re.compile(r"/alerts/"))
    expect(page.locator("h1")).to_have_text("File des alertes")
    expect(page.locator("header .mode")).to_contain_text(console.mode)

    # 2. the queue: severity, rule, ministry, source IP on every row; the brute force is there
    rows = page.locator("table#alert-queue tbody tr")
    assert rows.count() >= 4, f"too few alerts in the queue: {rows.all_inner_texts()}{diag()}"
    for row in rows.all():
        cells = row.locator("td").all_inner_texts()
        # select, raised, last seen, severity, rule, ministry, source IP, count, assignee, status, SLA
        assert len(cells) == 11 and all(c.strip() for c in cells[1:8]), f"incomplete row {cells}"
    brute = rows.filter(has_text=BRUTE_FORCE)
    expect(brute).to_have_count(1)
    cells = brute.locator("td").all_inner_texts()
    assert cells[3].strip() in ("élevée", "critique"), cells  # severity, in French
    assert [c.strip() for c in cells[4:7]] == [BRUTE_FORCE, MINISTRY, ATTACKER_IP], cells

    # hostile log content is shown as text and never runs
    page.locator("table#alert-queue a", has_text="Cross-Site Scripting").first.click()
    page.wait_for_url(re.compile(r"/alerts/\d+$"))
    pre = page.locator("pre").first.inner_text()
    assert "<script>" in pre, f"the XSS payload is not shown as text: {pre[:500]}"
    originals = " ".join(page.locator("span.original").all_inner_texts())
    assert "<script>" in originals, originals[:500]
    assert page.locator("main script").count() == 0
    page.wait_for_timeout(300)  # give a (wrongly) live payload the time to fire
    assert not dialogs, f"log content opened a dialog: {dialogs}"

    # switch to English; the choice sticks
    page.goto(url + "/alerts/")
    page.locator("header a.lang", has_text="EN").click()
    expect(page.locator("h1")).to_have_text("Alert queue")
    expect(page.locator("header strong.lang")).to_have_text("EN")

    # 3. the brute-force alert: evidence, then promote
    page.locator("table#alert-queue a", has_text=BRUTE_FORCE).click()
    page.wait_for_url(re.compile(r"/alerts/\d+$"))
    expect(page.locator("h1")).to_contain_text(BRUTE_FORCE)
    expect(page.locator("h2", has_text="Evidence events")).to_be_visible()
    assert "Failed password" in page.locator("main").inner_text(), "no evidence event shown" + diag()
    promote = page.locator("form#promote")
    expect(promote.locator("button[type=submit]")).to_have_text("Promote to a case")
    promote.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    case_url = page.url
    expect(page.locator("h1")).to_contain_text("Incident #")
    expect(page.locator("table#observables")).to_contain_text(ATTACKER_IP)

    # 4. run the playbook and wait for it (the page refreshes itself every 2 s while it runs)
    form = page.locator("form#run-playbook")
    form.locator("select[name=playbook]").select_option(PLAYBOOK)
    form.locator("button[type=submit]:not([formaction])").click()
    page.wait_for_url(case_url)
    expect(page.locator("p.flash")).to_contain_text("Playbook queued")
    deadline = time.monotonic() + PLAYBOOK_TIMEOUT
    status = timeline = ""
    while time.monotonic() < deadline:
        try:  # the meta refresh may navigate between two reads
            status = page.locator("td.run-status").last.inner_text(timeout=5_000).strip()
            timeline = page.locator("ol#timeline").inner_text(timeout=5_000)
        except PlaywrightError:  # retried until the deadline
            page.wait_for_timeout(250)
            continue
        if status.startswith(("failed", "échoué")):
            pytest.fail(f"the playbook failed: {status}\n{timeline}{diag()}")
        if status in ("done", "terminé") and "[sightings]" in timeline and "[notify_focal_point]" in timeline:
            break
        page.wait_for_timeout(500)
    else:
        pytest.fail(
            f"the playbook did not finish in {PLAYBOOK_TIMEOUT:.0f} s: status {status!r}\n{timeline}{diag()}"
        )
    assert status == "done", f"the UI is no longer in English: {status!r}"
    assert f"ip {ATTACKER_IP}" in timeline and "Fatou Ndiaye" in timeline, timeline
    assert "VIGIE#" in timeline, f"the notification was not queued: {timeline}{diag()}"

    # 5. export to MISP: the flash names the event, the feed on disk has it
    page.locator("form#export-misp button[type=submit]").click()
    page.wait_for_url(case_url)
    flash = page.locator("p.flash").inner_text()
    m = re.search(r"MISP event ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", flash)
    assert m, f"no MISP event uuid in the flash message {flash!r}{diag()}"
    event_uuid = m.group(1)
    expect(page.locator("form#export-misp")).to_contain_text(event_uuid)
    feed = console.data_dir / "misp-feed"
    manifest = json.loads((feed / "manifest.json").read_text())
    assert event_uuid in manifest, f"{event_uuid} not in the manifest {list(manifest)}"
    event = json.loads((feed / f"{event_uuid}.json").read_text())["Event"]
    attributes = {a["value"]: a["type"] for a in event["Attribute"]}
    assert attributes.get(ATTACKER_IP) == "ip-src", attributes
    assert "tlp:amber" in [t["name"] for t in event["Tag"]], event["Tag"]
    assert event_uuid in (feed / "hashes.csv").read_text()

    # 6. a screenshot of the case page, for humans
    shot = tmp_path / f"case-{console.mode}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot of the case page ({console.mode}): {shot}")
    assert shot.stat().st_size > 0
    assert not dialogs, f"a dialog was opened: {dialogs}"
