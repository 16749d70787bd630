"""Inputs the atheris fuzzer (``fuzz/parsers.py``) found, each with the behaviour it broke."""

from __future__ import annotations

import struct
from pathlib import Path

import netflow_packets as nf
import orjson
import pytest

from cert.core.event_store import EventQuery
from cert.core.parser import ParseError, parsers
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import Ingestor, finalize
from cert.runtime.platform import Platform
from ingest.netflow.decoder import NetflowDecoder

load_plugins(["ingest.parsers"])


def test_a_structured_data_name_with_an_undecodable_byte_is_stored(ingest_platform: Platform, tmp_path: Path) -> None:
    """RFC 5424 SD-PARAM names come from the input: a Latin-1 byte in one (kept as a surrogate)
    made a dictionary key the stores could not serialise, and the line was dead-lettered with
    "store: cannot store the event"."""
    raw = (b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
           b'[exampleSDID@32473 iut="3" eventSource="Application"][examplePriority@32473 cla\x84s="high"]')
    line = raw.decode("utf-8", "surrogateescape")
    parser = parsers.get("syslog")()
    event = finalize(parser.parse(line) or {}, parser, line, "fuzz.log")
    assert b"cla\\\\x84s" in orjson.dumps(event)

    path = tmp_path / "sd.log"
    path.write_bytes(raw + b"\n")
    summary = Ingestor(ingest_platform, "syslog").ingest_file(str(path))
    assert (summary.ingested, summary.dead_lettered) == (1, 0), summary.errors
    ingest_platform.events.refresh()
    [stored] = ingest_platform.events.search(EventQuery(limit=10))
    assert stored["log"]["syslog"]["structured_data"]["examplePriority@32473"] == {"cla\\x84s": "high"}
    assert stored["event"]["original"] == line.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def test_a_protocol_field_wider_than_one_octet_still_makes_a_flow_event() -> None:
    """A NetFlow v9 template may give protocolIdentifier two octets: 512 broke the Community ID
    (``bytes([proto])``) and the record the decoder produced was refused by the netflow parser."""
    template = nf.flowset(0, nf.v9_template(256, [(8, 4), (12, 4), (7, 2), (11, 2), (4, 2)]))
    data = nf.flowset(256, nf.ip4("10.20.0.1") + nf.ip4("203.0.113.80") + struct.pack(">HHH", 40001, 443, 512))
    result = NetflowDecoder().decode(nf.v9([template, data]), ("192.0.2.10", 2055))
    assert result.errors == []
    [record] = result.records
    parser = parsers.get("netflow")()
    event = parser.parse(record.to_line())
    assert event is not None
    assert event["network"]["iana_number"] == "512" and "community_id" not in event["network"]
    assert event["source"]["ip"] == "10.20.0.1" and event["destination"]["port"] == 443


def test_a_zeek_count_beyond_64_bits_is_a_parse_error_not_an_unstorable_event() -> None:
    """A Zeek count is an unsigned 64-bit number: a longer one made an event no store can write."""
    parser = parsers.get("zeek")().for_source("dns.log")
    header = ["#separator \\x09", "#path\tdns", "#fields\tts\tuid\tqtype\tquery", "#types\ttime\tstring\tcount\tstring"]
    for line in header:
        assert parser.parse(line) is None
    ok = parser.parse("1521911725.863833\tC6HBWwk6GBlMxCS6a\t18446744073709551615\twww.google.com")
    assert ok is not None and orjson.dumps(ok)
    with pytest.raises(ParseError, match=r"'qtype': '28888888888888888888888.*' is not a Zeek count"):
        parser.parse("1521911725.863833\tC6HBWwk6GBlMxCS6a\t" + "2" + "8" * 60 + "\twww.google.com")


def test_a_flow_record_spanning_centuries_has_no_duration_the_stores_cannot_hold() -> None:
    """A replayed record starting in the year 241: its duration in nanoseconds exceeded 64 bits."""
    parser = parsers.get("netflow")()
    record = {"format": "vigie.netflow/1", "type": "flow", "template_id": 256, "position": "seq 1 set 1 rec 0",
              "exporter": {"address": "192.0.2.1:2055", "ip": "192.0.2.1", "version": 9,
                           "timestamp": "2023-11-14T22:13:20.000000Z", "sequence": 1, "source_id": 7},
              "fields": {"sourceIPv4Address": "10.9.8.7", "destinationIPv4Address": "203.0.113.5",
                         "sourceTransportPort": 40000, "destinationTransportPort": 22, "protocolIdentifier": 6},
              "start": "0241-11-14T22:13:10.000000Z", "end": "2023-11-14T22:13:18.000000Z"}
    event = parser.parse(orjson.dumps(record).decode())
    assert event is not None and "duration" not in event["event"]
    assert event["event"]["start"].startswith("0241-11-14") and orjson.dumps(event)
    record["start"] = "2023-11-14T22:13:10.000000Z"
    again = parser.parse(orjson.dumps(record).decode())
    assert again is not None and again["event"]["duration"] == 8 * 10**9


@pytest.mark.parametrize(("parser_name", "line", "expected"), [
    ('suricata.eve', '{"timestamp":"0026-11-21T10:05:00.000000+0000","event_type":"flow","src_ip":"198.78.100.80",'
     '"src_port":80,"dest_ip":"192.0.2.10","dest_port":51800,"proto":"TCP"}', "0026-11-21T10:05:00.000Z"),
    ("zeek", '{"_path": "conn", "ts": -60000000000.5, "uid": "C1", "id.orig_h": "10.0.0.1"}',
     "0068-09-03T13:19:59.500Z"),
])
def test_years_before_1000_keep_four_digits(parser_name: str, line: str, expected: str) -> None:
    """strftime's %Y writes the year 26 as "26": the @timestamp was then no ISO 8601, and finalize
    let a ValueError out instead of a ParseError."""
    parser = parsers.get(parser_name)()
    event = parser.parse(line)
    assert event is not None and event["@timestamp"] == expected
    assert finalize(event, parser, line, "fuzz.log")["@timestamp"] == expected


def test_zeek_counts_that_add_up_beyond_64_bits_leave_out_the_total() -> None:
    """Two byte counts each within 64 bits gave a ``network.bytes`` no store can write, and a
    duration of 1e300 seconds a number of nanoseconds beyond 64 bits."""
    parser = parsers.get("zeek")()
    big = (1 << 64) - 1
    line = orjson.dumps({"_path": "conn", "ts": 1521911725.8, "uid": "C1", "id.orig_h": "10.0.0.1",
                         "id.orig_p": 40000, "id.resp_h": "10.0.0.2", "id.resp_p": 80, "proto": "tcp",
                         "orig_ip_bytes": big, "resp_ip_bytes": big, "orig_pkts": 2, "resp_pkts": 3,
                         "duration": 1e300}).decode()
    event = parser.parse(line)
    assert event is not None and orjson.dumps(finalize(event, parser, line, "conn.log"))
    assert event["source"]["bytes"] == big and "bytes" not in event["network"]
    assert event["network"]["packets"] == 5 and "duration" not in event["event"]
