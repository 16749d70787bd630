"""The indicator detector on events carrying values of real CIRCL OSINT events: what matches
(exact, parent domains, CIDR, hashes, URLs, TLS), what never does (expired, context-only), the
provenance on the alert, suppression per indicator and entity, and reload on store change."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select, update

from cert.core.config import Settings
from cert.core.ecs import put
from cert.core.registry import load_plugins
from cert.detection.alerts import upsert_hits
from cert.detection.indicators.formats import Defaults, load
from cert.storage.db import Database
from cert.storage.models import Alert
from cert.storage.models.indicators import Indicator
from detectors.indicators.detector import IndicatorDetector, severity_for
from detectors.indicators.index import IndicatorIndex, IntervalTable

load_plugins(["detectors.indicators"])

LONG = "misp/osint-events/long_event.json"  # ASERT report 2016-03: hostnames, ip-dst, filename|md5, url
LAZARUS = "misp/osint-events/to_delete2.json"  # FALLCHILL: 86 public ip-dst


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    d = Database.from_settings(settings)
    d.upgrade()
    yield d
    d.dispose()


@pytest.fixture
def loaded(db: Database, corpora: Path) -> Database:
    with db.session() as s:
        load(s, corpora / LONG, "circl-osint", Defaults())
        load(s, corpora / LAZARUS, "circl-osint", Defaults())
    return db


def detector(settings: Settings) -> IndicatorDetector:
    det = IndicatorDetector(settings)
    det.refresh_seconds = 0
    return det


def ev(n: int, **fields: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"@timestamp": f"2026-11-20T08:00:{n:02d}.000Z"}
    put(e, "event.id", f"ev-{n}")
    for k, v in fields.items():
        put(e, k.replace("__", "."), v)
    return e


def test_osint_values_in_events_raise_hits_with_provenance(loaded: Database, settings: Settings) -> None:
    det = detector(settings)
    events = [
        ev(1, source__ip="10.10.1.15", destination__ip="98.101.211.162", related__ip=["10.10.1.15", "98.101.211.162"],
           organization__name="Ministère de l'Intérieur"),
        ev(2, source__ip="10.10.1.16", dns__question__name="www.AKM.epac.to."),  # subdomain, case, trailing dot
        ev(3, host__name="poste-12", process__hash__md5="6DB7AD23186F445C410F59A41E7F8AC5"),  # uhfx.dll
        ev(4, source__ip="10.10.1.17", url__full="http://198.55.120.143:7386/B/ResN32.dll"),
        ev(5, source__ip="10.10.1.18", destination__ip="8.8.8.8", dns__question__name="epac.to"),  # parent only
    ]
    hits = {h.rule_id: h for h in det.detect(events)}
    assert set(hits) == {"indicator:ip", "indicator:domain", "indicator:md5", "indicator:url"}
    ip = hits["indicator:ip"]
    assert ip.event_ids == ("ev-1",) and ip.group_key == "ip:98.101.211.162|source.ip=10.10.1.15"
    assert ip.organization == "Ministère de l'Intérieur"
    prov = ip.entities["indicator"]
    assert prov["matched_field"] == "destination.ip" and prov["tlp"] == "clear"
    assert prov["sources"][0]["reference"] == "5a0d5bf4-99c8-4f15-9879-22b1950d210f"
    assert 'misp-galaxy:threat-actor="Lazarus Group"' in prov["tags"]
    assert ip.severity == "high"  # confidence 50 (medium) raised one step by the threat-actor and RAT tags
    dom = hits["indicator:domain"].entities["indicator"]
    assert (dom["value"], dom["matched_value"]) == ("akm.epac.to", "www.AKM.epac.to.")
    assert dom["sources"][0]["reference"] == "57153590-f73c-49fa-be4b-4737950d210f"
    assert hits["indicator:md5"].group_key.endswith("|host.name=poste-12")
    assert hits["indicator:url"].entities["indicator"]["value"] == "198.55.120.143:7386/B/ResN32.dll"


def test_context_only_and_expired_indicators_never_match(loaded: Database, settings: Settings,
                                                         tmp_path: Path) -> None:
    # uyguhr1.webhop.net has to_ids false in the ASERT event: context, not detection
    det = detector(settings)
    assert det.detect([ev(1, source__ip="10.0.0.1", dns__question__name="uyguhr1.webhop.net")]) == []
    csv = tmp_path / "short.csv"
    csv.write_text("type,value,expires\nip,203.0.113.80,2020-01-01\nip,203.0.113.81,2099-01-01\n")
    with loaded.session() as s:
        load(s, csv, "short", Defaults())
    hits = det.detect([ev(2, source__ip="203.0.113.80"), ev(3, source__ip="203.0.113.81")])
    assert [h.event_ids for h in hits] == [("ev-3",)]
    # expiry passing while the index is in memory (no reload): checked again on the hit
    with loaded.session() as s:
        s.execute(update(Indicator).where(Indicator.value == "203.0.113.81")
                  .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert det.detect([ev(4, source__ip="203.0.113.81")]) == []


def test_networks_nested_and_ipv6(db: Database, settings: Settings, tmp_path: Path) -> None:
    lst = tmp_path / "nets.txt"
    lst.write_text("198.51.100.0/24\n198.51.100.128/25\n2001:db8:bad::/48\n203.0.113.7\n")
    with db.session() as s:
        load(s, lst, "nets", Defaults(confidence=90))
    det = detector(settings)
    hits = det.detect([ev(1, source__ip="198.51.100.200", destination__ip="10.1.1.1"),
                       ev(2, source__ip="2001:DB8:BAD:0:0:0:0:1", destination__ip="10.1.1.1"),
                       ev(3, client__ip="198.51.101.1", server__ip="203.0.113.7")])
    keys = sorted(h.group_key for h in hits)
    assert keys == ["cidr:198.51.100.0/24|destination.ip=10.1.1.1", "cidr:198.51.100.128/25|destination.ip=10.1.1.1",
                    "cidr:2001:db8:bad::/48|destination.ip=10.1.1.1", "ip:203.0.113.7|client.ip=198.51.101.1"]
    assert all(h.severity == "high" for h in hits)


def test_tls_email_and_access_log_urls(db: Database, settings: Settings, tmp_path: Path) -> None:
    csv = tmp_path / "mixed.csv"
    csv.write_text("ja3,e7d705a3286e19ea42f587b344ee6865\nja3s,623de93db17d313345d7ea481e7443cf\n"
                   "email,phish@bad.example\nurl,portail.gouv.example/admin/shell.php\n"
                   "domain,bad.example\n")
    with db.session() as s:
        load(s, csv, "mixed", Defaults())
    det = detector(settings)
    events = [ev(1, tls__client__ja3="E7D705A3286E19EA42F587B344EE6865", source__ip="10.2.2.2"),
              ev(2, tls__server__ja3s="623de93db17d313345d7ea481e7443cf", source__ip="10.2.2.2"),
              ev(3, email__from__address="Phish@bad.example", email__to__address=["dg@gouv.example"]),
              ev(4, url__domain="portail.gouv.example", url__original="/admin/shell.php", source__ip="203.0.113.9"),
              ev(5, tls__client__server_name="cdn.bad.example", source__ip="10.2.2.3")]
    got = {h.rule_id: h.entities["indicator"]["matched_field"] for h in det.detect(events)}
    assert got == {"indicator:ja3": "tls.client.ja3", "indicator:ja3s": "tls.server.ja3s",
                   "indicator:email": "email.from.address", "indicator:url": "url.domain+url.original",
                   "indicator:domain": "tls.client.server_name"}


def test_one_alert_per_indicator_and_entity_within_the_window(loaded: Database, settings: Settings) -> None:
    det = detector(settings)
    batch1 = [ev(i, source__ip="10.10.1.15", destination__ip="98.101.211.162") for i in range(3)]
    batch2 = [ev(10 + i, source__ip="10.10.1.15", destination__ip="98.101.211.162") for i in range(2)]
    other = [ev(20, source__ip="10.10.1.99", destination__ip="98.101.211.162")]
    with loaded.session() as s:
        assert upsert_hits(s, det.detect(batch1), 60) == (1, 0)
        assert upsert_hits(s, det.detect(batch2), 60) == (0, 1)
        assert upsert_hits(s, det.detect(other), 60) == (1, 0)
        rows = list(s.scalars(select(Alert).order_by(Alert.id)))
    assert [(a.count, a.group_key) for a in rows] == [(5, "ip:98.101.211.162|source.ip=10.10.1.15"),
                                                     (1, "ip:98.101.211.162|source.ip=10.10.1.99")]
    assert rows[0].entities["indicator"]["sources"][0]["source"] == "circl-osint"
    assert rows[0].detector == "indicators" and rows[0].source_ip == "10.10.1.15"


def test_a_load_is_seen_by_a_running_detector(db: Database, settings: Settings, tmp_path: Path) -> None:
    det = detector(settings)
    event = ev(1, source__ip="203.0.113.66")
    assert det.detect([event]) == [] and det.summary()["indicators"] == 0
    (tmp_path / "new.txt").write_text("203.0.113.66\n")
    with db.session() as s:
        load(s, tmp_path / "new.txt", "late", Defaults(confidence=10))
    hits = det.detect([event])
    assert [h.severity for h in hits] == ["informational"] and det.summary()["indicators"] == 1
    second = IndicatorDetector(settings)  # the same process reuses the loaded index
    assert second.index is det.index


def test_a_detector_without_a_migrated_store_matches_nothing(settings: Settings) -> None:
    det = IndicatorDetector(settings)
    assert det.detect([ev(1, source__ip="203.0.113.66")]) == []
    assert det.summary()["rejected"][0][0] == "indicator store"


def test_severity_scale() -> None:
    assert severity_for(10, []) == "informational"
    assert severity_for(40, ["osint"]) == "low"
    assert severity_for(60, []) == "medium"
    assert severity_for(90, []) == "high"
    assert severity_for(90, ['malware_classification:malware-category="Ransomware"']) == "critical"
    assert severity_for(60, ['misp-galaxy:rat="FALLCHILL"']) == "high"
    assert severity_for(60, ["operation-strategy", "capture", "adapter"]) == "medium"  # no false escalation


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 32)), min_size=1, max_size=25),
       st.integers(0, 2**31))
def test_interval_table_agrees_with_a_loop_over_networks(nets: list[tuple[int, int]], seed: int) -> None:
    networks = [ipaddress.ip_network((addr, plen), strict=False) for addr, plen in nets]
    table = IntervalTable.build((int(n.network_address), int(n.broadcast_address), i) for i, n in enumerate(networks))
    rng = random.Random(seed)
    probes = [int(n.network_address) for n in networks] + [int(n.broadcast_address) for n in networks]
    probes += [int(n.broadcast_address) + 1 for n in networks] + [rng.randrange(2**32) for _ in range(50)]
    for x in probes:
        expected = tuple(i for i, n in enumerate(networks) if int(n.network_address) <= x <= int(n.broadcast_address))
        assert (table.find(x) or ()) == expected


def test_index_lookups_without_a_store() -> None:
    idx = IndicatorIndex.build([(1, "domain", "evil.example"), (2, "domain", "a.evil.example"),
                                (3, "ip", "2001:db8::1"), (4, "url", "bad.example/x"), (5, "sha1", "ab" * 20)])
    assert idx.domain("b.a.evil.example") == (2, 1) and idx.domain("evil.example.org") is None
    assert idx.ip("2001:DB8:0::1") == (3,) and idx.ip("not-an-ip") is None
    assert idx.url("HTTPS://Bad.Example/x") == (4,) and idx.url("http://bad.example/y") is None
    assert idx.hash("AB" * 20) == (5,)


def test_a_case_opened_from_a_red_indicator_stays_red(db: Database, settings: Settings, tmp_path: Path) -> None:
    from cert.constituency.directory import Constituency
    from cert.incidents.cases import promote_alert

    (tmp_path / "red.csv").write_text("type,value,tlp\nip,203.0.113.99,red\n")
    with db.session() as s:
        load(s, tmp_path / "red.csv", "partner-red", Defaults())
    event = ev(1, source__ip="10.10.1.15", destination__ip="203.0.113.99")
    with db.session() as s:
        upsert_hits(s, detector(settings).detect([event]), 60)
        alert = s.scalars(select(Alert)).one()
        case = promote_alert(s, alert, [event], "analyste", Constituency.load(None), tlp="green")
        assert case.tlp == "red"  # never lower than the indicator's TLP: RED never leaves in an export
