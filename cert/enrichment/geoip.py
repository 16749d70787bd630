"""Optional GeoIP / ASN enrichment from local MaxMind-format (MMDB) files.

Configured with ``geoip_city_file`` (a GeoLite2-City / GeoIP2-City database) and/or
``geoip_asn_file`` (GeoLite2-ASN); nothing is ever downloaded. For each of ``source.ip``,
``destination.ip``, ``client.ip`` and ``host.ip`` holding a globally routable address, sets
``<side>.geo.*`` (country, city, continent, ``location`` as ``{"lat", "lon"}``) and ``<side>.as.*``
(``number``, ``organization.name``). Private, loopback, documentation and other reserved
addresses (Python's ``ipaddress`` ``is_global``) are skipped. Lookups are cached per address.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Any

import maxminddb

from cert.core.ecs import Event, get, put
from cert.core.errors import ConfigError

SIDES = ("source", "destination", "client", "host")
CACHE_SIZE = 65536


def _open(setting: str, path: Path) -> maxminddb.Reader:
    try:
        return maxminddb.open_database(str(path))
    except FileNotFoundError as exc:
        raise ConfigError(f"setting {setting!r}: GeoIP database {path} does not exist") from exc
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(f"setting {setting!r}: cannot read GeoIP database {path}: {exc}") from exc


def _name(record: Any, key: str) -> str | None:
    part = record.get(key) if isinstance(record, dict) else None
    names = part.get("names") if isinstance(part, dict) else None
    value = names.get("en") if isinstance(names, dict) else None
    return value if isinstance(value, str) else None


def _geo(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        return {}
    geo: dict[str, Any] = {}
    country = record.get("country")
    if isinstance(country, dict) and isinstance(country.get("iso_code"), str):
        geo["country_iso_code"] = country["iso_code"]
    for key, field in (("country", "country_name"), ("city", "city_name"), ("continent", "continent_name")):
        value = _name(record, key)
        if value is not None:
            geo[field] = value
    loc = record.get("location")
    if isinstance(loc, dict):
        lat, lon = loc.get("latitude"), loc.get("longitude")
        if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
            geo["location"] = {"lat": float(lat), "lon": float(lon)}
    return geo


def _as(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        return {}
    out: dict[str, Any] = {}
    number = record.get("autonomous_system_number")
    if isinstance(number, int):
        out["number"] = number
    org = record.get("autonomous_system_organization")
    if isinstance(org, str):
        out["organization"] = {"name": org}
    return out


def _public(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_global and not addr.is_multicast


class GeoIP:
    """Readers of the configured databases, opened once; ``enrich`` is safe to call per event."""

    def __init__(self, city_file: Path | None = None, asn_file: Path | None = None) -> None:
        self.city = _open("geoip_city_file", city_file) if city_file is not None else None
        self.asn = _open("geoip_asn_file", asn_file) if asn_file is not None else None
        self.lookup = lru_cache(maxsize=CACHE_SIZE)(self._lookup)

    @classmethod
    def from_files(cls, city_file: Path | None, asn_file: Path | None) -> GeoIP | None:
        """None when neither file is configured."""
        if city_file is None and asn_file is None:
            return None
        return cls(city_file, asn_file)

    def _lookup(self, ip: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(geo, as) fields of ``ip``; empty when not public or not in the databases."""
        if not _public(ip):
            return {}, {}
        return _geo(self._get(self.city, ip)), _as(self._get(self.asn, ip))

    @staticmethod
    def _get(reader: maxminddb.Reader | None, ip: str) -> Any:
        if reader is None:
            return None
        try:
            return reader.get(ip)
        except (ValueError, maxminddb.InvalidDatabaseError):  # e.g. IPv6 in an IPv4-only database
            return None

    def enrich(self, event: Event) -> None:
        for side in SIDES:
            ip = get(event, f"{side}.ip")
            if not isinstance(ip, str) or not ip:
                continue
            geo, asn = self.lookup(ip)
            for key, value in geo.items():
                put(event, f"{side}.geo.{key}", dict(value) if isinstance(value, dict) else value)
            if "number" in asn:
                put(event, f"{side}.as.number", asn["number"])
            if "organization" in asn:
                put(event, f"{side}.as.organization.name", asn["organization"]["name"])

    def close(self) -> None:
        for reader in (self.city, self.asn):
            if reader is not None:
                reader.close()
