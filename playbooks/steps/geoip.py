"""Step ``geoip``: country, city, autonomous system and its organisation of the incident's ip
observables, from the local MaxMind-format databases (settings ``geoip_city_file`` and
``geoip_asn_file``, ``cert.enrichment.geoip``). Nothing is downloaded and nothing leaves Vigie:
permitted under any PAP.

Private, loopback, link-local, documentation and other reserved addresses are not looked up and
are said so. With no database configured the step says so and does nothing (it does not fail);
a configured file that cannot be read fails the step with the setting's name.

``data``: ``geoip`` (per address: ``country_iso_code``, ``country``, ``city``, ``asn``,
``as_organization``), and lists for later steps: ``countries`` (ISO codes), ``asns``,
``located_ips``, ``private_ips``, ``unknown_ips`` (public addresses the databases do not hold).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from cert.core.errors import N_, ConfigError, InvalidInput
from cert.core.observables import normalize
from cert.core.tlp import PAP
from cert.enrichment.geoip import GeoIP
from cert.response.playbooks import Step, StepContext, StepResult, steps

#: addresses looked up at most, in the order of the incident's observables
MAX_ADDRESSES = 500


def public(ip: str) -> bool:
    """Whether ``ip`` is a globally routable unicast address (an IPv4-mapped IPv6 address by its
    IPv4 address)."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_global and not addr.is_multicast


def _record(geo: dict[str, Any], asn: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, field in (("country_iso_code", "country_iso_code"), ("country", "country_name"),
                       ("city", "city_name")):
        if isinstance(geo.get(field), str):
            out[key] = geo[field]
    if isinstance(asn.get("number"), int):
        out["asn"] = asn["number"]
    org = asn.get("organization")
    if isinstance(org, dict) and isinstance(org.get("name"), str):
        out["as_organization"] = org["name"]
    return out


def _text(ip: str, rec: dict[str, Any]) -> str:
    place = ", ".join(str(rec[k]) for k in ("country_iso_code", "city") if rec.get(k))
    network = f"AS{rec['asn']}" if "asn" in rec else ""
    if rec.get("as_organization"):
        network = f"{network} {rec['as_organization']}".strip()
    return f"{ip} (" + " — ".join(part for part in (place, network) if part) + ")"


@steps.register
class GeoIPStep(Step):
    name = "geoip"
    needs_pap = PAP.RED  # local databases only

    def run(self, ctx: StepContext) -> StepResult:
        addresses: list[str] = []
        for obs in ctx.case.observables:
            if obs.type != "ip" or not obs.valid:
                continue
            try:
                value = normalize("ip", obs.value)[1]
            except InvalidInput:
                continue
            if value not in addresses:
                addresses.append(value)
        addresses = addresses[:MAX_ADDRESSES]
        empty: dict[str, Any] = {"geoip": {}, "countries": [], "asns": [], "located_ips": [], "private_ips": [],
                                 "unknown_ips": []}
        if not addresses:
            return StepResult(N_("[%(step)s] The incident has no ip observable to locate."), empty)
        try:
            reader: GeoIP | None = ctx.platform.geoip
        except ConfigError as exc:
            raise InvalidInput(N_("[%(step)s] the GeoIP database cannot be read: %(error)s"), step=self.name,
                               error=str(exc)) from exc
        if reader is None:
            return StepResult(N_("[%(step)s] No GeoIP database is configured (settings geoip_city_file and "
                                 "geoip_asn_file): nothing was looked up."), empty)
        data = empty
        for ip in addresses:
            if not public(ip):
                data["private_ips"].append(ip)
                continue
            rec = _record(*reader.lookup(ip))
            if not rec:
                data["unknown_ips"].append(ip)
                continue
            data["geoip"][ip] = rec
            data["located_ips"].append(ip)
            if rec.get("country_iso_code") and rec["country_iso_code"] not in data["countries"]:
                data["countries"].append(rec["country_iso_code"])
            if rec.get("asn") is not None and rec["asn"] not in data["asns"]:
                data["asns"].append(rec["asn"])
        return StepResult(
            N_("[%(step)s] Located: %(lines)s. Private or reserved addresses (not looked up): %(private)s. "
               "Not in the databases: %(unknown)s."), data,
            {"lines": "; ".join(_text(ip, rec) for ip, rec in data["geoip"].items()) or "-",
             "private": ", ".join(data["private_ips"]) or "-", "unknown": ", ".join(data["unknown_ips"]) or "-"})
