"""STIX 2.1 patterns and bundles read with the OASIS libraries (``stix2patterns``, ``stix2``):
OR patterns give every value, within and across observation expressions; AND, FOLLOWEDBY and
qualifiers are refused with the operator named (never split); escaped quotes and backslashes
read right; a malformed pattern is refused with the parser's message; hostile values go through
the observable checks and never become indicators; a bundle exported by Vigie reads back into the
store with its TLP 2.0 markings; a malformed object is reported with its id, the rest loads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cert.core.config import Settings
from cert.core.errors import InvalidInput
from cert.detection.indicators.formats import Defaults, load, parse_stix_pattern
from cert.detection.indicators.store import listing
from cert.sharing.policy import share_case, terms_of
from cert.sharing.stix_export import export_case
from cert.storage.db import Database
from cert.storage.models import Case, Observable

HASH = "ab" * 32


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    d = Database.from_settings(settings)
    d.upgrade()
    yield d
    d.dispose()


def test_or_patterns_give_every_value() -> None:
    assert parse_stix_pattern(
        "[ipv4-addr:value = '198.51.100.1' OR ipv6-addr:value = '2001:db8::1'] OR "
        f"([file:hashes.'SHA-256' = '{HASH}'] OR [url:value = 'http://x.example/p' OR domain-name:value = 'y.example'])"
    ) == [("ip", "198.51.100.1"), ("ip", "2001:db8::1"), ("sha256", HASH), ("url", "http://x.example/p"),
          ("domain", "y.example")]
    # in an OR, a comparison on a path the store does not match is left out, the others match alone
    assert parse_stix_pattern(f"[file:name = 'a.exe' OR file:hashes.MD5 = '{'cd' * 16}']") == [("md5", "cd" * 16)]


@pytest.mark.parametrize(("pattern", "operator"), [
    ("[ipv4-addr:value = '198.51.100.2' AND network-traffic:dst_port = 443]", "AND"),
    ("[ipv4-addr:value = '198.51.100.2'] AND [domain-name:value = 'a.example']", "AND"),
    ("[ipv4-addr:value = '198.51.100.2'] FOLLOWEDBY [domain-name:value = 'a.example']", "FOLLOWEDBY"),
    ("[ipv4-addr:value = '198.51.100.2'] WITHIN 60 SECONDS", "WITHIN"),
    ("[ipv4-addr:value = '198.51.100.2'] REPEATS 3 TIMES", "REPEATS"),
    ("[ipv4-addr:value != '198.51.100.2']", "!="),
    ("[domain-name:value LIKE '%.example']", "LIKE"),
    ("[domain-name:value MATCHES '^a']", "MATCHES"),
    ("[ipv4-addr:value IN ('198.51.100.2', '198.51.100.3')]", "IN"),
])
def test_patterns_that_are_not_independent_values_are_refused_with_the_operator(pattern: str, operator: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_stix_pattern(pattern)
    assert f"uses {operator}" in str(refused.value) and "not a set of independent values" in str(refused.value)


def test_escaped_quotes_and_backslashes_are_read_right() -> None:
    assert parse_stix_pattern("[url:value = 'http://x.example/it\\'s\\\\here']") == [
        ("url", "http://x.example/it's\\here")]
    assert parse_stix_pattern("[user-account:account_login = 'x'] OR [email-addr:value = 'o\\'neil@b.example']") == [
        ("email", "o'neil@b.example")]


def test_a_malformed_pattern_is_refused_with_the_parser_message() -> None:
    for bad in ("[ipv4-addr:value = '198.51.100.1'", "ipv4-addr:value = '1'", "[ipv4-addr:value = 'a] OR 1 = 1"):
        with pytest.raises(InvalidInput) as refused:
            parse_stix_pattern(bad)
        assert "is not a STIX 2.1 pattern" in str(refused.value) and "1:" in str(refused.value)


def test_hostile_values_never_become_indicators(db: Database, tmp_path: Path) -> None:
    hostile = ["[domain-name:value = '<script>alert(1)</script>.example']",
               "[ipv4-addr:value = '198.51.100.1\\' OR 1=1']",
               "[url:value = 'http://x.example/a b']",
               "[file:hashes.MD5 = 'not-a-hash']",
               "[email-addr:value = 'a@b.example\\nBcc: c@d.example']"]
    objects = [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--00000000-0000-4000-8000-00000000000{i}",
                "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "pattern": p,
                "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"} for i, p in enumerate(hostile)]
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000",
                                "objects": objects}))
    with db.session() as s:
        report = load(s, path, "hostile", Defaults())
        assert listing(s, source="hostile") == []
    assert len(report.errors) == len(hostile)


def test_a_bundle_exported_by_vigie_reads_back_with_its_markings(db: Database, tmp_path: Path) -> None:
    case = Case(id=5, title="t", title_tlp="clear", tlp="amber", pap="clear", description="", created_by="a",
                created_at=datetime(2026, 3, 1, tzinfo=UTC))
    case.observables = [Observable(id=i, type=t, value=v, tlp=tlp, ioc=True, valid=True)
                        for i, (t, v, tlp) in enumerate([("ip", "198.51.100.7", "clear"), ("sha256", HASH, "green"),
                                                         ("domain", "amber.example", "amber")], 1)]
    bundle = json.loads(export_case(case, share_case(case, terms_of("amber", "clear"))).serialize())
    bundle["objects"].append({"type": "indicator", "id": "indicator--broken", "pattern": "[x:y = '1'",
                              "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"})
    bundle["objects"].append({"type": "x-partner-note", "id": "x-partner-note--1", "text": "ignored"})
    path = tmp_path / "vigie.json"
    path.write_text(json.dumps(bundle))
    with db.session() as s:
        report = load(s, path, "vigie", Defaults())
        rows = {(i.type, i.value): i.tlp for i in listing(s, source="vigie")}
    assert rows == {("ip", "198.51.100.7"): "clear", ("sha256", HASH): "green", ("domain", "amber.example"): "amber"}
    (error,) = report.errors
    assert "indicator--broken" in error and "malformed indicator" in error
