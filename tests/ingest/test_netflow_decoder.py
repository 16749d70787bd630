"""NetFlow v5, v9 and IPFIX decoding, from datagrams built byte by byte (netflow_packets.py), through
the ``netflow`` parser to ECS. No capture of real NetFlow traffic exists in ../shared/corpora (checked:
no pcap, NetFlow or IPFIX file there), so the datagrams follow the RFC layouts."""

from __future__ import annotations

import struct
from typing import Any, ClassVar

import netflow_packets as nf
import pytest
from harness import ParserCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cert.core.ecs import get
from cert.core.parser import ParseError, parsers
from ingest.netflow.decoder import NetflowDecoder
from ingest.netflow.records import DecodeResult

EXPORTER = ("192.0.2.1", 2055)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ecs(result: DecodeResult) -> list[dict[str, Any]]:
    parser = parsers.get("netflow")()
    events = [parser.parse(r.to_line()) for r in result.records]
    assert all(e is not None for e in events)
    return events  # type: ignore[return-value]


# ---- NetFlow v5 ----
def test_v5_records_map_to_ecs_with_times_from_sysuptime() -> None:
    datagram = nf.v5([nf.v5_record("10.1.2.3", "198.51.100.7", 51000, 443),
                      nf.v5_record("10.1.2.4", "198.51.100.8", 53000, 53, proto=17, octets=120, packets=2)])
    result = NetflowDecoder().decode(datagram, EXPORTER)
    assert not result.errors and len(result.records) == 2
    first, second = ecs(result)
    assert first["@timestamp"] == "2023-11-14T22:13:20.500Z"  # unix_secs + unix_nsecs
    assert (get(first, "source.ip"), get(first, "source.port")) == ("10.1.2.3", 51000)
    assert (get(first, "destination.ip"), get(first, "destination.port")) == ("198.51.100.7", 443)
    assert get(first, "network.transport") == "tcp" and get(first, "network.iana_number") == "6"
    assert (get(first, "source.bytes"), get(first, "source.packets")) == (840, 10)
    assert (get(first, "network.bytes"), get(first, "network.packets")) == (840, 10)
    assert get(first, "event.start") == "2023-11-14T22:13:15.500Z"  # 5 s before export on the uptime clock
    assert get(first, "event.end") == "2023-11-14T22:13:19.500Z"
    assert get(first, "event.duration") == 4_000_000_000
    assert get(first, "event.kind") == "event" and get(first, "event.category") == ["network"]
    assert get(first, "event.type") == ["connection"]
    assert get(first, "observer.ip") == "192.0.2.1"
    assert get(first, "netflow.exporter.address") == "192.0.2.1:2055"
    assert get(first, "netflow.exporter.version") == 5 and get(first, "netflow.exporter.engine_id") == 2
    assert get(first, "netflow.tcp_control_bits") == 0x1B and get(first, "netflow.bgp_source_as_number") == 64512
    assert get(first, "netflow.sampling_interval") == 100
    assert get(second, "network.transport") == "udp" and get(second, "destination.port") == 53


def test_v5_truncated_datagram_is_an_error_not_an_exception() -> None:
    datagram = nf.v5([nf.v5_record("10.1.2.3", "198.51.100.7", 1, 2)] * 2, count=3)
    result = NetflowDecoder().decode(datagram, EXPORTER)
    assert result.records == []
    assert "announces 3 records" in result.errors[0].reason and result.errors[0].raw == datagram


# ---- NetFlow v9 ----
def test_v9_template_then_data_in_one_datagram_and_later_data_alone() -> None:
    decoder = NetflowDecoder()
    template = nf.flowset(0, nf.v9_template(256, nf.V9_FLOW_FIELDS))
    data = nf.flowset(256, nf.v9_flow("10.9.8.7", "203.0.113.5", 40000, 22) + nf.v9_flow("10.9.8.8", "203.0.113.6",
                                                                                          40001, 22))
    first = decoder.decode(nf.v9([template, data]), EXPORTER)
    assert not first.errors and len(first.records) == 2  # the 2 x 29-byte records end with 3 bytes of padding
    later = decoder.decode(nf.v9([nf.flowset(256, nf.v9_flow("10.9.8.9", "203.0.113.7", 40002, 3389))],
                                 sequence=2), EXPORTER)
    assert not later.errors
    [event] = ecs(later)
    assert (get(event, "source.ip"), get(event, "destination.port")) == ("10.9.8.9", 3389)
    assert get(event, "event.start") == "2023-11-14T22:13:10.000Z" and get(event, "event.end") == "2023-11-14T22:13:18.000Z"
    assert get(event, "netflow.exporter.source_id") == 7 and get(event, "netflow.exporter.uptime_millis") == nf.UPTIME_MS
    assert get(event, "network.direction") == "ingress" and get(event, "netflow.ingress_interface") == 1


def test_v9_templates_are_per_exporter_and_source_id() -> None:
    decoder = NetflowDecoder(hold_seconds=0)
    decoder.decode(nf.v9([nf.flowset(0, nf.v9_template(256, nf.V9_FLOW_FIELDS))]), EXPORTER)
    data = nf.flowset(256, nf.v9_flow("10.0.0.1", "10.0.0.2", 1, 2))
    other_exporter = decoder.decode(nf.v9([data]), ("192.0.2.99", 2055))
    other_source = decoder.decode(nf.v9([data], source_id=8), EXPORTER)
    for result in (other_exporter, other_source):
        assert result.records == [] and result.errors[0].reason.startswith("no template 256")
    assert len(decoder.decode(nf.v9([data]), EXPORTER).records) == 1


def test_v9_data_before_its_template_is_held_then_decoded() -> None:
    decoder = NetflowDecoder()
    early = decoder.decode(nf.v9([nf.flowset(256, nf.v9_flow("10.0.0.1", "10.0.0.2", 1000, 80))], sequence=5),
                           EXPORTER)
    assert early.records == [] and early.errors == [] and early.held == 1
    late = decoder.decode(nf.v9([nf.flowset(0, nf.v9_template(256, nf.V9_FLOW_FIELDS))], sequence=6), EXPORTER)
    [record] = late.records
    assert record.header.sequence == 5 and record.fields["destinationTransportPort"] == 80
    assert decoder.held == 0


def test_v9_data_without_template_is_dead_lettered_after_the_hold_time() -> None:
    clock = Clock()
    decoder = NetflowDecoder(hold_seconds=30, clock=clock)
    datagram = nf.v9([nf.flowset(300, b"\x01" * 40)])
    assert decoder.decode(datagram, EXPORTER).held == 1
    clock.now += 31
    [error] = decoder.expire()
    assert error.reason == "no template 300 from exporter 192.0.2.1 (source id 7; waited 30 s)"
    assert error.raw == datagram


def test_v9_options_template_and_options_data() -> None:
    scope = [(1, 4)]  # System scope, RFC 3954 section 6.1
    options = [(34, 4), (35, 1), (36, 2)]  # samplingInterval, samplingAlgorithm, flowActiveTimeout
    datagram = nf.v9([nf.flowset(1, nf.v9_options_template(260, scope, options)),
                      nf.flowset(260, struct.pack(">IIBH", 0x0A000001, 1000, 2, 60))])
    [record] = NetflowDecoder().decode(datagram, EXPORTER).records
    assert record.kind == "options" and record.scope == {"system": 0x0A000001}
    [event] = ecs(DecodeResult([record]))
    assert get(event, "event.action") == "netflow_options" and get(event, "netflow.type") == "netflow_options"
    assert get(event, "netflow.options.sampling_interval") == 1000
    assert get(event, "netflow.options.flow_active_timeout") == 60 and get(event, "netflow.scope.system") == 0x0A000001
    assert get(event, "source.ip") is None


# ---- IPFIX ----
IPFIX_FIELDS = [nf.ie(27, 16), nf.ie(28, 16), nf.ie(7, 2), nf.ie(11, 2), nf.ie(4, 1), nf.ie(1, 8), nf.ie(2, 8),
                nf.ie(1, 8, enterprise=29305), nf.ie(152, 8), nf.ie(153, 8), nf.ie(12345, 4, enterprise=9),
                nf.ie(96, 65535), nf.ie(56, 6)]


def ipfix_flow(app: bytes) -> bytes:
    return (nf.ip6("2001:db8::10") + nf.ip6("2001:db8:1::53") + struct.pack(">HHB", 5353, 53, 17)
            + struct.pack(">QQQ", 300, 3, 900)
            + struct.pack(">QQ", nf.EXPORT_SECS * 1000 - 2500, nf.EXPORT_SECS * 1000 - 500)
            + b"\xde\xad\xbe\xef" + nf.varlen(app) + bytes.fromhex("0011223344ff"))


def test_ipfix_template_options_template_variable_length_and_enterprise_fields() -> None:
    options = nf.ipfix_options_template(257, [nf.ie(149, 4)], [nf.ie(160, 8), nf.ie(300, 65535)])
    options_data = struct.pack(">IQ", 42, nf.EXPORT_SECS * 1000 - nf.UPTIME_MS) + nf.varlen(b"core-router")
    long_name = b"x" * 300  # a variable-length field over 254 bytes uses the 3-byte length form
    datagram = nf.ipfix([nf.flowset(2, nf.ipfix_template(256, IPFIX_FIELDS)), nf.flowset(3, options),
                         nf.flowset(257, options_data),
                         nf.flowset(256, ipfix_flow(b"dns") + ipfix_flow(long_name))])
    result = NetflowDecoder().decode(datagram, EXPORTER)
    assert not result.errors
    kinds = [r.kind for r in result.records]
    assert kinds == ["options", "flow", "flow"]
    options_event, flow, long_flow = ecs(result)
    assert get(options_event, "netflow.scope.observation_domain_id") == 42
    assert get(options_event, "netflow.options.observation_domain_name") == "core-router"
    assert get(flow, "network.type") == "ipv6" and get(flow, "source.ip") == "2001:db8::10"
    assert get(flow, "destination.ip") == "2001:db8:1::53" and get(flow, "network.transport") == "udp"
    assert (get(flow, "source.bytes"), get(flow, "destination.bytes"), get(flow, "network.bytes")) == (300, 900, 1200)
    assert get(flow, "netflow.reverse_octet_delta_count") == 900
    assert get(flow, "netflow.application_name") == "dns" and get(long_flow, "netflow.application_name") == "x" * 300
    assert get(flow, "source.mac") == "00-11-22-33-44-FF"
    assert get(flow, "event.start") == "2023-11-14T22:13:17.500Z" and get(flow, "event.end") == "2023-11-14T22:13:19.500Z"
    assert get(flow, "netflow.exporter.observation_domain_id") == 42
    assert "12345" not in str(flow["netflow"])  # the unknown enterprise element is skipped
    assert get(flow, "network.community_id", "").startswith("1:")


def test_ipfix_sysuptime_times_use_the_exporters_init_time_from_options() -> None:
    decoder = NetflowDecoder()
    options = nf.ipfix_options_template(257, [nf.ie(149, 4)], [nf.ie(160, 8)])
    decoder.decode(nf.ipfix([nf.flowset(3, options), nf.flowset(257, struct.pack(
        ">IQ", 42, nf.EXPORT_SECS * 1000 - nf.UPTIME_MS))]), EXPORTER)
    template = nf.ipfix_template(258, [nf.ie(8, 4), nf.ie(12, 4), nf.ie(4, 1), nf.ie(22, 4), nf.ie(21, 4)])
    flow = nf.ip4("10.0.0.1") + nf.ip4("10.0.0.2") + struct.pack(">BII", 1, nf.UPTIME_MS - 4000, nf.UPTIME_MS - 1000)
    [event] = ecs(decoder.decode(nf.ipfix([nf.flowset(2, template), nf.flowset(258, flow)], sequence=2), EXPORTER))
    assert get(event, "event.start") == "2023-11-14T22:13:16.000Z" and get(event, "network.transport") == "icmp"


def test_ipfix_template_withdrawal_forgets_the_template() -> None:
    decoder = NetflowDecoder(hold_seconds=0)
    template = nf.ipfix_template(256, [nf.ie(8, 4), nf.ie(12, 4)])
    data = nf.flowset(256, nf.ip4("10.0.0.1") + nf.ip4("10.0.0.2"))
    assert len(decoder.decode(nf.ipfix([nf.flowset(2, template), data]), EXPORTER).records) == 1
    decoder.decode(nf.ipfix([nf.flowset(2, struct.pack(">HH", 256, 0))]), EXPORTER)
    assert decoder.decode(nf.ipfix([data]), EXPORTER).errors[0].reason.startswith("no template 256")


def test_a_bad_set_keeps_the_records_decoded_before_it() -> None:
    template = nf.flowset(2, nf.ipfix_template(256, [nf.ie(8, 4), nf.ie(12, 4)]))
    good = nf.flowset(256, nf.ip4("10.0.0.1") + nf.ip4("10.0.0.2"))
    bad = struct.pack(">HH", 256, 200) + b"\x00" * 8  # claims 200 bytes, has 12
    result = NetflowDecoder().decode(nf.ipfix([template, good, bad]), EXPORTER)
    assert len(result.records) == 1
    assert "has length 200, beyond the 12 bytes left" in result.errors[0].reason


MALFORMED: list[tuple[bytes, str]] = [
    (b"", "too short"),
    (b"\x00", "too short"),
    (struct.pack(">H", 7) + b"\x00" * 40, "unsupported NetFlow version 7"),
    (nf.v5([])[:10], "truncated NetFlow v5 header"),
    (nf.v9([])[:12], "truncated NetFlow v9 header"),
    (nf.ipfix([])[:12], "truncated IPFIX message header"),
    (nf.ipfix([], length=400), "IPFIX message length 400"),
    (nf.v9([nf.flowset(0, nf.v9_template(12, [(8, 4)]))]), "template id 12 is reserved"),
    (nf.v9([nf.flowset(0, struct.pack(">HH", 256, 5) + struct.pack(">HH", 8, 4))]), "truncated after 1 of 5"),
    (nf.v9([nf.flowset(1, struct.pack(">HHH", 300, 6, 4) + b"\x00" * 12)]), "not a multiple of 4"),
    (nf.v9([nf.flowset(0, nf.v9_template(256, [(8, 0)]))]), "empty records"),
    (nf.v9([nf.flowset(100, b"\x00" * 4)]), "reserved set id 100"),
    (nf.ipfix([nf.flowset(2, nf.ipfix_template(256, [nf.ie(96, 65535)])), nf.flowset(256, b"\xff\x01", pad_to=1)]),
     "truncated variable-length field"),
]


def test_malformed_datagrams_give_clear_errors() -> None:
    for datagram, reason in MALFORMED:
        result = NetflowDecoder(hold_seconds=0).decode(datagram, EXPORTER)
        assert any(reason in e.reason for e in result.errors), (datagram.hex(), [e.reason for e in result.errors])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_never_raise(datagram: bytes) -> None:
    result = NetflowDecoder().decode(datagram, EXPORTER)
    for record in result.records:
        parsers.get("netflow")().parse(record.to_line())


VALID = [
    nf.v5([nf.v5_record("10.1.2.3", "198.51.100.7", 51000, 443)]),
    nf.v9([nf.flowset(0, nf.v9_template(256, nf.V9_FLOW_FIELDS)),
           nf.flowset(256, nf.v9_flow("10.9.8.7", "203.0.113.5", 40000, 22))]),
    nf.ipfix([nf.flowset(2, nf.ipfix_template(256, IPFIX_FIELDS)), nf.flowset(256, ipfix_flow(b"dns"))]),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_datagrams_never_raise_and_decode_to_valid_events(data: st.DataObject) -> None:
    datagram = bytearray(data.draw(st.sampled_from(VALID)))
    for _ in range(data.draw(st.integers(1, 8))):
        datagram[data.draw(st.integers(0, len(datagram) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(datagram)))
    result = NetflowDecoder().decode(bytes(datagram[:cut]), EXPORTER)
    for record in result.records:
        assert parsers.get("netflow")().parse(record.to_line()) is not None


def _sample_line(datagram: bytes) -> str:
    return NetflowDecoder().decode(datagram, EXPORTER).records[0].to_line()


class TestNetflowParser(ParserCase):
    """Replaying decoded records from a file: ``cert ingest --parser netflow records.ndjson``."""

    parser_name = "netflow"
    samples: ClassVar[list[tuple[str, dict[str, Any]]]] = [
        (_sample_line(VALID[0]), {"source.ip": "10.1.2.3", "destination.port": 443, "network.transport": "tcp"}),
        (_sample_line(VALID[1]), {"source.ip": "10.9.8.7", "destination.port": 22, "netflow.exporter.version": 9}),
        (_sample_line(VALID[2]), {"source.ip": "2001:db8::10", "network.iana_number": "17"}),
    ]
    malformed: ClassVar[list[str]] = [
        "not json", "[1, 2]", '{"format": "other"}', '{"format": "vigie.netflow/1", "exporter": {}}',
        '{"format": "vigie.netflow/1", "exporter": {"ip": "192.0.2.1", "timestamp": "yesterday"}}',
    ]


def test_parser_refuses_a_record_with_a_bad_start() -> None:
    line = _sample_line(VALID[0]).replace('"start":"', '"start":"x')
    with pytest.raises(ParseError, match="bad value"):
        parsers.get("netflow")().parse(line)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(VALID), st.integers(0, 2000), st.integers(0, 255)), min_size=2,
                max_size=8))
def test_fuzz_one_decoder_fed_a_stream_of_damaged_datagrams(stream: list[tuple[bytes, int, int]]) -> None:
    """Template state carried from datagram to datagram survives whatever came before."""
    clock = Clock()
    decoder = NetflowDecoder(hold_seconds=1, clock=clock)
    for datagram, at, value in stream:
        damaged = bytearray(datagram)
        damaged[at % len(damaged)] = value
        for record in decoder.decode(bytes(damaged), EXPORTER).records:
            assert parsers.get("netflow")().parse(record.to_line()) is not None
        clock.now += 0.4
    clock.now += 5
    expired = decoder.expire()
    assert decoder.held == 0 and all(e.reason.startswith("no template") for e in expired)
