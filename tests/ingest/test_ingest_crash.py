"""The SIGKILL test: ``cert ingest FILE`` is killed with SIGKILL at 20 random points of a large
file and restarted each time; in the end the store holds exactly the file's events (0 lost,
0 duplicated) and the dead letters exactly its bad lines, once each. Against the embedded store
and against a real Elasticsearch node."""

from __future__ import annotations

import os
import random
import signal
import time
import uuid
from pathlib import Path

import pytest
from ingest_support import (
    LogFile,
    cert,
    cert_env,
    checkpoint,
    dead_letters,
    embedded_ids,
    make_apache_file,
    start_cert,
    wait_for,
)

from cert.storage.events.elasticsearch import ElasticsearchEventStore

KILLS = 20
LINES = 200_000
BAD_EVERY = 1009


def kill_and_restart(log: LogFile, data_dir: Path, env: dict[str, str], seed: int) -> list[int]:
    """Start ``cert ingest``, SIGKILL it once its checkpoint passed each of 20 random offsets (plus
    a random delay, so that kills land anywhere in the batch cycle: parsing, writing to the
    store, committing), restart it; then let a last run finish. Returns the offsets killed at."""
    rnd = random.Random(seed)
    size = log.path.stat().st_size
    targets = sorted(rnd.sample(range(size // 50, size * 9 // 10), KILLS))
    killed_at = []
    for target in targets:
        proc = start_cert(["ingest", "--parser", "web.access", str(log.path)], env)
        try:
            wait_for(lambda t=target: checkpoint(data_dir, log.path)[0] >= t, 120, f"offset {target}", proc)
            time.sleep(rnd.uniform(0.0, 0.4))
            assert proc.poll() is None, f"cert ingest finished before the kill at {target}: {proc.communicate()}"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            killed_at.append(checkpoint(data_dir, log.path)[0])
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(30)
    done = cert(["ingest", "--parser", "web.access", str(log.path)], env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resumed at line" in done.stdout
    return killed_at


def check_counters_and_dead_letters(log: LogFile, data_dir: Path) -> None:
    offset, lines, dead = checkpoint(data_dir, log.path)
    assert offset == log.path.stat().st_size
    assert lines == log.lines, "every line is counted once, however often it was read"
    assert dead == len(log.bad_lines)
    letters = dead_letters(data_dir, log.path)
    assert len(letters) == len(log.bad_lines), "a dead letter is written once, even when its batch is replayed"
    assert dict(letters) == {f"line {n}": raw for n, raw in log.bad_lines.items()}


@pytest.fixture
def big_log(tmp_path: Path) -> LogFile:
    return make_apache_file(tmp_path / "access.log", LINES, bad_every=BAD_EVERY)


def test_sigkill_20_times_embedded_store_holds_every_event_once(big_log: LogFile, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = cert_env(data_dir)
    assert cert(["init"], env).returncode == 0
    killed = kill_and_restart(big_log, data_dir, env, seed=20261121)
    assert len(killed) == KILLS and killed == sorted(killed), "each restart resumed from its checkpoint"
    ids = embedded_ids(data_dir)
    assert len(ids) == len(big_log.event_ids), "0 lost, 0 duplicated"
    assert set(ids) == big_log.event_ids
    check_counters_and_dead_letters(big_log, data_dir)


@pytest.mark.elasticsearch
def test_sigkill_20_times_elasticsearch_holds_every_event_once(big_log: LogFile, tmp_path: Path,
                                                                es_url: str) -> None:
    data_dir = tmp_path / "data"
    prefix = f"crash-{uuid.uuid4().hex[:8]}"
    env = cert_env(data_dir, CERT_ELASTICSEARCH_URL=es_url, CERT_INDEX_PREFIX=prefix)
    assert cert(["init"], env).returncode == 0
    killed = kill_and_restart(big_log, data_dir, env, seed=20261122)
    assert len(killed) == KILLS
    store = ElasticsearchEventStore(es_url, prefix=prefix)
    try:
        store.refresh()
        assert store.count() == len(big_log.event_ids), "0 lost, 0 duplicated"
        wanted = sorted(big_log.event_ids)
        found = 0
        for i in range(0, len(wanted), 5000):
            found += len(store.get(wanted[i:i + 5000]))
        assert found == len(wanted)
        check_counters_and_dead_letters(big_log, data_dir)
    finally:
        names = list(store.es.indices.get(index=f"{prefix}-events-*", allow_no_indices=True))
        if names:
            store.es.indices.delete(index=",".join(names))
        store.close()
