"""The TAXII 2.1 routes (/api/taxii2/): every one refuses no credential, a bad token and a token
without the ``share`` scope with a TAXII error in the reader's language; a partner's token reads;
a member of the staff reads a partner's view with ?partner=; the filters (match[type], match[id],
match[version], match[spec_version]) select what the specification says; the page size is capped
by the setting; a 406 for a client that accepts no TAXII answer."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest
from account_support import logged_in
from flask import Flask
from flask.testing import FlaskClient
from support import INTERIEUR, route_calls

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.sharing.publications import publish
from cert.sharing.taxii_server import MEDIA_TYPE_TAXII, collection_of
from cert.storage.models import Case
from web.app import create_app

TAXII = {"Accept": MEDIA_TYPE_TAXII}
PASSWORD = "a-long-password-1"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings(), data_dir=tmp_path / "data", secret_key="test-secret-key", taxii_max_page_size=3)


def basic(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"anyone:{secret}".encode()).decode(), **TAXII}


def seed(platform: Platform) -> dict[str, str]:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
        case = Case(title="Fuite", title_tlp="amber", tlp="amber", pap="green", description="secret",
                    created_by="ana", organization=INTERIEUR)
        s.add(case)
        s.flush()
        for kind, value, tlp in (("ip", "198.51.100.10", "clear"), ("domain", "green-c2.example", "green"),
                                 ("ip", "203.0.113.20", "amber")):
            add_observable(s, case, kind, value, tlp=tlp)
        partners = [platform.constituency.partner(p) for p in ("cert-voisin", "cert-regional")]
        publish(s, case, [p for p in partners if p is not None], "ana")
        return {"partner": create_token(s, "voisin", "t", actor="test", scopes=["share"],
                                        partner=platform.constituency.partner("cert-voisin"))[1],
                "read": create_token(s, "reader", "t", actor="test", scopes=["read"])[1]}


def taxii_routes(app: Flask) -> list[tuple[str, str]]:
    return [(m, url) for m, url, _e in route_calls(app) if url.startswith("/api/taxii2/")]


def objects_url(platform: Platform, partner: str) -> str:
    found = platform.constituency.partner(partner)
    assert found is not None
    return f"/api/taxii2/vigie/collections/{collection_of(found, platform.settings.org_uuid).id}/objects/"


def test_every_taxii_route_checks_the_token_and_answers_taxii_errors(platform: Platform) -> None:
    secrets = seed(platform)
    app = create_app(platform=platform)
    client = app.test_client()
    routes = taxii_routes(app)
    assert len(routes) == 8
    for method, url in routes:
        for headers in (TAXII, basic("vigie_unknown"), {"Authorization": "Bearer nope", **TAXII}):
            resp = client.open(url, method=method, headers={**headers, "Accept-Language": "fr"})
            assert resp.status_code == 401, (url, headers)
            assert resp.content_type == MEDIA_TYPE_TAXII and resp.headers["WWW-Authenticate"].startswith(
                ("Basic", "Bearer"))
            assert resp.get_json()["http_status"] == "401" and resp.get_json()["title"] == "Authentification requise"
        refused = client.open(url, method=method, headers={"Authorization": f"Bearer {secrets['read']}", **TAXII})
        assert refused.status_code == 403 and refused.get_json()["http_status"] == "403"
        assert "share" in refused.get_json()["description"]
        allowed = client.open(url, method=method, headers=basic(secrets["partner"]))
        assert allowed.status_code not in (401, 403), url


def test_a_staff_member_reads_a_partners_view(platform: Platform) -> None:
    seed(platform)
    app = create_app(platform=platform)
    ana: FlaskClient = logged_in(app, "ana", PASSWORD)
    url = objects_url(platform, "cert-regional")
    assert ana.get(url, headers=TAXII).status_code == 400  # whose view: ?partner= needed
    read = ana.get(url, query_string={"partner": "cert-regional", "match[type]": "indicator"}, headers=TAXII)
    assert read.status_code == 200 and "203.0.113.20" in read.get_data(as_text=True)
    as_voisin = ana.get(url, query_string={"partner": "cert-voisin"}, headers=TAXII)
    assert as_voisin.status_code == 404  # cert-regional's collection is not cert-voisin's


def test_filters_page_cap_and_accept(platform: Platform) -> None:
    secrets = seed(platform)
    client = create_app(platform=platform).test_client()
    url, auth = objects_url(platform, "cert-voisin"), basic(secrets["partner"])
    capped = client.get(url, query_string={"limit": 1000}, headers=auth).get_json()
    assert len(capped["objects"]) == 3 and capped["more"] is True and capped["next"]
    indicators = client.get(url, query_string={"match[type]": "indicator"}, headers=auth).get_json()["objects"]
    assert sorted(o["name"] for o in indicators) == ["198.51.100.10", "green-c2.example"]
    one = indicators[0]
    by_id = client.get(url, query_string={"match[id]": one["id"]}, headers=auth).get_json()["objects"]
    assert by_id == [one]
    for version in ("first", "last", "all", one["modified"]):
        got = client.get(url, query_string={"match[id]": one["id"], "match[version]": version}, headers=auth)
        assert got.get_json()["objects"] == [one], version
    older = client.get(url, query_string={"match[id]": one["id"], "match[version]": "2001-01-01T00:00:00Z"},
                       headers=auth).get_json()
    assert "objects" not in older and older["more"] is False
    assert "objects" not in client.get(url, query_string={"match[spec_version]": "2.0"}, headers=auth).get_json()
    bad = client.get(url, query_string={"added_after": "yesterday"}, headers={**auth, "Accept-Language": "en"})
    assert bad.status_code == 400 and "added_after" in bad.get_json()["description"]
    manifest = client.get(url.replace("/objects/", "/manifest/"), query_string={"match[type]": "indicator"},
                          headers=auth).get_json()["objects"]
    assert {m["id"] for m in manifest} == {o["id"] for o in indicators}
    assert all(m["media_type"] == "application/stix+json;version=2.1" for m in manifest)
    for accept in ("application/json", "application/taxii+json;version=2.0", "text/html"):
        resp = client.get(url, headers={**auth, "Accept": accept})
        assert resp.status_code == 406 and resp.content_type == MEDIA_TYPE_TAXII, accept
    for accept in ("application/taxii+json", "*/*", f"text/html, {MEDIA_TYPE_TAXII}"):
        assert client.get(url, headers={**auth, "Accept": accept}).status_code == 200, accept
