"""The embedded job queue: a SQLite file of its own in the data directory (``jobs.sqlite3``, WAL).

Jobs survive the process. Worker threads of the process that serves the console claim a queued job
with a lease (one atomic ``UPDATE``), a supervisor thread renews the leases of the jobs running
here, fails the jobs past their timeout, and puts back in the queue the jobs whose lease expired
because their process died (or fails them, and calls their ``on_failure``, when no retry is left).

A Python thread cannot be killed: a job past its timeout is marked failed and its ``on_failure``
called, a fresh thread takes its place, and whatever the late thread returns is ignored (each claim
carries an owner token that the late write no longer matches).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cert.core.config import Settings
from cert.runtime.jobs import (
    JobInfo,
    JobOptions,
    JobQueue,
    PermanentJobError,
    check_kwargs,
    describe_error,
    resolve,
)

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    func TEXT NOT NULL,
    kwargs TEXT NOT NULL,
    options TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after REAL NOT NULL,
    lease_until REAL,
    deadline REAL,
    owner TEXT,
    error TEXT NOT NULL DEFAULT '',
    result TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (status, run_after);
"""


@dataclass(frozen=True)
class Claim:
    id: str
    func: str
    kwargs: dict[str, Any]
    options: JobOptions
    attempts: int
    owner: str
    started: float = 0.0


class EmbeddedQueue(JobQueue):
    kind = "in-process"

    def __init__(self, path: Path, settings: Settings) -> None:
        self.path = path
        self.threads = max(1, settings.job_threads)
        self.lease = max(0.5, settings.job_lease_seconds)
        self.poll = max(0.05, settings.job_poll_seconds)
        self.job_modules = settings.job_modules
        self.autostart = False  # set by serve(): enqueue() then starts the workers of this process
        self._platform: object | None = None
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._running: dict[str, tuple[Claim, threading.Thread]] = {}  # owner token -> the jobs running here
        self._workers: list[threading.Thread] = []
        self._supervisor: threading.Thread | None = None
        self._schema_ready = False

    # ------------------------------------------------------------------ storage
    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """One connection per operation, in autocommit mode; ``BEGIN IMMEDIATE`` where it must be atomic."""
        if not self._schema_ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            if not self._schema_ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
                self._schema_ready = True
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn
        finally:
            conn.close()

    # ------------------------------------------------------------------ public API
    def bind(self, platform: object) -> None:
        self._platform = platform

    def enqueue(self, func_path: str, job_options: JobOptions | None = None, **kwargs: Any) -> str:
        options = job_options or JobOptions()
        resolve(func_path, self.job_modules)
        if options.on_failure:
            resolve(options.on_failure, self.job_modules)
        args = check_kwargs(kwargs)
        job_id = uuid.uuid4().hex
        now = time.time()
        with self._db() as conn:
            conn.execute(
                "INSERT INTO jobs (id, func, kwargs, options, status, run_after, created_at)"
                " VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                (job_id, func_path, args, options.to_json(), now, now),
            )
        if self.autostart:
            self.start_workers()
        self._notify()
        return job_id

    def info(self, job_id: str) -> JobInfo | None:
        with self._db() as conn:
            row = conn.execute(
                "SELECT status, attempts, error, result FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        if row is None:
            return None
        return JobInfo(job_id, row[0], int(row[1]), row[2], json.loads(row[3]) if row[3] else None)

    def serve(self) -> None:
        """Run jobs in this process: now when some wait in the file, else from the first enqueue."""
        self.autostart = True
        if self.path.exists():
            with self._db() as conn:
                waiting = conn.execute("SELECT 1 FROM jobs WHERE status IN ('queued', 'running') LIMIT 1").fetchone()
            if waiting:
                self.start_workers()

    def start_workers(self) -> None:
        with self._lock:
            if self._platform is None:
                raise RuntimeError("embedded job queue used before bind(platform)")
            if self._supervisor is not None and self._supervisor.is_alive():
                return
            self._stop.clear()
            self.recover()
            self._supervisor = threading.Thread(target=self._supervise, name="vigie-job-supervisor", daemon=True)
            self._supervisor.start()
            for _ in range(self.threads):
                self._spawn_worker()

    def wait(self, timeout: float = 30.0) -> None:
        """Run the jobs queued so far in this process and block until each is done or failed."""
        self.start_workers()
        with self._db() as conn:
            pending = [r[0] for r in conn.execute("SELECT id FROM jobs WHERE status IN ('queued', 'running')")]
        deadline = time.monotonic() + timeout
        while pending:
            with self._db() as conn:
                marks = ",".join("?" * len(pending))
                pending = [r[0] for r in conn.execute(
                    f"SELECT id FROM jobs WHERE id IN ({marks}) AND status IN ('queued', 'running')",  # noqa: S608
                    pending,
                )]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} job(s) still queued or running after {timeout:.0f} s")
            self._notify()
            time.sleep(0.02)

    def close(self, timeout: float = 5.0) -> None:
        """Stop this process's workers; the jobs they still run are taken up again after their lease."""
        self._stop.set()
        self._notify()
        with self._lock:
            threads = [*self._workers, *([self._supervisor] if self._supervisor else [])]
            self._workers, self._supervisor = [], None
        end = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))

    # ------------------------------------------------------------------ claiming and finishing
    def _notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _spawn_worker(self) -> None:
        thread = threading.Thread(target=self._work, name=f"vigie-job-{len(self._workers) + 1}", daemon=True)
        self._workers.append(thread)
        thread.start()

    def claim(self) -> Claim | None:
        """Take the oldest job that is due, with a lease; None when there is none."""
        owner = f"{os.getpid()}-{uuid.uuid4().hex}"
        now = time.time()
        with self._db() as conn:
            row = conn.execute(
                "UPDATE jobs SET status = 'running', owner = ?, attempts = attempts + 1, started_at = ?,"
                " lease_until = ?, deadline = ? + json_extract(options, '$.timeout'), error = ''"
                " WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND run_after <= ?"
                "             ORDER BY run_after, created_at LIMIT 1) AND status = 'queued'"
                " RETURNING id, func, kwargs, options, attempts",
                (owner, now, now + self.lease, now, now),
            ).fetchone()
        if row is None:
            return None
        return Claim(row[0], row[1], json.loads(row[2]), JobOptions.from_json(row[3]), int(row[4]), owner, now)

    def _work(self) -> None:
        me = threading.current_thread()
        while not self._stop.is_set():
            try:
                claim = self.claim()
            except sqlite3.Error as exc:
                log.error("job queue %s: %s", self.path, exc)
                claim = None
            if claim is None:
                with self._wake:
                    self._wake.wait(self.poll)
                continue
            self._running[claim.owner] = (claim, me)
            try:
                self._run(claim)
            finally:
                self._running.pop(claim.owner, None)
            if me not in self._workers:  # timed out while running: a fresh thread took this one's place
                return

    def _run(self, claim: Claim) -> None:
        try:
            func = resolve(claim.func, self.job_modules)
            result = func(self._platform, **claim.kwargs)
        except Exception as exc:  # noqa: BLE001 - job boundary: every failure is recorded on the job
            error = describe_error(exc)
            log.warning("job %s (%s) attempt %d failed: %s", claim.id, claim.func, claim.attempts, error)
            final = isinstance(exc, PermanentJobError) or claim.attempts > claim.options.retries
            self._fail_or_retry(claim.id, claim.owner, claim, error, final)
            return
        try:
            stored = json.dumps(result)
        except (TypeError, ValueError):
            stored = json.dumps(repr(result))
        with self._db() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'done', result = ?, finished_at = ?, lease_until = NULL, owner = NULL"
                " WHERE id = ? AND owner = ? AND status = 'running'",
                (stored, time.time(), claim.id, claim.owner),
            )

    def _fail_or_retry(self, job_id: str, owner: str, claim: Claim, error: str, final: bool) -> None:
        """Requeue the job after its back-off, or fail it and call ``on_failure`` (only if this call
        is the one that changed the row: a job is failed once)."""
        now = time.time()
        with self._db() as conn:
            if not final:
                conn.execute(
                    "UPDATE jobs SET status = 'queued', run_after = ?, error = ?, owner = NULL, lease_until = NULL,"
                    " deadline = NULL WHERE id = ? AND owner = ? AND status = 'running'",
                    (now + claim.options.delay(claim.attempts), error, job_id, owner),
                )
                self._notify()
                return
            changed = conn.execute(
                "UPDATE jobs SET status = 'failed', error = ?, finished_at = ?, owner = NULL, lease_until = NULL"
                " WHERE id = ? AND owner = ? AND status = 'running'",
                (error, now, job_id, owner),
            ).rowcount
        if changed:
            log.error("job %s (%s) failed for good: %s", job_id, claim.func, error)
            self._call_on_failure(claim, error)

    def _call_on_failure(self, claim: Claim, error: str) -> None:
        if not claim.options.on_failure:
            return
        try:
            resolve(claim.options.on_failure, self.job_modules)(self._platform, error=error, **claim.kwargs)
        except Exception:
            log.exception("on_failure %s of job %s raised", claim.options.on_failure, claim.id)

    # ------------------------------------------------------------------ supervision
    def _supervise(self) -> None:
        interval = min(self.lease / 3, self.poll)
        while not self._stop.wait(interval):
            try:
                self.heartbeat()
                self.expire_timeouts()
                self.recover()
            except sqlite3.Error as exc:
                log.error("job queue %s: %s", self.path, exc)

    def heartbeat(self) -> None:
        """Extend the leases of the jobs this process runs."""
        owners = list(self._running)
        if not owners:
            return
        marks = ",".join("?" * len(owners))
        with self._db() as conn:
            conn.execute(
                f"UPDATE jobs SET lease_until = ? WHERE status = 'running' AND owner IN ({marks})",  # noqa: S608
                (time.time() + self.lease, *owners),
            )

    def expire_timeouts(self) -> None:
        """Fail the jobs running past their timeout (whichever process runs them)."""
        now = time.time()
        with self._db() as conn:
            rows = conn.execute(
                "SELECT id, func, kwargs, options, attempts, owner FROM jobs WHERE status = 'running' AND deadline < ?",
                (now,),
            ).fetchall()
        for row in rows:
            claim = Claim(row[0], row[1], json.loads(row[2]), JobOptions.from_json(row[3]), int(row[4]), row[5])
            self._fail_or_retry(claim.id, claim.owner, claim, f"timed out after {claim.options.timeout} s", final=True)
        # a thread of this process stuck in a timed-out job makes way for a fresh one
        for owner, (claim, thread) in list(self._running.items()):
            if now > claim.started + claim.options.timeout:
                self._running.pop(owner, None)
                with self._lock:
                    if thread in self._workers:
                        self._workers.remove(thread)
                    if not self._stop.is_set():
                        while len(self._workers) < self.threads:
                            self._spawn_worker()

    def recover(self) -> None:
        """Requeue (or fail, when no retry is left) the running jobs whose lease expired: their process died."""
        now = time.time()
        with self._db() as conn:
            rows = conn.execute(
                "SELECT id, func, kwargs, options, attempts, owner FROM jobs"
                " WHERE status = 'running' AND lease_until < ?",
                (now,),
            ).fetchall()
        for row in rows:
            claim = Claim(row[0], row[1], json.loads(row[2]), JobOptions.from_json(row[3]), int(row[4]), row[5])
            if claim.owner in self._running:
                continue  # running here: the heartbeat is only late
            error = "abandoned: the process running the job stopped before it ended"
            log.warning("job %s (%s): %s", claim.id, claim.func, error)
            self._fail_or_retry(claim.id, claim.owner, claim, error, final=claim.attempts > claim.options.retries)
