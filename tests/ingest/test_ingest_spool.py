"""The store is unreachable: events go to the bounded on-disk spool and are replayed when it
returns; a full spool stops the ingest loudly, having acknowledged nothing it could not keep."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import es_node
import pytest
from ingest_support import cert, cert_env, checkpoint, make_apache_file, start_cert, wait_for

from cert.core.ecs import event_id
from cert.pipeline.spool import Segment, Spool, SpoolFull, read_segment
from cert.storage.events.elasticsearch import ElasticsearchEventStore


def event(n: int, raw: str) -> dict[str, object]:
    return {"@timestamp": "2026-11-21T10:00:00.000Z", "event": {"id": event_id("t", raw), "original": raw}, "n": n}


def test_spool_keeps_batches_in_order_and_bytes_intact(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20)
    raw = "caf\udce9 \udcff"  # undecodable bytes, kept as surrogates by the reader
    bad = ("line 3", "x", {"@timestamp": "t", "event": {"id": "i"}, "oops": {1, 2}})
    assert spool.append("/var/log/a.log", "web.access", [("line 1", raw, event(1, "a")), bad]) == [
        (bad, "cannot serialise the event: Type is not JSON serializable: set")]
    spool.append("/var/log/b.log", "linux.auth", [("line 9", "b", event(2, "b"))])
    assert spool.pending() == 2
    assert not [p for p in (tmp_path / "spool").iterdir() if p.name.startswith(".tmp-")]
    seen: list[Segment] = []
    assert spool.replay(seen.append) == 2
    assert [(s.source, s.parser) for s in seen] == [("/var/log/a.log", "web.access"), ("/var/log/b.log", "linux.auth")]
    assert seen[0].items[0][1] == raw, "the raw line comes back byte for byte"
    assert seen[0].items[0][1].encode("utf-8", "surrogateescape") == b"caf\xe9 \xff"
    assert spool.pending() == 0


def test_replay_stops_at_the_first_failure_and_keeps_the_segment(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20)
    for n in range(3):
        spool.append("s", "p", [(f"line {n}", str(n), event(n, str(n)))])
    calls = []

    def flaky(segment: Segment) -> None:
        calls.append(segment.items[0][0])
        if len(calls) == 2:
            raise ConnectionError("still down")

    with pytest.raises(ConnectionError):
        spool.replay(flaky)
    assert spool.pending() == 2, "the failed batch and the next stay"
    remaining = [read_segment(p) for p in sorted((tmp_path / "spool").glob("*.batch"))]
    assert [s.items[0][0] for s in remaining if s] == ["line 1", "line 2"]


def test_a_full_spool_refuses_loudly(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=3000)
    spool.append("s", "p", [("line 1", "a", event(1, "a" * 1000))])
    with pytest.raises(SpoolFull, match=r"full .* Nothing was lost"):
        spool.append("s", "p", [("line 2", "b", event(2, "b" * 2500))])
    assert spool.pending() == 1


@pytest.mark.elasticsearch
def test_store_stopped_events_spool_then_replay_exactly_once(tmp_path: Path) -> None:
    workdir = tmp_path / "es"
    try:
        node = es_node.start(workdir=workdir)
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"Elasticsearch node could not start: {exc}")
    port = node.port
    data_dir = tmp_path / "data"
    prefix = f"spool-{uuid.uuid4().hex[:8]}"
    env = cert_env(data_dir, CERT_ELASTICSEARCH_URL=node.url, CERT_INDEX_PREFIX=prefix)
    store = ElasticsearchEventStore(node.url, prefix=prefix)
    follower = None
    try:
        assert cert(["init"], env).returncode == 0
        log = make_apache_file(tmp_path / "access.log", 1000)
        follower = start_cert(["ingest", "--parser", "web.access", "--follow", str(log.path)], env)
        wait_for(lambda: checkpoint(data_dir, log.path)[1] == 1000, 60, "the first lines", follower)

        node.stop()  # the store goes away
        down = make_apache_file(log.path, 3000, start=1000, append=True)
        wait_for(lambda: checkpoint(data_dir, log.path)[1] == 4000, 90, "the lines read while down", follower)
        spool_dir = data_dir / "spool"
        assert list(spool_dir.glob("*.batch")), "the batches wait in the spool"
        assert follower.poll() is None, "the follower keeps running"

        # another ingest while the spool is (nearly) full: a loud error, nothing acknowledged
        other = make_apache_file(tmp_path / "other.log", 2000)
        full = cert(["ingest", "--parser", "web.access", str(other.path)], {**env, "CERT_SPOOL_MAX_MB": "1"})
        assert full.returncode != 0
        assert "spool" in full.stderr and "is full" in full.stderr and "Nothing was lost" in full.stderr
        assert checkpoint(data_dir, other.path)[1] == 0

        # a one-shot ingest while the store is down: its events wait in the spool (exit 75)
        third = make_apache_file(tmp_path / "third.log", 500)
        waiting = cert(["ingest", "--parser", "web.access", str(third.path)], env)
        assert waiting.returncode == 75, waiting.stderr
        assert "wait in the spool" in waiting.stderr and "500 spooled" in waiting.stdout
        assert checkpoint(data_dir, third.path)[1] == 500, "the spool acknowledged them"

        node = es_node.start(port=port, workdir=workdir)  # the store comes back, with its data
        wait_for(lambda: not list(spool_dir.glob("*.batch")), 120, "the spool to drain", follower)
        store.refresh()
        stored = len(log.event_ids) + len(down.event_ids) + len(third.event_ids)
        assert store.count() == stored, "0 lost, 0 duplicated; the follower replayed the whole spool"
        assert len(store.get(sorted(down.event_ids | third.event_ids))) == len(down.event_ids | third.event_ids)

        again = cert(["ingest", "--parser", "web.access", str(other.path)], env)
        assert again.returncode == 0, again.stderr
        store.refresh()
        assert store.count() == stored + len(other.event_ids)
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=30)
        assert follower.returncode == 0, err
        assert "4000 lines read" in out and "spooled" in out
    finally:
        if follower is not None and follower.poll() is None:
            os.kill(follower.pid, signal.SIGKILL)
            follower.communicate()
        store.close()
        node.stop()
