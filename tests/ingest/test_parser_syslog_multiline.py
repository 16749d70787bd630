"""Multi-line syslog records (macOS system.log, SUSE): a line starting with white space continues the
record before it, as Filebeat's system module reads syslog files (``multiline.pattern: '^\\s'``,
``match: after``). A file and a listener give the same records; a record's position is its first
line, and no checkpoint is ever taken inside a record."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from listener_support import events, start, wait_for
from listener_support import net_platform as net_platform  # the fixture

from cert.core.ecs import get
from cert.core.lines import FileReader
from cert.core.parser import parsers
from cert.pipeline.ingestor import Ingestor
from cert.pipeline.listeners import Endpoint, LineSink
from cert.pipeline.multiline import Joiner
from cert.pipeline.state import load_checkpoint
from cert.runtime.platform import Platform

# Shortened from Filebeat's system/syslog/test/darwin-syslog.log: the continuation lines start with a tab.
DARWIN = [
    "Dec 13 11:35:28 a-mac-with-esc-key GoogleSoftwareUpdateAgent[21412]: 2016-12-13 11:35:28.419 "
    "GoogleSoftwareUpdateAgent[21412/0x700007399000] [lvl=2] -[KSAgentApp performSelfUpdateWithEngine:] Finished "
    "self update check.",
    "Dec 13 11:35:28 a-mac-with-esc-key GoogleSoftwareUpdateAgent[21412]: 2016-12-13 11:35:28.420 "
    "GoogleSoftwareUpdateAgent[21412/0x700007399000] [lvl=2] -[KSAgentApp updateProductWithProductID:usingEngine:] "
    'Checking for updates for "All Products" using engine <KSUpdateEngine:0x100341a00',
    "\t\tticketStore=<KSPersistentTicketStore:0x100204520 store=<KSKeyedPersistentStore:0x100213290",
    '\t\t\tpath="/Users/tsg/Library/Google/GoogleSoftwareUpdate/TicketStore/Keystone.ticketstore"',
    "\t\t\tlocked=NO",
    "\t\t>>",
    "\t\terrors=0",
    "\t>",
    "Dec 13 11:35:30 a-mac-with-esc-key GoogleSoftwareUpdateAgent[21412]: 2016-12-13 11:35:30.354 "
    "GoogleSoftwareUpdateAgent[21412/0x700007399000] [lvl=2] -[KSOutOfProcessFetcher(PrivateMethods) "
    "helperErrorAvailable:] KSOutOfProcessFetcher helper tool raw STDERR:",
    "\t:\t<>",
    "Dec 13 11:35:57 a-mac-with-esc-key Google Chrome[85294]: objc[85294]: __weak variable at 0x60000a8499d0 holds "
    "0x2121212121212121 instead of 0x600006a22fa0.",
]
RECORDS = [DARWIN[0], "\n".join(DARWIN[1:8]), "\n".join(DARWIN[8:10]), DARWIN[10]]
FIRST_LINES = [1, 2, 9, 11]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def _starts(lines: list[str]) -> set[int]:
    """The byte offsets where each record starts, and the end of the file."""
    offsets, pos = set(), 0
    for line in lines:
        if not line[:1].isspace():
            offsets.add(pos)
        pos += len(line.encode()) + 1
    return offsets | {pos}


def test_continuation_lines_join_their_record(ingest_platform: Platform, tmp_path: Path) -> None:
    log = _write(tmp_path / "system.log", DARWIN)
    summary = Ingestor(ingest_platform, "syslog").ingest_file(str(log))
    assert summary.dead_lettered == 0 and summary.ingested == len(RECORDS)
    assert summary.read == len(DARWIN) and summary.skipped == len(DARWIN) - len(RECORDS)
    stored = events(ingest_platform)
    originals = [get(e, "event.original") for e in stored]
    assert sorted(originals) == sorted(RECORDS)
    keystone = next(e for e in stored if "ticketStore" in e["event"]["original"])
    assert get(keystone, "process.name") == "GoogleSoftwareUpdateAgent"
    assert get(keystone, "host.hostname") == "a-mac-with-esc-key"
    assert keystone["message"].endswith("errors=0\n\t>")


def test_a_record_position_is_its_first_line_and_checkpoints_fall_between_records(tmp_path: Path) -> None:
    log = _write(tmp_path / "system.log", DARWIN)
    reader = FileReader(log)
    joiner = Joiner(parsers.get("syslog").continuation, reader)  # type: ignore[arg-type]
    seen: list[Any] = []
    for item in joiner.join(reader):
        seen.append(item)
        assert joiner.position.offset in _starts(DARWIN), "a checkpoint inside a record"
    assert [n for n, _ in seen] == FIRST_LINES
    assert [text for _, text in seen] == RECORDS
    # resumed from the checkpoint taken while the second record was held: it is read again whole
    reader = FileReader(log)
    joiner = Joiner(parsers.get("syslog").continuation, reader)  # type: ignore[arg-type]
    items = joiner.join(reader)
    assert next(items) == (1, RECORDS[0])
    position = joiner.position
    assert position.offset == len(DARWIN[0].encode()) + 1 and position.line == 1
    resumed = FileReader(log, position)
    assert list(Joiner(parsers.get("syslog").continuation, resumed).join(resumed)) == list(  # type: ignore[arg-type]
        zip(FIRST_LINES[1:], RECORDS[1:], strict=True))


def test_committed_checkpoints_never_cut_a_record(ingest_platform: Platform, tmp_path: Path) -> None:
    log = _write(tmp_path / "system.log", DARWIN)
    offsets: list[int] = []
    ingestor = Ingestor(ingest_platform, "syslog", batch_size=1)

    def after_batch(_events: list[Any]) -> None:
        position = load_checkpoint(ingest_platform.db, str(log.resolve()), "syslog")
        if position is not None:
            offsets.append(position.offset)

    ingestor.on_batch = after_batch
    ingestor.ingest_file(str(log))
    assert offsets and set(offsets) <= _starts(DARWIN)
    final = load_checkpoint(ingest_platform.db, str(log.resolve()), "syslog")
    assert final is not None and final.offset == log.stat().st_size


def test_a_continuation_with_no_record_before_it_is_dead_lettered_not_lost(ingest_platform: Platform,
                                                                          tmp_path: Path) -> None:
    log = _write(tmp_path / "system.log", ["\tcontinued from a rotated file", *DARWIN[:1]])
    summary = Ingestor(ingest_platform, "syslog").ingest_file(str(log))
    assert summary.ingested == 1 and summary.dead_lettered == 1
    assert summary.errors[0][0] == "line 1"


def test_a_listener_gives_the_same_records_as_the_file(net_platform: Platform, tmp_path: Path) -> None:
    # TCP with newline framing (RFC 6587): every line of the file is a frame
    listener, bound = start(net_platform, "syslog", tcp=(Endpoint("127.0.0.1", 0),))
    try:
        with socket.create_connection(bound["tcp"]) as conn:
            conn.sendall("".join(f"{line}\n" for line in DARWIN).encode())
        assert wait_for(lambda: len(events(net_platform, event__module="system")) >= len(RECORDS))
    finally:
        stats = listener.stop()
    assert stats.dead_lettered == 0
    received = sorted(get(e, "event.original") for e in events(net_platform, event__module="system"))
    assert received == sorted(RECORDS)


def test_the_listener_holds_a_flush_last_record_for_the_next_flush(net_platform: Platform) -> None:
    sink = LineSink(net_platform, "syslog", batch_size=100)
    source, fields = "tcp://127.0.0.1", {"log.source.address": "127.0.0.1:40000"}
    sink._flush([(source, line, fields) for line in DARWIN[:3]], [])  # the flush ends inside the second record
    sink._flush([(source, line, fields) for line in DARWIN[3:]], [], final=True)
    assert sink.stats.dead_lettered == 0 and sink.stats.ingested == len(RECORDS)
    assert sorted(get(e, "event.original") for e in events(net_platform, event__module="system")) == sorted(RECORDS)



def test_a_record_id_is_that_of_its_first_line_whatever_was_read_after_it(ingest_platform: Platform,
                                                                         tmp_path: Path) -> None:
    """Identical multi-line records at two places are two events; the file read again whole gives
    the ids it got when it was read as it grew (a record then ended at the end of the file, not at
    the next record's first line): stored once."""
    lines = DARWIN[1:8] * 2 + DARWIN[:1]
    log = _write(tmp_path / "system.log", lines[:7])  # the file before its second record
    ingestor = Ingestor(ingest_platform, "syslog", batch_size=1)
    assert ingestor.ingest_file(str(log)).ingested == 1
    _write(log, lines)  # then it grew
    grown = ingestor.ingest_file(str(log))
    assert (grown.ingested, grown.duplicates) == (2, 0)
    assert len({get(e, "event.id") for e in events(ingest_platform)}) == 3

    source = str(log.resolve())
    whole = Ingestor(ingest_platform, "syslog").ingest(FileReader(source), source=source)
    assert (whole.ingested, whole.duplicates) == (0, 3)
    assert len(events(ingest_platform)) == 3
