"""Ingest health: counters per source and per dead-letter reason, rate and lag per source, the
console's ingest health page and its API, and the `cert ingest` summary and progress bar."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from ingest_support import ROOT, cert, cert_env, make_apache_file
from sqlalchemy import select as sql_select
from support import login

from cert.accounts.users import create_user
from cert.pipeline.health import ingest_health
from cert.pipeline.ingestor import Ingestor
from cert.pipeline.state import reason_class
from cert.runtime.platform import Platform
from cert.storage.models.ingest import DeadLetterCount, IngestSource
from web.app import create_app

HOSTILE = '<script>alert("pwned")</script>'


def ingest_mixed(p: Platform, tmp_path: Path) -> Path:
    """Real Apache lines, plus bad lines of two kinds from a second source."""
    good = make_apache_file(tmp_path / "access.log", 1200)
    Ingestor(p, "web.access").ingest_file(str(good.path))
    bad = tmp_path / "portal.log"
    bad.write_text("\n".join([
        '10.0.0.1 - - [99/Foo/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1',
        '10.0.0.2 - - [32/Bar/2026:01:02:03 +0000] "GET / HTTP/1.1" 200 1',
        HOSTILE,
        "garbage",
        '10.0.0.3 - - [21/Nov/2026:08:00:00 +0000] "GET /ok HTTP/1.1" 200 1',
    ]) + "\n")
    Ingestor(p, "web.access").ingest_file(str(bad))
    return bad


def test_reason_classes_elide_the_values() -> None:
    assert reason_class("bad timestamp '99/Foo/2026:00:00:00 +0000'") == reason_class("bad timestamp '32/Bar/2026'")
    assert reason_class("line longer than 1048576 bytes (2000000 bytes)") == "line longer than N bytes (N bytes)"


def test_counters_per_source_and_reason(ingest_platform: Platform, tmp_path: Path) -> None:
    bad = ingest_mixed(ingest_platform, tmp_path)
    with ingest_platform.db.session() as s:
        src = s.scalars(sql_select(IngestSource).where(IngestSource.source == str(bad))).one()
        assert (src.lines, src.events, src.dead_letters) == (5, 1, 4)
        counts = {c.reason: c.count for c in s.scalars(
            sql_select(DeadLetterCount).where(DeadLetterCount.source_id == src.id))}
    assert counts == {"bad timestamp '…'": 2, "not an access log line in common or combined format": 2}


def test_health_gives_rate_lag_and_errors_per_source(ingest_platform: Platform, tmp_path: Path) -> None:
    bad = ingest_mixed(ingest_platform, tmp_path)
    with ingest_platform.db.session() as s:
        health = {h.source: h for h in ingest_health(s)}
    good, portal = health[str(tmp_path / "access.log")], health[str(bad)]
    assert good.events == 1200 and good.rate_5m > 0 and good.rate_1h > 0 and good.status == "ok"
    # the generated lines are from May 2015: their data is years late, their last batch seconds old
    assert good.event_lag is not None and good.event_lag > timedelta(days=365 * 10)
    assert good.ingest_lag is not None and good.ingest_lag < timedelta(minutes=5)
    assert good.backlog_bytes == 0 and good.file_offset == (tmp_path / "access.log").stat().st_size
    assert portal.status == "errors" and portal.dead_letters_1h == 4
    assert portal.reasons[0].count == 2
    with (tmp_path / "access.log").open("a") as fh:
        fh.write("x" * 99 + "\n")
    with ingest_platform.db.session() as s:
        later = {h.source: h for h in ingest_health(s, now=datetime.now(UTC) + timedelta(hours=2))}
    assert later[good.source].backlog_bytes == 100, "the console sees what is left to read"
    assert later[good.source].rate_5m == 0 and later[good.source].status == "silent"


def test_console_shows_ingest_health_escaped(ingest_platform: Platform, tmp_path: Path) -> None:
    ingest_mixed(ingest_platform, tmp_path)
    with ingest_platform.db.session() as s:
        create_user(s, "analyste", "analyste-password-1", "analyst")
    app: Flask = create_app(platform=ingest_platform)
    app.config["TESTING"] = True
    client = app.test_client()
    assert client.get("/admin/dead-letters").status_code == 302, "login required"
    assert login(client, "analyste", "analyste-password-1").status_code == 302
    html = client.get("/admin/dead-letters").get_data(as_text=True)
    assert "Santé de la collecte" in html and "Retard des données" in html
    assert str(tmp_path / "portal.log") in html and "bad timestamp &#39;…&#39;" in html
    assert HOSTILE not in html and "&lt;script&gt;" in html
    sources = html.split('id="sources"')[1].split("</table>")[0]
    assert "erreurs" in sources and "1200" in sources
    data = client.get("/api/v1/ingest/health").get_json()
    by_source = {d["source"]: d for d in data["sources"]}
    portal = by_source[str(tmp_path / "portal.log")]
    assert portal["dead_letters"] == 4 and portal["status"] == "errors"
    assert {r["reason"] for r in portal["dead_letter_reasons"]} == {
        "bad timestamp '…'", "not an access log line in common or combined format"}
    assert data["spool"] == {"batches": 0, "bytes": 0, "limit": 1024 * 1024 * 1024}


def test_cli_summary_without_a_terminal_has_no_progress_bar(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = cert_env(data_dir)
    assert cert(["init"], env).returncode == 0
    log = make_apache_file(tmp_path / "access.log", 3000, bad_every=1000)
    done = cert(["ingest", "--parser", "web.access", str(log.path)], env)
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        f"{log.path}: 3000 lines read, 2997 events ingested, 0 already stored, 0 skipped, 3 dead-lettered",
        "  dead letter x3: not an access log line in common or combined format",
    ]
    assert "\x1b[" not in done.stdout + done.stderr and "lines/s" not in done.stderr
    assert cert(["ingest", "--strict", "--parser", "web.access", str(log.path)], env).returncode == 0, \
        "nothing new was dead-lettered"


def test_cli_progress_bar_on_a_terminal_shows_rate_and_eta(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = cert_env(data_dir, COLUMNS="160", TERM="xterm")
    assert cert(["init"], env).returncode == 0
    log = make_apache_file(tmp_path / "access.log", 60_000)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cert.cli", "ingest", "--parser", "web.access", str(log.path)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    screen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
    finally:
        out, _ = proc.communicate(timeout=120)
        os.close(master)
    text = screen.decode("utf-8", "replace")
    assert proc.returncode == 0 and "60000 events ingested" in out
    assert "access.log" in text and "lines/s" in text and "%" in text, text[-2000:]
    assert any(unit in text for unit in ("MB/s", "kB/s")) and ("-:--:--" in text or "0:00:" in text)
