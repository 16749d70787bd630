"""The TAXII 2.1 client against the OASIS reference server, medallion, run on 127.0.0.1 with a memory
backend and basic authentication. A partner publishes with taxii2-client; Vigie pulls into its
indicator store: source and TLP kept, only what was added since the last pull asked for, pages
followed, failures recorded without losing the position, and a pulled indicator raises an alert."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from servers import LOOPBACK, find_free_port
from sqlalchemy import select
from taxii2client.v21 import Collection

from cert.core.config import Settings
from cert.core.ecs import put
from cert.core.registry import load_plugins
from cert.core.tlp import TLP
from cert.detection.alerts import upsert_hits
from cert.detection.indicators.store import listing, remove_source
from cert.sharing.taxii_client import StateFile, TaxiiSource, pull, pull_all
from cert.storage.db import Database
from cert.storage.models import Alert, PartnerSighting

pytestmark = pytest.mark.taxii

USER, PASSWORD = "partner", "Tr3s-secret!"
COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
STIX = "application/stix+json;version=2.1"


@dataclass
class Medallion:
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def api_root(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/api1/"

    def start(self, objects: list[dict[str, Any]] | None = None, manifest: list[dict[str, Any]] | None = None) -> None:
        data = {
            "/discovery": {"title": "partner", "default": self.api_root, "api_roots": [self.api_root]},
            "api1": {
                "information": {"title": "partner CERT", "versions": ["application/taxii+json;version=2.1"],
                                "max_content_length": 10_485_760},
                "status": [],
                "collections": [{"id": COLLECTION, "title": "indicators", "can_read": True, "can_write": True,
                                 "media_types": [STIX], "objects": objects or [], "manifest": manifest or []}],
            },
        }
        (self.workdir / "data.json").write_text(json.dumps(data))
        config = {"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                              "filename": str(self.workdir / "data.json")},
                  "users": {USER: PASSWORD}, "taxii": {"max_page_size": 100}}
        (self.workdir / "config.json").write_text(json.dumps(config))
        log = (self.workdir / "medallion.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "medallion.scripts.run", "--host", LOOPBACK, "--port", str(self.port),
             "--log-level", "ERROR", str(self.workdir / "config.json")], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail("medallion exited: " + (self.workdir / "medallion.log").read_text()[-2000:])
            try:
                if requests.get(f"http://{LOOPBACK}:{self.port}/taxii2/", auth=(USER, PASSWORD), timeout=2,
                                headers={"Accept": "application/taxii+json;version=2.1"}).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        pytest.fail("medallion did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # by pid: the Popen object of the process started above
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def publish(self, *objects: dict[str, Any]) -> None:
        """As a partner does: Add Objects with taxii2-client."""
        collection = Collection(f"{self.api_root}collections/{COLLECTION}/", user=USER, password=PASSWORD)
        status = collection.add_objects({"objects": list(objects)})
        assert status.success_count == len(objects), vars(status)


@pytest.fixture
def medallion(tmp_path: Path) -> Iterator[Medallion]:
    try:
        import medallion  # noqa: F401
    except ImportError:
        pytest.skip("medallion (the OASIS TAXII 2.1 server, test extras) is not installed")
    workdir = tmp_path / "medallion"
    workdir.mkdir()
    server = Medallion(find_free_port(), workdir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    d = Database.from_settings(settings)
    d.upgrade()
    yield d
    d.dispose()


def source(server: Medallion, **kw: Any) -> TaxiiSource:
    base: dict[str, Any] = {"name": "cert-partner", "url": server.api_root, "collection": COLLECTION,
                            "username": USER, "password": PASSWORD, "timeout_seconds": 5.0}
    return TaxiiSource(**{**base, **kw})


def stamp(dt: datetime | None = None) -> str:
    return (dt or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def indicator(pattern: str, markings: list[str] | None = None, name: str = "") -> dict[str, Any]:
    now = stamp()
    obj: dict[str, Any] = {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
                           "created": now, "modified": now, "pattern": pattern, "pattern_type": "stix",
                           "valid_from": now, "name": name or pattern, "indicator_types": ["malicious-activity"]}
    if markings:
        obj["object_marking_refs"] = markings
    return obj


def malware() -> dict[str, Any]:
    now = stamp()
    return {"type": "malware", "spec_version": "2.1", "id": f"malware--{uuid.uuid4()}", "created": now,
            "modified": now, "name": "PlugX", "is_family": True}


def stored(db: Database, name: str = "cert-partner") -> dict[str, str]:
    with db.session() as s:
        return {ind.value: ind.tlp for ind in listing(s, source=name, limit=1000)}


def test_pull_stores_indicators_with_tlp_then_only_what_was_added_since(medallion: Medallion, db: Database,
                                                                       settings: Settings) -> None:
    medallion.publish(
        indicator("[ipv4-addr:value = '203.0.113.10']", [GREEN]),
        indicator("[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'c2.bad-partner.example']", [GREEN]),
        indicator("[url:value = 'http://dl.bad-partner.example/x.exe']"),  # no marking: the source's TLP
        indicator("[ipv4-addr:value = '203.0.113.66']", [RED]),
        malware(),
    )
    src = source(medallion, tlp=TLP.AMBER_STRICT)
    state = StateFile(settings.data_dir)
    first = pull(db, state, src)
    assert first.ok and first.requested_after is None and first.objects == 5
    assert stored(db) == {"203.0.113.10": "green", "198.51.100.7": "green", "c2.bad-partner.example": "green",
                          "dl.bad-partner.example/x.exe": "amber+strict", "203.0.113.66": "red"}
    position = state.get(src).added_after
    assert position and state.get(src).last_success and not state.get(src).last_error

    medallion.publish(indicator("[ipv4-addr:value = '203.0.113.11']", [GREEN]), malware())
    second = pull(db, state, src)
    assert second.ok and second.requested_after == position
    assert second.objects == 2 and second.report is not None and second.report.inserted == 1
    assert len(stored(db)) == 6 and stored(db)["203.0.113.11"] == "green"
    assert state.get(src).added_after and state.get(src).added_after != position

    third = pull(db, state, src)
    assert third.ok and third.objects == 0 and len(stored(db)) == 6


def test_paging_with_a_small_page_size(medallion: Medallion, db: Database, settings: Settings) -> None:
    medallion.publish(*(indicator(f"[ipv4-addr:value = '203.0.113.{i}']", [GREEN]) for i in range(20, 27)))
    result = pull(db, StateFile(settings.data_dir), source(medallion, page_size=3))
    assert result.ok and result.pages == 3 and result.objects == 7
    assert sorted(stored(db)) == [f"203.0.113.{i}" for i in range(20, 27)]


def test_wrong_credentials_are_recorded_and_nothing_is_lost(medallion: Medallion, db: Database,
                                                           settings: Settings) -> None:
    medallion.publish(indicator("[ipv4-addr:value = '203.0.113.30']", [GREEN]))
    state = StateFile(settings.data_dir)
    ok = pull(db, state, source(medallion))
    position = state.get(source(medallion)).added_after
    medallion.publish(indicator("[ipv4-addr:value = '203.0.113.31']", [GREEN]))
    bad = pull(db, state, source(medallion, password="not-the-password"))
    assert ok.ok and not bad.ok and "401" in bad.error and "not-the-password" not in bad.error
    saved = state.get(source(medallion))
    assert saved.last_error == bad.error and saved.added_after == position
    assert "not-the-password" not in state.path.read_text()
    assert sorted(stored(db)) == ["203.0.113.30"]
    again = pull(db, state, source(medallion))
    assert again.ok and again.requested_after == position and again.objects == 1
    assert sorted(stored(db)) == ["203.0.113.30", "203.0.113.31"] and not state.get(source(medallion)).last_error


def test_server_down_then_the_pull_after_restart_resumes_from_the_saved_position(
        medallion: Medallion, db: Database, settings: Settings) -> None:
    seen = indicator("[ipv4-addr:value = '203.0.113.40']", [GREEN])
    medallion.publish(seen)
    state = StateFile(settings.data_dir)
    assert pull(db, state, source(medallion)).ok
    position = state.get(source(medallion)).added_after
    assert position is not None
    success = state.get(source(medallion)).last_success

    medallion.stop()
    down = pull(db, state, source(medallion))
    assert not down.ok and "ConnectionError" in down.error
    saved = state.get(source(medallion))
    assert (saved.added_after, saved.last_success, saved.last_error) == (position, success, down.error)

    # restarted from its data file: what it had before the position, and what was added while we were away
    later = indicator("[ipv4-addr:value = '203.0.113.41']", [GREEN])
    pos = datetime.fromisoformat(position.replace("Z", "+00:00"))
    objects = [seen, later]
    manifest = [{"id": o["id"], "version": o["modified"], "media_type": STIX, "date_added": d}
                for o, d in ((seen, stamp(pos - timedelta(seconds=5))), (later, stamp(pos + timedelta(seconds=1))))]
    medallion.start(objects, manifest)
    with db.session() as s:  # the indicator seen before must not be asked for again: remove it to tell
        remove_source(s, "cert-partner")
    back = pull(db, state, source(medallion))
    assert back.ok and back.requested_after == position and back.objects == 1
    assert sorted(stored(db)) == ["203.0.113.41"]
    assert not state.get(source(medallion)).last_error


def test_cli_pull_and_status_with_sources_from_the_environment(medallion: Medallion, settings: Settings,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from cert.cli import main

    medallion.publish(indicator("[ipv4-addr:value = '203.0.113.50']", [GREEN]))
    sources = [{"name": "cert-partner", "url": medallion.api_root, "collection": COLLECTION, "username": USER,
                "password_env": "PARTNER_TAXII_PASSWORD", "tlp": "green", "poll_minutes": 15},
               {"name": "down", "url": f"http://{LOOPBACK}:{find_free_port()}/api1/", "collection": COLLECTION,
                "password": "hidden-pw", "timeout_seconds": 2}]
    monkeypatch.setenv("CERT_TAXII_SOURCES", json.dumps(sources))
    monkeypatch.setenv("PARTNER_TAXII_PASSWORD", PASSWORD)
    monkeypatch.setenv("CERT_DATA_DIR", str(settings.data_dir))
    assert main(["init"]) == 0
    assert main(["taxii", "pull"]) == 1  # one source failed: the other was pulled all the same
    out = capsys.readouterr().out
    assert "cert-partner: 1 objects added after the beginning in 1 page(s); 1 indicators (1 new" in out
    assert "down: failed (ConnectionError" in out and "hidden-pw" not in out
    assert main(["taxii", "pull", "--source", "cert-partner"]) == 0
    assert main(["taxii", "status"]) == 0
    out = capsys.readouterr().out
    assert "every 15 min, unmarked indicators TLP:GREEN" in out and "last error: ConnectionError" in out
    assert "objects fetched: 1, indicators stored: 1" in out and "hidden-pw" not in out
    assert main(["taxii", "pull", "--source", "nope"]) == 2


def test_a_pulled_indicator_raises_an_alert(medallion: Medallion, db: Database, settings: Settings) -> None:
    from detectors.indicators.detector import IndicatorDetector

    load_plugins(["detectors.indicators"])
    medallion.publish(indicator("[ipv4-addr:value = '203.0.113.60'] OR [ipv4-addr:value = '203.0.113.61']",
                                [GREEN], name="PlugX C2"))
    settings = replace(settings, taxii_sources=({"name": "cert-partner", "url": medallion.api_root,
                                                 "collection": COLLECTION, "username": USER,
                                                 "password": PASSWORD},))
    assert [r.ok for r in pull_all(db, settings)] == [True]
    event: dict[str, Any] = {"@timestamp": "2026-11-20T08:00:00.000Z"}
    put(event, "event.id", "ev-1")
    put(event, "source.ip", "10.1.2.3")
    put(event, "destination.ip", "203.0.113.61")
    det = IndicatorDetector(settings)
    det.refresh_seconds = 0
    with db.session() as s:
        assert upsert_hits(s, det.detect([event]), 60) == (1, 0)
        alert = s.scalars(select(Alert)).one()
        prov = alert.entities["indicator"]
    assert prov["value"] == "203.0.113.61" and prov["tlp"] == "green"
    assert prov["sources"][0]["source"] == "cert-partner"


def test_sources_from_toml_tables_with_the_password_never_shown(tmp_path: Path) -> None:
    from cert.core.config import load_settings
    from cert.core.errors import InvalidInput
    from cert.sharing.taxii_client import sources

    config = tmp_path / "vigie.toml"
    config.write_text('[[taxii_sources]]\nname = "cert-a"\nurl = "https://taxii.cert-a.example/api1/"\n'
                      'collection = "c1"\nusername = "vigie"\npassword = "pw-in-file"\ntlp = "green"\n'
                      'page_size = 50\nverify = false\n')
    settings = load_settings(config, env={})
    [src] = sources(settings)
    assert (src.name, src.collection_url, src.tlp, src.page_size, src.verify) == (
        "cert-a", "https://taxii.cert-a.example/api1/collections/c1/", TLP.GREEN, 50, False)
    assert src.password == "pw-in-file" and "pw-in-file" not in repr(src)
    assert "pw-in-file" not in settings.redacted()["taxii_sources"] and "cert-a" in settings.redacted()["taxii_sources"]
    bad = replace(settings, taxii_sources=({"name": "x", "url": "ftp://x", "collection": "c"},))
    with pytest.raises(InvalidInput, match="http"):
        sources(bad)
    with pytest.raises(InvalidInput, match="PARTNER_PW"):
        sources(replace(settings, taxii_sources=({"name": "x", "url": "https://x/", "collection": "c",
                                                  "password_env": "PARTNER_PW"},)), env={})


def test_a_sighting_of_a_pulled_indicator_is_stored_as_a_partners_sighting(medallion: Medallion, db: Database,
                                                                          settings: Settings) -> None:
    from cert.sharing.sightings import sightings_for

    published = indicator("[ipv4-addr:value = '203.0.113.70']", [GREEN])
    now = stamp()
    sighting = {"type": "sighting", "spec_version": "2.1", "id": f"sighting--{uuid.uuid4()}", "created": now,
                "modified": now, "sighting_of_ref": published["id"], "count": 4,
                "first_seen": "2026-11-02T10:00:00Z", "last_seen": "2026-11-03T10:00:00Z"}
    elsewhere = {**sighting, "id": f"sighting--{uuid.uuid4()}", "sighting_of_ref": f"indicator--{uuid.uuid4()}"}
    medallion.publish(published, sighting, elsewhere)
    assert pull(db, StateFile(settings.data_dir), source(medallion)).ok
    with db.session() as s:
        found = sightings_for(s, [("ip", "203.0.113.70")])
        [row] = found[("ip", "203.0.113.70")]
        assert (row.source, row.reference, row.count) == ("cert-partner", sighting["id"], 4)
        assert row.first_seen.isoformat().startswith("2026-11-02") and row.last_seen.isoformat().startswith("2026-11-03")
        assert len(s.scalars(select(PartnerSighting)).all()) == 1  # the sighting of an unknown indicator is left out
