"""The contact database from the console and the REST API: admins edit (analysts only read), each
change audited and seen by another process's platform; CSV export and import with a bad file
refused in French, row by row; hostile names shown escaped; and enrichment of newly ingested
events following a change of a network."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from support import csrf_token, login

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.core.event_store import EventQuery
from cert.pipeline.bulk import ingest_body
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry
from web.app import create_app

ADMIN_PW, ANALYST_PW = "admin-password-1", "analyst-password-1"
HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[Platform, Platform]]:
    """The console's platform and another process's (an ingest worker), on one data directory."""
    chosen = replace(settings, constituency_refresh_seconds=0, plugins=("ingest.parsers",))
    web, worker = Platform(chosen), Platform(chosen)
    web.db.upgrade()
    with web.db.session() as s:
        create_user(s, "chef", ADMIN_PW, "admin")
        create_user(s, "ana", ANALYST_PW, "analyst")
    yield web, worker
    web.close()
    worker.close()


@pytest.fixture
def app(live: tuple[Platform, Platform]) -> Flask:
    app = create_app(platform=live[0])
    app.config["TESTING"] = True
    return app


def client_of(app: Flask, user: str, password: str) -> Any:
    client = app.test_client()
    assert login(client, user, password).status_code == 302
    return client


def csrf(client: Any, url: str = "/constituency/") -> str:
    return csrf_token(client.get(url).get_data(as_text=True))


def api_headers(client: Any) -> dict[str, str]:
    return {"X-CSRFToken": csrf(client)}


def test_admin_edits_through_the_api_and_another_process_sees_it(app: Flask, live: tuple[Platform, Platform]) -> None:
    web, worker = live
    assert worker.constituency.by_id("min-sante") is None
    admin = client_of(app, "chef", ADMIN_PW)
    h = api_headers(admin)
    resp = admin.post("/api/v1/constituency/organizations", headers=h, json={
        "id": "min-sante", "name": "Ministère de la Santé", "kind": "ministry", "sector": "health"})
    assert resp.status_code == 201, resp.get_json()
    resp = admin.post("/api/v1/constituency/organizations/min-sante/network-objects", headers=h,
                      json={"kind": "cidr", "value": "10.20.0.0/16"})
    assert resp.status_code == 201
    net_id = resp.get_json()["id"]
    resp = admin.post("/api/v1/constituency/organizations/min-sante/contacts", headers=h, json={
        "name": "Awa Sarr", "email": "pf@sante.gouv.example", "role": "focal_point", "language": "en"})
    assert resp.status_code == 201
    contact_id = resp.get_json()["id"]
    org = worker.constituency.lookup("10.20.3.4")
    assert org is not None and org.id == "min-sante" and org.contacts[0].language == "en"
    assert org.focal_point is not None and org.focal_point.email == "pf@sante.gouv.example"

    resp = admin.put(f"/api/v1/constituency/organizations/min-sante/contacts/{contact_id}", headers=h, json={
        "name": "Awa Sarr", "email": "pf2@sante.gouv.example", "role": "deputy", "language": "en"})
    assert resp.status_code == 200 and resp.get_json()["role"] == "deputy"
    assert worker.constituency.find("min-sante").focal_point is None
    resp = admin.put("/api/v1/constituency/organizations/min-sante", headers=h,
                     json={"name": "Ministère de la Santé publique", "parent": "primature"})
    assert resp.status_code == 200
    assert "min-sante" in worker.constituency.scope_of("primature")
    assert admin.delete(f"/api/v1/constituency/organizations/min-sante/network-objects/{net_id}",
                        headers=h).status_code == 204
    assert worker.constituency.lookup("10.20.3.4") is None
    got = admin.get("/api/v1/constituency/organizations/min-sante").get_json()
    assert got["parent"] == "primature" and got["contacts"][0]["email"] == "pf2@sante.gouv.example"
    assert admin.delete(f"/api/v1/constituency/organizations/min-sante/contacts/{contact_id}",
                        headers=h).status_code == 204
    assert admin.delete("/api/v1/constituency/organizations/min-sante", headers=h).status_code == 204
    assert worker.constituency.by_id("min-sante") is None
    with web.db.session() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action.like("constituency.%"))
                                 .order_by(AuditEntry.id)))
    assert [e.action for e in entries][1:] == [
        "constituency.organization_create", "constituency.network_add", "constituency.contact_add",
        "constituency.contact_update", "constituency.organization_update", "constituency.network_delete",
        "constituency.contact_delete", "constituency.organization_delete"]
    assert {e.actor for e in entries[1:]} == {"chef"}
    assert entries[4].details["changes"] == {"role": ["focal_point", "deputy"],
                                             "email": ["pf@sante.gouv.example", "pf2@sante.gouv.example"]}
    assert entries[5].details["changes"]["parent"] == [None, "primature"]


def test_analysts_read_admins_write_tokens_need_their_scope(app: Flask, live: tuple[Platform, Platform]) -> None:
    web, _ = live
    analyst = client_of(app, "ana", ANALYST_PW)
    listed = analyst.get("/api/v1/constituency/organizations").get_json()
    assert {"min-interieur", "dgpn"} <= {o["id"] for o in listed["items"]} and listed["version"] == 1
    assert analyst.get("/constituency/organizations/min-interieur").status_code == 200
    h = api_headers(analyst)
    assert analyst.post("/api/v1/constituency/organizations", headers=h,
                        json={"id": "x", "name": "X"}).status_code == 403
    assert analyst.delete("/api/v1/constituency/organizations/dgpn", headers=h).status_code == 403
    assert analyst.get("/api/v1/constituency/export/contacts.csv").status_code == 403
    assert analyst.post("/constituency/organizations/dgpn/delete", data={"csrf_token": csrf(analyst)}).status_code \
        == 403
    with web.db.session() as s:
        read = create_token(s, "lecteur", "soc", actor="t", scopes=("read",))[1]
        admin_token = create_token(s, "admin", "soc", actor="t", scopes=("admin",))[1]
        org_token = create_token(s, "justice", "soc", actor="t", scopes=("read",),
                                 organization=web.constituency.find("min-justice"))[1]
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {read}"}
    assert client.get("/api/v1/constituency/organizations/dgpn", headers=bearer).status_code == 200
    assert client.post("/api/v1/constituency/organizations/dgpn/network-objects", headers=bearer,
                       json={"kind": "asn", "value": "64501"}).status_code == 403
    resp = client.post("/api/v1/constituency/organizations/dgpn/network-objects",
                       headers={"Authorization": f"Bearer {admin_token}"}, json={"kind": "asn", "value": "AS64501"})
    assert resp.status_code == 201 and resp.get_json()["value"] == "64501"
    scoped = {"Authorization": f"Bearer {org_token}"}
    assert [o["id"] for o in client.get("/api/v1/constituency/organizations", headers=scoped).get_json()["items"]] \
        == ["min-justice"]
    assert client.get("/api/v1/constituency/organizations/min-interieur", headers=scoped).status_code == 404


def test_validation_errors_answer_in_french(app: Flask) -> None:
    admin = client_of(app, "chef", ADMIN_PW)
    h = api_headers(admin)
    resp = admin.post("/api/v1/constituency/organizations/dgpn/network-objects", headers=h,
                      json={"kind": "cidr", "value": "10.300.0.0/16"})
    assert resp.status_code == 400
    assert resp.get_json()["message"] == "10.300.0.0/16 n'est pas un réseau en notation CIDR (10.10.0.0/16)."
    resp = admin.post("/api/v1/constituency/organizations/dgpn/contacts", headers=h,
                      json={"name": "X", "email": "pas-une-adresse"})
    assert resp.status_code == 400 and resp.get_json()["message"] == "pas-une-adresse n'est pas une adresse e-mail."
    resp = admin.post("/api/v1/constituency/organizations/dgpn/network-objects", headers=h,
                      json={"kind": "cidr", "value": "10.10.0.0/16"})
    assert resp.status_code == 409 and "min-interieur" in resp.get_json()["message"]
    page = admin.post("/constituency/organizations/dgpn/network-objects", follow_redirects=True, data={
        "csrf_token": csrf(admin), "kind": "domain", "value": "pas un domaine"}).get_data(as_text=True)
    assert "pas un domaine n&#39;est pas un nom de domaine" in page
    assert admin.get("/api/v1/constituency/organizations/inconnue").status_code == 404


def test_console_edits_and_hostile_text_is_escaped(app: Flask, live: tuple[Platform, Platform]) -> None:
    _, worker = live
    admin = client_of(app, "chef", ADMIN_PW)
    resp = admin.post("/constituency/organizations", data={
        "csrf_token": csrf(admin), "id": "hopital-1", "name": HOSTILE, "parent": "min-interieur",
        "kind": "hospital", "sector": "health"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/constituency/organizations/hopital-1")
    admin.post("/constituency/organizations/hopital-1/contacts", data={
        "csrf_token": csrf(admin), "name": HOSTILE, "role": "duty", "email": "garde@hopital.example",
        "phone": "+000 30 00 00", "language": "fr"})
    admin.post("/constituency/organizations/hopital-1/network-objects", data={
        "csrf_token": csrf(admin), "kind": "cidr", "value": "10.60.0.0/24"})
    for url in ("/constituency/", "/constituency/organizations/hopital-1"):
        page = admin.get(url).get_data(as_text=True)
        assert HOSTILE not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    page = admin.get("/constituency/organizations/hopital-1").get_data(as_text=True)
    assert "10.60.0.0/24" in page and "garde@hopital.example" in page and "Ministère de l&#39;Intérieur" in page
    org = worker.constituency.lookup("10.60.0.9")
    assert org is not None and org.name == HOSTILE and org.contacts_with("duty")[0].phone == "+000 30 00 00"
    # no CSRF token: refused, nothing changed
    assert admin.post("/constituency/organizations/hopital-1/delete").status_code == 400
    assert admin.post("/constituency/organizations/hopital-1/delete",
                      data={"csrf_token": csrf(admin)}).status_code == 303
    assert worker.constituency.by_id("hopital-1") is None


def test_csv_export_import_from_the_console_and_the_api(app: Flask, live: tuple[Platform, Platform]) -> None:
    import io

    web, worker = live
    admin = client_of(app, "chef", ADMIN_PW)
    orgs = admin.get("/constituency/export/organizations.csv")
    assert orgs.status_code == 200 and orgs.mimetype == "text/csv"
    people = admin.get("/api/v1/constituency/export/contacts.csv").get_data(as_text=True)
    text = orgs.get_data(as_text=True)
    h = api_headers(admin)
    for body in (text, people):  # the export imported again: nothing changes
        resp = admin.post("/api/v1/constituency/import", headers={**h, "Content-Type": "text/csv"},
                          data=body.encode())
        assert resp.status_code == 200, resp.get_json()
    assert admin.get("/api/v1/constituency/export/contacts.csv").get_data(as_text=True) == people
    bad = text + "min-sante,Santé,,,,10.20.0.0/16,,\r\nmin-eau,Eau,,,,10.21.0.0/99,,\r\n"
    resp = admin.post("/api/v1/constituency/import", headers={**h, "Content-Type": "text/csv"}, data=bad.encode())
    assert resp.status_code == 400
    answer = resp.get_json()
    assert answer["message"].startswith("Le fichier n'a pas été importé")
    assert answer["rows"] == [{"row": 10, "message": "10.21.0.0/99 n'est pas un réseau en notation CIDR "
                                                     "(10.10.0.0/16)."}]
    page = admin.post("/constituency/import", follow_redirects=True, content_type="multipart/form-data", data={
        "csrf_token": csrf(admin), "file": (io.BytesIO(bad.encode()), "orgs.csv")}).get_data(as_text=True)
    assert "Ligne 10 : 10.21.0.0/99 n&#39;est pas un réseau" in page
    assert worker.constituency.by_id("min-sante") is None
    good = text + "min-sante,Santé,,,,10.20.0.0/16,,\r\n"
    admin.post("/constituency/import", content_type="multipart/form-data", data={
        "csrf_token": csrf(admin), "file": (io.BytesIO(good.encode()), "orgs.csv")})
    assert worker.constituency.lookup("10.20.0.1").id == "min-sante"
    with web.db.session() as s:
        imports = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "constituency.import")))
    assert [e.details["kind"] for e in imports] == ["organizations", "contacts", "organizations"]


def _line(ip: str, n: int) -> bytes:
    return (f'{ip} - - [17/May/2015:10:05:{n:02d} +0000] "GET /visa/{n} HTTP/1.1" 200 512 "-" "curl/8.4.0"'
            .encode())


def test_enrichment_of_new_events_follows_an_edit(app: Flask, live: tuple[Platform, Platform]) -> None:
    web, worker = live
    admin = client_of(app, "chef", ADMIN_PW)
    h = api_headers(admin)

    def organisation_of(n: int) -> str | None:
        ingest_body(worker, "web.access", _line("10.77.0.5", n), source="test")
        found = [e for e in worker.events.search(EventQuery(limit=100)) if e.get("url", {}).get("path") == f"/visa/{n}"]
        assert len(found) == 1
        org = found[0].get("organization", {}).get("id")
        return str(org) if org is not None else None

    assert organisation_of(1) is None
    resp = admin.post("/api/v1/constituency/organizations/min-justice/network-objects", headers=h,
                      json={"kind": "cidr", "value": "10.77.0.0/16"})
    assert resp.status_code == 201
    assert organisation_of(2) == "min-justice"
    # the range moves to another ministry in the console: new events follow, old ones keep theirs
    page = admin.get("/constituency/organizations/min-justice").get_data(as_text=True)
    token = csrf_token(page)
    assert admin.post(f"/constituency/organizations/min-justice/network-objects/{resp.get_json()['id']}/delete",
                      data={"csrf_token": token}).status_code == 303
    admin.post("/constituency/organizations/min-finances/network-objects",
               data={"csrf_token": csrf(admin), "kind": "cidr", "value": "10.77.0.0/20"})
    assert organisation_of(3) == "min-finances"
    assert web.constituency.lookup("10.77.0.5").id == "min-finances"
