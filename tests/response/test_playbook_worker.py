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
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import servers
from sqlalchemy import select
from test_block_ip import Gateway, gateway  # noqa: F401 - fixture
from test_playbook_actions import CONTAIN, blocked, incident

from cert.core.config import Settings
from cert.response.runs import start_run
from cert.runtime.platform import Platform
from cert.storage.models import Countermeasure, PlaybookRun, ResponseAction

pytestmark = [pytest.mark.redis, pytest.mark.nftables]
ROOT = Path(__file__).resolve().parents[2]
WRAPPER = """#!/bin/sh
echo "$$" >> "{calls}"
sleep 1
exec ip netns exec {ns} nft "$@"
"""


@dataclass
class Rig:
    platform: Platform
    env: dict[str, str]
    calls: Path
    tmp: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def worker(self) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"worker-{len(self.procs) + 1}.log").open("wb")
        script = Path(sys.executable).with_name("cert")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "cert.cli"]
        proc = subprocess.Popen([*command, "worker"], env=self.env, cwd=self.tmp, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-6000:] for p in sorted(self.tmp.glob("worker-*.log")))

    def wait_for(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not check():
            if time.monotonic() > end:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}")
            time.sleep(0.2)

    def status(self, run_id: int) -> str:
        with self.platform.db.session() as s:
            return s.get_one(PlaybookRun, run_id).status

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)


def rig(tmp_path: Path, redis_url: str, gw: Gateway) -> Rig:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "contain.yml").write_text(CONTAIN.replace("LIMIT", "5").replace("    targets: {tlp_max: amber}",
                                                                            "    approval: none"), encoding="utf-8")
    calls = tmp_path / "nft-calls"
    wrapper = tmp_path / "slow-nft"
    wrapper.write_text(WRAPPER.format(calls=calls, ns=gw.ns), encoding="utf-8")
    wrapper.chmod(0o755)
    queue = f"vigie-run-{uuid.uuid4().hex[:8]}"
    settings = replace(Settings(), data_dir=tmp_path / "data", secret_key="test-secret-key", redis_url=redis_url,
                       rq_queue=queue, playbooks_dir=folder, response_nft_command=str(wrapper),
                       response_protected=("10.77.0.3",))
    platform = Platform(settings)
    platform.db.upgrade()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env.update(CERT_DATA_DIR=str(settings.data_dir), CERT_SECRET_KEY="test-secret-key", CERT_REDIS_URL=redis_url,
               CERT_RQ_QUEUE=queue, CERT_PLAYBOOKS_DIR=str(folder), CERT_RESPONSE_NFT_COMMAND=str(wrapper),
               CERT_RESPONSE_PROTECTED="10.77.0.3", CERT_RESPONSE_TIMER_SECONDS="0", CERT_JOB_WORKER_TTL="3",
               CERT_JOB_MAINTENANCE_SECONDS="1", CERT_JOB_RECONNECT_MAX_SECONDS="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=str(ROOT))
    return Rig(platform, env, calls, tmp_path)


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
        r.platform.close()


def test_a_worker_killed_mid_step_the_run_finishes_and_blocks_once(running: Rig, gateway: Gateway) -> None:  # noqa: F811
    r = running
    case_id = incident(r.platform)
    run_id = start_run(r.platform, case_id, "contain", "rita")
    first = r.worker()
    r.wait_for(lambda: r.calls.exists(), 60, "the block step to call nft")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert r.status(run_id) == "running"
    r.worker()
    r.wait_for(lambda: r.status(run_id) == "done", 90, "the run to finish on the new worker")
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
        worker = r.worker()
        r.wait_for(lambda: r.calls.exists(), 60, "the block step to call nft")
        redis.stop()
        time.sleep(2)
        redis = servers.start_redis(tmp_path / "redis", port=redis.port, appendonly=True)
        r.wait_for(lambda: r.status(run_id) == "done", 90, "the run to finish after Redis came back")
        blocked_once(r, gateway, run_id)
        assert worker.poll() is None, f"cert worker died with Redis\n{r.logs()}"
    finally:
        r.stop()
        r.platform.close()
        redis.stop()
