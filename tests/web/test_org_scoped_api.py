"""API tokens of an organisation read only that organisation's alerts and cases (and those of the
organisations under it) through /api/v1; focal points read their organisations' incidents through
the portal; another organisation's alert or case is a 404, as if it did not exist. Accounts of focal points and partners are created and changed
through the API, the console and the CLI, with their organisation checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from account_support import api_csrf, logged_in
from flask import Flask
from sqlalchemy import select
from support import DGPN, INTERIEUR, JUSTICE, csrf_token, login, seed_by_organization

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.cli import main
from cert.runtime.platform import Platform
from cert.storage.models import Alert, User
from web.app import create_app

PASSWORD = "a-long-password-1"


@pytest.fixture
def app(platform: Platform) -> Flask:
    with platform.db.session() as s:
        c = platform.constituency
        create_user(s, "chef", PASSWORD, "admin")
        create_user(s, "ana", PASSWORD, "analyst")
        create_user(s, "pf-interieur", PASSWORD, "focal_point", organization="min-interieur", constituency=c)
        create_user(s, "pf-police", PASSWORD, "focal_point", organization="dgpn", constituency=c)
        create_user(s, "cert-xy", PASSWORD, "partner", organization="CERT-XY", constituency=c)
    return create_app(platform=platform)


def listed(client: Any, what: str, **headers: str) -> tuple[set[str | None], int]:
    body = client.get(f"/api/v1/{what}", headers=headers).get_json()
    return {item["organization"] for item in body["items"]}, body["total"]


def test_a_focal_point_reads_its_organisations_incidents_through_the_portal_only(platform: Platform,
                                                                                 app: Flask) -> None:
    """The CERT's own views of alerts and incidents hold every item whatever its TLP: a focal point
    reads its organisations' incidents through the portal, which shows each item only as far as
    its marking allows (tests/web/test_portal.py)."""
    ids = seed_by_organization(platform)
    fp = logged_in(app, "pf-interieur", PASSWORD)
    alert_id, case_id = ids[INTERIEUR]
    for url in ("/api/v1/alerts", "/api/v1/cases", "/api/v1/incidents", f"/api/v1/alerts/{alert_id}",
                f"/api/v1/cases/{case_id}", f"/api/v1/incidents/{case_id}"):
        assert fp.get(url).status_code == 403, url
    assert listed(fp, "portal/incidents") == ({INTERIEUR, DGPN}, 2)  # its ministry and the directorate under it
    for organization in (INTERIEUR, DGPN):
        got = fp.get(f"/api/v1/portal/incidents/{ids[organization][1]}")
        assert got.status_code == 200, organization
    for organization in (JUSTICE, None):  # another ministry's, and of no organisation: as if absent
        resp = fp.get(f"/api/v1/portal/incidents/{ids[organization][1]}")
        assert resp.status_code == 404 and resp.get_json()["error"] == "not_found", organization

    police = logged_in(app, "pf-police", PASSWORD)  # a directorate's focal point does not see its ministry
    assert listed(police, "portal/incidents") == ({DGPN}, 1)
    assert police.get(f"/api/v1/portal/incidents/{ids[INTERIEUR][1]}").status_code == 404

    staff = logged_in(app, "ana", PASSWORD)
    assert listed(staff, "alerts") == ({INTERIEUR, DGPN, JUSTICE, None}, 4)
    assert staff.get(f"/api/v1/cases/{ids[None][1]}").status_code == 200


def test_a_partner_reads_no_internal_alert_or_case(platform: Platform, app: Flask) -> None:
    ids = seed_by_organization(platform)
    partner = logged_in(app, "cert-xy", PASSWORD)
    for url in ("/api/v1/alerts", "/api/v1/cases", f"/api/v1/alerts/{ids[JUSTICE][0]}",
                f"/api/v1/cases/{ids[JUSTICE][1]}"):
        assert partner.get(url).status_code == 403, url


def bearer(platform: Platform, name: str, scopes: list[str], organization: str | None) -> dict[str, str]:
    with platform.db.session() as s:
        org = platform.constituency.find(organization) if organization else None
        secret = create_token(s, name, "tests", actor="test", scopes=scopes, organization=org)[1]
    return {"Authorization": f"Bearer {secret}"}


def test_a_token_of_an_organisation_reads_and_acts_on_its_alerts_and_cases_only(platform: Platform) -> None:
    ids = seed_by_organization(platform)
    client = create_app(platform=platform).test_client()
    justice = bearer(platform, "soc-justice", ["read", "triage"], "min-justice")
    everything = bearer(platform, "siem", ["read"], None)
    assert listed(client, "alerts", **justice) == ({JUSTICE}, 1)
    assert listed(client, "cases", **justice) == ({JUSTICE}, 1)
    assert listed(client, "alerts", **everything) == ({INTERIEUR, DGPN, JUSTICE, None}, 4)
    assert client.get(f"/api/v1/alerts/{ids[JUSTICE][0]}", headers=justice).status_code == 200
    assert client.get(f"/api/v1/cases/{ids[JUSTICE][1]}", headers=justice).status_code == 200
    assert client.get(f"/api/v1/alerts/{ids[INTERIEUR][0]}", headers=justice).status_code == 404
    assert client.get(f"/api/v1/cases/{ids[None][1]}", headers=justice).status_code == 404
    assert client.post(f"/api/v1/alerts/{ids[INTERIEUR][0]}/acknowledge", headers=justice).status_code == 404
    assert client.post(f"/api/v1/alerts/{ids[INTERIEUR][0]}/promote", headers=justice, json={}).status_code == 404
    assert client.post(f"/api/v1/alerts/{ids[JUSTICE][0]}/acknowledge", headers=justice).status_code == 200
    with platform.db.session() as s:
        assert s.get_one(Alert, ids[INTERIEUR][0]).status == "new"
        assert s.get_one(Alert, ids[JUSTICE][0]).status == "acknowledged"


# ---- creating and changing the accounts of outsiders ---------------------------------------------------

def test_the_users_api_checks_a_focal_points_organisation(platform: Platform, app: Flask) -> None:
    admin = logged_in(app, "chef", PASSWORD)
    h = api_csrf(admin)
    base = {"username": "pf-justice", "password": PASSWORD, "role": "focal_point"}
    for body, message in ((base, "Un point focal appartient"),
                          ({**base, "organization": "min-nowhere"}, "Aucune organisation min-nowhere"),
                          ({**base, "role": "partner"}, "CERT partenaire"),
                          ({**base, "role": "analyst", "organization": "min-justice"}, "Le personnel du CERT")):
        resp = admin.post("/api/v1/users", json=body, headers=h)
        assert resp.status_code == 400 and message in resp.get_json()["message"], body
    resp = admin.post("/api/v1/users", json={**base, "organization": "min-justice"}, headers=h)
    assert resp.status_code == 201 and resp.get_json()["organization"] == "min-justice"
    uid = resp.get_json()["id"]
    moved = admin.patch(f"/api/v1/users/{uid}", json={"organization": "dgpn"}, headers=h)
    assert (moved.status_code, moved.get_json()["role"], moved.get_json()["organization"]) == (200, "focal_point",
                                                                                                "dgpn")
    assert admin.patch(f"/api/v1/users/{uid}", json={"role": "partner"}, headers=h).get_json()["organization"] \
        == "dgpn"  # kept when none is given
    resp = admin.patch(f"/api/v1/users/{uid}", json={"role": "responder"}, headers=h)
    assert (resp.get_json()["role"], resp.get_json()["organization"]) == ("responder", None)


def test_the_users_page_creates_a_focal_point_of_an_organisation(platform: Platform, app: Flask) -> None:
    admin = logged_in(app, "chef", PASSWORD)
    page = admin.get("/admin/users").get_data(as_text=True)
    assert 'value="min-interieur"' in page and "point focal" in page
    token = csrf_token(page)
    form = {"csrf_token": token, "username": "pf-finances", "password": PASSWORD, "role": "focal_point"}
    refused = admin.post("/admin/users", data=form)
    assert refused.status_code == 400 and "Un point focal appartient" in refused.get_data(as_text=True)
    refused = admin.post("/admin/users", data={**form, "organization": "min-nowhere"})
    assert refused.status_code == 400 and "Aucune organisation min-nowhere" in refused.get_data(as_text=True)
    assert admin.post("/admin/users", data={**form, "organization": "min-finances"}).status_code == 303
    with platform.db.session() as s:
        user = s.scalars(select(User).where(User.username == "pf-finances")).one()
        assert (user.role, user.organization) == ("focal_point", "min-finances")
        uid = user.id
    resp = admin.post(f"/admin/users/{uid}/role", data={"csrf_token": token, "role": "partner", "partner": "CERT-ZZ"})
    assert resp.status_code == 303
    with platform.db.session() as s:
        assert (s.get_one(User, uid).role, s.get_one(User, uid).organization) == ("partner", "CERT-ZZ")


def test_cert_users_add_a_focal_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CERT_SECRET_KEY", "test-secret-key")
    d = str(tmp_path / "data")
    assert main(["--data-dir", d, "init"]) == 0
    add = ["--data-dir", d, "users", "add", "pf", "--role", "focal_point", "--password", PASSWORD]
    capsys.readouterr()
    assert main(add) == 2
    assert "focal point belongs to an organisation" in capsys.readouterr().err
    assert main([*add, "--organization", "min-nowhere"]) == 2
    assert main([*add, "--organization", "min-interieur"]) == 0
    assert "Created focal_point pf of min-interieur" in capsys.readouterr().out
    assert main(["--data-dir", d, "users", "role", "pf", "focal_point", "--organization", "dgpn"]) == 0
    assert main(["--data-dir", d, "users", "list"]) == 0
    assert "dgpn" in capsys.readouterr().out


def test_outsiders_land_on_their_portal_or_account_page_and_staff_on_the_queue(app: Flask) -> None:
    """A focal point or a partner has no console view of the CERT's alerts: after login, and from
    the home page, a focal point lands on the portal of its organisation's incidents, a partner on
    its own account page, instead of a refusal."""
    for username, landing in (("pf-interieur", "/portal/"), ("cert-xy", "/account/second-factor"),
                              ("ana", "/alerts/")):
        client = app.test_client()
        resp = login(client, username, PASSWORD)
        assert resp.status_code == 302 and resp.headers["Location"].endswith(landing), username
        assert client.get(landing).status_code == 200, username
        assert client.get("/").headers["Location"].endswith(landing), username
