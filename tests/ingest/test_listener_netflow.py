"""The NetFlow/IPFIX collector with real UDP traffic on 127.0.0.1: v9 data sent before its template,
v5 and IPFIX datagrams, and undecodable ones, end up as ECS events or dead letters."""

from __future__ import annotations

import socket
import struct

import netflow_packets as nf
from listener_support import dead_letters, events, net_platform, start, wait_for

from cert.pipeline.listeners import Endpoint
from cert.runtime.platform import Platform

__all__ = ["net_platform"]
LOOPBACK = Endpoint("127.0.0.1", 0)


def test_v5_v9_and_ipfix_datagrams_become_flow_events(net_platform: Platform) -> None:
    listener, bound = start(net_platform, "netflow", udp=(LOOPBACK,))
    v9_data = nf.flowset(256, b"".join(nf.v9_flow(f"10.20.0.{i}", "203.0.113.80", 40000 + i, 443)
                                       for i in range(1, 6)))
    ipfix_template = nf.ipfix_template(300, [nf.ie(8, 4), nf.ie(12, 4), nf.ie(7, 2), nf.ie(11, 2), nf.ie(4, 1),
                                             nf.ie(1, 8), nf.ie(2, 8)])
    ipfix_flow = nf.ip4("10.30.0.1") + nf.ip4("192.0.2.53") + struct.pack(">HHBQQ", 5353, 53, 17, 76, 1)
    datagrams = [
        nf.v9([v9_data], sequence=1),  # data first: held until the template arrives
        nf.v9([nf.flowset(0, nf.v9_template(256, nf.V9_FLOW_FIELDS))], sequence=2),
        nf.v5([nf.v5_record("10.40.0.1", "198.51.100.22", 51515, 22)], sequence=9),
        nf.ipfix([nf.flowset(2, ipfix_template), nf.flowset(300, ipfix_flow)]),
        b"\x00\x07 not netflow at all",
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, bound["udp"])
    try:
        assert wait_for(lambda: len(events(net_platform)) == 7 and len(dead_letters(net_platform)) == 1)
    finally:
        stats = listener.stop()
    flows = events(net_platform, event__dataset="netflow.log")
    assert len(flows) == 7 and stats.ingested == 7
    by_source = {e["source"]["ip"]: e for e in flows}
    assert set(by_source) == {f"10.20.0.{i}" for i in range(1, 6)} | {"10.40.0.1", "10.30.0.1"}
    ssh = by_source["10.40.0.1"]
    assert ssh["destination"]["port"] == 22 and ssh["network"]["transport"] == "tcp"
    assert ssh["observer"]["ip"] == "127.0.0.1" and ssh["netflow"]["exporter"]["version"] == 5
    assert ssh["event"]["category"] == ["network"] and ssh["event"]["type"] == ["connection"]
    assert "203.0.113.80" in by_source["10.20.0.3"]["related"]["ip"]
    assert by_source["10.30.0.1"]["network"]["transport"] == "udp" and by_source["10.30.0.1"]["source"]["bytes"] == 76
    [letter] = dead_letters(net_platform)
    assert letter.source == "netflow://127.0.0.1" and letter.parser == "netflow"
    assert letter.reason == "unsupported NetFlow version 7 (Vigie reads 5, 9 and IPFIX 10)"
    assert letter.raw == datagrams[-1]


def test_data_whose_template_never_comes_is_dead_lettered(net_platform: Platform) -> None:
    listener, bound = start(net_platform, "netflow", udp=(LOOPBACK,))
    listener.decoder.hold_seconds = 0.3  # type: ignore[attr-defined]
    orphan = nf.v9([nf.flowset(999, b"\x00" * 20)], sequence=77)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(orphan, bound["udp"])
    try:
        assert wait_for(lambda: len(dead_letters(net_platform)) == 1)
    finally:
        listener.stop()
    [letter] = dead_letters(net_platform)
    assert letter.reason.startswith("no template 999 from exporter 127.0.0.1 (source id 7; waited 0.3 s")
    assert letter.raw == orphan and letter.position == "seq 77 set 0"
    assert events(net_platform) == []
