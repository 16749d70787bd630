"""Event identity (``cert.core.ecs.event_id``, decision 0007): a record's id covers where it was
read and its position there, so identical lines at two places are two events, and reading the
same records again (a second ``cert ingest``, with or without its checkpoint, stdin piped again,
a spool replayed twice) stores nothing twice. Against both stores: embedded SQLite and a real
Elasticsearch node.

The sshd lines are OpenSSH's own failure message (``auth.c``: "Failed %s for %s%.100s from %.200s
port %d ssh2", as in fail2ban's sshd samples of the corpora) under an RFC 3339 syslog header
(rsyslog's ``RSYSLOG_FileFormat`` template). sshd allows several password attempts on one
connection (``MaxAuthTries``), logged from one pid and one client port: within one second, a
password-guessing tool makes identical lines."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import netflow_packets as nf
import pytest
from ingest_support import cert, cert_env
from listener_support import LOOPBACK, events, net_platform, start, wait_for

from cert.core.config import Settings
from cert.core.ecs import event_id
from cert.core.event_store import EventQuery
from cert.core.lines import FilePosition, FileReader, RejectedLine, record_identity
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import Ingestor
from cert.runtime.platform import Platform
from cert.storage.events.elasticsearch import ElasticsearchEventStore

__all__ = ["net_platform"]

FAILURE = ("2026-11-20T08:10:03.120+00:00 etatcivil-web01 sshd[2107]: Failed password for invalid user admin "
           "from 203.0.113.66 port 50273 ssh2")
OTHER = ("2026-11-20T08:10:01.004+00:00 etatcivil-web01 sshd[2107]: Connection from 203.0.113.66 port 50273 "
         "on 10.10.4.21 port 22 rdomain \"\"")


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def store_platform(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Platform]:
    """A fresh platform with the ingest parsers, its events in the embedded store or in Elasticsearch."""
    settings = replace(settings, plugins=("ingest.parsers",))
    if request.param == "elasticsearch":
        settings = replace(settings, elasticsearch_url=request.getfixturevalue("es_url"),
                           index_prefix=f"id{uuid.uuid4().hex[:10]}")
    p = Platform(settings)
    p.db.upgrade()
    yield p
    p.close()


def stored(platform: Platform) -> list[dict]:
    platform.events.refresh()
    return sorted(platform.events.search(EventQuery(limit=10_000)), key=lambda e: (e["@timestamp"], e["event"]["id"]))


def write_log(path: Path, lines: list[str], mode: str = "w") -> None:
    with path.open(mode, encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))


def test_eight_identical_failures_are_eight_events_and_a_brute_force(store_platform: Platform,
                                                                      tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    write_log(log, [OTHER] + [FAILURE] * 8)
    summary = Ingestor(store_platform, "linux.auth").ingest_file(str(log))
    assert (summary.read, summary.ingested, summary.duplicates) == (9, 9, 0), summary
    failures = [e for e in stored(store_platform) if e["event"]["original"] == FAILURE]
    assert len(failures) == 8 and len({e["event"]["id"] for e in failures}) == 8

    load_plugins(["detectors"])
    from detectors.sigma.detector import SigmaDetector

    hits = SigmaDetector(store_platform.settings).detect(stored(store_platform))
    brute = [h for h in hits if h.title.startswith("SSH Brute Force")]
    assert {h.group_key for h in brute} == {"source.ip=203.0.113.66"}
    # fired at the fifth failure, then each further one joins it: all eight counted
    assert sorted(i for h in brute for i in h.event_ids) == sorted(e["event"]["id"] for e in failures)


def test_the_same_file_read_again_is_stored_once(store_platform: Platform, tmp_path: Path) -> None:
    """Again from the checkpoint, again without it (the whole file re-read), after it grew, and
    after it was restored at its path as a new file (another inode, the same bytes)."""
    log = tmp_path / "auth.log"
    write_log(log, [OTHER] + [FAILURE] * 8)
    ingestor = Ingestor(store_platform, "linux.auth")
    assert ingestor.ingest_file(str(log)).ingested == 9
    assert ingestor.ingest_file(str(log)).read == 0  # the checkpoint: nothing new
    source = os.path.abspath(log)
    whole = Ingestor(store_platform, "linux.auth").ingest(FileReader(source), source=source)
    assert (whole.read, whole.ingested, whole.duplicates) == (9, 0, 9)

    write_log(log, [FAILURE] * 3, mode="a")  # the same text again, further on: three more events
    grown = ingestor.ingest_file(str(log))
    assert (grown.read, grown.ingested, grown.duplicates) == (3, 3, 0)

    inode = log.stat().st_ino
    copy = tmp_path / "auth.log.restored"
    shutil.copy(log, copy)
    os.replace(copy, log)  # restored from a copy: a new file at the path, read from its start
    assert log.stat().st_ino != inode
    restored = Ingestor(store_platform, "linux.auth").ingest_file(str(log))
    assert (restored.read, restored.ingested, restored.duplicates) == (12, 0, 12)
    assert len(stored(store_platform)) == 12


def test_a_new_file_at_the_path_is_new_events_even_with_the_same_lines(store_platform: Platform,
                                                                         tmp_path: Path) -> None:
    """Rotation: the next file at the path holds the same failure lines at the same byte offsets
    (its first line differs, same length): they are other events. The rotated file, finished
    first from its checkpoint, keeps its ids."""
    log = tmp_path / "auth.log"
    first = OTHER
    second = OTHER.replace("08:10:01.004", "09:10:01.004")
    assert len(first) == len(second)
    write_log(log, [first] + [FAILURE] * 4)
    ingestor = Ingestor(store_platform, "linux.auth")
    assert ingestor.ingest_file(str(log)).ingested == 5
    write_log(log, [FAILURE] * 2, mode="a")  # written after the checkpoint, before the rotation
    log.rename(tmp_path / "auth.log.1")
    write_log(log, [second] + [FAILURE] * 4)
    summary = ingestor.ingest_file(str(log))
    assert (summary.read, summary.ingested, summary.duplicates) == (7, 7, 0), summary
    assert len(stored(store_platform)) == 12
    source = os.path.abspath(log)
    ids = {e["event"]["id"] for e in stored(store_platform)}
    size = len(first) + 1
    for identity, count in ((record_identity(first.encode()), 6), (record_identity(second.encode()), 4)):
        assert {event_id("system.auth", FAILURE, source, identity, size * n) for n in range(1, count + 1)} <= ids


def test_stdin_piped_twice_is_stored_once(tmp_path: Path) -> None:
    """``cert ingest -``: positions are line numbers in the stream, the source ``-``: the same
    stream piped again is deduplicated, its identical lines are distinct events."""
    env = cert_env(tmp_path / "data")
    assert cert(["init"], env).returncode == 0
    text = "".join(line + "\n" for line in [OTHER] + [FAILURE] * 8)
    first = cert(["ingest", "--parser", "linux.auth", "-"], env, input=text)
    assert first.returncode == 0, first.stderr
    assert "9 lines read, 9 events ingested, 0 already stored" in first.stdout
    again = cert(["ingest", "--parser", "linux.auth", "-"], env, input=text)
    assert again.returncode == 0, again.stderr
    assert "9 lines read, 0 events ingested, 9 already stored" in again.stdout
    longer = cert(["ingest", "--parser", "linux.auth", "-"], env, input=text + FAILURE + "\n")
    assert "10 lines read, 1 events ingested, 9 already stored" in longer.stdout


def test_a_spool_replayed_twice_stores_each_event_once(store_platform: Platform, tmp_path: Path) -> None:
    """The store is down: the identical lines are spooled with their ids. A crash after the store
    took the replay but before the segment was removed replays it again: no duplicate."""
    log = tmp_path / "auth.log"
    write_log(log, [OTHER] + [FAILURE] * 8)
    store = store_platform.events
    store_platform.__dict__["events"] = ElasticsearchEventStore(f"http://127.0.0.1:{_closed_port()}", prefix="down")
    ingestor = Ingestor(store_platform, "linux.auth")
    assert ingestor.ingest_file(str(log)).spooled == 9
    [segment] = list(ingestor.spool.directory.glob("*.batch"))
    kept = tmp_path / "segment.copy"
    shutil.copy(segment, kept)

    store_platform.__dict__["events"] = store
    assert ingestor.drain_spool().replayed == 9
    shutil.copy(kept, segment)  # the segment as a crash before its removal leaves it
    assert ingestor.drain_spool().replayed == 0
    assert ingestor.spool.pending() == 0
    failures = [e for e in stored(store_platform) if e["event"]["original"] == FAILURE]
    assert len(stored(store_platform)) == 9 and len({e["event"]["id"] for e in failures}) == 8


def test_identical_messages_on_one_tcp_connection_are_distinct_events(net_platform: Platform) -> None:
    """Six identical messages on one connection, then the same six on a second one: twelve
    events; a listener's events all have ids of their own."""
    listener, bound = start(net_platform, "syslog", tcp=(LOOPBACK,), parser="linux.auth")
    message = f"<38>{FAILURE}\n".encode()
    try:
        for _ in range(2):
            with socket.create_connection(bound["tcp"]) as sock:
                sock.sendall(message * 6)
        assert wait_for(lambda: len(events(net_platform)) >= 12)
    finally:
        stats = listener.stop()
    got = events(net_platform)
    assert (len(got), stats.ingested, stats.duplicates) == (12, 12, 0)
    assert len({e["event"]["id"] for e in got}) == 12
    assert {e["event"]["original"] for e in got} == {f"<38>{FAILURE}"}


def test_identical_datagrams_are_distinct_events(net_platform: Platform) -> None:
    listener, bound = start(net_platform, "syslog", udp=(LOOPBACK,), parser="linux.auth")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(5):
                sock.sendto(f"<38>{FAILURE}".encode(), bound["udp"])
        assert wait_for(lambda: len(events(net_platform)) >= 5)
    finally:
        listener.stop()
    assert len({e["event"]["id"] for e in events(net_platform)}) == 5


def test_identical_flow_records_of_one_datagram_are_distinct_events(net_platform: Platform) -> None:
    listener, bound = start(net_platform, "netflow", udp=(LOOPBACK,))
    record = nf.v5_record("10.40.0.1", "198.51.100.22", 51515, 22)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(nf.v5([record, record, record], sequence=9), bound["udp"])
        assert wait_for(lambda: len(events(net_platform)) >= 3)
    finally:
        stats = listener.stop()
    assert (stats.ingested, stats.duplicates) == (3, 0)
    assert len({e["event"]["id"] for e in events(net_platform)}) == 3


def test_a_fast_path_of_another_signature_is_left_unused(settings: Settings, tmp_path: Path) -> None:
    """A native module built from other sources (four arguments, no identity nor position) would
    fail on every line: the Ingestor leaves it and the Python path stores the events."""
    p = Platform(replace(settings, plugins=("ingest.parsers",)))
    p.db.upgrade()
    calls: list[str] = []

    def older(line: str, source: str, keep: bool, ingested: str) -> None:
        calls.append(line)

    log = tmp_path / "eve.json"
    line = ('{"timestamp": "2026-11-21T10:01:00.500000+0000", "event_type": "flow", "src_ip": "192.0.2.10", '
            '"src_port": 51724, "dest_ip": "198.51.100.53", "dest_port": 443, "proto": "TCP"}')
    write_log(log, [line, line])
    try:
        ingestor = Ingestor(p, "suricata.eve")
        ingestor.parser._fast = older  # type: ignore[attr-defined]
        summary = ingestor.ingest_file(str(log))
    finally:
        p.close()
    assert (summary.ingested, summary.dead_lettered, calls) == (2, 0, [])


def marks(reader: FileReader) -> list[tuple[int, str, str]]:
    """(byte offset, file identity, text) of each line the reader yields."""
    out = []
    for item in reader:
        assert item is not None
        out.append((reader.line_start, reader.identity, item.raw if isinstance(item, RejectedLine) else item[1]))
    return out


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_line_has_the_same_offset_and_file_identity_however_the_file_is_read(tmp_path: Path,
                                                                                 newline: str) -> None:
    """From the start, resumed from any checkpoint, started at the end (``--follow`` without
    history), and with a first line too long to keep: the same (offset, identity) per line."""
    lines = [OTHER, FAILURE, FAILURE, "", FAILURE]
    log = tmp_path / "auth.log"
    log.write_bytes(newline.join(lines).encode() + newline.encode())
    whole = marks(FileReader(log))
    assert [text for _, _, text in whole] == lines
    assert {identity for _, identity, _ in whole} == {record_identity(OTHER.encode())}
    assert [offset for offset, _, _ in whole] == [sum(len(x) + len(newline) for x in lines[:n]) for n in range(5)]
    inode = log.stat().st_ino
    for n in range(1, 5):
        offset = whole[n][0]
        assert marks(FileReader(log, FilePosition(inode, offset, n))) == whole[n:]
    tail = FileReader(log)
    tail.skip_to_end()
    with log.open("ab") as fh:
        fh.write(FAILURE.encode() + newline.encode())
    [(offset, identity, text)] = marks(tail)
    assert (offset, identity, text) == (log.stat().st_size - len(FAILURE) - len(newline), whole[0][1], FAILURE)

    long = tmp_path / "long.log"
    long.write_bytes(b"x" * 3000 + newline.encode() + FAILURE.encode() + newline.encode())
    read = marks(FileReader(long, max_line_bytes=2000))
    assert [offset for offset, _, _ in read] == [0, 3000 + len(newline)]
    resumed = marks(FileReader(long, FilePosition(long.stat().st_ino, read[1][0], 1), max_line_bytes=2000))
    assert resumed == read[1:] and read[0][1] == read[1][1] == record_identity(b"x" * 3000)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed
