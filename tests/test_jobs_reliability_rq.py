"""rq jobs on real Redis and real ``cert worker`` processes: a worker killed in the middle of a job,
transient errors retried with back-off, failures and timeouts reported once to ``on_failure``, and
Redis restarted (append-only file) in the middle of a batch."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import jobs_probe
import pytest
import servers
from test_jobs_rq import cert_command

from cert.core.config import Settings
from cert.runtime.jobs import JobInfo, JobOptions, RqQueue

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


@dataclass
class Workers:
    settings: Settings
    queue: RqQueue
    effects: str
    tmp: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: more environment for the workers (a test's own settings)
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
        env.update(
            CERT_DATA_DIR=str(self.settings.data_dir),
            CERT_REDIS_URL=self.settings.redis_url,
            CERT_RQ_QUEUE=self.settings.rq_queue,
            CERT_JOB_MODULES="jobs_probe",
            CERT_JOB_WORKER_TTL="3",
            CERT_JOB_MAINTENANCE_SECONDS="1",
            CERT_JOB_RECONNECT_MAX_SECONDS="1",
            PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]),
        )
        env.update(self.env)
        log = (self.tmp / f"worker-{len(self.procs) + 1}.log").open("wb")
        proc = subprocess.Popen([*cert_command(), "worker"], env=env, cwd=self.tmp, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-8000:] for p in sorted(self.tmp.glob("worker-*.log")))

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

    def wait_for(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not check():
            if time.monotonic() > end:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}")
            time.sleep(0.1)

    def info(self, job_id: str) -> JobInfo:
        found = self.queue.info(job_id)
        assert found is not None
        return found


def make_workers(tmp_path: Path, redis_url: str) -> Workers:
    settings = replace(Settings(), data_dir=tmp_path / "data", redis_url=redis_url,
                       rq_queue=f"vigie-test-{uuid.uuid4().hex[:8]}", job_modules=("jobs_probe",))
    settings.data_dir.mkdir(parents=True)
    queue = RqQueue(settings.redis_url, settings.rq_queue, settings.job_modules)
    return Workers(settings, queue, str(tmp_path / "effects.sqlite3"), tmp_path)


@pytest.fixture
def workers(tmp_path: Path, redis_server: servers.Server) -> Iterator[Workers]:
    w = make_workers(tmp_path, redis_server.url)
    try:
        yield w
    finally:
        w.stop()
        w.queue.queue.delete(delete_jobs=True)
        w.queue.close()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.redis
def test_a_job_of_a_killed_worker_runs_again_on_a_new_worker_once(workers: Workers) -> None:
    started = workers.tmp / "started"
    job_id = workers.queue.enqueue(
        "jobs_probe.record", job_options=JobOptions(retries=2, backoff=(1,)),
        key="block-203.0.113.66", path=workers.effects, sleep=30, started=str(started),
    )
    first = workers.start()
    workers.wait_for(started.exists, 30, "the job to start on the first worker")
    horse = int(started.read_text().split()[0])
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    # the process running the job died with its worker: the job cannot go on behind the new one's back
    workers.wait_for(lambda: not pid_alive(horse), 10, "the killed worker's job process to end")
    assert jobs_probe.effects(workers.effects) == [] and workers.info(job_id).status == "running"

    workers.start()
    workers.wait_for(lambda: workers.info(job_id).status == "done", 40, "the job to run on the new worker")
    assert jobs_probe.attempts(workers.effects, "block-203.0.113.66") == 2
    assert jobs_probe.effects(workers.effects) == ["block-203.0.113.66"]
    assert workers.info(job_id).result == 2


@pytest.mark.redis
def test_transient_errors_are_retried_then_the_job_succeeds(workers: Workers) -> None:
    job_id = workers.queue.enqueue(
        "jobs_probe.record", job_options=JobOptions(retries=3, backoff=(1, 1), on_failure="jobs_probe.failed"),
        key="k", path=workers.effects, fail_times=2,
    )
    workers.start()
    workers.wait_for(lambda: workers.info(job_id).status == "done", 40, "the job to succeed")
    assert jobs_probe.attempts(workers.effects, "k") == 3
    assert workers.info(job_id).result == 3 and workers.info(job_id).attempts == 3
    assert jobs_probe.effects(workers.effects) == ["k"] and jobs_probe.failures(workers.effects) == []


@pytest.mark.redis
def test_a_job_failing_for_good_calls_on_failure_once(workers: Workers) -> None:
    job_id = workers.queue.enqueue(
        "jobs_probe.record", job_options=JobOptions(retries=1, backoff=(1,), on_failure="jobs_probe.failed"),
        key="k", path=workers.effects, fail_times=99,
    )
    workers.start()
    workers.wait_for(lambda: workers.info(job_id).status == "failed", 40, "the job to fail")
    time.sleep(1.5)  # a second on_failure call would come within a maintenance pass
    error = "ConnectionError: service unreachable (attempt 2)"
    assert jobs_probe.failures(workers.effects) == [("k", error)]
    assert jobs_probe.attempts(workers.effects, "k") == 2 and jobs_probe.effects(workers.effects) == []
    assert workers.info(job_id).error == error


@pytest.mark.redis
def test_a_job_past_its_timeout_fails_and_calls_on_failure(workers: Workers) -> None:
    job_id = workers.queue.enqueue(
        "jobs_probe.record", job_options=JobOptions(timeout=2, retries=2, backoff=(1,), on_failure="jobs_probe.failed"),
        key="k", path=workers.effects, sleep=20,
    )
    workers.start()
    workers.wait_for(lambda: workers.info(job_id).status == "failed", 30, "the job to time out")
    time.sleep(1.5)
    assert jobs_probe.failures(workers.effects) == [("k", "timed out after 2 s")]
    assert jobs_probe.attempts(workers.effects, "k") == 1  # not retried: the timed-out attempt was stopped
    assert jobs_probe.effects(workers.effects) == []


@pytest.mark.redis
def test_redis_restarted_in_the_middle_of_a_batch_loses_nothing(tmp_path: Path) -> None:
    redis_dir = tmp_path / "redis"
    try:
        redis = servers.start_redis(redis_dir, appendonly=True)
    except servers.ServerUnavailable as exc:
        pytest.skip(exc.reason)
    w = make_workers(tmp_path, redis.url)
    try:
        keys = [f"job-{i}" for i in range(12)]
        ids = [w.queue.enqueue("jobs_probe.record", job_options=JobOptions(retries=3, backoff=(1,)),
                               key=k, path=w.effects, sleep=0.5) for k in keys]
        worker = w.start()
        w.wait_for(lambda: len(jobs_probe.effects(w.effects)) >= 2, 30, "the batch to begin")
        redis.stop()  # SIGTERM by pid: Redis writes its append-only file and exits
        assert len(jobs_probe.effects(w.effects)) < len(keys)
        time.sleep(2)
        assert worker.poll() is None, f"cert worker died without Redis\n{w.logs()}"
        redis = servers.start_redis(redis_dir, port=redis.port, appendonly=True)
        w.wait_for(lambda: jobs_probe.effects(w.effects) == sorted(keys), 50, "every job of the batch")
        w.wait_for(lambda: all(w.info(i).status == "done" for i in ids), 20, "every job to be marked done")
        assert worker.poll() is None, "the same cert worker process carried on after reconnecting"
    finally:
        w.stop()
        w.queue.close()
        redis.stop()
