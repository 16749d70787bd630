"""What an analyst waits for, at a national CERT's scale: the alert queue (every filter, deep
pages), search, the grouped view, an incident page, the incidents list and the dashboard, over
real HTTP against the console as it is deployed, with 1,000,000 alerts and 100,000 incidents
(``bench/console/generate.py``).

Run: python bench/console/http_p95.py --mode embedded [--requests 40]
     python bench/console/http_p95.py --mode production --pg-url postgresql+psycopg://...   (gunicorn, 2 workers)

Embedded: ``cert serve`` (the demo's server) on the SQLite data directory. Production: gunicorn
with two workers on PostgreSQL (as docker/compose.yaml runs it). One analyst, logged in, asks for
each page ``--requests`` times in turn (after two warm-up rounds); the figure is each page's 95th
percentile. The baseline, measured in the same run and the same way, is ``/healthz`` (the
server's floor: no database, no template).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.console.generate import generate, organisations, write_constituency
from cert.accounts.users import create_user
from cert.storage.db import Database
from cert.storage.models import User

PASSWORD = "bench analyst passphrase 2026"  # noqa: S105 (a throw-away account of the benchmark)
LAST_WEEK = "from=2026-11-24T00:00:00%2B00:00&to=2026-12-01T00:00:00%2B00:00"  # the grouped view's longest range


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pages(rnd: random.Random, n_cases: int, orgs: list[str]) -> dict[str, list[str]]:
    """Each measured page and the URLs it is asked with (one is picked per request)."""
    ids = [rnd.randrange(1, n_cases + 1) for _ in range(50)]
    org = orgs[3]
    return {
        "baseline /healthz": ["/healthz"],
        "queue, default": ["/alerts/"],
        "queue, severity high": ["/alerts/?severity=high"],
        "queue, status new": ["/alerts/?status=new"],
        "queue, organisation": [f"/alerts/?organization={requests.utils.quote(org)}"],
        "queue, rule": ["/alerts/?rule=rule-007", "/alerts/?rule=rule-250"],
        "queue, source address": ["/alerts/?source=203.0.113.7", "/alerts/?source=203.0.0.0/16"],
        "queue, assignee": ["/alerts/?assignee=analyste03"],
        "queue, time range": ["/alerts/?from=2026-06-01T00:00:00Z&to=2026-06-08T00:00:00Z"],
        "queue, ATT&CK tactic": ["/alerts/?tactic=credential-access"],
        "queue, all filters": [f"/alerts/?severity=high&status=new&organization={requests.utils.quote(org)}"
                               "&from=2026-03-01T00:00:00Z&to=2026-09-01T00:00:00Z"],
        "queue, page 2": ["/alerts/?page=2"],
        "queue, deep page": ["/alerts/?page=500", "/alerts/?page=5000"],
        "queue, last page": ["/alerts/?page=20000"],
        "search": ["/alerts/?q=Mimikatz", "/alerts/?q=203.0.113.7", "/alerts/?q=portail"],
        # the last 7 days (the default), and the data's last week (the generated data ends on 2026-12-01)
        "grouped by rule": ["/alerts/?view=rule", f"/alerts/?view=rule&{LAST_WEEK}", "/alerts/?view=rule&page=2"
                            f"&{LAST_WEEK}"],
        "grouped by source": ["/alerts/?view=source", f"/alerts/?view=source&{LAST_WEEK}",
                              f"/alerts/?view=source&page=40&{LAST_WEEK}"],
        "incidents list": ["/cases/", "/cases/?status=open"],
        "incident page": [f"/cases/{i}" for i in ids],
        "dashboard, 30 days": ["/dashboard"],
        "dashboard, 90 days": ["/dashboard?period=90"],
        "API queue": ["/api/v1/alerts?limit=100", "/api/v1/alerts?severity=high&limit=100"],
        "API incident": [f"/api/v1/incidents/{i}" for i in ids],
    }


def login(base: str) -> requests.Session:
    http = requests.Session()
    form = http.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    assert token, "no CSRF token on the login page"
    answer = http.post(f"{base}/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)},
                       allow_redirects=False, timeout=30)
    assert answer.status_code == 302, f"login failed: {answer.status_code}"
    return http


def wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not answer")


def measure(base: str, urls: dict[str, list[str]], n: int, rnd: random.Random) -> dict[str, dict[str, Any]]:
    http = login(base)
    out: dict[str, dict[str, Any]] = {}
    times: dict[str, list[float]] = {name: [] for name in urls}
    statuses: dict[str, set[int]] = {name: set() for name in urls}
    for round_ in range(n + 2):
        for name, choices in urls.items():  # pages in turn: each sees the same machine load
            url = rnd.choice(choices)
            t0 = time.perf_counter()
            answer = http.get(base + url, timeout=120)
            elapsed = time.perf_counter() - t0
            statuses[name].add(answer.status_code)
            if round_ >= 2:
                times[name].append(elapsed * 1000)
    for name, values in times.items():
        values.sort()
        out[name] = {"p50": statistics.median(values), "p95": values[math.ceil(len(values) * 0.95) - 1],
                     "max": values[-1], "status": sorted(statuses[name])}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("embedded", "production"), default="embedded")
    ap.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "vigie-scale")
    ap.add_argument("--pg-url", default="", help="PostgreSQL URL (production mode); none: a private PostgreSQL "
                    "(Debian's, as the tests start it) in a temporary directory, stopped at the end")
    ap.add_argument("--alerts", type=int, default=1_000_000)
    ap.add_argument("--incidents", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--reuse", action="store_true", help="keep the data of an earlier run")
    args = ap.parse_args()

    orgs = organisations()
    data_dir: Path = args.data_dir / args.mode
    with contextlib.ExitStack() as stack:
        url = args.pg_url
        if args.mode == "production" and not url:
            if args.reuse:
                raise SystemExit("--reuse needs --pg-url in production mode")
            url = stack.enter_context(private_postgres())
        elif args.mode == "embedded":
            url = f"sqlite:///{data_dir / 'vigie.sqlite3'}"
        run(args, orgs, data_dir, url)


@contextlib.contextmanager
def private_postgres() -> Iterator[str]:
    """A PostgreSQL of its own, started like the tests start theirs, and its database's URL."""
    sys.path.insert(0, str(ROOT / "tests"))
    from servers import start_postgres

    workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-pg-"))
    server = start_postgres(workdir)
    try:
        yield server.create_database("vigie_bench")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, orgs: list[str], data_dir: Path, url: str) -> None:
    if args.reuse:  # the data of an earlier run, brought to the code's schema (its migrations backfill)
        db = Database(url)
        db.upgrade()
        with db.session() as s:
            if s.scalar(select(User).where(User.username == "bench")) is None:
                create_user(s, "bench", PASSWORD, "analyst")
        db.dispose()
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        write_constituency(data_dir / "constituency.toml", orgs)
        t0 = time.perf_counter()
        print("generated:", generate(url, args.alerts, args.incidents, orgs), f"in {time.perf_counter() - t0:.0f}s",
              flush=True)
        db = Database(url)
        with db.session() as s:
            create_user(s, "bench", PASSWORD, "analyst")
        db.dispose()

    port = free_port()
    env = {**os.environ, "CERT_DATA_DIR": str(data_dir), "CERT_CONSTITUENCY_FILE": str(data_dir / "constituency.toml"),
           "CERT_SESSION_COOKIE_SECURE": "false", "CERT_SECRET_KEY": "bench-secret-key-not-for-production",
           "PYTHONPATH": str(ROOT)}
    if args.mode == "production":
        env["CERT_DATABASE_URL"] = url
        cmd = [sys.executable, "-m", "gunicorn", "--workers=2", "--timeout=300", f"--bind=127.0.0.1:{port}",
               "web.app:create_app()"]
    else:
        cmd = [sys.executable, "-m", "cert.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base, proc)
        rnd = random.Random(7)
        results = measure(base, pages(rnd, args.incidents, orgs), args.requests, rnd)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    floor = results["baseline /healthz"]["p95"]
    print(f"\n{args.mode}: {args.alerts:,} alerts, {args.incidents:,} incidents, {args.requests} requests per page")
    print(f"{'page':28s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s} {'p95/floor':>9s}  status")
    worst = 0.0
    for name, r in results.items():
        print(f"{name:28s} {r['p50']:8.1f} {r['p95']:8.1f} {r['max']:8.1f} {r['p95'] / floor:9.1f}  {r['status']}")
        if name != "baseline /healthz":
            worst = max(worst, r["p95"])
    print(f"\nworst page p95: {worst:.1f} ms (target < 150 ms)")


if __name__ == "__main__":
    main()
