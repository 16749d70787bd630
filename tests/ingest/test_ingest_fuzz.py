"""Fuzzing the pipeline itself: any bytes, through a real parser and the Ingestor, into a real
embedded store. No exception escapes, and every line is accounted for: stored (or already
stored), skipped, or dead-lettered."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from cert.core.config import Settings
from cert.core.parser import Parser, parsers
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import Ingestor
from cert.runtime.platform import Platform
from cert.storage.models import DeadLetter

load_plugins(["ingest.parsers"])

APACHE = (
    b'83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search'
    b'.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/" "Mozilla/5.0 (Macintosh)"'
)
SSHD = b"Nov 21 08:31:02 portail sshd[4242]: Failed password for invalid user admin from 198.51.100.7 port 51022 ssh2"
EVE = (b'{"timestamp":"2017-03-24T10:09:34.000000+0000","flow_id":1,"event_type":"alert","src_ip":"10.0.0.1",'
       b'"src_port":1,"dest_ip":"10.0.0.2","dest_port":80,"proto":"TCP","alert":{"signature_id":1,"signature":"x"}}')
ASA = (b"<164>Jan 05 2026 10:00:02 fw-dmz01 : %ASA-4-106023: Deny tcp src outside:203.0.113.7/51516 "
       b'dst inside:10.20.0.5/3389 by access-group "outside_access_in" [0x0, 0x0]')
SEEDS = [APACHE, SSHD, EVE, ASA, b"", b"#comment", b"\xff\xfe\x00", b"{}", b"[]", b'{"timestamp": 1e999}']

# line parsers that read plain files (the fuzz writes files); new parsers are picked up
LINE_PARSERS = sorted(name for name in parsers.names()
                      if parsers.get(name).unit == "line" and parsers.get(name).read is Parser.read)


def mutated(seed: bytes, cut: int, junk: bytes) -> bytes:
    cut = min(cut, len(seed))
    return seed[:cut] + junk + seed[cut:]


lines = st.one_of(
    st.binary(max_size=400),
    st.builds(mutated, st.sampled_from(SEEDS), st.integers(0, 400), st.binary(max_size=12)),
    st.sampled_from(SEEDS),
)
payloads = st.tuples(st.lists(lines, max_size=40), st.sampled_from([b"\n", b"\r\n"]), st.booleans())


@pytest.fixture(scope="module")
def shared_platform() -> Iterator[Platform]:
    with tempfile.TemporaryDirectory(prefix="vigie-fuzz-") as tmp:
        p = Platform(replace(Settings(), data_dir=Path(tmp) / "data", plugins=("ingest.parsers",)))
        p.db.upgrade()
        yield p
        p.close()


def count_lines(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


@pytest.mark.parametrize("parser", LINE_PARSERS)
def test_any_bytes_through_the_ingestor(parser: str, shared_platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> None:
    p = shared_platform
    ingestor = Ingestor(p, parser, batch_size=7)  # small batches: many flushes per example
    directory = tmp_path_factory.mktemp(parser.replace(".", "_"))
    n = [0]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(payloads)
    def run(payload: tuple[list[bytes], bytes, bool]) -> None:
        parts, newline, trailing = payload
        data = newline.join(parts) + (newline if trailing and parts else b"")
        n[0] += 1
        path = directory / f"fuzz-{n[0]}.log"
        path.write_bytes(data)
        with p.db.session() as s:
            dead_before = s.scalar(select(func.count()).select_from(DeadLetter))
        stored_before = p.events.count()
        summary = ingestor.ingest_file(str(path))
        assert summary.read == count_lines(data)
        assert summary.ingested + summary.duplicates + summary.skipped + summary.dead_lettered == summary.read
        assert p.events.count() == stored_before + summary.ingested
        with p.db.session() as s:
            assert s.scalar(select(func.count()).select_from(DeadLetter)) == dead_before + summary.dead_lettered

    run()


# parsers that read their own records out of text files (JSON objects across lines)
RECORD_PARSERS = ["windows.json"]
WINDOWS_JSON = (b'Record 7\n{\n  "Event": {\n    "System": {\n      "EventID": 4688,\n      "Channel": "Security",\n'
                b'      "TimeCreated": {\n        "#attributes": {\n          "SystemTime": "2026-11-20T08:02:11.5Z"\n'
                b'        }\n      }\n    },\n    "EventData": {\n      "NewProcessName": "C:\\\\x.exe"\n    }\n  }\n}')
RECORD_SEEDS = [WINDOWS_JSON, WINDOWS_JSON.replace(b"\n", b""), b"[", b"]", b"{", b"}", b"Record 1", b"[{}, 1]"]
records = st.one_of(
    st.binary(max_size=200),
    st.builds(mutated, st.sampled_from(RECORD_SEEDS), st.integers(0, 400), st.binary(max_size=12)),
    st.sampled_from(RECORD_SEEDS),
)


@pytest.mark.parametrize("parser", RECORD_PARSERS)
def test_any_bytes_through_a_record_reader(parser: str, shared_platform: Platform,
                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    """Files of any bytes through the parser's own reader: every record it finds is stored (or
    already stored), skipped or dead-lettered, and nothing raises."""
    p = shared_platform
    ingestor = Ingestor(p, parser, batch_size=7)
    directory = tmp_path_factory.mktemp(parser.replace(".", "_"))
    n = [0]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(records, max_size=30), st.sampled_from([b"\n", b"\r\n", b""]))
    def run(parts: list[bytes], newline: bytes) -> None:
        n[0] += 1
        path = directory / f"fuzz-{n[0]}.json"
        path.write_bytes(newline.join(parts))
        with p.db.session() as s:
            dead_before = s.scalar(select(func.count()).select_from(DeadLetter))
        stored_before = p.events.count()
        summary = ingestor.ingest_file(str(path))
        assert summary.ingested + summary.duplicates + summary.skipped + summary.dead_lettered == summary.read
        assert p.events.count() == stored_before + summary.ingested
        with p.db.session() as s:
            assert s.scalar(select(func.count()).select_from(DeadLetter)) == dead_before + summary.dead_lettered

    run()
