"""Dead letters of the network listeners count like those of ``cert ingest``: malformed datagrams
and frames sent to real syslog (UDP, TCP) and NetFlow listeners on 127.0.0.1 land in the
dead-letter store AND in the per-source and per-reason counters that the console's ingest health
page and ``GET /api/v1/ingest/health`` read, the same oversized message counted under one reason
whatever its size."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import netflow_packets as nf
from listener_support import dead_letters, events, net_platform, start, wait_for
from sqlalchemy import select
from support import login

from cert.accounts.users import create_user
from cert.pipeline.health import ingest_health
from cert.pipeline.listeners import Endpoint
from cert.runtime.platform import Platform
from cert.storage.models.ingest import DeadLetterCount, IngestSource
from web.app import create_app

__all__ = ["net_platform"]
LOOPBACK = Endpoint("127.0.0.1", 0)
OVERSIZED = "message of N bytes exceeds the limit of N bytes"
NOT_SYSLOG = "not a syslog line (no RFC 5424 or RFC 3164 header)"


def counters(p: Platform) -> dict[tuple[str, str], dict[str, Any]]:
    """(source, parser) -> lines, events, dead letters, and the counts per reason."""
    with p.db.session() as s:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for src in s.scalars(select(IngestSource)):
            reasons = {c.reason: c.count for c in s.scalars(
                select(DeadLetterCount).where(DeadLetterCount.source_id == src.id))}
            out[(src.source, src.parser)] = {"lines": src.lines, "events": src.events,
                                             "dead_letters": src.dead_letters, "reasons": reasons}
    return out


def sshd_line(corpora: Path) -> str:
    text = (corpora / "linux" / "fail2ban-samples" / "sshd").read_text(encoding="utf-8", errors="replace")
    return next(line for line in text.splitlines() if "sshd[" in line and "Failed password" in line)


def test_syslog_dead_letters_are_counted_per_source_and_reason(net_platform: Platform, corpora: Path) -> None:
    listener, bound = start(net_platform, "syslog", udp=(LOOPBACK,), tcp=(LOOPBACK,), max_message_bytes=480)
    good = sshd_line(corpora)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(good.encode(), bound["udp"])
        sock.sendto(b"hello there", bound["udp"])  # the parser refuses it
        sock.sendto(b"\xff\xfe<38>\x00binary", bound["udp"])
        sock.sendto(b"<38>Feb 25 14:34:10 belka app: " + b"y" * 1000, bound["udp"])  # framing: too long
        sock.sendto(b"<38>Feb 25 14:34:10 belka app: " + b"z" * 2000, bound["udp"])
    with socket.create_connection(bound["tcp"]) as conn:
        conn.sendall(b"600 " + b"a" * 600 + b"700 " + b"b" * 700 + b"5 hello")
    try:
        assert wait_for(lambda: len(dead_letters(net_platform)) >= 7 and len(events(net_platform)) == 1)
    finally:
        stats = listener.stop()

    letters = {(d.source, d.reason) for d in dead_letters(net_platform)}
    assert ("udp://127.0.0.1", "message of 1031 bytes exceeds the limit of 480 bytes") in letters
    assert ("udp://127.0.0.1", "message of 2031 bytes exceeds the limit of 480 bytes") in letters
    assert ("tcp://127.0.0.1", "octet-counted frame of 600 bytes exceeds the limit of 480 bytes") in letters
    got = counters(net_platform)
    udp, tcp = got[("udp://127.0.0.1", "syslog")], got[("tcp://127.0.0.1", "syslog")]
    assert udp == {"lines": 5, "events": 1, "dead_letters": 4, "reasons": {NOT_SYSLOG: 2, OVERSIZED: 2}}
    assert tcp == {"lines": 3, "events": 0, "dead_letters": 3, "reasons": {
        "octet-counted frame of N bytes exceeds the limit of N bytes": 2, NOT_SYSLOG: 1}}
    assert stats.dead_letters == {NOT_SYSLOG: 3, OVERSIZED: 2,
                                  "octet-counted frame of N bytes exceeds the limit of N bytes": 2}
    assert stats.received == 8 and stats.ingested == 1

    with net_platform.db.session() as s:
        health = {h.source: h for h in ingest_health(s)}
    assert health["udp://127.0.0.1"].status == "errors" and health["udp://127.0.0.1"].dead_letters_1h == 4
    top = health["tcp://127.0.0.1"].reasons[0]
    assert (top.reason, top.count) == ("octet-counted frame of N bytes exceeds the limit of N bytes", 2)
    # what an analyst sees: the ingest health API of the console
    with net_platform.db.session() as s:
        create_user(s, "analyste", "analyste-password-1", "analyst")
    app = create_app(platform=net_platform)
    app.config["TESTING"] = True
    client = app.test_client()
    assert login(client, "analyste", "analyste-password-1").status_code == 302
    data = client.get("/api/v1/ingest/health").get_json()
    by_source = {d["source"]: d for d in data["sources"]}
    assert by_source["udp://127.0.0.1"]["dead_letters"] == 4 and by_source["udp://127.0.0.1"]["events"] == 1
    assert {r["reason"]: r["count"] for r in by_source["udp://127.0.0.1"]["dead_letter_reasons"]} == {
        NOT_SYSLOG: 2, OVERSIZED: 2}
    assert by_source["tcp://127.0.0.1"]["status"] == "errors"


def test_netflow_dead_letters_are_counted_per_exporter_and_reason(net_platform: Platform) -> None:
    listener, bound = start(net_platform, "netflow", udp=(LOOPBACK,))
    v5 = nf.v5([nf.v5_record("10.40.0.1", "198.51.100.22", 51515, 22)], sequence=9)
    template = nf.flowset(2, nf.ipfix_template(400, [nf.ie(8, 4), nf.ie(82, 65535)]))  # address, interface name
    named = nf.ip4("10.30.0.1") + b"\x04eth0"
    cut = nf.ip4("10.30.0.2") + b"\x09ab"  # the name announces 9 bytes, 2 follow
    datagrams = [
        v5,
        b"\x00\x07 not netflow at all",
        b"\x00\x07 nor this",
        v5[:10],  # truncated v5 headers of different lengths: one reason
        v5[:20],
        nf.ipfix([template, nf.flowset(400, named + cut)], sequence=5),  # a flow, then a record cut short
        nf.ipfix([nf.flowset(400, named + cut)], sequence=6),
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, bound["udp"])
    try:
        assert wait_for(lambda: len(dead_letters(net_platform)) >= 4 and len(events(net_platform)) >= 3)
    finally:
        stats = listener.stop()
    letters = dead_letters(net_platform)
    assert {d.source for d in letters} == {"netflow://127.0.0.1"}
    assert sorted(d.reason for d in letters if "v5" in d.reason) == [
        "truncated NetFlow v5 header: 10 bytes, need 24", "truncated NetFlow v5 header: 20 bytes, need 24"]
    got = counters(net_platform)[("netflow://127.0.0.1", "netflow")]
    assert got["events"] == 3 and got["dead_letters"] == len(letters) == stats.dead_lettered
    assert got["reasons"]["unsupported NetFlow version 7 (Vigie reads 5, 9 and IPFIX 10)"] == 2
    assert got["reasons"]["truncated NetFlow v5 header: N bytes, need 24"] == 2
    assert got["reasons"]["record N: field runs past the end of the set"] == 2  # whatever the datagram
    assert sum(got["reasons"].values()) == len(letters)
    assert got["lines"] == 3 + len(letters)
    with net_platform.db.session() as s:
        [health] = ingest_health(s)
    assert health.status == "errors" and health.dead_letters_1h == len(letters) and health.events == 3
