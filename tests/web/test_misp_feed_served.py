"""The MISP feed served to partner CERTs (``/api/feeds/misp/``), read as a partner's MISP instance
reads a remote feed: with the partner's token, manifest → events → hashes. A mixed incident (CLEAR,
GREEN, AMBER, AMBER+STRICT and RED indicators, an AMBER title and description) reaches the GREEN
partner with its GREEN and CLEAR values only, and nothing else in any byte served; the AMBER
partner gets the AMBER ones, the title and the description too. Events load with PyMISP, carry
TLP, PAP, RSIT and ATT&CK tags and our sightings; an incident not published, or withdrawn, is
absent; conditional requests are answered 304; every event sent is audited."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from account_support import logged_in
from flask import Flask
from pymisp import MISPEvent
from pymisp.tools.feed import feed_meta_generator
from sqlalchemy import select
from werkzeug.serving import make_server

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.sharing.publications import publish, withdraw
from cert.storage.models import Alert, AuditEntry, Case
from web.app import create_app

ORG = "CERT national de test"
TITLE = "Fuite chez le ministre Xavier"
DESCRIPTION = "Le compte de M. Yvon a servi de relais"
CLEAR_IP, GREEN_DOMAIN, AMBER_IP = "203.0.113.10", "green-c2.example", "203.0.113.20"
STRICT_DOMAIN, RED_IP, AMBER_PAP_DOMAIN = "strict-c2.example", "192.0.2.30", "pap-amber.example"
#: what the GREEN partner (cert-voisin, PAP:GREEN) may receive, and what it never may
GREEN_VALUES = {CLEAR_IP, GREEN_DOMAIN}
NEVER_GREEN = [AMBER_IP, STRICT_DOMAIN, RED_IP, AMBER_PAP_DOMAIN, TITLE, DESCRIPTION, "Xavier", "Yvon",
               "tlp:amber", "tlp:red", "PAP:AMBER"]
FEED = "/api/feeds/misp"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings(), data_dir=tmp_path / "data", secret_key="test-secret-key", org_name=ORG)


def _alert(s: Any, case_id: int, tlp: str, entities: dict[str, Any], hours: int) -> int:
    alert = Alert(rule_id="r", rule_title=f"alert {tlp}", detector="sigma", severity="high", case_id=case_id,
                  tlp=tlp, entities=entities, first_seen=T0 + timedelta(hours=hours),
                  last_seen=T0 + timedelta(hours=hours, minutes=30), status="promoted")
    s.add(alert)
    s.flush()
    return alert.id


def mixed_incident(platform: Platform, title: str = TITLE) -> int:
    """An AMBER incident (title and description AMBER) with indicators of every marking, and alerts
    of several markings whose evidence holds some of them; published to both partners."""
    with platform.db.session() as s:
        case = Case(title=title, title_tlp="amber", tlp="amber", pap="green", description=DESCRIPTION,
                    created_by="ana", organization="Ministère de l'Intérieur",
                    rsit_class="intrusion-attempts:brute-force", attack=["T1110", "T1059.001"])
        s.add(case)
        s.flush()
        for kind, value, tlp in (("ip", CLEAR_IP, "clear"), ("domain", GREEN_DOMAIN, "green"),
                                 ("ip", AMBER_IP, "amber"), ("domain", STRICT_DOMAIN, "amber+strict"),
                                 ("ip", RED_IP, "red"), ("domain", AMBER_PAP_DOMAIN, "green")):
            obs = add_observable(s, case, kind, value, tlp=tlp)
            if obs is not None and value == AMBER_PAP_DOMAIN:
                obs.pap = "amber"
        _alert(s, case.id, "clear", {"source.ip": CLEAR_IP}, 0)
        _alert(s, case.id, "green", {"url.domain": GREEN_DOMAIN}, 2)
        _alert(s, case.id, "amber", {"source.ip": AMBER_IP, "destination.ip": CLEAR_IP}, 4)
        _alert(s, case.id, "red", {"source.ip": CLEAR_IP}, 6)  # a partner's RED indicator hit: no sighting
        publish(s, case, [platform.constituency.partner("cert-voisin"),  # type: ignore[list-item]
                          platform.constituency.partner("cert-regional")], "ana")
        return case.id


def partner_token(platform: Platform, partner: str) -> str:
    with platform.db.session() as s:
        return create_token(s, f"{partner}-feed", "tests", actor="test", scopes="share",
                            partner=platform.constituency.partner(partner))[1]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def expected_uuid(platform: Platform, case_id: int) -> str:
    return str(uuid.uuid5(uuid.UUID(platform.settings.org_uuid), f"vigie-incident:{case_id}"))


def content(resp: Any) -> bytes:
    """The body of a test client's or of ``requests``' answer."""
    return resp.content if isinstance(resp, requests.Response) else bytes(resp.get_data())


def read_feed(get: Any) -> tuple[dict[str, Any], dict[str, MISPEvent], str, bytes]:
    """What a MISP instance reads: the manifest, each event it lists, hashes.csv; and every byte."""
    manifest = get("manifest.json")
    assert manifest.status_code == 200, content(manifest)
    every_byte = content(manifest)
    events: dict[str, MISPEvent] = {}
    for event_uuid in json.loads(content(manifest)):
        resp = get(f"{event_uuid}.json")
        assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
        every_byte += content(resp)
        event = MISPEvent()
        event.load(content(resp).decode())
        events[event_uuid] = event
    hashes = get("hashes.csv")
    assert hashes.status_code == 200 and hashes.headers["Content-Type"].startswith("text/csv")
    every_byte += content(hashes)
    return json.loads(content(manifest)), events, content(hashes).decode(), every_byte


def md5(value: str) -> str:
    return hashlib.md5(value.encode()).hexdigest()  # noqa: S324 - MISP's feed hashes are MD5


def tags(obj: Any) -> set[str]:
    return {t.name for t in obj.tags}


def test_a_green_partner_reads_only_the_green_and_clear_values_of_a_mixed_incident(platform: Platform) -> None:
    case_id = mixed_incident(platform)
    secret = partner_token(platform, "cert-voisin")
    client = create_app(platform=platform).test_client()

    def get(name: str, **kw: Any) -> Any:
        return client.get(f"{FEED}/{name}", headers=bearer(secret), **kw)

    manifest, events, hashes, every_byte = read_feed(get)
    event_uuid = expected_uuid(platform, case_id)
    assert list(manifest) == [event_uuid] and list(events) == [event_uuid]
    text = every_byte.decode()
    for secret_value in NEVER_GREEN:
        assert secret_value not in text, secret_value

    event = events[event_uuid]
    assert event.info == f"Incident #{case_id}"  # the policy's neutral title (the ministry is AMBER too)
    assert {a.value for a in event.attributes} == GREEN_VALUES
    assert int(event.timestamp.timestamp()) == int(manifest[event_uuid]["timestamp"])
    assert event.Orgc.name == ORG
    assert tags(event) >= {"tlp:green", "PAP:GREEN", 'rsit:intrusion-attempts="brute-force"',
                           'misp-galaxy:mitre-attack-pattern="T1110"',
                           'misp-galaxy:mitre-attack-pattern="T1059.001"'}
    assert {t for t in tags(event) if t.startswith("tlp:")} == {"tlp:green"}
    by_value = {a.value: a for a in event.attributes}
    assert tags(by_value[CLEAR_IP]) == {"tlp:clear", "PAP:GREEN"} and by_value[CLEAR_IP].type == "ip-src"
    assert tags(by_value[GREEN_DOMAIN]) == {"tlp:green", "PAP:GREEN"} and by_value[GREEN_DOMAIN].to_ids
    # our sightings: the CLEAR alert (first and last seen) and the GREEN one; the AMBER and RED
    # alerts that also hold the CLEAR address give none to a GREEN partner
    seen = by_value[CLEAR_IP].sightings
    assert sorted(int(s.date_sighting) for s in seen) == [int(T0.timestamp()),
                                                          int((T0 + timedelta(minutes=30)).timestamp())]
    assert {(s.type, s.source) for s in seen} == {("0", ORG)}
    assert len(by_value[GREEN_DOMAIN].sightings) == 2
    assert "Ministère" not in json.dumps([s.to_dict() for s in seen])

    rows = list(csv.reader(io.StringIO(hashes)))
    assert sorted(rows) == sorted([md5(v), event_uuid] for v in GREEN_VALUES)
    assert sorted(r[0] for r in rows) == sorted(event.attributes_hashes("md5"))

    with platform.db.session() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "sharing.feed_read")).all()
        assert entry.actor == "token:cert-voisin-feed" and entry.object_id == str(case_id)
        assert entry.details["partner"] == "cert-voisin" and entry.details["event_uuid"] == event_uuid
        assert sorted(entry.details["items"]) == sorted([f"ip-src:{CLEAR_IP}", f"domain:{GREEN_DOMAIN}"])
        assert entry.details["description_sent"] is False

    # ?partner= names another view: a partner's token reads its own, whatever it asks
    asked = client.get(f"{FEED}/{event_uuid}.json?partner=cert-regional", headers=bearer(secret))
    assert asked.status_code == 200 and AMBER_IP not in asked.get_data(as_text=True)
    assert md5(AMBER_IP) not in client.get(f"{FEED}/hashes.csv?partner=cert-regional",
                                           headers=bearer(secret)).get_data(as_text=True)


def test_an_amber_partner_gets_the_amber_values_the_title_and_the_description(platform: Platform) -> None:
    case_id = mixed_incident(platform)
    secret = partner_token(platform, "cert-regional")
    client = create_app(platform=platform).test_client()
    basic = {"Authorization": "Basic " + base64.b64encode(f"misp:{secret}".encode()).decode()}
    _manifest, events, hashes, every_byte = read_feed(lambda name: client.get(f"{FEED}/{name}", headers=basic))
    [event] = events.values()
    assert event.uuid == expected_uuid(platform, case_id) and event.info == TITLE
    values = {a.value: a for a in event.attributes}
    assert set(values) == {CLEAR_IP, GREEN_DOMAIN, AMBER_IP, AMBER_PAP_DOMAIN, DESCRIPTION}
    assert values[DESCRIPTION].type == "text" and not values[DESCRIPTION].to_ids
    assert tags(values[AMBER_IP]) == {"tlp:amber", "PAP:GREEN"}
    assert tags(values[AMBER_PAP_DOMAIN]) == {"tlp:green", "PAP:AMBER"}
    assert {t for t in tags(event) if t.startswith(("tlp:", "PAP:"))} == {"tlp:amber", "PAP:AMBER"}
    assert STRICT_DOMAIN not in every_byte.decode() and RED_IP not in every_byte.decode()
    assert len(values[AMBER_IP].sightings) == 2  # the AMBER alert: an AMBER partner may see it
    assert len(values[CLEAR_IP].sightings) == 4  # the CLEAR alert and the AMBER one, never the RED one
    assert md5(AMBER_IP) in hashes
    # a token of another partner never reads cert-voisin's view
    asked = client.get(f"{FEED}/hashes.csv?partner=cert-voisin", headers=basic).get_data(as_text=True)
    assert md5(AMBER_IP) in asked


def test_an_incident_not_published_or_withdrawn_is_absent_and_404(platform: Platform) -> None:
    case_id = mixed_incident(platform)
    with platform.db.session() as s:
        other = Case(title="autre", tlp="green", pap="green", created_by="ana")
        s.add(other)
        s.flush()
        add_observable(s, other, "ip", "203.0.113.99", tlp="green")
        other_id = other.id
    secret = partner_token(platform, "cert-voisin")
    client = create_app(platform=platform).test_client()
    auth = {**bearer(secret), "Accept-Language": "fr"}
    unpublished = client.get(f"{FEED}/{expected_uuid(platform, other_id)}.json", headers=auth)
    assert unpublished.status_code == 404 and unpublished.get_json()["error"] == "not_found"
    assert expected_uuid(platform, other_id) in unpublished.get_json()["message"]
    assert client.get(f"{FEED}/not-a-uuid.json", headers=auth).status_code == 404
    before = client.get(f"{FEED}/manifest.json", headers=auth)
    assert list(before.get_json()) == [expected_uuid(platform, case_id)]

    with platform.db.session() as s:
        withdraw(s, s.get_one(Case, case_id), ["cert-voisin"], "ana")
    event_uuid = expected_uuid(platform, case_id)
    gone = client.get(f"{FEED}/{event_uuid}.json", headers=auth)
    assert gone.status_code == 404 and gone.is_json
    after = client.get(f"{FEED}/manifest.json", headers={**auth, "If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.get_json() == {}  # changed: the old ETag no longer matches
    assert client.get(f"{FEED}/hashes.csv", headers=auth).get_data() == b""
    regional = partner_token(platform, "cert-regional")  # still published to the other partner
    assert client.get(f"{FEED}/{event_uuid}.json", headers=bearer(regional)).status_code == 200
    with platform.db.session() as s:
        assert not s.scalars(select(AuditEntry).where(AuditEntry.action == "sharing.feed_read",
                                                      AuditEntry.object_id == str(other_id))).all()


def test_conditional_requests_are_answered_304_and_only_sent_events_are_audited(platform: Platform) -> None:
    case_id = mixed_incident(platform)
    secret = partner_token(platform, "cert-voisin")
    client = create_app(platform=platform).test_client()
    event_url = f"{FEED}/{expected_uuid(platform, case_id)}.json"
    for url in (f"{FEED}/manifest.json", f"{FEED}/hashes.csv", event_url):
        first = client.get(url, headers=bearer(secret))
        assert first.status_code == 200 and first.headers["ETag"] and first.headers["Last-Modified"]
        again = client.get(url, headers={**bearer(secret), "If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.get_data() == b"", url
        assert again.headers["ETag"] == first.headers["ETag"]
        since = client.get(url, headers={**bearer(secret), "If-Modified-Since": first.headers["Last-Modified"]})
        assert since.status_code == 304, url
        stale = client.get(url, headers={**bearer(secret), "If-None-Match": '"something-else"'})
        assert stale.status_code == 200 and stale.get_data() == first.get_data(), url
    with platform.db.session() as s:
        reads = s.scalars(select(AuditEntry).where(AuditEntry.action == "sharing.feed_read")).all()
        assert len(reads) == 2  # the two answers that sent the event; the 304s sent nothing

    # publishing again moves the event's timestamp: the partner's copy is no longer current
    manifest_etag = client.get(f"{FEED}/manifest.json", headers=bearer(secret)).headers["ETag"]
    with platform.db.session() as s:
        publish(s, s.get_one(Case, case_id), [platform.constituency.partner("cert-voisin")],  # type: ignore[list-item]
                "ana", now=datetime.now(UTC) + timedelta(minutes=5))
    moved = client.get(event_url, headers={**bearer(secret), "If-None-Match": first.headers["ETag"]})
    assert moved.status_code == 200 and moved.headers["Last-Modified"] != first.headers["Last-Modified"]
    manifest = client.get(f"{FEED}/manifest.json", headers={**bearer(secret), "If-None-Match": manifest_etag})
    assert manifest.status_code == 200


def test_who_may_read_the_feed(platform: Platform) -> None:
    mixed_incident(platform)
    with platform.db.session() as s:
        read_token = create_token(s, "reader", "tests", actor="test", scopes="read")[1]
        create_user(s, "ana", "a-long-password-1", "analyst")
    app: Flask = create_app(platform=platform)
    client = app.test_client()
    for name in ("manifest.json", "hashes.csv", f"{uuid.uuid4()}.json"):
        url = f"{FEED}/{name}"
        assert client.get(url).status_code == 401
        unknown = client.get(url, headers=bearer("vigie_unknown-token"))
        assert unknown.status_code == 401 and unknown.get_json()["error"] == "unauthorized"
        assert client.get(url, headers=bearer(read_token)).status_code == 403  # not a partner's token
    # a member of the staff reads a partner's view, naming the partner
    ana = logged_in(app, "ana", "a-long-password-1")
    assert ana.get(f"{FEED}/manifest.json").status_code == 400
    regional = ana.get(f"{FEED}/hashes.csv?partner=cert-regional").get_data(as_text=True)
    voisin = ana.get(f"{FEED}/hashes.csv?partner=cert-voisin").get_data(as_text=True)
    assert md5(AMBER_IP) in regional and md5(AMBER_IP) not in voisin and md5(CLEAR_IP) in voisin
    assert ana.get(f"{FEED}/manifest.json?partner=nobody").status_code == 404


@pytest.fixture
def live(platform: Platform) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_app(platform=platform), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{FEED}/"
    finally:
        server.shutdown()
        thread.join(10)


def test_a_misp_instance_reads_the_feed_over_http(platform: Platform, live: str, tmp_path: Path) -> None:
    """As a MISP instance does with a remote feed (its URL and an Authorization header): the
    manifest, every event it lists, hashes.csv; the metadata PyMISP's own feed tool derives from
    the events read is the metadata served."""
    case_id = mixed_incident(platform)
    second = mixed_incident(platform, title="Second incident")
    secret = partner_token(platform, "cert-voisin")
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {secret}"

    def get(name: str) -> requests.Response:
        return http.get(live + name, timeout=10)

    manifest, events, hashes, every_byte = read_feed(get)
    assert set(events) == {expected_uuid(platform, case_id), expected_uuid(platform, second)}
    for secret_value in [*NEVER_GREEN, "Second incident"]:
        assert secret_value not in every_byte.decode(), secret_value
    folder = tmp_path / "feed"
    folder.mkdir()
    for event_uuid in events:
        (folder / f"{event_uuid}.json").write_bytes(get(f"{event_uuid}.json").content)
    feed_meta_generator(folder)
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    assert sorted((folder / "hashes.csv").read_text().splitlines()) == sorted(hashes.splitlines())
    for event in events.values():
        assert {a.value for a in event.attributes} == GREEN_VALUES
        assert all(a.sightings for a in event.attributes)

    # a MISP instance polling again with its validators downloads nothing
    first = get("manifest.json")
    again = http.get(live + "manifest.json", headers={"If-None-Match": first.headers["ETag"],
                                                      "If-Modified-Since": first.headers["Last-Modified"]},
                     timeout=10)
    assert again.status_code == 304 and again.content == b""
    assert requests.get(live + "manifest.json", headers=bearer("vigie_wrong"), timeout=10).status_code == 401
