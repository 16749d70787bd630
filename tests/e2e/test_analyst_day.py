"""End to end, in a real browser, in French and in English: an analyst's day in the console.

The console runs as `cert demo --no-serve`, then `cert ingest` + `cert detect` of a portal log with
the CERT's own vulnerability scanner (six cross-site scripting alerts, obvious false positives) and
SQL injection attempts from eight addresses, then `cert serve` on a fresh data directory (embedded
mode). A colleague has already opened an incident for the SQL injections through the REST API (a
token made with `cert token create`): the duplicate the analyst merges later.

Logged in as ``analyste`` (the analyst role needs no second factor), through clicks and form fills
only: filter the queue by rule, tick the scanner's alerts and close them as false positives with a
comment, assign the SQL injection alerts to themself, open an incident from the web-compromise
template, add an observable and a task, attach a file and read its SHA-256, merge the duplicate,
close with a resolution, download the PDF report (TLP marking on every page), and read the
dashboard (charts drawn, tables with numbers). Every page is read in the chosen language and must
log no console error, uncaught exception or CSP violation. A screenshot of the dashboard ends it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import HAS_CRS
from test_browser import CHROMIUM, CHROMIUM_ARGS, LOOPBACK, Console, Processes, free_port, wait_healthy

pytestmark = pytest.mark.browser

ANALYST = "analyste"
XSS = "Cross-Site Scripting Attempt on a Web Portal"
SQLI = "SQL Injection Attempt on a Web Portal"
SCANNERS = [f"10.99.0.{n}" for n in range(11, 17)]
SQLI_SOURCES = [f"198.51.100.{n}" for n in range(10, 18)]
DEMO_ALERTS = 5  # the demo's Sigma alerts
DEMO_WAF_ALERTS = 5 if HAS_CRS else 0  # the web attack detector's (ModSecurity + CRS) on the same attack
DUPLICATE_IP = "198.51.100.13"
# each scanner and injection source: a Sigma alert, and the CRS's on its scanner's user agent
ALL_ALERTS = DEMO_ALERTS + DEMO_WAF_ALERTS + (2 if HAS_CRS else 1) * (len(SCANNERS) + len(SQLI_SOURCES))
OBSERVABLE = "sqli-c2.example.net"
EVIDENCE = b"GET /recherche?q=1' union select password from users-- HTTP/1.1\n"
FP_COMMENT = "Scanner de vulnérabilités interne du CERT"
STEP_TIMEOUT_MS = 15_000


def portal_log() -> str:
    """Access-log lines of the civil-status portal: the scanner's probes, then the injections."""
    lines = []
    for n, ip in enumerate(SCANNERS):
        lines.append(f'{ip} - - [20/Nov/2026:09:{10 + n:02d}:00 +0000] "GET /recherche?q=<svg/onload=alert({n})> '
                     f'HTTP/1.1" 200 512 "-" "Nessus/10.8 (scan interne CERT)"')
    for n, ip in enumerate(SQLI_SOURCES):
        lines.append(f'{ip} - - [20/Nov/2026:09:{30 + n:02d}:00 +0000] "GET /actes/recherche?nom=x%27+union+select'
                     f'+login,password+from+agents-- HTTP/1.1" 500 300 "-" "sqlmap/1.8"')
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Words:
    """What the analyst reads in one language."""

    queue: str
    closed: str
    assigned: str
    false_positive: str
    new_incident: str
    opened: str
    template: str
    template_task: str
    tasks: str
    stored: str
    merged: str
    closed_incident: str
    status_closed: str
    resolution: str
    dashboard: str
    open_incidents: str
    incidents_nav: str
    by_rule: str
    duplicate: str
    timeline: str


WORDS = {
    "fr": Words(
        queue="File des alertes", closed="Alertes fermées : 6.", assigned="Alertes assignées : 8.",
        false_positive="faux positif", new_incident="Nouvel incident", opened="Incident n° {id} ouvert.",
        template="Défiguration ou compromission de site web",
        template_task="Sauvegarder les journaux du serveur web", tasks="Tâches",
        stored="Fichier enregistré ; aucune règle YARA ne correspond.",
        merged="Incident n° {id} fusionné dans celui-ci.", closed_incident="Incident clos.",
        status_closed="clos", resolution="vrai positif", dashboard="Tableau de bord",
        open_incidents="Incidents ouverts", incidents_nav="Dossiers",
        by_rule="groupées par règle", duplicate="doublon", timeline="Chronologie",
    ),
    "en": Words(
        queue="Alert queue", closed="Alerts closed: 6.", assigned="Alerts assigned: 8.",
        false_positive="false positive", new_incident="New incident", opened="Incident #{id} opened.",
        template="Web defacement or compromise",
        template_task="Preserve the web server's logs", tasks="Tasks",
        stored="File stored; no YARA rule matched.",
        merged="Incident #{id} merged into this one.", closed_incident="Incident closed.",
        status_closed="closed", resolution="true positive", dashboard="Dashboard",
        open_incidents="Open incidents", incidents_nav="Cases",
        by_rule="grouped by rule", duplicate="duplicate", timeline="Timeline",
    ),
}


@dataclass(frozen=True)
class DayConsole:
    console: Console
    password: str
    duplicate_id: int


def create_duplicate(url: str, secret: str) -> int:
    """The incident a colleague opened through the API for the same injections, with one observable."""

    def post(path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(  # noqa: S310 - loopback only
            url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return json.loads(resp.read())

    case = post("/api/v1/incidents", {"title": "Injections SQL portail état civil", "severity": "high"})
    post(f"/api/v1/incidents/{case['id']}/observables", {"type": "ip", "value": DUPLICATE_IP})
    return int(case["id"])


@pytest.fixture
def day_console(tmp_path: Path) -> Iterator[DayConsole]:
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    data_dir, workdir = tmp_path / "data", tmp_path / "run"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1")
    procs = Processes(workdir, env)
    base = ["--data-dir", str(data_dir)]
    try:
        procs.run("demo", *base, "demo", "--no-serve", timeout=120)
        creds = dict(line.split(" ", 1) for line in (data_dir / "demo-credentials.txt").read_text().splitlines())
        log = workdir / "portal-scan.log"
        log.write_text(portal_log())
        procs.run("ingest", *base, "ingest", "--parser", "web.access", "--field", "host.ip=10.50.2.10",
                  "--field", "host.name=portail-etatcivil", "--field", "url.domain=etat-civil.gouv.example",
                  str(log), timeout=60)
        procs.run("detect", *base, "detect", timeout=60)
        procs.run("token", *base, "token", "create", "colleague", "--owner", "intervenant",
                  "--scope", "read,write", "--expires", "1d", timeout=60)
        printed = procs.logs["token"].read_text().splitlines()
        secret = printed[printed.index(next(x for x in printed if x.startswith("Send it as"))) - 1].strip()
        url = f"http://{LOOPBACK}:{free_port()}"
        server = procs.spawn("serve", *base, "serve", "--host", LOOPBACK, "--port", url.rsplit(":", 1)[1])
        wait_healthy(url, server, procs.logs["serve"])
        duplicate = create_duplicate(url, secret)
        yield DayConsole(Console("embedded", url, data_dir, creds[ANALYST], procs.logs), creds[ANALYST], duplicate)
    finally:
        procs.stop_all()


@pytest.fixture
def browser_context() -> Iterator[Any]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            pytest.skip(f"chromium at {CHROMIUM} could not be launched by Playwright: {exc}")
        try:
            context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 1000},
                                          accept_downloads=True)
            context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), lambda route: route.abort())
            context.set_default_timeout(STEP_TIMEOUT_MS)
            context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
            # a CSP violation is logged as a console error by chromium; this names it in any case
            context.add_init_script(
                "document.addEventListener('securitypolicyviolation', e => console.error("
                "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile));")
            yield context
        finally:
            browser.close()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_analyst_day(lang: str, day_console: DayConsole, browser_context: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect
    from pypdf import PdfReader

    w = WORDS[lang]
    console, url = day_console.console, day_console.console.url
    diag = console.diagnostics
    page = browser_context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))

    def clean(step: str) -> None:
        """No console error, uncaught exception or CSP violation so far; the page is in ``lang``."""
        assert not problems, f"{step}: {problems}{diag()}"
        assert page.locator("html").get_attribute("lang") == lang, f"{step}: not in {lang}"

    def flash(text: str) -> None:
        expect(page.locator("p.flash", has_text=text)).to_be_visible()

    # log in, then choose the language with the header's link
    page.goto(url + "/login")
    page.fill("input[name=username]", ANALYST)
    page.fill("input[name=password]", day_console.password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/alerts/"))
    if lang != "fr":
        page.locator("header a.lang", has_text=lang.upper()).click()
    expect(page.locator("header strong.lang")).to_have_text(lang.upper())
    expect(page.locator("h1")).to_have_text(w.queue)
    rows = page.locator("table#alert-queue tbody tr")
    expect(rows).to_have_count(ALL_ALERTS)
    clean("queue")

    # 1. triage: the queue grouped by rule, one rule's row expanded to its alerts
    page.locator("#alert-views a", has_text=w.by_rule).click()
    page.wait_for_url(re.compile(r"view=rule"))
    xss_group = page.locator("table#alert-groups tbody tr", has_text=XSS)
    expect(xss_group.locator("td").nth(1)).to_have_text(str(len(SCANNERS) + 1))
    xss_group.locator("a.group-expand").click()
    page.wait_for_url(re.compile(r"rule=[0-9a-f-]{36}"))
    expect(rows).to_have_count(len(SCANNERS) + 1)  # the scanner's six and the demo's real attack
    scanner_rows = rows.filter(has=page.locator("td.mono", has_text=re.compile(r"^10\.99\.0\.")))
    expect(scanner_rows).to_have_count(len(SCANNERS))
    for row in scanner_rows.all():
        row.locator("input[name=ids]").check()
    bulk = page.locator("form#bulk-actions")
    bulk.locator("select[name=reason]").select_option("false-positive")
    bulk.locator("input[name=comment]").fill(FP_COMMENT)
    bulk.locator("button[name=action][value=close]").click()
    flash(w.closed)
    expect(rows.filter(has_text=w.false_positive)).to_have_count(len(SCANNERS))
    real = rows.filter(has_text="198.51.100.77")
    expect(real).to_have_count(1)
    assert w.false_positive not in real.inner_text(), "the real attack was closed with the scanner's alerts"
    clean("bulk close")

    # a closed alert shows who closed it, why, and the comment
    scanner_rows.first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/alerts/\d+$"))
    expect(page.locator("#alert-status")).to_contain_text(w.false_positive)
    expect(page.locator("#alert-status")).to_contain_text(ANALYST)
    expect(page.locator("#alert-close-comment")).to_have_text(FP_COMMENT)
    clean("closed alert")
    page.go_back()
    page.wait_for_url(re.compile(r"/alerts/\?"))

    # assign the injections to oneself: high severity, searched by name
    filters = page.locator("form#alert-filters")
    filters.locator("input[name=rule]").fill("")
    filters.locator("input[name=q]").fill(SQLI)  # the Sigma rule's title: the CRS findings speak of SQL injection too
    filters.locator("input[name=severity][value=high]").check()
    filters.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"severity=high.*q=SQL|q=SQL.*severity=high"))
    expect(rows).to_have_count(len(SQLI_SOURCES) + 1)
    injections = rows.filter(has=page.locator("td.mono", has_text=re.compile(r"^198\.51\.100\.1\d$")))
    expect(injections).to_have_count(len(SQLI_SOURCES))
    for row in injections.all():
        row.locator("input[name=ids]").check()
    bulk.locator("input[name=assignee]").fill(ANALYST)
    bulk.locator("button[name=action][value=assign]").click()
    flash(w.assigned)
    expect(injections.filter(has_text=ANALYST)).to_have_count(len(SQLI_SOURCES))
    clean("bulk assign")

    # 2. an incident from the web-compromise template
    page.locator("header nav a", has_text=w.incidents_nav).click()
    page.locator("a#new-incident").click()
    page.wait_for_url(re.compile(r"/cases/new"))
    expect(page.locator("h1")).to_have_text(w.new_incident)
    form = page.locator("form#new-incident-form")
    form.locator("select[name=template]").select_option(label=w.template)
    form.locator("input[name=title]").fill("Injections SQL sur le portail état civil")
    form.locator("textarea[name=description]").fill("sqlmap depuis 198.51.100.10/29")
    form.locator("select[name=assignee]").select_option(ANALYST)
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    case_id = int(page.url.rsplit("/", 1)[1])
    case_url = page.url
    flash(w.opened.format(id=case_id))
    expect(page.locator("#case-title")).to_have_text("Injections SQL sur le portail état civil")
    expect(page.locator("#case-assignee")).to_have_text(ANALYST)
    expect(page.locator("#case-rsit")).to_contain_text("intrusions:application-compromise")
    expect(page.locator("#tasks h2")).to_have_text(w.tasks)
    expect(page.locator("#task-list")).to_contain_text(w.template_task)
    clean("new incident")

    # 3. an observable and a task
    add = page.locator("form#add-observable")
    add.locator("select[name=type]").select_option("domain")
    add.locator("input[name=value]").fill(OBSERVABLE)
    add.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/cases/{case_id}"))
    expect(page.locator("table#observables")).to_contain_text(OBSERVABLE)
    task = page.locator("form#add-task")
    task.locator("input[name=title]").fill("Bloquer 198.51.100.10/29 sur le pare-feu")
    task.locator("select[name=assignee]").select_option(ANALYST)
    task.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/cases/{case_id}"))
    new_task = page.locator("#task-list tr", has_text="Bloquer 198.51.100.10/29")
    expect(new_task).to_have_count(1)
    expect(new_task).to_contain_text(ANALYST)
    clean("observable and task")

    # 4. a file: stored, scanned, its SHA-256 shown
    upload = page.locator("form#upload-file")
    upload.locator("input[type=file]").set_input_files(
        {"name": "requete-sqlmap.txt", "mimeType": "text/plain", "buffer": EVIDENCE})
    upload.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/cases/{case_id}"))
    flash(w.stored)
    attachment = page.locator("#attachment-list tr", has_text="requete-sqlmap.txt")
    expect(attachment.locator("td.sha256")).to_have_text(hashlib.sha256(EVIDENCE).hexdigest())
    clean("attachment")

    # 5. merge the colleague's duplicate: its observable comes here
    merge = page.locator("form#merge-incident")
    merge.locator("input[name=source]").fill(str(day_console.duplicate_id))
    merge.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/cases/{case_id}"))
    flash(w.merged.format(id=day_console.duplicate_id))
    expect(page.locator("table#observables")).to_contain_text(DUPLICATE_IP)
    clean("merge")

    # 6. close with a resolution
    close = page.locator("form#close-incident")
    close.locator("select[name=resolution]").select_option("true-positive")
    close.locator("textarea[name=comment]").fill("Filtrage WAF en place, requêtes corrigées")
    close.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/cases/{case_id}"))
    flash(w.closed_incident)
    expect(page.locator("#case-status")).to_have_text(w.status_closed)
    expect(page.locator("#case-resolution")).to_have_text(w.resolution)
    clean("close")

    # the duplicate says where it went
    page.goto(f"{url}/cases/{day_console.duplicate_id}")
    expect(page.locator("#merged-into")).to_have_attribute("href", re.compile(rf"/cases/{case_id}$"))
    expect(page.locator("#case-status")).to_have_text(w.status_closed)
    expect(page.locator("#case-resolution")).to_have_text(w.duplicate)
    clean("duplicate")
    page.locator("#merged-into").click()
    page.wait_for_url(case_url)

    # 7. the PDF report: a PDF whose every page carries the TLP marking
    tlp = page.locator("#case-tlp").inner_text().strip()
    assert re.fullmatch(r"TLP:[A-Z+]+", tlp), tlp
    with page.expect_download(timeout=60_000) as info:
        page.locator("#report-links a", has_text="PDF").click()
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF"), pdf[:40]
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 1
    texts = [p.extract_text() or "" for p in reader.pages]
    for n, text in enumerate(texts, 1):
        assert tlp in text, f"page {n} of {len(texts)} has no {tlp} marking: {text[:300]!r}"
    assert "Injections SQL sur le portail état civil" in "".join(texts)
    assert OBSERVABLE in "".join(texts) and DUPLICATE_IP in "".join(texts)
    assert w.timeline in "".join(texts), f"the report is not in {lang}: {texts[0][:300]!r}"
    assert page.url == case_url
    clean("report")
    page.screenshot(path=str(tmp_path / f"incident-{lang}.png"), full_page=True)

    # 8. the dashboard: charts drawn, tables with numbers
    page.locator("header nav a", has_text=w.dashboard).click()
    page.wait_for_url(re.compile(r"/dashboard"))
    expect(page.locator("h1")).to_have_text(w.dashboard)
    canvases = page.locator("canvas")
    assert canvases.count() >= 3, f"only {canvases.count()} charts"
    for canvas in canvases.all():
        canvas.scroll_into_view_if_needed()
        page.wait_for_function(
            """c => { const d = c.getContext('2d'); if (!c.width || !c.height) return false;
                      const px = d.getImageData(0, 0, c.width, c.height).data;
                      for (let i = 3; i < px.length; i += 4) if (px[i]) return true; return false; }""",
            arg=canvas.element_handle(), timeout=STEP_TIMEOUT_MS)
    counts = [c.strip() for c in page.locator("#incident-counts dd").all_inner_texts()]
    total = ALL_ALERTS
    assert counts == ["2", "2", str(total)], f"opened, closed, alerts: {counts}"  # the incident and its duplicate
    for rule, n in ((SQLI, len(SQLI_SOURCES) + 1), (XSS, len(SCANNERS) + 1)):
        expect(page.locator("#table-top-rules tbody tr", has_text=rule).locator("td")).to_have_text(str(n))
    open_by_org = page.locator("#table-open-by-organization")
    expect(open_by_org.locator("thead")).to_contain_text(w.open_incidents)
    cells = page.locator("table.grid tbody td").all_inner_texts()
    assert any(re.fullmatch(r"[1-9]\d*", c.strip()) for c in cells), cells[:40]
    clean("dashboard")

    shot = tmp_path / f"dashboard-{lang}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    print(f"\nscreenshot of the dashboard ({lang}): {shot}")
