"""The embedded job queue (``<data_dir>/jobs.sqlite3``): jobs outlive the process that queued or ran
them, are retried with back-off, time out, and call ``on_failure`` once when they fail for good."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import jobs_probe
import pytest

from cert.core.config import Settings
from cert.runtime.jobs import JobInfo, JobOptions
from cert.runtime.platform import Platform

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


@pytest.fixture
def job_settings(tmp_path: Path) -> Settings:
    return replace(
        Settings(), data_dir=tmp_path / "data", job_modules=("jobs_probe",), job_lease_seconds=1.0,
        job_poll_seconds=0.1, secret_key="test",
    )


@pytest.fixture
def platforms(job_settings: Settings) -> Iterator[Callable[[], Platform]]:
    made: list[Platform] = []

    def make() -> Platform:
        made.append(Platform(job_settings))
        return made[-1]

    yield make
    for p in made:
        p.close()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def info(p: Platform, job_id: str) -> JobInfo:
    found = p.jobs.info(job_id)
    assert found is not None
    return found


def test_transient_errors_are_retried_after_their_back_off(platforms: Callable[[], Platform], tmp_path: Path) -> None:
    p = platforms()
    path = str(tmp_path / "effects.sqlite3")
    options = JobOptions(retries=2, backoff=(0.3, 0.6))
    started = time.monotonic()
    job_id = p.jobs.enqueue("jobs_probe.record", job_options=options, key="k", path=path, fail_times=2)
    p.jobs.wait(20)
    assert time.monotonic() - started >= 0.9  # 0.3 s then 0.6 s between the three attempts
    assert info(p, job_id) == JobInfo(job_id, "done", 3, "", 3)
    assert jobs_probe.attempts(path, "k") == 3 and jobs_probe.effects(path) == ["k"]


def test_a_job_failing_for_good_calls_on_failure_once(platforms: Callable[[], Platform], tmp_path: Path) -> None:
    p = platforms()
    path = str(tmp_path / "effects.sqlite3")
    options = JobOptions(retries=1, backoff=(0.1,), on_failure="jobs_probe.failed")
    job_id = p.jobs.enqueue("jobs_probe.record", job_options=options, key="k", path=path, fail_times=99)
    p.jobs.wait(20)
    job = info(p, job_id)
    assert (job.status, job.attempts) == ("failed", 2)
    assert job.error == "ConnectionError: service unreachable (attempt 2)"
    assert jobs_probe.failures(path) == [("k", "ConnectionError: service unreachable (attempt 2)")]
    assert jobs_probe.effects(path) == []


def test_a_job_past_its_timeout_is_failed_and_its_late_result_ignored(
    platforms: Callable[[], Platform], tmp_path: Path
) -> None:
    p = platforms()
    path = str(tmp_path / "effects.sqlite3")
    options = JobOptions(timeout=1, retries=3, on_failure="jobs_probe.failed")
    stuck = p.jobs.enqueue("jobs_probe.record", job_options=options, key="stuck", path=path, sleep=4)
    p.jobs.wait(20)
    assert info(p, stuck).status == "failed" and info(p, stuck).error == "timed out after 1 s"
    assert jobs_probe.failures(path) == [("stuck", "timed out after 1 s")]
    # the queue keeps working while the stuck thread sleeps: a fresh thread took its place
    quick = p.jobs.enqueue("jobs_probe.record", key="quick", path=path)
    quick2 = p.jobs.enqueue("jobs_probe.record", key="quick2", path=path)
    p.jobs.wait(10)
    assert info(p, quick).status == "done" and info(p, quick2).status == "done"
    # the late thread ends; its result changes nothing, and the job is not retried
    wait_for(lambda: "stuck" in jobs_probe.effects(path), 10, "the stuck thread to end")
    time.sleep(0.3)
    assert info(p, stuck).status == "failed" and jobs_probe.attempts(path, "stuck") == 1
    assert len(jobs_probe.failures(path)) == 1


def test_queued_jobs_wait_in_the_data_dir_until_the_console_serves(
    platforms: Callable[[], Platform], job_settings: Settings, tmp_path: Path
) -> None:
    path = str(tmp_path / "effects.sqlite3")
    cli = platforms()  # a process that only queues (no worker thread starts on enqueue)
    job_id = cli.jobs.enqueue("jobs_probe.record", key="k", path=path)
    time.sleep(0.5)
    assert info(cli, job_id).status == "queued" and jobs_probe.attempts(path, "k") == 0
    cli.close()
    assert (job_settings.data_dir / "jobs.sqlite3").is_file()

    from web.app import create_app

    console = platforms()
    create_app(job_settings, console)  # `cert serve` starting: it resumes what waits in the file
    wait_for(lambda: info(console, job_id).status == "done", 20, "the queued job to run")
    assert jobs_probe.effects(path) == ["k"]


def test_a_job_interrupted_by_a_killed_process_runs_again_once(
    platforms: Callable[[], Platform], job_settings: Settings, tmp_path: Path
) -> None:
    path = str(tmp_path / "effects.sqlite3")
    started = tmp_path / "started"
    script = (
        "import sys, time\n"
        "from dataclasses import replace\n"
        "from pathlib import Path\n"
        "from cert.core.config import Settings\n"
        "from cert.runtime.jobs import JobOptions\n"
        "from cert.runtime.platform import Platform\n"
        "p = Platform(replace(Settings(), data_dir=Path(sys.argv[1]), job_modules=('jobs_probe',),\n"
        "                     job_lease_seconds=1.0, job_poll_seconds=0.1))\n"
        "job_id = p.jobs.enqueue('jobs_probe.record', job_options=JobOptions(retries=1, backoff=(0,)),\n"
        "                        key='k', path=sys.argv[2], sleep=30, started=sys.argv[3])\n"
        "print(job_id, flush=True)\n"
        "p.jobs.start_workers()\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(job_settings.data_dir), path, str(started)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        job_id = proc.stdout.readline().strip()
        wait_for(started.exists, 30, "the job to start in the first process")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close() if proc.stdout else None
        proc.stderr.close() if proc.stderr else None
    assert jobs_probe.effects(path) == []  # killed in the middle: no effect yet

    restarted = platforms()
    assert info(restarted, job_id).status == "running"  # as the dead process left it
    restarted.jobs.start_workers()  # re-queued once its lease expires
    wait_for(lambda: info(restarted, job_id).status != "running", 15, "the expired lease to be noticed")
    wait_for(lambda: info(restarted, job_id).status == "done", 15, "the job to run again")
    assert info(restarted, job_id).attempts == 2
    assert jobs_probe.attempts(path, "k") == 2 and jobs_probe.effects(path) == ["k"]
    assert len(started.read_text().split()) == 2
