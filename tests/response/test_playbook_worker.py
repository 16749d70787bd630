"""A playbook run on real rq workers (real Redis, real `cert worker` processes) blocking an address
on a real gateway (nftables in a private network namespace): the worker killed with `kill -9` in
the middle of the block step, then a new worker: the run finishes and the address was blocked
once; Redis stopped and started again (append-only file) in the middle of the step: the run
finishes, nothing lost.

The gateway's nft is reached through a wrapper that marks each call and takes a second, so that
the test can act while the step is at work."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import servers
from sqlalchemy import select
from test_block_ip import Gateway, gateway  # noqa: F401 - fixture
from test_jobs_reliability_rq import Workers, make_workers
from test_playbook_actions import CONTAIN, blocked, incident

from cert.response.runs import start_run
from cert.runtime.platform import Platform
from cert.storage.models import Countermeasure, PlaybookRun, ResponseAction

pytestmark = [pytest.mark.redis, pytest.mark.nftables]
WRAPPER = """#!/bin/sh
echo "$$" >> "{calls}"
sleep 1
exec ip netns exec {ns} nft "$@"
"""


@dataclass
class Rig:
    """The test's platform (the database and queue the workers share) and its workers."""

    platform: Platform
    workers: Workers
    calls: Path

    def status(self, run_id: int) -> str:
        with self.platform.db.session() as s:
            return s.get_one(PlaybookRun, run_id).status

    def stop(self) -> None:
        self.workers.stop()
        self.workers.queue.close()
        self.platform.close()


def rig(tmp_path: Path, redis_url: str, gw: Gateway) -> Rig:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "contain.yml").write_text(CONTAIN.replace("LIMIT", "5").replace("    targets: {tlp_max: amber}",
                                                                            "    approval: none"), encoding="utf-8")
    calls = tmp_path / "nft-calls"
    wrapper = tmp_path / "slow-nft"
    wrapper.write_text(WRAPPER.format(calls=calls, ns=gw.ns), encoding="utf-8")
    wrapper.chmod(0o755)
    workers = make_workers(tmp_path, redis_url)
    workers.env.update(CERT_SECRET_KEY="test-secret-key", CERT_PLAYBOOKS_DIR=str(folder),
                       CERT_RESPONSE_NFT_COMMAND=str(wrapper), CERT_RESPONSE_PROTECTED="10.77.0.3",
                       CERT_RESPONSE_TIMER_SECONDS="0")
    settings = replace(workers.settings, secret_key="test-secret-key", playbooks_dir=folder,
                       response_nft_command=str(wrapper), response_protected=("10.77.0.3",))
    platform = Platform(settings)
    platform.db.upgrade()
    return Rig(platform, workers, calls)


def blocked_once(r: Rig, gw: Gateway, run_id: int) -> None:
    assert blocked(gw) == ["10.77.0.2"] and gw.connect("10.77.0.2") == "timeout"
    with r.platform.db.session() as s:
        assert [a.target for a in s.scalars(select(ResponseAction).where(ResponseAction.run_id == run_id))] == \
            ["10.77.0.2"]
        assert [c.target for c in s.scalars(select(Countermeasure))] == ["10.77.0.2"]


@pytest.fixture
def running(tmp_path: Path, redis_server: servers.Server, gateway: Gateway) -> Iterator[Rig]:  # noqa: F811
    r = rig(tmp_path, redis_server.url, gateway)
    try:
        yield r
    finally:
        r.stop()


def test_a_worker_killed_mid_step_the_run_finishes_and_blocks_once(running: Rig, gateway: Gateway) -> None:  # noqa: F811
    r = running
    case_id = incident(r.platform)
    run_id = start_run(r.platform, case_id, "contain", "rita")
    first = r.workers.start()
    r.workers.wait_for(lambda: r.calls.exists(), 60, "the block step to call nft")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert r.status(run_id) == "running"
    r.workers.start()
    r.workers.wait_for(lambda: r.status(run_id) == "done", 90, "the run to finish on the new worker")
    blocked_once(r, gateway, run_id)


def test_redis_restarted_mid_step_loses_nothing(tmp_path: Path, gateway: Gateway) -> None:  # noqa: F811
    try:
        redis = servers.start_redis(tmp_path / "redis", appendonly=True)
    except servers.ServerUnavailable as exc:
        pytest.skip(exc.reason)
    r = rig(tmp_path, redis.url, gateway)
    try:
        case_id = incident(r.platform)
        run_id = start_run(r.platform, case_id, "contain", "rita")
        worker = r.workers.start()
        r.workers.wait_for(lambda: r.calls.exists(), 60, "the block step to call nft")
        redis.stop()
        time.sleep(2)
        redis = servers.start_redis(tmp_path / "redis", port=redis.port, appendonly=True)
        r.workers.wait_for(lambda: r.status(run_id) == "done", 90, "the run to finish after Redis came back")
        blocked_once(r, gateway, run_id)
        assert worker.poll() is None, f"cert worker died with Redis\n{r.workers.logs()}"
    finally:
        r.stop()
        redis.stop()
