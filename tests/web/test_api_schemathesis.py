"""schemathesis against a live server: the real application served over HTTP (Werkzeug, on
127.0.0.1) on a migrated platform holding the demo scenario, cases of every organisation and
users of every role. It generates valid and invalid requests for every operation of
/api/v1/openapi.json and fails on any 5xx answer or any answer that breaks the documented schema.

Three runs, each with its own credential:
- a bearer token carrying every scope: every operation open to tokens;
- a read-only token: the operations of the ``read`` scope;
- a console session (cookie and CSRF header): the operations for a logged-in person only.
Nothing is left out: every operation of the description is in exactly one run (checked)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests
from support import csrf_token, load_demo, seed_by_organization
from werkzeug.serving import make_server

from cert.accounts.tokens import SCOPES, create_token
from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.sharing.publications import publish
from cert.storage.models import Case
from web.app import create_app

HERE = Path(__file__).resolve().parent
METHODS = ("get", "post", "put", "patch", "delete")
USER_AGENT = "vigie-schemathesis"  # one agent for the login and the run: sessions are bound to it
MAX_EXAMPLES = 30
CHECKS = "not_a_server_error,response_schema_conformance"


@dataclass
class Live:
    url: str
    all_scopes: str
    read_only: str
    partner: str
    cookie: str
    csrf: str


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The test settings, with a session cookie the plain-HTTP loopback server can set."""
    return replace(Settings(), data_dir=tmp_path / "data", secret_key="test-secret-key", session_cookie_secure=False)


@pytest.fixture
def live(platform: Platform) -> Iterator[Live]:
    load_demo(platform)
    seed_by_organization(platform)
    with platform.db.session() as s:
        create_user(s, "point-focal", "a focal point passphrase", "focal_point", organization="min-justice",
                    constituency=platform.constituency)
        create_user(s, "partenaire", "a partner CERT passphrase", "partner", organization="CERT-Partner",
                    constituency=platform.constituency)
        create_user(s, "sesame", "the session user passphrase", "analyst")
        _t, all_scopes = create_token(s, "fuzz-every-scope-7f3a", "tests", "test", scopes=[x for x in SCOPES if x != "share"])
        _t, read_only = create_token(s, "fuzz-read-only-7f3a", "tests", "test", scopes=["read"])
        voisin = platform.constituency.partner("cert-voisin")
        assert voisin is not None
        _t, partner = create_token(s, "fuzz-partner-7f3a", "tests", "test", scopes="share", partner=voisin)
        shared = Case(title="Campagne de hameçonnage", tlp="green", title_tlp="green", pap="green",
                      created_by="test")
        s.add(shared)
        s.flush()
        add_observable(s, shared, "domain", "phish.example", tlp="green", ioc=True)
        publish(s, shared, [voisin], "test")  # the partner's feed and collection hold something
    server = make_server("127.0.0.1", 0, create_app(platform=platform), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    browser = requests.Session()
    browser.headers["User-Agent"] = USER_AGENT
    page = browser.get(f"{url}/login", timeout=10).text
    assert browser.post(f"{url}/login", data={"username": "sesame", "password": "the session user passphrase",
                                              "csrf_token": csrf_token(page)}, timeout=10).ok
    csrf = csrf_token(browser.get(f"{url}/alerts/", timeout=10).text)
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    try:
        yield Live(url, all_scopes, read_only, partner, cookie, csrf)
    finally:
        server.shutdown()
        thread.join(10)


def description(live: Live) -> dict[str, Any]:
    resp = requests.get(f"{live.url}/api/v1/openapi.json", headers={"Authorization": f"Bearer {live.read_only}"},
                        timeout=30)
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    return doc


def operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in doc["paths"].items() for method in item if method in METHODS}


def subset(doc: dict[str, Any], keep: set[tuple[str, str]]) -> dict[str, Any]:
    """The description restricted to the operations ``keep``."""
    out = json.loads(json.dumps(doc))
    for path, item in list(out["paths"].items()):
        for method in [m for m in item if m in METHODS and (m, path) not in keep]:
            del item[method]
        if not any(m in METHODS for m in item):
            del out["paths"][path]
    return out


def by_scope(doc: dict[str, Any]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(operations a token may call, operations of the read scope)."""
    tokens, reads = set(), set()
    for method, path in operations(doc):
        scope = doc["paths"][path][method].get("x-vigie-scope")
        if scope is not None:
            tokens.add((method, path))
        if scope == "read":
            reads.add((method, path))
    return tokens, reads


def refused_everywhere(output: str) -> set[str]:
    """The operations schemathesis warns answered only 401 or 403 (its credential was not enough)."""
    section = output.partition("Authentication failed")[2].partition("\U0001f4a1")[0]
    return set(re.findall(r"- ((?:GET|POST|PUT|PATCH|DELETE) \S+)", section))


def schemathesis(live: Live, doc: dict[str, Any], tmp_path: Path, name: str, max_time: int, *headers: str,
                 refused: frozenset[str] = frozenset()) -> str:
    """Run the schemathesis CLI on ``doc`` against the live server for ``max_time`` seconds; the
    output, asserting no failure, and that the credential opened every operation but ``refused``."""
    schema = tmp_path / f"{name}.json"
    schema.write_text(json.dumps(doc))
    command = [sys.executable, "-m", "schemathesis.cli", "run", str(schema), "--url", live.url,
               "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES), "--max-time", str(max_time),
               "--phases", "examples,coverage,fuzzing", "--workers", "1", "--generation-database", "none",
               "--no-color", "--request-timeout", "20", "--max-failures", "20",
               # the credential is the run's, never a generated one (a random session cookie would
               # make every unsafe request fail its CSRF check)
               "--generation-with-security-parameters", "false",
               "--header", f"User-Agent: {USER_AGENT}"]
    for header in headers:
        command += ["--header", header]
    started = time.monotonic()
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, capture_output=True, text=True, timeout=max_time + 90, check=False, env=env,
                          cwd=tmp_path)  # its own files (.schemathesis/) out of the tree
    output = f"{done.stdout}\n{done.stderr}\n({time.monotonic() - started:.0f} s)"
    print(output)  # shown by pytest -rP: what was tested, the seed, the time
    assert done.returncode == 0, output
    assert "Test cases:" in done.stdout and " generated, " in done.stdout, output
    assert refused_everywhere(done.stdout) <= refused, output
    return output


def test_every_operation_is_in_one_run(live: Live) -> None:
    doc = description(live)
    tokens, reads = by_scope(doc)
    sessions = person(doc)
    assert reads and reads <= tokens and sessions and not tokens & sessions
    assert tokens | sessions == operations(doc)
    assert REVOKE in tokens and ("post", "/api/v1/ingest/{parser}") in tokens and ("get", "/api/v1/me") in sessions


def shares(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """The operations a partner CERT's token reads (scope share, which no other token holds)."""
    return {op for op in operations(doc) if doc["paths"][op[1]][op[0]].get("x-vigie-scope") == "share"}


def person(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """The operations for a logged-in person only (no token scope)."""
    return {op for op in operations(doc) if "x-vigie-scope" not in doc["paths"][op[1]][op[0]]}


#: schemathesis learns names from the answers (GET /tokens lists them): in the run of every
#: operation it revokes its own token, and what follows is all 401s. It runs alone, after.
REVOKE = ("post", "/api/v1/tokens/{name}/revoke")


def test_a_token_with_every_scope_finds_no_5xx_and_no_answer_off_schema(live: Live, tmp_path: Path) -> None:
    doc = description(live)
    tokens, _reads = by_scope(doc)
    bearer = f"Authorization: Bearer {live.all_scopes}"
    schemathesis(live, subset(doc, tokens - {REVOKE} - shares(doc)), tmp_path, "every-scope", 60, bearer)
    schemathesis(live, subset(doc, {REVOKE}), tmp_path, "revoke", 10, bearer)


def test_a_partner_token_on_what_partners_read(live: Live, tmp_path: Path) -> None:
    """The TAXII 2.1 server and the served MISP feed, with a partner CERT's token (scope share)."""
    doc = description(live)
    partners = shares(doc)
    assert ("get", "/api/taxii2/") in partners and ("get", "/api/feeds/misp/manifest.json") in partners
    schemathesis(live, subset(doc, partners), tmp_path, "partner", 20, f"Authorization: Bearer {live.partner}")


def test_a_read_only_token_on_the_read_operations(live: Live, tmp_path: Path) -> None:
    doc = description(live)
    _tokens, reads = by_scope(doc)
    schemathesis(live, subset(doc, reads), tmp_path, "read-only", 20, f"Authorization: Bearer {live.read_only}")


def test_a_session_on_the_operations_for_a_person(live: Live, tmp_path: Path) -> None:
    doc = description(live)
    # POST /account/password would end this session if schemathesis guessed the current password
    # (it cannot: it never sees it), so it stays in the run; a wrong current password is a 403
    schemathesis(live, subset(doc, person(doc)), tmp_path, "session", 25, f"Cookie: {live.cookie}",
                 f"X-CSRFToken: {live.csrf}", refused=frozenset({"POST /api/v1/account/password"}))
