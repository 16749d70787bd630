"""Fixtures for Vigie's own objects: settings, a migrated platform, the demo data, the web app,
and one real Elasticsearch node per test session (scripts/es_node.py)."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cert.core.config import Settings, load_settings
from cert.runtime.platform import Platform
from cert.storage.models import Alert, Case
from detectors.waf.engine import has_crs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import es_node  # noqa: E402
import keycloak_node  # noqa: E402

KEYCLOAK_REALM = ROOT / "tests" / "fixtures" / "keycloak-realm.json"

PATHS = ("/", "/etat-civil/acte-naissance?id={n}", "/visa/demande", "/static/app.{n}.js", "/casier/extrait",
         "/api/v1/paiement/{n}", "/images/logo.png", "/robots.txt")
AGENTS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
          "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36",
          "curl/8.4.0")


#: Whether Debian's modsecurity-crs (the web attack detector's rules) is installed: the detector then
#: raises alerts on web attacks, beside the Sigma rules' (``.ci/run`` installs it).
HAS_CRS = has_crs(Settings().waf_crs_dir)
#: For a test that needs the CRS: skipped without it, a failure under CI=true (tests/conftest.py).
needs_crs = [pytest.mark.crs, pytest.mark.skipif(not HAS_CRS, reason="Debian's modsecurity-crs is not installed")]


def apache_line(i: int) -> bytes:
    """A combined-format access line of a citizen portal, different for each ``i``, without the
    ident field (``-``)."""
    ip = f"{41 + i % 150}.{(i * 7) % 256}.{(i * 13) % 256}.{1 + i % 254}"
    minute, second = divmod(i % 3600, 60)
    path = PATHS[i % len(PATHS)].format(n=i)
    status = (200, 200, 304, 404, 302, 500)[i % 6]
    return (f'{ip} - - [17/May/2015:{8 + (i // 3600) % 12:02d}:{minute:02d}:{second:02d} +0000] "GET {path} HTTP/1.1" '
            f'{status} {100 + i % 9000} "-" "{AGENTS[i % len(AGENTS)]}"').encode()


def corpora_dir() -> Path:
    return load_settings().corpora_dir


@pytest.fixture
def corpora() -> Path:
    path = corpora_dir()
    if not path.exists():
        pytest.skip(f"test corpora not found at {path} (set CERT_CORPORA_DIR or run scripts/fetch_corpora.py)")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-mode settings in a fresh data directory (the environment's CERT_* are ignored)."""
    return replace(Settings(), data_dir=tmp_path / "data", secret_key="test-secret-key")


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    p = Platform(settings)
    p.upgrade()
    yield p
    p.close()


def load_demo(p: Platform) -> dict[str, str]:
    from cert.demo import ensure_demo_users, ingest_scenario
    from cert.detection.run import run_detection

    creds = ensure_demo_users(p)
    ingest_scenario(p)
    run_detection(p)
    return creds


@pytest.fixture
def demo(platform: Platform) -> tuple[Platform, dict[str, str]]:
    """A platform holding the demo scenario, detected, with the demo users."""
    return platform, load_demo(platform)


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    """One real Elasticsearch 8 node for the whole session, started from Maven Central artifacts."""
    if os.environ.get("CERT_TEST_ELASTICSEARCH_URL"):
        yield os.environ["CERT_TEST_ELASTICSEARCH_URL"]
        return
    workdir = Path(tempfile.mkdtemp(prefix="vigie-es-"))
    try:
        node = es_node.start(workdir=workdir)
    except (RuntimeError, OSError, FileNotFoundError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"Elasticsearch node could not start: {exc}")
    try:
        yield node.url
    finally:
        node.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def keycloak() -> Iterator[keycloak_node.KeycloakNode]:
    """One real Keycloak 26 for the whole session (scripts/keycloak_node.py: the Maven Central dist,
    Java 21+), with the realm ``vigie`` of tests/fixtures/keycloak-realm.json imported."""
    try:
        node = keycloak_node.start([KEYCLOAK_REALM], timeout=240)
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"Keycloak could not start: {exc}")
    try:
        yield node
    finally:
        node.stop()


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(html: str) -> str:
    m = CSRF.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1) or m.group(2)


def login(client: Any, username: str, password: str) -> Any:
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_token(page)})


def route_calls(app: Any) -> list[tuple[str, str, str]]:
    """(method, url, endpoint) of every route of a Flask app, each path argument given a sample
    value (1 for ``int``, ``x`` otherwise): what the route-enumeration tests call."""
    calls = []
    for rule in app.url_map.iter_rules():
        url = str(rule)
        for arg in rule.arguments:
            url = url.replace(f"<int:{arg}>", "1").replace(f"<path:{arg}>", "x").replace(f"<{arg}>", "x")
        calls.extend((method, url, rule.endpoint) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return calls


#: Organisations of the bundled constituency, as alerts and cases record them (by name).
INTERIEUR, DGPN, JUSTICE = "Ministère de l'Intérieur", "Direction générale de la Police nationale", \
    "Ministère de la Justice"


def seed_by_organization(platform: Platform) -> dict[str | None, tuple[int, int]]:
    """An alert and a case per organisation (and one of none): their ids by organisation."""
    now = datetime.now(UTC)
    out: dict[str | None, tuple[int, int]] = {}
    with platform.db.session() as s:
        for organization in (INTERIEUR, DGPN, JUSTICE, None):
            case = Case(title=f"case {organization}", organization=organization, created_by="test")
            s.add(case)
            s.flush()
            alert = Alert(rule_id="r", rule_title=f"alert {organization}", detector="sigma", severity="high",
                          organization=organization, first_seen=now, last_seen=now)
            s.add(alert)
            s.flush()
            out[organization] = (alert.id, case.id)
    return out


def reseed_constituency(platform: Platform, path: Path) -> None:
    """Replace the contact database with the organisations of the constituency file ``path`` (as a
    fresh install seeded from it would hold them), and make ``platform`` read it."""
    from dataclasses import replace as with_fields

    from sqlalchemy import delete, update

    from cert.constituency.database import seed
    from cert.constituency.directory import Constituency
    from cert.storage.models.contacts import (
        ConstituencyContact,
        ConstituencyNetworkObject,
        ConstituencyOrganization,
        ConstituencyVersion,
    )

    platform.settings = with_fields(platform.settings, constituency_file=path)
    with platform.db.session() as s:
        s.execute(update(ConstituencyOrganization).values(parent=None))  # then no row is another's parent
        for table in (ConstituencyContact, ConstituencyNetworkObject, ConstituencyOrganization, ConstituencyVersion):
            s.execute(delete(table))
        seed(s, Constituency.load(path).organizations, f"test:{path.name}")
    platform.__dict__.pop("live_constituency", None)
    platform.__dict__.pop("constituency", None)
