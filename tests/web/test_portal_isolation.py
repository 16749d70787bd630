"""Isolation of the organisations, proved on every route of the application.

Each organisation (the Interior ministry, its police directorate DGPN, the Justice ministry, and
none) has an incident, an alert, an observable, a comment and a countermeasure carrying a
recognisable secret. Every route (``support.route_calls``), with each of these objects' ids and
an id that does not exist, is called by every principal of the matrix: anonymous, the focal
points of min-interieur, dgpn and min-justice, a partner, an analyst, a responder, an
administrator, and an API token bound to min-justice. The objects are created in the same order
in every table, so the id ``n`` names organisation ``n``'s incident, alert, countermeasure and
comment alike.

- No outsider (focal point, partner, token, anonymous) ever receives the secret of an
  organisation outside its scope, in any answer, whatever the method; and for an object outside
  its scope it gets the same status as for an object that does not exist (no oracle).
- A ministry's focal point sees its directorate's incident in the portal; the directorate's focal
  point does not see its ministry's.
- CERT staff do read every organisation's secret (the detection of secrets is not blind), and
  are refused the portal.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from pypdf import PdfReader
from support import DGPN, INTERIEUR, JUSTICE, login, route_calls

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.incidents.cases import add_observable
from cert.incidents.comments import add_comment
from cert.runtime.platform import Platform
from cert.storage.models import Alert, Case, Countermeasure
from web.app import create_app

PASSWORD = "a-long-password-1"
#: the organisations in the order their objects are created: object id ``n`` is ORGS[n - 1]'s
ORGS: tuple[tuple[str, str | None], ...] = (("interieur", INTERIEUR), ("dgpn", DGPN), ("justice", JUSTICE),
                                           ("aucune", None))
MISSING = 99
#: the path arguments naming seeded objects (ids aligned on ORGS); others (users, reports...) are
#: not an organisation's seeded objects: their ids say nothing of one
SEEDED_ARGS = frozenset({"case_id", "alert_id", "cm_id", "comment_id", "observable_id"})
#: a POST that would end the session under test
SKIPPED = frozenset({"auth.logout"})


def secret(key: str) -> str:
    return f"s3cret-{key}"


@dataclass(frozen=True)
class Who:
    name: str
    sees: frozenset[str]  # the keys of the organisations whose secrets it may receive
    outsider: bool


PRINCIPALS = (
    Who("anonymous", frozenset(), True),
    Who("fp-interieur", frozenset({"interieur", "dgpn"}), True),
    Who("fp-dgpn", frozenset({"dgpn"}), True),
    Who("fp-justice", frozenset({"justice"}), True),
    Who("partner", frozenset(), True),
    Who("token-justice", frozenset({"justice"}), True),
    Who("analyst", frozenset(k for k, _ in ORGS), False),
    Who("responder", frozenset(k for k, _ in ORGS), False),
    Who("admin", frozenset(k for k, _ in ORGS), False),
)


def seed(platform: Platform) -> None:
    now = datetime.now(UTC)
    with platform.db.session() as s:
        for key, organization in ORGS:
            case = Case(title=f"Incident {secret(key)}", description=f"Détails {secret(key)}", tlp="amber",
                        organization=organization, created_by="analyst")
            s.add(case)
            s.flush()
            add_observable(s, case, "domain", f"{secret(key)}.example", tlp="amber")
            add_comment(s, case, "analyst", f"Commentaire {secret(key)}")
            s.add(Alert(rule_id="r", rule_title=f"alert {secret(key)}", detector="sigma", severity="high",
                        organization=organization, first_seen=now, last_seen=now))
            s.add(Countermeasure(case_id=case.id, kind="block-domain", target=f"{secret(key)}.example",
                                 organization=organization, status="requested", created_by="analyst"))
            s.flush()


@pytest.fixture
def app(platform: Platform) -> Flask:
    c = platform.constituency
    with platform.db.session() as s:
        for role in ("analyst", "responder", "admin"):
            create_user(s, role, PASSWORD, role)
        create_user(s, "fp-interieur", PASSWORD, "focal_point", organization="min-interieur", constituency=c)
        create_user(s, "fp-dgpn", PASSWORD, "focal_point", organization="dgpn", constituency=c)
        create_user(s, "fp-justice", PASSWORD, "focal_point", organization="min-justice", constituency=c)
        create_user(s, "partner", PASSWORD, "partner", organization="CERT-XY", constituency=c)
    seed(platform)
    application = create_app(platform=platform)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def clients(app: Flask, platform: Platform) -> dict[str, tuple[Any, dict[str, str]]]:
    """A test client and the headers of each request, per principal."""
    out: dict[str, tuple[Any, dict[str, str]]] = {}
    for who in PRINCIPALS:
        client = app.test_client()
        headers: dict[str, str] = {}
        if who.name == "token-justice":
            with platform.db.session() as s:
                scopes = ["read", "triage", "write"]  # what its focal point does
                token = create_token(s, "justice", "tests", actor="test", scopes=scopes,
                                     organization=platform.constituency.by_id("min-justice"))[1]
            headers = {"Authorization": f"Bearer {token}"}
        elif who.name not in ("anonymous",):
            assert login(client, who.name, PASSWORD).status_code == 302, who.name
        out[who.name] = (client, headers)
    return out


def calls_with_ids(app: Flask) -> list[tuple[str, str, str, int | None]]:
    """(method, url, endpoint, n) of every route, each integer argument given ``n`` (an object of
    organisation ``n``, or ``MISSING``); routes without one once, with ``n`` None, as are the
    routes with an argument of no seeded object (their ``n`` is then ``-n``: called, not compared)."""
    out: list[tuple[str, str, str, int | None]] = []
    by_endpoint = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    for method, url, endpoint in route_calls(app):
        rule = by_endpoint[endpoint]
        ints = [a for a in rule.arguments if f"<int:{a}>" in str(rule)]
        if not ints:
            out.append((method, url, endpoint, None))
            continue
        for n in [*range(1, len(ORGS) + 1), MISSING]:
            path = str(rule)
            for arg in rule.arguments:
                path = path.replace(f"<int:{arg}>", str(n)).replace(f"<path:{arg}>", "x").replace(f"<{arg}>", "x")
            out.append((method, path, endpoint, n if set(ints) <= SEEDED_ARGS else -n))
    return out


def readable(data: bytes) -> str:
    """What an answer says: a PDF's text, else the body as text."""
    if data.startswith(b"%PDF-"):
        return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return data.decode("utf-8", errors="replace")


def found_secrets(body: str) -> set[str]:
    return {key for key, _ in ORGS if secret(key) in body.lower()}


def test_no_outsider_ever_receives_another_organisations_data(app: Flask,
                                                              clients: dict[str, tuple[Any, dict[str, str]]]) -> None:
    calls = calls_with_ids(app)
    assert len({endpoint for _m, _u, endpoint, _n in calls}) >= 150
    assert {"portal.index", "portal.incident", "portal_api.get_incident", "portal.acknowledge_incident"} <= {
        endpoint for _m, _u, endpoint, _n in calls}
    received: dict[str, set[str]] = {}
    checked = 0
    for who in PRINCIPALS:
        client, headers = clients[who.name]
        # an outsider's changes: the role, scope and organisation checks, not the CSRF check, must
        # refuse them; staff only read here (their pages' forms need the CSRF token)
        app.config["WTF_CSRF_ENABLED"] = not who.outsider
        got: set[str] = set()
        statuses: dict[tuple[str, str, int | None], int] = {}
        for method, url, endpoint, n in calls:
            if endpoint in SKIPPED or (not who.outsider and method != "GET"):
                continue  # staff's changes are not what this test is about: they may see everything
            resp = client.open(url, method=method, headers=headers)
            body = readable(resp.get_data())
            assert resp.status_code < 500, f"{who.name}: {method} {url} answered {resp.status_code}"
            leaked = found_secrets(body + " ".join(f"{k}: {v}" for k, v in resp.headers.items())) - who.sees
            assert not leaked, f"{who.name}: {method} {url} ({resp.status_code}) gave away {sorted(leaked)}"
            got |= found_secrets(body)
            statuses[(method, endpoint, n)] = resp.status_code
            checked += 1
        if who.outsider:  # an object outside its scope answers as one that does not exist
            for (method, endpoint, n), status in statuses.items():
                if n is None or n < 0 or n == MISSING or ORGS[n - 1][0] in who.sees:
                    continue
                missing = statuses.get((method, endpoint, MISSING))
                assert status == missing, (f"{who.name}: {method} {endpoint} answers {status} for organisation "
                                           f"{ORGS[n - 1][0]}'s object, {missing} for none")
        received[who.name] = got
    assert checked > 3000
    # the secrets of each organisation reach those who may see them
    for who in PRINCIPALS:
        if who.name in ("anonymous", "partner"):
            assert received[who.name] == set(), who.name
        else:
            assert received[who.name] == set(who.sees), who.name


def portal_ids(client: Any) -> set[int]:
    return {int(m) for m in re.findall(r'id="portal-incident-(\d+)"', client.get("/portal/").get_data(as_text=True))}


def test_a_ministry_sees_its_directorate_and_not_the_reverse(app: Flask,
                                                            clients: dict[str, tuple[Any, dict[str, str]]]) -> None:
    interieur, dgpn, justice = 1, 2, 3  # the incidents' ids (ORGS' order)
    assert portal_ids(clients["fp-interieur"][0]) == {interieur, dgpn}
    assert portal_ids(clients["fp-dgpn"][0]) == {dgpn}
    assert portal_ids(clients["fp-justice"][0]) == {justice}
    parent, child = clients["fp-interieur"][0], clients["fp-dgpn"][0]
    page = parent.get(f"/portal/incidents/{dgpn}")
    assert page.status_code == 200 and secret("dgpn") in page.get_data(as_text=True)
    assert child.get(f"/portal/incidents/{interieur}").status_code == 404
    assert child.get(f"/api/v1/portal/incidents/{interieur}").status_code == 404
    client, headers = clients["token-justice"]
    listed = client.get("/api/v1/portal/incidents", headers=headers).get_json()
    assert [item["id"] for item in listed["items"]] == [justice]
    for role in ("analyst", "responder", "admin", "partner"):
        assert clients[role][0].get("/portal/").status_code == 403, role
