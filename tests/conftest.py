"""Shared fixtures: real Redis and PostgreSQL servers (see tests/servers.py), and the CI rule that
a test needing a server may not be silently skipped."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

# tests/cert, tests/detectors and tests/ingest have no __init__.py, and pytest's default import
# mode puts tests/ on sys.path: without the project root also on sys.path, ``import detectors``
# (and cert, ingest) resolves to the *test* directory as a namespace package, and
# ``load_plugins("detectors")`` then imports the test modules instead of the Sigma detector.
# A regular package anywhere on sys.path wins over a namespace portion, so add the root.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

if __package__:  # tests/ made a package
    from . import servers
else:  # rootdir-style conftest: pytest put tests/ on sys.path
    import servers

from cert.storage.db import Database  # noqa: E402 - after the root is on sys.path

# Tests with these markers need a real server or browser, or the native module (native/, built by
# scripts/test); under CI=true a skip is a failure.
SERVER_MARKERS = ("redis", "postgres", "elasticsearch", "browser", "native", "keycloak", "nftables", "unbound", "ldap",
                  "taxii", "crs")


S = TypeVar("S", bound=servers.Server)


def _serve(start: Callable[[Path], S], prefix: str) -> Iterator[S]:
    """Start a server in a private temp dir; skip with the reason when unavailable; stop it by pid."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        server = start(workdir)
    except servers.ServerUnavailable as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(exc.reason)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[servers.Server]:
    """A private redis-server on a free loopback port, for the whole session."""
    yield from _serve(servers.start_redis, "vigie-redis-")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def either_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh migrated database of each kind: SQLite (embedded), then a database of its own on
    the session's PostgreSQL (production), dropped afterwards."""
    url = None
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'either.sqlite3'}")
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database()
        database = Database(url)
    database.upgrade()
    try:
        yield database
    finally:
        database.dispose()
        if url is not None:
            server.drop_database(url)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[servers.PostgresServer]:
    """A private PostgreSQL cluster on a free loopback port, for the whole session.

    ``postgres_server.url`` is the database ``vigie``; ``postgres_server.create_database()``
    makes a fresh one (and returns its URL) for a module that wants its own schema."""
    yield from _serve(servers.start_postgres, "vigie-postgres-")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI=true, a skipped redis/postgres/elasticsearch/browser/keycloak test is a failure."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or os.environ.get("CI") != "true":
        return
    markers = [name for name in SERVER_MARKERS if item.get_closest_marker(name) is not None]
    if not markers:
        return
    report.outcome = "failed"
    report.longrepr = f"CI=true: {'/'.join(markers)} test could not run: {_skip_reason(report)}"


from support import corpora, demo, es_url, keycloak, platform, settings  # noqa: E402,F401 - fixtures
