"""The native fast path of the Suricata EVE parser (``native/``, module ``vigie_native``) gives
exactly what the Python parser followed by ``_finalize`` gives, or declines the line.

* every record of the EVE corpus (as found, and re-serialised with spaces): equal events, and most
  of them on the fast path (a native module that declined everything would pass the rest);
* hypothesis-generated EVE records of every event type, mutated (missing fields, wrong types,
  Unicode, big numbers, odd timestamps, junk nested anywhere) and raw JSON oddities: whenever
  native accepts a line, its event is equal, value types included, to the reference's; where the
  reference raises (dead letter) or skips, native has declined;
* the Ingestor with and without ``VIGIE_NATIVE=0`` stores the same events and dead letters.

Skipped when ``vigie_native`` is not built (``pip install ./native``); under CI=true that skip is
a failure (marker ``native``, see tests/conftest.py)."""

from __future__ import annotations

import gc
import json
import math
import os
import re
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cert.core.config import Settings
from cert.core.ecs import Event, parse_ts
from cert.core.parser import parsers
from cert.core.registry import load_plugins
from cert.pipeline.health import ingest_health
from cert.pipeline.ingestor import ECS_VERSION, Ingestor, _finalize
from cert.runtime.platform import Platform

load_plugins(["ingest.parsers"])

try:
    import vigie_native as native
except ImportError:
    native = None

pytestmark = pytest.mark.native


@pytest.fixture(autouse=True)
def _native_built() -> None:
    """Skip each test (a failure under CI=true) when the module is not built."""
    if native is None:
        pytest.skip("vigie_native is not built (pip install ./native)")

SOURCE = "/var/log/suricata/eve.json"
IDENTITY = "5f0c2a6b9d4e8f1a2b3c4d5e"  # a file's record_identity
POSITION = 4096  # a line's byte offset
INGESTED = "2026-11-21T10:00:00.000Z"
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
PARSER = parsers.get("suricata.eve")()


def reference(line: str, source: str = SOURCE, keep: bool = True, identity: str = IDENTITY,
              position: int = POSITION) -> tuple[Event, datetime] | str:
    """The Python path: parse then _finalize; "skip" or the exception's name otherwise."""
    try:
        event = PARSER.parse(line)
        if event is None:
            return "skip"
        return event, _finalize(event, PARSER, line, source, keep, INGESTED, identity, position)
    except Exception as exc:  # noqa: BLE001 - any failure is a dead letter on the Python path
        return type(exc).__name__


def fast(line: str, source: str = SOURCE, keep: bool = True, identity: str = IDENTITY,
         position: Any = POSITION) -> Event | None:
    assert native is not None
    result: Event | None = native.eve_finalized(
        PARSER.dataset, PARSER.module, ECS_VERSION, line, source, keep, INGESTED, identity, position,
        parser=PARSER.name)
    return result


def same(a: Any, b: Any, path: str = "") -> str | None:
    """Where a and b differ, value types included (1, 1.0 and True are not the same here)."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r} != {type(b).__name__} {b!r}"
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{path}: keys {sorted(a.keys() ^ b.keys())}"
        for key in a:
            diff = same(a[key], b[key], f"{path}.{key}")
            if diff:
                return diff
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diff = same(x, y, f"{path}[{i}]")
            if diff:
                return diff
        return None
    if isinstance(a, float):
        equal = (a == b and math.copysign(1, a) == math.copysign(1, b)) or (math.isnan(a) and math.isnan(b))
        return None if equal else f"{path}: {a!r} != {b!r}"
    return None if a == b else f"{path}: {a!r} != {b!r}"


def check(line: str, source: str = SOURCE, keep: bool = True, identity: str = IDENTITY,
          position: int = POSITION) -> bool:
    """Assert native agrees with the reference on one line; True when native took it."""
    got = fast(line, source, keep, identity, position)
    want = reference(line, source, keep, identity, position)
    if got is None:
        return False
    assert isinstance(want, tuple), f"native accepted a line the reference gives {want!r}: {line!r}"
    diff = same(want[0], got)
    assert diff is None, f"{diff}\nline: {line}"
    # the Ingestor compares fast-path timestamps as text: they must be fixed-width UTC
    stamp = got["@timestamp"]
    assert STAMP.fullmatch(stamp) and parse_ts(stamp) == want[1], line
    return True


def corpus_records(corpora: Path) -> list[str]:
    """Every EVE record of the corpus: the .eve.jsonl lines as they are, and the records of the
    pretty-printed .json arrays as single lines with spaces (other bytes, other event ids)."""
    root = corpora / "suricata"
    lines = [line for f in sorted(root.rglob("*.eve.jsonl")) for line in f.read_text(encoding="utf-8").splitlines()]
    for f in sorted(root.rglob("*.json")):
        data = json.loads(f.read_text(encoding="utf-8"))
        if isinstance(data, list):
            lines += [json.dumps(rec, ensure_ascii=False) for rec in data if isinstance(rec, dict) and "event_type" in rec]
    return lines


def test_every_corpus_record_is_the_same_and_most_take_the_fast_path(corpora: Path) -> None:
    lines = corpus_records(corpora)
    assert len(lines) >= 1000, "the EVE corpus (548 alerts, twice) is missing"
    taken = sum(check(line) for line in lines)
    assert taken >= 0.95 * len(lines), f"native took only {taken} of {len(lines)} real EVE records"


def test_source_and_keep_original_are_honoured(corpora: Path) -> None:
    line = corpus_records(corpora)[0]
    for source, keep in (("-", True), ("udp://192.0.2.1:514", False), ("/srv/é/eve.json", True), ("", False)):
        assert check(line, source, keep), (source, keep)


def test_the_id_covers_the_identity_and_the_position_as_the_python_path_does(corpora: Path) -> None:
    """The same line at other positions, or in another file at the same path, has other ids, and
    native's id is the Python path's for each (positions of every size, zero and negative ones)."""
    line = corpus_records(corpora)[0]
    ids = set()
    for identity in ("", IDENTITY, "0" * 24, "a4f9c1d03b2e5f6a7b8c9d0e"):
        for position in (0, 1, 9, 10, 4096, 2**31, 2**63 - 1, -1, -(2**63)):
            assert check(line, SOURCE, True, identity, position), (identity, position)
            event = fast(line, SOURCE, True, identity, position)
            assert event is not None
            ids.add(event["event"]["id"])
    assert len(ids) == 4 * 9
    # a position no 64-bit integer holds: declined, the Python path takes the line
    assert fast(line, SOURCE, True, IDENTITY, 2**63) is None
    assert fast(line, SOURCE, True, IDENTITY, "12") is None  # type: ignore[arg-type]


# -- one record of each event type (after Suricata's EVE documentation), then mutated -------------
TEMPLATES: list[dict[str, Any]] = [
    {"timestamp": "2017-04-07T22:24:37.251547+0100", "flow_id": 586497171462735, "in_iface": "eth0",
     "event_type": "alert", "src_ip": "192.168.2.14", "src_port": 50096, "dest_ip": "209.53.113.5", "dest_port": 80,
     "proto": "TCP", "ether": {"src_mac": "00:1a:2b:3c:4d:5e", "dest_mac": "aa:bb:cc:dd:ee:ff"}, "tx_id": 4,
     "alert": {"action": "allowed", "gid": 1, "signature_id": 2018358, "rev": 10, "signature": "ET HUNTING POST",
               "category": "Potentially Bad Traffic", "severity": 2,
               "metadata": {"mitre_tactic_id": ["TA0011"], "mitre_technique_name": ["Web_Protocols"]}},
     "http": {"hostname": "209.53.113.5", "url": "/core/?q=1#top", "http_user_agent": "Mozilla/4.0",
              "http_content_type": "text/html", "http_method": "POST", "protocol": "HTTP/1.1", "status": 404,
              "length": 151, "http_refer": "http://a.example/"},
     "app_proto": "http", "flow": {"pkts_toserver": 4, "pkts_toclient": 3, "bytes_toserver": 660,
                                   "bytes_toclient": 484, "start": "2017-04-07T22:24:37.004567+0100"}},
    {"timestamp": "2026-11-21T10:01:00.500000+0000", "flow_id": 1, "event_type": "flow", "src_ip": "192.0.2.10",
     "src_port": 51724, "dest_ip": "198.51.100.53", "dest_port": 443, "proto": "TCP", "app_proto": "tls",
     "flow": {"pkts_toserver": 12, "pkts_toclient": 10, "bytes_toserver": 1500, "bytes_toclient": 9000,
              "start": "2026-11-21T10:00:58.250000+0000", "end": "2026-11-21T10:01:00.250000+0000", "age": 2,
              "state": "closed", "reason": "timeout", "alerted": False}},
    {"timestamp": "2026-11-21T10:02:00.000000+0000", "event_type": "netflow", "src_ip": "10.16.1.11", "src_port": 53,
     "dest_ip": "10.16.1.10", "dest_port": 44364, "proto": "UDP", "app_proto": "dns",
     "netflow": {"pkts": 1, "bytes": 120, "start": "2026-11-21T10:01:59.000000+0000", "age": 0}},
    {"timestamp": "2019-01-03T13:58:51.000013+0100", "flow_id": 970546939189262, "event_type": "dns",
     "src_ip": "10.16.1.11", "src_port": 53, "dest_ip": "10.16.1.10", "dest_port": 44364, "proto": "UDP",
     "dns": {"version": 2, "type": "answer", "id": 41142, "flags": "8180", "qr": True, "rd": True, "ra": True,
             "rrname": "www.suricata-ids.org", "rrtype": "A", "rcode": "NOERROR",
             "answers": [{"rrname": "www.suricata-ids.org", "rrtype": "CNAME", "ttl": 3324, "rdata": "suricata-ids.org"},
                         {"rrname": "suricata-ids.org", "rrtype": "A", "ttl": 10, "rdata": "192.0.78.24"}],
             "grouped": {"CNAME": ["suricata-ids.org"], "A": ["192.0.78.24"]}}},
    {"timestamp": "2026-11-21T10:03:00.000000Z", "event_type": "dns", "src_ip": "10.16.1.10", "src_port": 44364,
     "dest_ip": "10.16.1.11", "dest_port": 53, "proto": "UDP",
     "dns": {"version": 3, "type": "request", "id": 41142, "rd": True, "queries": [{"rrname": "pool.example", "rrtype": "A"}]}},
    {"timestamp": "2016-05-10T08:44:01.234567+0200", "event_type": "dns", "src_ip": "192.0.2.53", "src_port": 53,
     "dest_ip": "192.0.2.10", "dest_port": 33445, "proto": "UDP",
     "dns": {"type": "answer", "id": 16000, "rcode": "NOERROR", "rrname": "example.org", "rrtype": "A", "ttl": 300,
             "rdata": "93.184.216.34"}},
    {"timestamp": "2026-11-21T10:04:00.123456+0000", "event_type": "tls", "src_ip": "2001:db8::10",
     "src_port": 51724, "dest_ip": "2001:0db8:0000:0000:0000:0000:0000:0053", "dest_port": 443, "proto": "TCP",
     "tls": {"subject": "C=US, ST=California, O=Example\\, Inc., CN=*.example.com", "issuerdn": "C=US, O=CA, CN=CA G2",
             "serial": "0C:00:99", "fingerprint": "8f:51:12:06:a0:cc", "sni": "calendar.example.com.",
             "version": "TLS 1.2", "notbefore": "2017-01-04T10:48:43", "notafter": "2017-03-29T10:18:00",
             "ja3": {"hash": "e7eca2baf4458d095b7f45da28c16c34", "string": "771,49195"},
             "ja3s": {"hash": "4192c0a946c5bd9b544b4656d9f624a4"}, "session_resumed": False, "certificate": "MIIB"}},
    {"timestamp": "2026-11-21T10:05:00.000000+0000", "event_type": "fileinfo", "src_ip": "198.51.100.80",
     "src_port": 80, "dest_ip": "192.0.2.10", "dest_port": 51800, "proto": "TCP", "app_proto": "http",
     "http": {"hostname": "updates.example.net", "url": "/dl/setup.exe", "http_method": "GET", "status": "200"},
     "fileinfo": {"filename": "/dl/Setup.EXE", "magic": "PE32", "gaps": False, "state": "CLOSED",
                  "md5": "44d88612fea8a8f36de82e1278abb02f", "sha256": "275a021bbfb6489e", "size": 68, "mimetype": "x"}},
    {"timestamp": "2026-11-21T10:06:00.000000-0330", "event_type": "anomaly", "src_ip": "192.0.2.1",
     "dest_ip": "192.0.2.2", "proto": "ICMP", "icmp_type": 8, "icmp_code": 0,
     "anomaly": {"type": "decode", "event": "ipv4.trunc_pkt"}},
    {"timestamp": "2026-11-21T10:07:00.000000+05:30", "event_type": "http", "src_ip": "192.0.2.1", "src_port": 1,
     "dest_ip": "192.0.2.2", "dest_port": 8080, "proto": "TCP", "community_id": "1:abc",
     "http": {"hostname": "portail.example", "url": "/a?b=c", "status": 503, "protocol": "HTTP/2"}},
    {"timestamp": "2026-11-21T10:08:00.000000+0000", "event_type": "stats", "stats": {"uptime": 10, "decoder": {"pkts": 1}}},
    {"timestamp": "2026-11-21T10:09:00.000000+0000", "event_type": "smtp", "src_ip": "192.0.2.1", "src_port": 25,
     "dest_ip": "192.0.2.2", "dest_port": 2525, "proto": "TCP", "app_proto": "smtp",
     "smtp": {"helo": "mail.example", "mail_from": "<a@example>"}, "email": {"status": "PARSE_DONE"}},
]

JSON_LEAF = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
             | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
             | st.sampled_from(["", "-", "A", "AAAA", "new", "closed", "blocked", "TCP", "icmp", "tls", "ftp-data",
                                "answer", "response", "1.2.3.4", "::1", "1::", "01.2.3.4", "2001:db8::1.2.3.4",
                                "TLSv1.3", "SSL 3", "UNDETERMINED", "İ", "ǅ", "１２", "²", "10.0.0.1\x00"]))
JSON = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=8)
TIMESTAMPS = st.sampled_from([
    "2018-03-24T14:37:19.037299-0600", "2019-01-02T03:50:11.315110", "2019-01-02T03:50:11.315Z",
    "2019-01-02T03:50:11.3151+05:45", "2019-01-02T03:50:11.31-0600", "2019-01-02T03:50:11-0600",
    "2019-01-02T03:50:60.000000+0000", "2019-02-29T03:50:11.000000+0000", "2020-02-29T23:59:59.999999-2359",
    "0001-01-01T00:00:00.000000+0100", "9999-12-31T23:59:00.000000-0100", "2019-01-02 03:50:11.315110+0000",
    "2019-W01-3T03:50:11.315110+0000", "2019-01-02T03:50:11.315110+2400", "2019-01-02T03:50:11.315110+0060",
    "2019-01-02T03:50:11.٣١٥110+0000", "2019-01-02T24:00:00.000000+0000", "2019-01-02T03:50:11,315110+0000",
    "2019-01-02T03:50:11.315110+00", "2019-01-02T03:50:11.315110Z", "2019-01-02T03:50:11.315110+06:00Z",
    "", "now", "2019-01-02T03:50:11.315110+0000 ",
]) | st.text(max_size=32)

# paths a mutation may target: top-level keys and the keys of the sections the parser maps
SECTION_KEYS = {
    "": ["timestamp", "event_type", "src_ip", "dest_ip", "src_port", "dest_port", "proto", "community_id",
         "app_proto", "flow_id", "in_iface", "ether", "icmp_type", "icmp_code", "alert", "flow", "netflow", "http",
         "dns", "tls", "fileinfo", "anomaly"],
    "alert": ["signature_id", "signature", "category", "severity", "action", "metadata"],
    "flow": ["bytes_toserver", "bytes_toclient", "pkts_toserver", "pkts_toclient", "start", "end", "state"],
    "netflow": ["bytes", "pkts", "start", "end"],
    "http": ["http_method", "http_refer", "status", "length", "http_content_type", "protocol", "http_user_agent",
             "hostname", "url"],
    "dns": ["id", "type", "rcode", "queries", "rrname", "rrtype", "aa", "tc", "rd", "ra", "answers", "rdata",
            "version", "grouped", "ttl"],
    "tls": ["version", "subject", "issuerdn", "serial", "notbefore", "notafter", "fingerprint", "sni", "ja3", "ja3s",
            "session_resumed", "certificate", "chain"],
    "fileinfo": ["filename", "size", "md5", "sha1", "sha256", "mimetype"],
    "anomaly": ["event"],
    "ether": ["src_mac", "dest_mac"],
}


@st.composite
def eve_lines(draw: st.DrawFn) -> str:
    rec = json.loads(json.dumps(draw(st.sampled_from(TEMPLATES))))
    for _ in range(draw(st.integers(0, 4))):
        section = draw(st.sampled_from(sorted(SECTION_KEYS)))
        target = rec if section == "" else rec.get(section)
        if not isinstance(target, dict):
            continue
        key = draw(st.sampled_from(SECTION_KEYS[section]))
        action = draw(st.sampled_from(["delete", "value", "timestamp", "case"]))
        if action == "delete":
            target.pop(key, None)
        elif action == "timestamp":
            target[key] = draw(TIMESTAMPS)
        elif action == "case" and isinstance(target.get(key), str):
            target[key] = target[key].upper() if draw(st.booleans()) else target[key] + draw(st.text(max_size=3))
        else:
            target[key] = draw(JSON)
    if draw(st.booleans()):  # another type's sections in this record
        other = draw(st.sampled_from(TEMPLATES))
        for key in ("http", "dns", "tls", "fileinfo", "flow", "netflow", "alert", "anomaly"):
            if key in other and draw(st.booleans()):
                rec[key] = json.loads(json.dumps(other[key]))
    line = json.dumps(rec, ensure_ascii=draw(st.booleans()), separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    tweak = draw(st.sampled_from(["none", "none", "none", "raw", "cut", "duplicate", "pad"]))
    if tweak == "raw":  # number and string forms json.dumps never writes
        raw = draw(st.sampled_from(['-0', '-0.0', '1e400', '1E2', '18446744073709551616', '9007199254740993',
                                    '"\\ud800"', '"\\udc80x"', '"\\ud83d\\ude00"', '"\\u0000"', '1.0e-400', '[]', '{}']))
        line = line.replace('"flow_id": ', '"flow_id": ' + raw + ', "x": ', 1).replace(
            '"flow_id":', '"flow_id":' + raw + ',"x":', 1) if "flow_id" in rec else line[:-1] + ', "src_port": ' + raw + "}"
    elif tweak == "cut":
        line = line[: draw(st.integers(0, len(line)))]
    elif tweak == "duplicate":
        line = line[:-1] + ', "event_type": "flow"}'
    elif tweak == "pad":
        line = draw(st.sampled_from([" ", "\t", "\u00a0", "\x1c", "\ufeff"])) + line
    return line


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(eve_lines())
def test_generated_records_are_the_same_or_declined(line: str) -> None:
    check(line)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")))
def test_any_text_is_the_same_or_declined(line: str) -> None:
    check(line)


def test_keys_are_right_however_many_and_however_spelt() -> None:
    """The native path caches the Python strs of keys (by content, in a bounded table): thousands
    of distinct keys (far more than it caches) that differ only in their last bytes, keys longer
    than it caches, escaped and non-ASCII keys all come out as the reference spells them."""
    alert = TEMPLATES[0]
    taken = 0
    for n in range(1500):
        extra = {f"same_prefix_{n:05d}": n, f"same_prefix_{n + 50000:05d}": n, "x" * (n % 70 + 1): n,
                 f"\u00e9t\u00e9_{n % 50}": n, f"{'y' * 31}{n % 3}": n, f"{'z' * 32}{n % 3}": n}
        taken += check(json.dumps(dict(alert, **extra), ensure_ascii=n % 2 == 0))
    assert taken == 1500
    # an escaped key ("\u0061" is "a") and the same key written plainly are the same key: declined
    dup = json.dumps(alert)[:-1] + ', "\\u0061": 1, "a": 2}'
    assert fast(dup) is None


@pytest.mark.parametrize("size", [1, 2, 5, 6, 10, 11, 21, 22, 42, 43, 85, 86, 170, 171, 341, 342, 1000, 30000])
def test_objects_of_any_size_are_the_same(size: int) -> None:
    """An unknown EVE section of `size` keys lands under suricata.eve as it is, whatever its size."""
    record = dict(TEMPLATES[0], extra={f"k{n}" + "x" * (n % 30): n for n in range(size)})
    line = json.dumps(record)
    assert check(line)
    event = fast(line)
    assert event is not None
    extra = event["suricata"]["eve"]["extra"]
    assert len(extra) == size
    assert list(extra) == list(record["extra"])


def test_building_events_keeps_reference_counts(corpora: Path) -> None:
    """Keys and values handed to the dicts are owned once: no leak, no double release."""
    lines = corpus_records(corpora)[:50]
    probes = [sys.intern(k) for k in ("event", "alert", "signature_id", "ip", "@timestamp")] + [None, True, False]
    for line in lines:  # the key caches fill: which literal a slot holds depends on the last line
        fast(line)
    before = [sys.getrefcount(p) for p in probes]
    for _ in range(200):
        for line in lines:
            fast(line)
    assert [sys.getrefcount(p) for p in probes] == before


def test_a_finalizer_calling_the_fast_path_while_it_builds_an_event_gets_the_same_events(corpora: Path) -> None:
    """Building an event allocates dicts, which may run the garbage collector, whose finalizers may
    call the fast path again before the first call has finished (its arena and key cache are in
    use): every event, outer and inner, comes out as when the calls do not overlap."""
    lines = corpus_records(corpora)[:40]
    expected = [fast(line) for line in lines]
    inner: list[tuple[int, Event | None]] = []

    class Cycle:
        def __init__(self, n: int) -> None:
            self.me = self
            self.n = n

        def __del__(self) -> None:
            # called from inside eve_finalized when the frame below is fast()'s
            nested = sys._getframe(1).f_code.co_name == "fast"
            inner.append((self.n if nested else -1, fast(lines[self.n % len(lines)])))
            if len(inner) < 500:
                Cycle(self.n + 1)

    threshold = gc.get_threshold()
    gc.collect()
    gc.set_threshold(1)
    try:
        Cycle(0)
        outer = [fast(line) for line in lines]
    finally:
        gc.set_threshold(*threshold)
        gc.collect()
    assert outer == expected
    nested = [(n, event) for n, event in inner if n >= 0]
    assert nested, "no finalizer ran inside the native call"
    assert all(event == expected[n % len(lines)] for n, event in nested)


ADDRESSES = ["1.2.3.4", "0.0.0.0",  # noqa: S104 - an address in a log, not a bind
             "255.255.255.255", "256.1.1.1", "1.2.3.256", "01.2.3.4", "1.02.3.4", "1.2.3.00",
             "1.2.3", "1.2.3.4.5", ".1.2.3", "1.2.3.", "1..2.3", "1.2.3.4 ", " 1.2.3.4", "1.2.3.-4", "1.2.3.4a",
             "1234.1.1.1", "999.1.1.1", "10.0.0.10", "100.200.30.4", "::1", "::", "1::", "2001:db8::1", "fe80::1%eth0",
             "2001:db8::1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:::2", "", "١.٢.٣.٤"]


@pytest.mark.parametrize("src", ADDRESSES)
def test_community_id_of_any_address_is_the_same_or_declined(src: str) -> None:
    for dest in ("192.0.2.1", "2001:db8::2", src):
        for proto, ports in (("TCP", (1024, 80)), ("ICMP", (8, 0)), ("IPv6-ICMP", (128, 0))):
            rec = dict(TEMPLATES[0], src_ip=src, dest_ip=dest, proto=proto, src_port=ports[0], dest_port=ports[1])
            if proto != "TCP":
                rec.update(icmp_type=ports[0], icmp_code=ports[1])
            check(json.dumps(rec))


NUMBER_TEXTS = st.sampled_from([
    "0", "-0", "1", "-1", "01", "1.", ".5", "1.5", "-1.5", "1e5", "1E5", "1e+5", "1e-5", "1.5e300", "1e400", "-1e400",
    "2e-400", "0.0", "-0.0", "9007199254740992", "9007199254740993", "9007199254740993.0", "1e16", "1.0e15",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "18446744073709551615", "18446744073709551616", "123456789012345678901234567890", "0.1", "0.30000000000000004",
    "1.7976931348623157e308", "5e-324", "2.2250738585072014e-308", "00", "-", "+1", "1e", "1e+", "0x10", "1_000",
    "NaN", "Infinity", "-Infinity", "1.0e+0", "1E-0", "100e-2",
]) | st.integers(-(2**70), 2**70).map(str) | st.floats(allow_nan=False, allow_infinity=False).map(repr)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(NUMBER_TEXTS, min_size=1, max_size=4), st.sampled_from(["", " ", "\n", "\t", "\r"]))
def test_numbers_in_any_spelling_are_the_same_or_declined(numbers: list[str], pad: str) -> None:
    body = json.dumps(TEMPLATES[0])[:-1]
    fields = "".join(f',{pad}"n{i}"{pad}:{pad}{text}{pad}' for i, text in enumerate(numbers))
    check(body + fields + ', "arr": [' + ",".join(numbers) + "]}")


STRING_CHARS = st.characters(codec="utf-8") | st.sampled_from(["\x00", "\x1f", "\x7f", '"', "\\", "/", "\u2028",
                                                               "\ud800", "\udfff", "\U0001f600", "\ufeff"])


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.text(STRING_CHARS, max_size=40), min_size=1, max_size=4), st.booleans())
def test_strings_with_any_characters_and_escapes_are_the_same_or_declined(texts: list[str], ascii_only: bool) -> None:
    rec = dict(TEMPLATES[0])
    rec.update({t[:20] or "empty": 1 for t in texts})  # as keys too
    rec.update({f"s{i}": t for i, t in enumerate(texts)})
    line = json.dumps(rec, ensure_ascii=ascii_only)
    check(line)
    # the same text with raw control characters (not JSON) and with escaped solidus
    check(line.replace("\\n", "\n"))
    check(line.replace("/", "\\/"))


def test_declined_lines_take_the_python_path() -> None:
    alert = json.dumps(TEMPLATES[0])
    for line in ("", "   ", "not json", "[1, 2]", '{"event_type": "alert"}', alert.replace("}", "", 1),
                 alert.replace('"proto": "TCP"', '"proto": "TCP", "proto": "UDP"'),
                 alert.replace("2017-04-07T22:24:37.251547+0100", "2017-04-07 22:24:37"),
                 alert + "\udc80", alert.replace("ET HUNTING", "ET \\ud800")):
        assert fast(line) is None, line
    assert check(alert)


def test_alerts_keep_their_signature_under_suricata_eve_on_the_fast_path() -> None:
    line = json.dumps(TEMPLATES[0])
    assert check(line)
    got = fast(line)
    assert got is not None
    alert = got["suricata"]["eve"]["alert"]
    assert (alert["signature_id"], alert["signature"]) == (2018358, TEMPLATES[0]["alert"]["signature"])
    assert got["rule"]["id"] == "2018358" and got["rule"]["name"] == alert["signature"]


@pytest.mark.parametrize("url", ["/dl/setup.EXE", "/a.", "/x.tar.gz", "/a/b.c/d", "/.htaccess", "/f.php?x=a.b#c.d",
                                 "/f.averyveryverylongextension", "/f.Ph\u00e9", "/\u00e9t\u00e9.PHP", "/"])
def test_url_extensions_agree_on_both_paths(url: str) -> None:
    rec = json.loads(json.dumps(TEMPLATES[0]))
    rec["http"]["url"] = json.loads(f'"{url}"')
    check(json.dumps(rec))
    check(json.dumps(rec, ensure_ascii=False))


def test_request_targets_other_than_a_path_take_the_python_path() -> None:
    for url in ("http://www.example.com:8080/a/b.php?x=1", "www.example.com:443", "*", "HTTP://[2001:db8::1]/"):
        rec = json.loads(json.dumps(TEMPLATES[0]))
        rec["http"]["url"] = url
        line = json.dumps(rec)
        assert fast(line) is None, url
        want = reference(line)
        assert isinstance(want, tuple) and want[0]["url"]["original"] == url
    rec["http"]["url"] = "http://www.example.com:8080/a/b.php?x=1"
    event = reference(json.dumps(rec))
    assert isinstance(event, tuple)
    assert event[0]["url"] == {"domain": "209.53.113.5", "original": "http://www.example.com:8080/a/b.php?x=1",
                               "scheme": "http", "port": 8080, "path": "/a/b.php", "query": "x=1", "extension": "php"}


# -- the Ingestor, with and without the native path --------------------------------------------------
@pytest.fixture
def eve_file(tmp_path: Path, corpora: Path) -> Path:
    """Corpus records, one record of each type, odd lines; the first record again at the end (an
    identical line further on: another event)."""
    lines = corpus_records(corpora)[:600] + [json.dumps(t) for t in TEMPLATES] + [
        "", "not json", '{"event_type": "alert", "timestamp": "yesterday"}', json.dumps(TEMPLATES[1]) + " ",
        json.dumps(dict(TEMPLATES[0], timestamp="2017-04-07 22:24:37.251547+01:00")),
        json.dumps(dict(TEMPLATES[0], src_port=True)), json.dumps(dict(TEMPLATES[0], flow_id=1.5)),
        corpus_records(corpora)[0]]
    path = tmp_path / "eve.json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ingest(settings: Settings, path: Path, name: str, use_native: bool,
            static: dict[str, str] | None = None) -> tuple[dict[str, Event], Any, int, datetime | None]:
    """The stored events (without event.ingested), the summary, how many lines the fast path
    took, and the newest event time ingest health holds for the file."""
    old = os.environ.get("VIGIE_NATIVE")
    os.environ["VIGIE_NATIVE"] = "1" if use_native else "0"
    try:
        platform = Platform(replace(settings, data_dir=settings.data_dir.parent / name))
        platform.db.upgrade()
        try:
            ingestor = Ingestor(platform, "suricata.eve", collect_ids=True, static_fields=static)
            parser = ingestor.parser
            hook = parser.fast_path
            assert (hook is not None) is use_native
            taken = [0]

            def counted(*args: Any) -> Any:
                assert hook is not None
                result = hook(*args)
                taken[0] += result is not None
                return result

            if hook is not None:
                parser._fast = counted  # type: ignore[attr-defined]
            summary = ingestor.ingest_file(str(path))
            platform.events.refresh()
            events = {e["event"]["id"]: e for e in platform.events.get(summary.new_event_ids)}
            with platform.db.session() as s:
                health = {h.source: h for h in ingest_health(s)}[str(path)]
        finally:
            platform.close()
    finally:
        if old is None:
            os.environ.pop("VIGIE_NATIVE", None)
        else:
            os.environ["VIGIE_NATIVE"] = old
    for event in events.values():
        event["event"].pop("ingested")  # the time of the run
    return events, summary, taken[0], health.newest_event_at


@pytest.mark.parametrize("static", [None, {"observer.name": "sensor-1"}, {"host.name": "sensor-1"}])
def test_ingestor_stores_the_same_events_with_and_without_native(settings: Settings, eve_file: Path,
                                                                  static: dict[str, str] | None) -> None:
    slow, slow_summary, none_taken, slow_newest = _ingest(settings, eve_file, "python", False, static)
    quick, quick_summary, taken, quick_newest = _ingest(settings, eve_file, "native", True, static)
    assert none_taken == 0
    # a static field under host.* changes what _finalize adds (related.*): the fast path stays off
    assert taken == 0 if static and "host.name" in static else taken >= 600
    assert len(slow) >= 600
    assert slow.keys() == quick.keys()
    first = eve_file.read_text(encoding="utf-8").splitlines()[0]
    assert sum(e["event"]["original"] == first for e in quick.values()) == 2  # the line and its repetition
    for key, event in slow.items():
        assert same(event, quick[key]) is None, same(event, quick[key])
    assert slow_summary.dead_letters == quick_summary.dead_letters
    assert slow_summary.dead_lettered >= 2 and slow_summary.skipped == quick_summary.skipped == 1
    # ingest health's event lag starts from the newest @timestamp, whichever path took the lines
    newest = max(parse_ts(e["@timestamp"]) for e in slow.values())
    assert slow_newest == quick_newest == newest

