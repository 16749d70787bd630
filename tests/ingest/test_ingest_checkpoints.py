"""Checkpoints: `cert ingest` resumes a file where the store acknowledged it, and knows what
happened to the file meanwhile (grown, truncated, rewritten, rotated)."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ingest_support import cert, cert_env, checkpoint, embedded_ids, make_apache_file, start_cert, wait_for

from cert.core.config import Settings
from cert.core.lines import FilePosition, FileReader, RejectedLine
from cert.pipeline.health import ingest_health
from cert.pipeline.ingestor import Ingestor
from cert.pipeline.state import load_checkpoint
from cert.runtime.platform import Platform


def lines_of(reader: FileReader) -> list[str]:
    return [item[1] for item in reader if item is not None and not isinstance(item, RejectedLine)]


def test_reader_resumes_at_the_checkpoint_of_the_same_file(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\n")
    first = FileReader(log)
    assert lines_of(first) == ["one", "two"]
    pos = first.position
    assert (pos.offset, pos.line, pos.inode) == (8, 2, log.stat().st_ino)
    with log.open("ab") as fh:
        fh.write(b"three\n")
    again = FileReader(log, pos)
    assert again.start_offset == 8
    assert list(again) == [(3, "three")]


def test_truncated_or_rewritten_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"first line\nsecond line\n")
    reader = FileReader(log)
    lines_of(reader)
    pos = reader.position
    log.write_bytes(b"new\n")  # truncated (same inode, shorter)
    assert lines_of(FileReader(log, pos)) == ["new"]
    # copytruncate, then more written than before: same inode, longer, other first bytes
    with log.open("r+b") as fh:
        fh.truncate(0)
        fh.write(b"other content, much longer than before\nsecond\n")
    assert log.stat().st_ino == pos.inode
    assert lines_of(FileReader(log, pos)) == ["other content, much longer than before", "second"]


def test_rotated_file_is_finished_before_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"old 1\nold 2\n")
    reader = FileReader(log)
    lines_of(reader)
    pos = reader.position
    with log.open("ab") as fh:
        fh.write(b"old 3, written just before the rotation\n")
    log.rename(tmp_path / "access.log.1")
    log.write_bytes(b"new 1\n")
    resumed = FileReader(log, pos)
    assert resumed.rotated_from == str(tmp_path / "access.log.1")
    assert lines_of(resumed) == ["old 3, written just before the rotation", "new 1"]
    assert resumed.position.inode == log.stat().st_ino


def test_over_long_line_is_rejected_not_held(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"short\n" + b"x" * 5000 + b"\nafter\n")
    items = list(FileReader(log, max_line_bytes=1000))
    assert items[0] == (1, "short")
    assert isinstance(items[1], RejectedLine) and items[1].lineno == 2
    assert len(items[1].raw) == 1000 and "5001 bytes" in items[1].reason
    assert items[2] == (3, "after")


def test_following_waits_for_the_end_of_a_line_being_written(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"complete\nhalf a li")
    seen: list[object] = []
    reader = FileReader(log, follow=True, poll=0.01, stop=lambda: len(seen) > 6)
    for item in reader:
        seen.append(item)
        if item is None and len(seen) == 2:
            with log.open("ab") as fh:
                fh.write(b"ne\n")
    lines = [i for i in seen if i is not None]
    assert lines == [(1, "complete"), (2, "half a line")]
    assert reader.position.offset == log.stat().st_size


def test_following_survives_rotation_and_truncation(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"a1\n")
    seen: list[tuple[int, str]] = []
    idle = [0]

    def step() -> None:
        idle[0] += 1
        if idle[0] == 2:
            with log.open("ab") as fh:
                fh.write(b"a2\n")
            log.rename(tmp_path / "a.log.1")
            log.write_bytes(b"b1\nb2\n")
        elif idle[0] == 6:
            log.write_bytes(b"c1\n")  # truncated in place

    for item in FileReader(log, follow=True, poll=0.01, stop=lambda: idle[0] > 10):
        if item is None:
            step()
        elif not isinstance(item, RejectedLine):
            seen.append(item)
    assert [t for _, t in seen] == ["a1", "a2", "b1", "b2", "c1"]


def test_one_shot_ingest_resumes_and_counts_once(platform: Platform, tmp_path: Path) -> None:
    log = make_apache_file(tmp_path / "access.log", 3000, bad_every=500)
    ingestor = Ingestor(platform, "web.access", batch_size=700)
    first = ingestor.ingest_file(str(log.path))
    assert first.read == 3000 and first.ingested == len(log.event_ids) and first.dead_lettered == 6
    more = make_apache_file(log.path, 1000, start=3000, append=True)
    second = ingestor.ingest_file(str(log.path))
    assert second.read == 1000, "only the new lines are read"
    assert second.ingested == len(more.event_ids) and second.duplicates == 0
    pos = load_checkpoint(platform.db, str(log.path), "web.access")
    assert pos == FilePosition(log.path.stat().st_ino, log.path.stat().st_size, 4000, pos.fingerprint if pos else "")
    assert platform.events.count() == len(log.event_ids) + len(more.event_ids)


def test_cli_follow_resumes_after_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = cert_env(data_dir)
    assert cert(["init"], env).returncode == 0
    log = make_apache_file(tmp_path / "access.log", 500)
    proc = start_cert(["ingest", "--parser", "web.access", "--follow", str(log.path)], env)
    try:
        wait_for(lambda: checkpoint(data_dir, log.path)[1] == 500, 60, "the first 500 lines", proc)
        more = make_apache_file(log.path, 300, start=500, append=True)
        wait_for(lambda: checkpoint(data_dir, log.path)[1] == 800, 60, "the appended lines", proc)
        os.kill(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, "SIGTERM stops following cleanly"
        assert "800 lines read" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # while it is stopped the file is rotated: the rest of the old one must not be lost
    last = make_apache_file(log.path, 200, start=800, append=True)
    log.path.rename(tmp_path / "access.log.1")
    newest = make_apache_file(log.path, 100, start=1000)
    proc = start_cert(["ingest", "--parser", "web.access", "--follow", str(log.path)], env)
    try:
        wait_for(lambda: checkpoint(data_dir, log.path)[1] == 1100, 60, "the rotated and the new lines", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    ids = embedded_ids(data_dir)
    expected = log.event_ids | more.event_ids | last.event_ids | newest.event_ids
    assert len(ids) == len(expected) == 1100 and set(ids) == expected


def test_following_finishes_a_file_rotated_away_while_stopped(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"a1\n")
    first = FileReader(log)
    lines_of(first)
    pos = first.position
    with log.open("ab") as fh:
        fh.write(b"a2\n")
    log.rename(tmp_path / "a.log.1")  # rotated, and the new file is not there yet
    seen: list[str] = []
    idle = [0]
    for item in FileReader(log, pos, follow=True, poll=0.01, stop=lambda: idle[0] > 6):
        if item is None:
            idle[0] += 1
            if idle[0] == 3:
                log.write_bytes(b"b1\n")
        elif not isinstance(item, RejectedLine):
            seen.append(item[1])
    assert seen == ["a2", "b1"]


@pytest.mark.postgres
def test_checkpoints_and_counters_on_postgresql(postgres_server: Any, tmp_path: Path,
                                                settings: Settings) -> None:
    url = postgres_server.create_database()
    p = Platform(replace(settings, database_url=url, plugins=("ingest.parsers",)))
    try:
        p.db.upgrade()
        log = make_apache_file(tmp_path / "access.log", 2500, bad_every=1000)
        ingestor = Ingestor(p, "web.access", batch_size=800)
        assert ingestor.ingest_file(str(log.path)).ingested == len(log.event_ids)
        more = make_apache_file(log.path, 500, start=2500, append=True)
        second = Ingestor(p, "web.access").ingest_file(str(log.path))
        assert second.read == 500 and second.ingested == len(more.event_ids)
        with p.db.session() as s:
            health = {h.source: h for h in ingest_health(s)}[str(log.path)]
        assert (health.lines, health.events, health.dead_letters) == (3000, 2998, 2)
        assert health.reasons[0].count == 2 and health.rate_5m > 0
    finally:
        p.close()


def test_cli_follow_picks_up_files_created_after_it_started(tmp_path: Path) -> None:
    """A glob given to --follow is watched: an empty log directory is not an error, and a file that
    appears later is followed (the compose `ingest` service relies on this)."""
    data_dir = tmp_path / "data"
    env = cert_env(data_dir)
    assert cert(["init"], env).returncode == 0
    logs = tmp_path / "logs"
    logs.mkdir()
    proc = start_cert(["ingest", "--parser", "web.access", "--follow", str(logs / "*.log")], env)
    try:
        late = make_apache_file(logs / "portal.log", 50)
        wait_for(lambda: checkpoint(data_dir, late.path)[1] == 50, 60, "the file created after the start", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert set(embedded_ids(data_dir)) == late.event_ids
