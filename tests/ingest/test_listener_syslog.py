"""The syslog listener, with real traffic on 127.0.0.1: real sshd lines (fail2ban's samples) sent
over UDP, TCP (both RFC 6587 framings) and TLS land in the embedded event store; bad input lands
in the dead-letter store with its reason."""

from __future__ import annotations

import contextlib
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from listener_support import dead_letters, events, net_platform, self_signed, start, wait_for

from cert.core.errors import InvalidInput
from cert.core.parser import ParseError, parsers
from cert.pipeline.listeners import Endpoint, ListenerConfig, listeners
from cert.runtime.platform import Platform

__all__ = ["net_platform"]
LOOPBACK = Endpoint("127.0.0.1", 0)


def sshd_lines(corpora: Path) -> list[str]:
    text = (corpora / "linux" / "fail2ban-samples" / "sshd").read_text(encoding="utf-8", errors="replace")
    return [line for line in text.splitlines() if "sshd[" in line and not line.startswith("#")]


def expected(lines: list[str]) -> tuple[list[str], int]:
    """What the syslog parser makes of these lines on its own: the lines stored (each message is
    an event, a line sent twice too), dead letters."""
    parser = parsers.get("syslog")()
    good: list[str] = []
    bad = 0
    for line in lines:
        try:
            if parser.parse(line) is not None:
                good.append(line)
        except ParseError:
            bad += 1
    return good, bad


def test_udp_datagrams_of_real_sshd_lines_are_stored(net_platform: Platform, corpora: Path) -> None:
    lines = [f"<38>{line}" if i % 2 else line for i, line in enumerate(sshd_lines(corpora))]
    good, bad = expected(lines)
    assert len(lines) >= 100 and len(good) >= 100
    listener, bound = start(net_platform, "syslog", udp=(LOOPBACK,))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for line in lines:
            sock.sendto(line.encode() + b"\n", bound["udp"])
        client_port = sock.getsockname()[1]
    try:
        assert wait_for(lambda: len(events(net_platform)) + len(dead_letters(net_platform)) >= len(good) + bad)
    finally:
        stats = listener.stop()
    stored = events(net_platform)
    assert len(stored) == len(good) and stats.dead_lettered == bad  # a line sent twice is two events
    assert len(set(good)) < len(good), "the samples repeat lines: each datagram is an event all the same"
    failed = [e for e in stored if e.get("event", {}).get("outcome") == "failure" and e.get("source", {}).get("ip")]
    assert failed, "no failed sshd login with a source address was stored"
    assert all(e["log"]["source"]["address"] == f"127.0.0.1:{client_port}" for e in stored)
    assert all("file" not in e["log"] for e in stored)  # a network source is not a file path


def test_tcp_mixed_framings_and_an_oversized_frame(net_platform: Platform, corpora: Path) -> None:
    lines = sshd_lines(corpora)[:40]
    good, bad = expected(lines)
    listener, bound = start(net_platform, "syslog", tcp=(LOOPBACK,), max_message_bytes=1024)
    stream = b""
    for i, line in enumerate(lines):
        message = f"<38>{line}".encode()
        stream += (str(len(message)).encode() + b" " + message) if i % 2 else message + b"\r\n"
        if i == 10:
            huge = b"<38>Feb 25 14:34:10 belka sshd[1]: " + b"x" * 5000
            stream += str(len(huge)).encode() + b" " + huge
    with socket.create_connection(bound["tcp"]) as conn:
        for at in range(0, len(stream), 777):  # chunks that cut frames anywhere
            conn.sendall(stream[at:at + 777])
    try:
        assert wait_for(lambda: len(events(net_platform)) >= len(good) and len(dead_letters(net_platform)) >= bad + 1)
    finally:
        stats = listener.stop()
    letters = dead_letters(net_platform)
    assert any(d.reason == "octet-counted frame of 5035 bytes exceeds the limit of 1024 bytes" for d in letters)
    assert {d.source for d in letters} == {"tcp://127.0.0.1"}
    assert stats.connections == 1 and len(events(net_platform)) == len(good)


def test_tls_messages_land_and_a_plain_client_is_refused(net_platform: Platform, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    listener, bound = start(net_platform, "syslog", tls=(LOOPBACK,), tls_cert=cert, tls_key=key)
    try:
        with socket.create_connection(bound["tls"]) as raw:  # no TLS: the handshake fails, nothing is stored
            raw.sendall(b"<38>Feb 25 14:34:10 belka sshd[1]: Failed password for root from 198.51.100.1 port 1 ssh2\n")
            raw.settimeout(5)
            with contextlib.suppress(ConnectionResetError):
                assert raw.recv(100) == b""  # the server hung up
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        with socket.create_connection(bound["tls"]) as raw, ctx.wrap_socket(raw) as conn:
            message = b"<38>Feb 25 14:34:11 belka sshd[2]: Failed password for root from 198.51.100.2 port 2 ssh2"
            conn.sendall(str(len(message)).encode() + b" " + message)
        assert wait_for(lambda: len(events(net_platform)) == 1)
    finally:
        stats = listener.stop()
    [event] = events(net_platform)
    assert event["source"]["ip"] == "198.51.100.2" and event["log"]["syslog"]["hostname"] == "belka"
    assert stats.refused == 1


def test_a_lone_message_is_flushed_by_time_not_by_batch_size(net_platform: Platform) -> None:
    batches: list[list[dict[str, Any]]] = []  # what ``cert listen --detect`` hands the detectors
    listener, bound = start(net_platform, "syslog", on_batch=batches.append, udp=(LOOPBACK,), batch_size=10_000,
                            flush_seconds=0.2)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"<38>Feb 25 14:34:10 belka sshd[3]: Accepted publickey for ops from 192.0.2.10 port 5 ssh2",
                        bound["udp"])
        assert wait_for(lambda: len(events(net_platform)) == 1, timeout=5)  # the listener is still running
        assert wait_for(lambda: len(batches) == 1, timeout=2)
    finally:
        listener.stop()
    assert batches[0][0]["user"]["name"] == "ops" and batches[0][0]["event"]["outcome"] == "success"


def test_bad_datagrams_are_dead_lettered_with_their_reason(net_platform: Platform) -> None:
    listener, bound = start(net_platform, "syslog", udp=(LOOPBACK,), max_message_bytes=480)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"hello there", bound["udp"])
        sock.sendto(b"<38>Feb 25 14:34:10 belka app: " + b"y" * 1000, bound["udp"])
        sock.sendto(b"\xff\xfe<38>\x00binary", bound["udp"])
    try:
        assert wait_for(lambda: len(dead_letters(net_platform)) == 3)
    finally:
        listener.stop()
    reasons = sorted(d.reason for d in dead_letters(net_platform))
    assert "message of 1031 bytes exceeds the limit of 480 bytes" in reasons
    assert sum("syslog" in r for r in reasons) == 2, reasons
    assert events(net_platform) == []


def test_a_listener_refuses_transports_it_does_not_speak(net_platform: Platform) -> None:
    with pytest.raises(InvalidInput, match="does not speak tcp"):
        listeners.get("netflow")(net_platform, ListenerConfig(tcp=(LOOPBACK,)))
    with pytest.raises(InvalidInput, match="--tls needs --tls-cert"):
        ListenerConfig(tls=(LOOPBACK,))
    with pytest.raises(InvalidInput, match="expected HOST:PORT"):
        Endpoint.parse("5514")
    assert Endpoint.parse("[::1]:5514") == Endpoint("::1", 5514)
