"""Pulling MISP feeds over HTTP, against a real HTTP server on 127.0.0.1 serving a feed folder
written by PyMISP (``MISPEvent.to_feed`` through the feed writer of Vigie), with ETags: what the
first pull stores (TLP of the tags, the feed's TLP for untagged events, to_ids, tags), nothing
fetched when the manifest is unchanged (304), only the changed event fetched, a removed event's
indicators gone, hostile events recorded and skipped, a feed that is down or refuses the token
recorded and resumed, a pulled indicator raising an alert, and partners' sightings listed on an
incident holding the value."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pymisp import MISPEvent, MISPOrganisation
from servers import LOOPBACK, find_free_port
from sqlalchemy import select

from cert.core.config import Settings
from cert.core.ecs import put
from cert.core.registry import load_plugins
from cert.core.tlp import TLP
from cert.detection.alerts import upsert_hits
from cert.detection.indicators.store import listing
from cert.sharing.misp_pull import MispFeedSource, StateFile, pull, pull_all
from cert.sharing.sightings import sightings_for
from cert.sharing.targets.misp_feed import rebuild_metadata, write_feed
from cert.storage.db import Database
from cert.storage.models import Alert, PartnerSighting

TOKEN = "Bearer feed-s3cret-token"
BASE = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
HUGE = 50 * 1024 * 1024


@dataclass
class Feed:
    """A MISP feed folder served over HTTP; counts the requests it answers, per path and status."""

    folder: Path
    port: int
    token: str = ""
    requests: list[tuple[str, int]] = field(default_factory=list)
    headers_seen: list[str] = field(default_factory=list)
    huge: set[str] = field(default_factory=set)  # event uuids answered with a 50 MB body
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/feed/"

    def fetched(self) -> list[str]:
        """The event files answered with 200."""
        return [p.rsplit("/", 1)[-1] for p, code in self.requests if code == 200 and not p.endswith("manifest.json")]

    def start(self) -> None:
        feed = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, directory=str(feed.folder.parent), **kw)

            def log_message(self, format: str, *args: Any) -> None:
                return

            def send_response(self, code: int, message: str | None = None) -> None:
                feed.requests.append((self.path, code))
                super().send_response(code, message)

            def end_headers(self) -> None:
                path = Path(self.translate_path(self.path))
                if path.is_file():
                    self.send_header("ETag", _etag(path))
                super().end_headers()

            def do_GET(self) -> None:
                feed.headers_seen.append(self.headers.get("Authorization", ""))
                if feed.token and self.headers.get("Authorization") != feed.token:
                    self.send_error(401, "wrong credentials")
                    return
                name = self.path.rsplit("/", 1)[-1].removesuffix(".json")
                if name in feed.huge:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    try:  # no Content-Length: the client has to count what it reads
                        for _ in range(HUGE // 65536):
                            self.wfile.write(b" " * 65536)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                path = Path(self.translate_path(self.path))
                if path.is_file() and self.headers.get("If-None-Match") == _etag(path):
                    self.send_response(304)
                    self.end_headers()
                    return
                super().do_GET()

        self.server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _etag(path: Path) -> str:
    st = path.stat()
    return '"' + hashlib.blake2b(f"{st.st_mtime_ns}-{st.st_size}".encode(), digest_size=16).hexdigest() + '"'


@pytest.fixture
def feed(tmp_path: Path) -> Iterator[Feed]:
    folder = tmp_path / "www" / "feed"
    folder.mkdir(parents=True)
    served = Feed(folder, find_free_port())
    served.start()
    yield served
    served.stop()


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    d = Database.from_settings(settings)
    d.upgrade()
    yield d
    d.dispose()


def event(uuid: str, info: str, attributes: list[tuple[str, str, dict[str, Any]]], tags: tuple[str, ...] = (),
          at: datetime = BASE) -> MISPEvent:
    ev = MISPEvent()
    ev.uuid = uuid
    ev.info = info
    ev.timestamp = at
    org = MISPOrganisation()
    org.name = "CERT-Voisin"
    org.uuid = "5f6e7a9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
    ev.Orgc = org
    for tag in tags:
        ev.add_tag(tag)
    for kind, value, kw in attributes:
        attr_tags = kw.pop("tags", ())
        attr = ev.add_attribute(kind, value, **kw)
        for tag in attr_tags:
            attr.add_tag(tag)
    return ev


A = "1b4f6d3e-0c7a-4f6b-9e1d-2a3b4c5d6e01"
B = "1b4f6d3e-0c7a-4f6b-9e1d-2a3b4c5d6e02"
BAD_VALUES = "1b4f6d3e-0c7a-4f6b-9e1d-2a3b4c5d6e03"
NOT_JSON = "1b4f6d3e-0c7a-4f6b-9e1d-2a3b4c5d6e04"
NOT_EVENT = "1b4f6d3e-0c7a-4f6b-9e1d-2a3b4c5d6e05"
BIG = "1b4f6d3e-0c7a-4f6b-9e1d-2a3b4c5d6e06"


def event_a(at: datetime = BASE) -> MISPEvent:
    return event(A, "PlugX campaign", [
        ("ip-dst", "203.0.113.10", {"to_ids": True}),
        ("domain", "c2.partner-bad.example", {"to_ids": True, "tags": ("tlp:amber",)}),
        ("url", "http://dl.partner-bad.example/x.exe", {"to_ids": False}),
        ("ip-dst", "10.0.0.5", {"to_ids": True}),  # private: refused
        ("comment", "seen in phishing", {}),
    ], tags=("tlp:green", 'misp-galaxy:malpedia="PlugX"'), at=at)


def event_b(at: datetime = BASE, value: str = "198.51.100.20") -> MISPEvent:
    return event(B, "Scanner", [("ip-src", value, {"to_ids": True})], tags=("scanner",), at=at)


def source(feed: Feed, **kw: Any) -> MispFeedSource:
    base: dict[str, Any] = {"name": "cert-voisin-feed", "url": feed.url, "tlp": TLP.AMBER_STRICT,
                            "timeout_seconds": 5.0}
    return MispFeedSource(**{**base, **kw})


def stored(db: Database, name: str = "cert-voisin-feed") -> dict[str, tuple[str, bool, list[str]]]:
    with db.session() as s:
        return {i.value: (i.tlp, i.to_ids, list(i.tags)) for i in listing(s, source=name, limit=1000)}


def test_first_pull_then_304_then_only_the_changed_event_then_a_removed_one(feed: Feed, db: Database,
                                                                            settings: Settings) -> None:
    write_feed(event_a(), feed.folder)
    write_feed(event_b(), feed.folder)
    state = StateFile(settings.data_dir)
    first = pull(db, state, source(feed))
    assert first.ok and first.listed == 2 and first.fetched == 2
    got = stored(db)
    assert {v: t[0] for v, t in got.items()} == {
        "203.0.113.10": "green", "c2.partner-bad.example": "amber", "dl.partner-bad.example/x.exe": "green",
        "198.51.100.20": "amber+strict"}  # B has no TLP tag: the feed's
    assert got["dl.partner-bad.example/x.exe"][1] is False and got["203.0.113.10"][1] is True
    assert 'misp-galaxy:malpedia="PlugX"' in got["203.0.113.10"][2] and "scanner" in got["198.51.100.20"][2]
    assert first.report is not None and any("10.0.0.5" in e for e in first.report.errors)
    assert sorted(feed.fetched()) == sorted([f"{A}.json", f"{B}.json"])

    feed.requests.clear()
    second = pull(db, state, source(feed))
    assert second.ok and second.not_modified and second.fetched == 0
    assert feed.requests == [("/feed/manifest.json", 304)] and len(stored(db)) == 4

    feed.requests.clear()
    write_feed(event_b(BASE + timedelta(minutes=5), value="198.51.100.21"), feed.folder)
    third = pull(db, state, source(feed))
    assert third.ok and not third.not_modified and third.fetched == 1
    assert feed.fetched() == [f"{B}.json"]
    assert "198.51.100.20" not in stored(db) and stored(db)["198.51.100.21"][0] == "amber+strict"

    (feed.folder / f"{A}.json").unlink()
    rebuild_metadata(feed.folder)
    fourth = pull(db, state, source(feed))
    assert fourth.ok and fourth.removed == 1 and fourth.fetched == 0
    assert sorted(stored(db)) == ["198.51.100.21"]
    assert state.get(source(feed)).last_success and not state.get(source(feed)).last_error


def test_hostile_events_are_recorded_and_skipped_the_rest_is_stored(feed: Feed, db: Database,
                                                                   settings: Settings) -> None:
    write_feed(event_b(), feed.folder)
    write_feed(event(BAD_VALUES, "hostile", [
        ("ip-dst", "999.1.1.1", {"to_ids": True}),
        ("domain", "<script>alert(1)</script>.example", {"to_ids": True}),
        ("url", "http://x.example/<script>alert(1)</script>", {"to_ids": True}),
        ("ip-dst", "203.0.113.99", {"to_ids": True}),
    ], tags=("tlp:clear",)), feed.folder)
    manifest = json.loads((feed.folder / "manifest.json").read_text())
    for uuid in (NOT_JSON, NOT_EVENT, BIG):
        manifest[uuid] = {"info": "x", "timestamp": int(BASE.timestamp())}
    (feed.folder / "manifest.json").write_text(json.dumps(manifest))
    (feed.folder / f"{NOT_JSON}.json").write_text("<html><script>alert(1)</script></html>")
    (feed.folder / f"{NOT_EVENT}.json").write_text(json.dumps({"Event": {"Attribute": "nope"}}))
    feed.huge.add(BIG)
    state = StateFile(settings.data_dir)
    result = pull(db, state, source(feed))
    assert not result.ok and not result.error
    assert sorted(stored(db)) == ["198.51.100.20", "203.0.113.99"]
    failed = " ".join(result.errors)
    assert all(u in failed for u in (NOT_JSON, NOT_EVENT, BIG)) and "not JSON" in failed and "cap" in failed
    assert result.report is not None
    rejected = " ".join(result.report.errors)
    assert "999.1.1.1" in rejected and "script" in rejected
    saved = state.get(source(feed))
    assert NOT_JSON in saved.last_error and not saved.etag  # the manifest is read again next time
    assert BIG not in saved.events and B in saved.events

    feed.requests.clear()  # the failed events are asked for again, the good ones are not
    (feed.folder / f"{NOT_JSON}.json").unlink()
    (feed.folder / f"{NOT_EVENT}.json").unlink()
    feed.huge.clear()
    again = pull(db, state, source(feed))
    assert not again.ok and B + ".json" not in feed.fetched() and BAD_VALUES + ".json" not in feed.fetched()
    assert any(NOT_JSON in e and "404" in e for e in again.errors)


def test_a_feed_that_is_down_is_recorded_and_the_next_pull_reads_it(tmp_path: Path, db: Database,
                                                                    settings: Settings) -> None:
    folder = tmp_path / "www" / "feed"
    folder.mkdir(parents=True)
    write_feed(event_b(), folder)
    feed = Feed(folder, find_free_port())
    state = StateFile(settings.data_dir)
    down = pull(db, state, source(feed))
    assert not down.ok and "ConnectionError" in down.error
    assert state.get(source(feed)).last_error == down.error and not state.get(source(feed)).last_success
    feed.start()
    try:
        back = pull(db, state, source(feed))
    finally:
        feed.stop()
    assert back.ok and back.fetched == 1 and sorted(stored(db)) == ["198.51.100.20"]
    assert not state.get(source(feed)).last_error


def test_the_token_is_sent_as_authorization_and_a_wrong_one_is_a_recorded_401(feed: Feed, db: Database,
                                                                              settings: Settings) -> None:
    feed.token = TOKEN
    write_feed(event_b(), feed.folder)
    state = StateFile(settings.data_dir)
    wrong = pull(db, state, source(feed, headers={"Authorization": "Bearer wrong-secret"}))
    assert not wrong.ok and "401" in wrong.error and "wrong-secret" not in wrong.error
    assert "wrong-secret" not in state.path.read_text() and stored(db) == {}
    src = MispFeedSource.from_table({"name": "cert-voisin-feed", "url": feed.url.rstrip("/"), "token": TOKEN,
                                     "tlp": "amber+strict", "timeout_seconds": "5"})
    right = pull(db, state, src)
    assert right.ok and right.fetched == 1 and sorted(stored(db)) == ["198.51.100.20"]
    assert feed.headers_seen[-1] == TOKEN and TOKEN not in state.path.read_text()


def test_a_pulled_indicator_raises_an_alert(feed: Feed, db: Database, settings: Settings) -> None:
    from detectors.indicators.detector import IndicatorDetector

    load_plugins(["detectors.indicators"])
    write_feed(event_a(), feed.folder)
    settings = replace(settings, misp_feeds=({"name": "cert-voisin-feed", "url": feed.url},))
    assert [r.ok for r in pull_all(db, settings)] == [True]
    ev: dict[str, Any] = {"@timestamp": "2026-11-20T08:00:00.000Z"}
    put(ev, "event.id", "ev-1")
    put(ev, "source.ip", "10.1.2.3")
    put(ev, "destination.ip", "203.0.113.10")
    det = IndicatorDetector(settings)
    det.refresh_seconds = 0
    with db.session() as s:
        assert upsert_hits(s, det.detect([ev]), 60) == (1, 0)
        prov = s.scalars(select(Alert)).one().entities["indicator"]
    assert prov["value"] == "203.0.113.10" and prov["tlp"] == "green"
    assert prov["sources"][0]["source"] == "cert-voisin-feed"


def _with_sightings(folder: Path, uuid: str, sightings: list[dict[str, Any]]) -> None:
    """Add ``Sighting`` lists to the event's first attribute, as MISP's JSON exports carry them."""
    path = folder / f"{uuid}.json"
    data = json.loads(path.read_text())
    data["Event"]["Attribute"][0]["Sighting"] = sightings
    path.write_text(json.dumps(data))


def test_sightings_are_imported_and_listed_on_the_incident_in_french(feed: Feed, platform: Any) -> None:
    from cert.accounts.tokens import create_token
    from cert.incidents.cases import add_observable
    from cert.storage.models import Case
    from web.app import create_app

    write_feed(event_a(), feed.folder)
    seen = int((BASE + timedelta(days=2)).timestamp())
    sightings = [
        {"uuid": "9c1f0000-0000-4000-8000-000000000001", "date_sighting": str(seen), "type": "0",
         "source": "sensor-7", "Organisation": {"name": "CERT-Voisin"}},
        {"uuid": "9c1f0000-0000-4000-8000-000000000002", "date_sighting": str(seen), "type": "1",
         "Organisation": {"name": "CERT-Voisin"}},  # a false positive: not a sighting
    ]
    _with_sightings(feed.folder, A, sightings)
    state = StateFile(platform.settings.data_dir)
    first = pull(platform.db, state, source(feed))
    assert first.ok and first.sightings == 1
    # the partner reads it again later: the same sighting, updated in place
    write_feed(event_a(BASE + timedelta(minutes=5)), feed.folder)
    later = int((BASE + timedelta(days=3)).timestamp())
    _with_sightings(feed.folder, A, [{**sightings[0], "date_sighting": str(later)}])
    assert pull(platform.db, state, source(feed)).sightings == 1
    with platform.db.session() as s:
        [row] = s.scalars(select(PartnerSighting)).all()
        assert (row.type, row.value, row.organization, row.count) == ("ip", "203.0.113.10", "CERT-Voisin", 1)
        found = sightings_for(s, [("ip", " 203.0.113.10 "), ("domain", "c2.partner-bad.example")])
        assert list(found) == [("ip", "203.0.113.10")]
        token = create_token(s, "soc", "tests", actor="test", scopes=["read"])[1]
        case = Case(title="PlugX", tlp="amber", created_by="ana")
        s.add(case)
        s.flush()
        add_observable(s, case, "ip", "203.0.113.10")
        add_observable(s, case, "domain", "quiet.example")
        case_id = case.id
    client = create_app(platform=platform).test_client()
    got = client.get(f"/api/v1/incidents/{case_id}/sightings", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200
    items = {i["value"]: i for i in got.get_json()["items"]}
    [sighting] = items["203.0.113.10"]["sightings"]
    assert sighting["source"] == "cert-voisin-feed" and sighting["organization"] == "CERT-Voisin"
    assert sighting["first_seen"].startswith("2026-11-03") and sighting["last_seen"].startswith("2026-11-04")
    assert items["203.0.113.10"]["summary"] == "Vu 1 fois par 1 source(s)."
    assert items["quiet.example"]["sightings"] == [] and items["quiet.example"]["summary"] == "Jamais vu par les partenaires."
    missing = client.get("/api/v1/incidents/999999/sightings", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404 and "999999" in missing.get_json()["message"]


def test_feeds_from_the_environment_cli_pull_and_status_never_show_the_token(
        feed: Feed, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cert.cli import main

    feed.token = TOKEN
    write_feed(event_b(), feed.folder)
    feeds = [{"name": "cert-voisin-feed", "url": feed.url, "token_env": "VOISIN_FEED_TOKEN", "tlp": "green",
              "poll_minutes": 15},
             {"name": "down", "url": f"http://{LOOPBACK}:{find_free_port()}/", "token": "hidden-token",
              "timeout_seconds": 2},
             {"name": "off", "url": f"http://{LOOPBACK}:{find_free_port()}/", "enabled": False}]
    monkeypatch.setenv("CERT_MISP_FEEDS", json.dumps(feeds))
    monkeypatch.setenv("VOISIN_FEED_TOKEN", TOKEN)
    monkeypatch.setenv("CERT_DATA_DIR", str(settings.data_dir))
    assert main(["init"]) == 0
    assert main(["misp", "pull"]) == 1  # one feed failed: the other was pulled all the same
    out = capsys.readouterr().out
    assert "cert-voisin-feed: 1 event(s) listed, 1 fetched, 0 removed; 1 indicators (1 new" in out
    assert "down: failed (ConnectionError" in out and "hidden-token" not in out and "off:" not in out
    assert main(["misp", "pull", "--source", "cert-voisin-feed"]) == 0
    assert "manifest unchanged (304)" in capsys.readouterr().out
    assert main(["sharing", "pull"]) == 0  # nothing due yet: both were just attempted
    assert main(["misp", "status"]) == 0
    out = capsys.readouterr().out
    assert "every 15 min, untagged events TLP:GREEN" in out and "last error: ConnectionError" in out
    assert "off (disabled)" in out and "hidden-token" not in out and TOKEN not in out
    assert main(["misp", "pull", "--source", "nope"]) == 2


def test_feeds_from_toml_with_the_token_never_shown(tmp_path: Path) -> None:
    from cert.core.config import load_settings
    from cert.core.errors import InvalidInput
    from cert.sharing.misp_pull import sources

    config = tmp_path / "vigie.toml"
    config.write_text('[[misp_feeds]]\nname = "circl"\nurl = "https://www.circl.lu/doc/misp/feed-osint"\n'
                      'tlp = "clear"\npoll_minutes = 240\n'
                      '[[misp_feeds]]\nname = "cert-a"\nurl = "https://feeds.cert-a.example/misp/"\n'
                      'token = "tok-in-file"\nheaders = { X-Partner = "vigie" }\nverify = "/etc/ca.pem"\n')
    settings = load_settings(config, env={})
    circl, cert_a = sources(settings)
    assert (circl.url, circl.tlp, circl.poll_minutes, circl.headers) == (
        "https://www.circl.lu/doc/misp/feed-osint/", TLP.CLEAR, 240, {})
    assert cert_a.headers == {"X-Partner": "vigie", "Authorization": "tok-in-file"} and cert_a.verify == "/etc/ca.pem"
    assert "tok-in-file" not in repr(cert_a) and "tok-in-file" not in str(settings.redacted()["misp_feeds"])
    with pytest.raises(InvalidInput, match="http"):
        sources(replace(settings, misp_feeds=({"name": "x", "url": "file:///etc/"},)))
    with pytest.raises(InvalidInput, match="FEED_TOKEN"):
        sources(replace(settings, misp_feeds=({"name": "x", "url": "https://x/", "token_env": "FEED_TOKEN"},)),
                env={})
