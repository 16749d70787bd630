"""An incident as a STIX 2.1 bundle for a partner CERT: for a TLP:GREEN partner, an incident with
CLEAR, GREEN, AMBER, AMBER+STRICT and RED indicators and an AMBER title and description gives a
bundle that the OASIS validator accepts, holding the GREEN and CLEAR indicators and nothing else
(no withheld value, title or description anywhere in the serialized bundle), each object marked
with the OASIS TLP 2.0 definition of its own label; an AMBER partner also gets the AMBER item and
the real title; a re-export gives the same ids; values with quotes are escaped in the patterns;
nothing to share is a Conflict."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from stix2patterns.validator import run_validator
from stix2validator import ValidationOptions, validate_string

from cert.core.errors import Conflict
from cert.sharing.policy import share_case, terms_of
from cert.sharing.stix_export import export_case, pattern
from cert.storage.models import Case, Observable

SECRETS = ("203.0.113.20", "strict.example", "192.0.2.30", "Vol de données au ministère X", "compte de M. Y")
OASIS = {  # the TLP 2.0 marking definitions of the OASIS extension (cti-stix-common-objects)
    "TLP:CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "TLP:GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "TLP:AMBER": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
}


def mixed_incident() -> Case:
    case = Case(id=12, title="Vol de données au ministère X", title_tlp="amber", tlp="amber", pap="green",
                description="Détails: le compte de M. Y est compromis", created_by="ana",
                created_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    values = [("ip", "198.51.100.10", "clear"), ("domain", "green-c2.example", "green"),
              ("url", "http://green.example/it's\\here", "green"), ("ip", "203.0.113.20", "amber"),
              ("domain", "strict.example", "amber+strict"), ("ip", "192.0.2.30", "red")]
    case.observables = [Observable(id=i, type=t, value=v, tlp=tlp, ioc=True, valid=True,
                                   created_at=datetime(2026, 3, 1, 9, i, tzinfo=UTC))
                        for i, (t, v, tlp) in enumerate(values, 1)]
    return case


def bundle_for(case: Case, ceiling: str, pap: str = "green") -> tuple[str, dict[str, Any]]:
    text = export_case(case, share_case(case, terms_of(ceiling, pap), organization="Intérieur")).serialize()
    return text, json.loads(text)


def of_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in bundle["objects"] if o["type"] == kind]


def test_a_green_partner_gets_a_valid_bundle_of_the_green_and_clear_indicators_only() -> None:
    text, bundle = bundle_for(mixed_incident(), "green")
    result = validate_string(text, ValidationOptions(strict=False))
    assert result.is_valid and not result.errors, [str(e) for e in result.errors]
    for secret in SECRETS:
        assert secret not in text
    patterns = {o["pattern"]: o["object_marking_refs"] for o in of_type(bundle, "indicator")}
    assert patterns == {
        "[ipv4-addr:value = '198.51.100.10']": [OASIS["TLP:CLEAR"]],
        "[domain-name:value = 'green-c2.example']": [OASIS["TLP:GREEN"]],
        "[url:value = 'http://green.example/it\\'s\\\\here']": [OASIS["TLP:GREEN"]]}
    (incident,) = of_type(bundle, "incident")
    assert incident["name"] == "Incident #12" and "description" not in incident
    assert incident["object_marking_refs"] == [OASIS["TLP:GREEN"]]  # the highest of what it carries
    markings = {m["id"]: m for m in of_type(bundle, "marking-definition")}
    assert set(markings) == {OASIS["TLP:CLEAR"], OASIS["TLP:GREEN"]}
    green = markings[OASIS["TLP:GREEN"]]
    assert green["name"] == "TLP:GREEN" and green["extensions"] == {
        "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
            "extension_type": "property-extension", "tlp_2_0": "green"}}
    relationships = of_type(bundle, "relationship")
    assert {r["source_ref"] for r in relationships} == {o["id"] for o in of_type(bundle, "indicator")}
    assert {(r["relationship_type"], r["target_ref"]) for r in relationships} == {("indicates", incident["id"])}
    assert len(bundle["objects"]) == 2 + 1 + 3 + 3


def test_an_amber_partner_also_gets_the_amber_item_the_title_and_the_description() -> None:
    text, bundle = bundle_for(mixed_incident(), "amber")
    assert validate_string(text, ValidationOptions(strict=False)).is_valid
    values = {o["name"] for o in of_type(bundle, "indicator")}
    assert values == {"198.51.100.10", "green-c2.example", "http://green.example/it's\\here", "203.0.113.20"}
    (incident,) = of_type(bundle, "incident")
    assert incident["name"] == "Vol de données au ministère X"
    assert incident["description"] == "Détails: le compte de M. Y est compromis"
    assert incident["object_marking_refs"] == [OASIS["TLP:AMBER"]]
    assert "strict.example" not in text and "192.0.2.30" not in text


def test_a_re_export_gives_the_same_ids() -> None:
    case = mixed_incident()
    first = export_case(case, share_case(case, terms_of("green", "green")), now=datetime(2026, 3, 2, tzinfo=UTC))
    again = export_case(case, share_case(case, terms_of("amber", "green")), now=datetime(2026, 3, 3, tzinfo=UTC))
    ids = {o["id"] for o in json.loads(first.serialize())["objects"]}
    later = {o["id"]: o for o in json.loads(again.serialize())["objects"]}
    assert ids <= set(later)  # the AMBER partner's bundle adds the AMBER item, reuses every other id
    assert later[first.incident_id]["modified"].startswith("2026-03-03")
    other = mixed_incident()
    other.id = 13
    assert not ids & {o["id"] for o in json.loads(export_case(other, share_case(other, terms_of("green", "green")))
                                               .serialize())["objects"] if o["type"] != "marking-definition"}


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("ip", "2001:db8::1", "[ipv6-addr:value = '2001:db8::1']"),
    ("cidr", "203.0.113.0/24", "[ipv4-addr:value ISSUBSET '203.0.113.0/24']"),
    ("sha256", "ab" * 32, "[file:hashes.'SHA-256' = '" + "ab" * 32 + "']"),
    ("md5", "cd" * 16, "[file:hashes.MD5 = '" + "cd" * 16 + "']"),
    ("email", "a@b.example", "[email-addr:value = 'a@b.example']"),
    ("user-agent", "Mozilla ' OR [x:y = '1'", "[network-traffic:extensions.'http-request-ext'.request_header."
                                             "'User-Agent' = 'Mozilla \\' OR [x:y = \\'1\\'']"),
])
def test_patterns_are_quoted_by_the_library_and_valid(kind: str, value: str, expected: str) -> None:
    got = pattern(kind, value)
    assert got == expected
    assert run_validator(got, stix_version="2.1") == []


def test_nothing_to_share_is_a_conflict() -> None:
    case = mixed_incident()
    for o in case.observables:
        o.tlp = "red"
    with pytest.raises(Conflict):
        export_case(case, share_case(case, terms_of("amber", "red")))
