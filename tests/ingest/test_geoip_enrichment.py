"""GeoIP/ASN enrichment from local MMDB files: an access-log line from a public address gets
``source.geo.*`` and ``source.as.*`` in the stored event; a private address gets none; a configured
file that is missing or not a database stops the platform with an error naming the file."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from cert.core.config import Settings, load_settings
from cert.core.ecs import Event, get
from cert.core.errors import ConfigError
from cert.core.event_store import EventQuery
from cert.pipeline.ingestor import Ingestor
from cert.runtime.platform import Platform
from cert.storage.events.elasticsearch import ElasticsearchEventStore

PUBLIC = "41.82.12.77"  # a public (Senegalese ISP) address: MMDB lookups are local, nothing is contacted
PRIVATE = "192.168.10.5"


def _line(ip: str, path: str) -> str:
    return f'{ip} - - [21/Nov/2026:10:00:00 +0000] "GET {path} HTTP/1.1" 200 512 "-" "curl/8.0"'


def _city_db(path: Path) -> Path:
    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City", languages=["en"])
    w.insert_network(IPSet(["41.82.12.0/24"]), {
        "continent": {"code": "AF", "names": {"en": "Africa"}},
        "country": {"iso_code": "SN", "names": {"en": "Senegal"}},
        "city": {"names": {"en": "Dakar"}},
        "location": {"latitude": 14.6937, "longitude": -17.44406},
    })
    # a private range present in the database must still be skipped
    w.insert_network(IPSet(["192.168.0.0/16"]), {"country": {"iso_code": "ZZ", "names": {"en": "Nowhere"}}})
    w.to_db_file(str(path))
    return path


def _asn_db(path: Path) -> Path:
    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN", languages=["en"])
    w.insert_network(IPSet(["41.82.0.0/16"]), {"autonomous_system_number": 8346,
                                               "autonomous_system_organization": "SONATEL-AS Autonomous System"})
    w.to_db_file(str(path))
    return path


@pytest.fixture
def geo_settings(settings: Settings, tmp_path: Path) -> Settings:
    return replace(settings, geoip_city_file=_city_db(tmp_path / "city.mmdb"),
                   geoip_asn_file=_asn_db(tmp_path / "asn.mmdb"))


def _ingest(settings: Settings) -> dict[str, Event]:
    p = Platform(settings)
    try:
        p.db.upgrade()
        summary = Ingestor(p, "web.access").ingest(
            iter([(1, _line(PUBLIC, "/public")), (2, _line(PRIVATE, "/private"))]), source="geoip-test")
        assert summary.ingested == 2 and summary.dead_lettered == 0
        p.events.refresh()
        events = p.events.search(EventQuery(limit=10))
        return {str(get(e, "source.ip")): e for e in events}
    finally:
        p.close()


def test_public_address_gets_geo_and_as_fields(geo_settings: Settings) -> None:
    events = _ingest(geo_settings)
    ev = events[PUBLIC]
    assert get(ev, "source.geo.country_iso_code") == "SN"
    assert get(ev, "source.geo.country_name") == "Senegal"
    assert get(ev, "source.geo.city_name") == "Dakar"
    assert get(ev, "source.geo.continent_name") == "Africa"
    assert get(ev, "source.geo.location") == pytest.approx({"lat": 14.6937, "lon": -17.44406})
    assert get(ev, "source.as.number") == 8346
    assert get(ev, "source.as.organization.name") == "SONATEL-AS Autonomous System"


def test_private_address_is_not_enriched(geo_settings: Settings) -> None:
    ev = _ingest(geo_settings)[PRIVATE]
    assert get(ev, "source.geo") is None
    assert get(ev, "source.as") is None


def test_without_databases_nothing_is_added(settings: Settings) -> None:
    ev = _ingest(settings)[PUBLIC]
    assert get(ev, "source.geo") is None and get(ev, "source.as") is None


def test_settings_read_the_database_paths_from_the_environment(tmp_path: Path) -> None:
    s = load_settings(env={"CERT_GEOIP_CITY_FILE": str(tmp_path / "c.mmdb"),
                           "CERT_GEOIP_ASN_FILE": str(tmp_path / "a.mmdb")})
    assert s.geoip_city_file == tmp_path / "c.mmdb"
    assert s.geoip_asn_file == tmp_path / "a.mmdb"


def test_missing_database_is_a_config_error_naming_the_file(settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "GeoLite2-City.mmdb"
    with pytest.raises(ConfigError, match="geoip_city_file") as err:
        _ingest(replace(settings, geoip_city_file=missing))
    assert str(missing) in str(err.value)


def test_unreadable_database_is_a_config_error_naming_the_file(settings: Settings, tmp_path: Path) -> None:
    bogus = tmp_path / "GeoLite2-ASN.mmdb"
    bogus.write_bytes(b"not a maxmind database" * 10)
    with pytest.raises(ConfigError, match="geoip_asn_file") as err:
        _ingest(replace(settings, geoip_asn_file=bogus))
    assert str(bogus) in str(err.value)


@pytest.mark.elasticsearch
def test_geo_location_is_a_geo_point_in_elasticsearch(es_url: str) -> None:
    store = ElasticsearchEventStore(es_url, prefix=f"t{uuid.uuid4().hex[:10]}")
    try:
        ev: Event = {"@timestamp": "2026-11-21T10:00:00Z", "event": {"id": "geo-1", "dataset": "web.access"},
                     "source": {"ip": PUBLIC, "geo": {"location": {"lat": 14.6937, "lon": -17.44406}}}}
        result = store.write([ev])
        assert not result.failed and result.written == 1
        store.refresh()
        found = store.es.search(index=store.pattern, query={"geo_distance": {
            "distance": "20km", "source.geo.location": {"lat": 14.7, "lon": -17.45}}})
        assert found["hits"]["total"]["value"] == 1
        far = store.es.search(index=store.pattern, query={"geo_distance": {
            "distance": "20km", "source.geo.location": {"lat": 5.35, "lon": -4.0}}})
        assert far["hits"]["total"]["value"] == 0
    finally:
        store.close()
