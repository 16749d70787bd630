"""The bulk ingest API as a log shipper meets it: bearer API tokens, raw lines through a parser,
NDJSON ECS events, per-line errors, size limit, and the admin page that creates and revokes tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from support import apache_line, csrf_token, login

from cert.accounts.tokens import create_token, revoke_token
from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.core.event_store import EventQuery
from cert.core.parser import ParseError, parsers
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, DeadLetter
from cert.storage.models.tokens import ApiToken
from web.app import create_app

ADMIN_PW = "admin-password-1"


@pytest.fixture
def api_platform(tmp_path: Path) -> Iterator[Platform]:
    settings = replace(Settings(), data_dir=tmp_path / "data", secret_key="test-secret-key",
                       plugins=("ingest.parsers", "ingest.listeners"), ingest_api_max_mb=1)
    p = Platform(settings)
    p.db.upgrade()
    yield p
    p.close()


@pytest.fixture
def users(api_platform: Platform) -> None:
    with api_platform.db.session() as s:
        create_user(s, "chef", ADMIN_PW, "admin")
        create_user(s, "ana", "analyst-password-1", "analyst")


@pytest.fixture
def app(api_platform: Platform) -> Flask:
    app = create_app(platform=api_platform)
    app.config["TESTING"] = True
    return app


def token(platform: Platform, name: str = "ministere-sante") -> str:
    with platform.db.session() as s:
        return create_token(s, name, "soc-sante", actor="test")[1]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def stored(platform: Platform, **terms: Any) -> list[dict[str, Any]]:
    return platform.events.search(EventQuery(terms={k.replace("__", "."): [v] for k, v in terms.items()},
                                             limit=10_000))


def sshd_lines(corpora: Path) -> list[str]:
    """Real sshd login lines (fail2ban's samples) that linux.auth reads as a login success or failure."""
    text = (corpora / "linux" / "fail2ban-samples" / "sshd").read_text(encoding="utf-8", errors="replace")
    parser = parsers.get("linux.auth")()
    out = []
    for line in text.splitlines():
        if line.startswith("#") or " sshd[" not in line:
            continue
        try:
            event = parser.parse(line)
        except ParseError:
            continue
        if event and event.get("event", {}).get("outcome"):
            out.append(line)
    return out


def test_raw_lines_through_a_parser_with_per_line_errors(app: Flask, api_platform: Platform, corpora: Path) -> None:
    lines = sshd_lines(corpora)[:30]
    assert len(lines) == 30, len(lines)
    body = "\n".join([*lines[:10], "this is not an auth.log line", *lines[10:]]) + "\n"
    client = app.test_client()
    resp = client.post("/api/v1/ingest/linux.auth", data=body.encode(), headers=bearer(token(api_platform)))
    assert resp.status_code == 400, resp.get_json()
    answer = resp.get_json()
    assert answer["lines"] == 31 and answer["dead_lettered"] == 1 and answer["accepted"] == 30
    assert answer["stored"] == 30 and answer["duplicates"] == 0
    assert answer["errors"][0]["line"] == 11 and "not a syslog line" in answer["errors"][0]["reason"]
    events = stored(api_platform, event__dataset="system.auth")
    assert len(events) == 30 and {e["event"]["outcome"] for e in events} <= {"failure", "success"}
    assert all("file" not in e.get("log", {}) for e in events)
    with api_platform.db.session() as s:
        [letter] = s.scalars(select(DeadLetter)).all()
        assert (letter.source, letter.position, letter.raw) == ("api://ministere-sante", "line 11",
                                                                 b"this is not an auth.log line")
    again = client.post("/api/v1/ingest/linux.auth", data="\n".join(lines).encode(), headers=bearer(token(
        api_platform, "second")))
    assert again.status_code == 200 and again.get_json()["stored"] == 30  # another source: new ids


def test_resending_a_body_never_duplicates(app: Flask, api_platform: Platform) -> None:
    body = b"".join(apache_line(i) + b"\n" for i in range(200))
    secret = token(api_platform)
    client = app.test_client()
    first = client.post("/api/v1/ingest/web.access", data=body, headers=bearer(secret)).get_json()
    second = client.post("/api/v1/ingest/web.access", data=body, headers=bearer(secret)).get_json()
    assert first["stored"] + first["duplicates"] == 200 and first["dead_lettered"] == 0
    assert second["stored"] == 0 and second["duplicates"] == 200
    assert api_platform.events.count() == first["stored"]


def test_identical_lines_are_distinct_events_and_a_resent_body_is_stored_once(app: Flask,
                                                                               api_platform: Platform) -> None:
    line = apache_line(7)
    secret = token(api_platform)
    client = app.test_client()
    first = client.post("/api/v1/ingest/web.access", data=line + b"\n" + line + b"\n" + line, headers=bearer(secret))
    assert (first.get_json()["stored"], first.get_json()["duplicates"]) == (3, 0)
    retry = client.post("/api/v1/ingest/web.access", data=line + b"\n" + line + b"\n" + line, headers=bearer(secret))
    assert (retry.get_json()["stored"], retry.get_json()["duplicates"]) == (0, 3)
    other = client.post("/api/v1/ingest/web.access", data=line + b"\n" + line, headers=bearer(secret))
    assert (other.get_json()["stored"], other.get_json()["duplicates"]) == (2, 0)  # another request
    assert api_platform.events.count() == 5


def test_ndjson_events_already_in_ecs(app: Flask, api_platform: Platform) -> None:
    docs = [
        {"@timestamp": "2026-03-01T10:00:00Z", "source": {"ip": "198.51.100.9"}, "event": {"kind": "event",
                                                                                         "id": "forged"}},
        {"@timestamp": "2026-03-01T10:00:01+01:00", "source.ip": "198.51.100.10", "event.dataset": "fw.asa",
         "message": "<script>alert(1)</script>"},
        {"message": "no time"},
        [1, 2],
    ]
    body = b"\n".join(orjson.dumps(d) for d in docs) + b"\n{broken json\n"
    resp = app.test_client().post("/api/v1/events", data=body, headers=bearer(token(api_platform)))
    answer = resp.get_json()
    assert resp.status_code == 400 and answer["stored"] == 2 and answer["dead_lettered"] == 3
    assert [e["line"] for e in answer["errors"]] == [3, 4, 5]
    assert "needs an @timestamp" in answer["errors"][0]["reason"]
    [first] = stored(api_platform, source__ip="198.51.100.9")
    assert first["event"]["id"] != "forged" and first["event"]["dataset"] == "ecs.events"
    [second] = stored(api_platform, source__ip="198.51.100.10")
    assert second["@timestamp"] == "2026-03-01T09:00:01.000Z" and second["event"]["dataset"] == "fw.asa"
    assert "198.51.100.10" in second["related"]["ip"]


def test_no_valid_token_no_ingest(app: Flask, api_platform: Platform, users: None) -> None:
    client = app.test_client()
    line = b'{"@timestamp": "2026-03-01T10:00:00Z"}'
    assert client.post("/api/v1/events", data=line).status_code == 401
    assert client.post("/api/v1/events", data=line, headers=bearer("vigie_not-a-real-token")).status_code == 401
    assert client.post("/api/v1/events", data=line, headers={"Authorization": "Basic Y2hlZjp4"}).status_code == 401
    secret = token(api_platform, "retired")
    with api_platform.db.session() as s:
        revoke_token(s, "retired", actor="test")
    resp = client.post("/api/v1/events", data=line, headers=bearer(secret))
    assert resp.status_code == 401 and "Set-Cookie" not in resp.headers
    # a logged-in admin's browser (session cookie, no token): the CSRF check, then no token, no ingest
    page = login(client, "chef", ADMIN_PW)
    assert page.status_code == 302
    assert client.post("/api/v1/events", data=line).status_code == 400
    csrf = csrf_token(client.get("/admin/tokens/").get_data(as_text=True))
    assert client.post("/api/v1/events", data=line, headers={"X-CSRFToken": csrf}).status_code == 401
    # an ingest token opens the ingest routes only, not the rest of the API
    other = app.test_client()
    assert other.get("/api/v1/alerts", headers=bearer(token(api_platform, "t2"))).status_code == 403
    assert api_platform.events.count() == 0


def test_limits_and_unknown_parser(app: Flask, api_platform: Platform) -> None:
    client = app.test_client()
    secret = token(api_platform)
    big = b'{"@timestamp": "2026-03-01T10:00:00Z", "message": "' + b"x" * (1024 * 1024) + b'"}\n'
    resp = client.post("/api/v1/events", data=big, headers=bearer(secret))
    assert resp.status_code == 413 and "smaller batches" in resp.get_json()["message"]
    resp = client.post("/api/v1/ingest/no.such.parser", data=b"a line\n", headers=bearer(secret))
    assert resp.status_code == 404 and "no parser named 'no.such.parser'" in resp.get_json()["message"]
    resp = client.post("/api/v1/events", data=b"\n\n", headers=bearer(secret))
    assert resp.status_code == 400 and "empty body" in resp.get_json()["message"]


def test_tokens_store_only_a_digest_and_are_audited_without_secret(api_platform: Platform) -> None:
    secret = token(api_platform, "dgi")
    with api_platform.db.session() as s:
        revoke_token(s, "dgi", actor="chef")
        row = s.scalars(select(ApiToken)).one()
        assert secret.startswith("vigie_") and len(secret) > 40 and secret not in row.token_hash
        entries = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "api_token")).all()
        assert [e.action for e in entries] == ["token.create", "token.revoke"]
        assert all(secret not in orjson.dumps(e.details).decode() for e in entries)


def test_admin_page_creates_shows_once_and_revokes(app: Flask, api_platform: Platform, users: None) -> None:
    analyst = app.test_client()
    login(analyst, "ana", "analyst-password-1")
    assert analyst.get("/admin/tokens/").status_code == 403
    admin = app.test_client()
    login(admin, "chef", ADMIN_PW)
    page = admin.get("/admin/tokens/").get_data(as_text=True)
    assert "<h1>Jetons d'API</h1>" in page  # French by default
    resp = admin.post("/admin/tokens/", data={"name": "dns-ministere", "owner": "noc", "scopes": "ingest",
                                              "csrf_token": csrf_token(page)})
    assert resp.status_code == 201
    html = resp.get_data(as_text=True)
    secret = html.split('<pre class="secret"><code>')[1].split("</code>")[0]
    assert secret.startswith("vigie_")
    assert secret not in admin.get("/admin/tokens/").get_data(as_text=True)  # shown once
    line = b'{"@timestamp": "2026-03-01T10:00:00Z", "source.ip": "192.0.2.1"}'
    assert app.test_client().post("/api/v1/events", data=line, headers=bearer(secret)).status_code == 200
    dup = admin.post("/admin/tokens/", data={"name": "dns-ministere", "owner": "noc", "scopes": "ingest",
                                             "csrf_token": csrf_token(page)})
    assert dup.status_code == 400 and "existe déjà" in dup.get_data(as_text=True)
    assert admin.post("/admin/tokens/dns-ministere/revoke", data={}).status_code == 400  # no CSRF token
    resp = admin.post("/admin/tokens/dns-ministere/revoke", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 303
    assert app.test_client().post("/api/v1/events", data=line, headers=bearer(secret)).status_code == 401
    with api_platform.db.session() as s:
        actions = [(e.actor, e.action) for e in s.scalars(select(AuditEntry).where(
            AuditEntry.object_type == "api_token"))]
    assert actions == [("chef", "token.create"), ("chef", "token.revoke")]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(min_size=1, max_size=400), parser=st.sampled_from(["ecs", "linux.auth", "netflow", "syslog"]))
def test_fuzz_any_body_gets_an_answer_never_a_crash(app: Flask, api_platform: Platform, body: bytes,
                                                    parser: str) -> None:
    if "_fuzz_secret" not in api_platform.__dict__:  # one token for all the examples of this platform
        api_platform.__dict__["_fuzz_secret"] = token(api_platform, "fuzz")
    secret = api_platform.__dict__["_fuzz_secret"]
    resp = app.test_client().post(f"/api/v1/ingest/{parser}", data=body, headers=bearer(secret))
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)[:300]
    answer = resp.get_json()
    assert "error" in answer or answer["lines"] == answer["accepted"] + answer["skipped"] + answer["dead_lettered"]
