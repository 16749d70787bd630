"""``cert worker``: an rq worker that runs queued jobs against its own ``Platform``.

Reliability on top of rq (docs/response.md, "Jobs: retries, timeouts, restarts"):

* each worker reports itself alive in Redis (``vigie:alive:<worker>``, expiring after
  ``job_worker_ttl`` seconds) at every rq heartbeat, also while a job runs;
* a maintenance pass, when the worker starts and every ``job_maintenance_seconds``, hands the
  jobs of a worker that stopped reporting to rq's abandoned-job handling (retried when retries are
  left, failed otherwise) and moves the retries whose back-off has passed back to the queue;
* the work horse (the forked process that runs a job) dies with its worker, so a killed worker's
  job never runs twice at the same time;
* the failure callback calls the job's ``on_failure`` once, when the job has failed for good;
* a lost Redis connection does not end ``cert worker``: it waits, with back-off, and starts over.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import threading
import time
import uuid
from types import FrameType, TracebackType
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Worker
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.timeouts import JobTimeoutException

from cert.core.config import Settings, load_settings
from cert.runtime.jobs import JobOptions, PermanentJobError, describe_error, resolve
from cert.runtime.platform import Platform

log = logging.getLogger(__name__)

ALIVE_KEY = "vigie:alive:{0}"
MAINTENANCE_LOCK = "vigie:maintenance:{0}"
PR_SET_PDEATHSIG = 1

_worker_platform: Platform | None = None
_worker_settings: Settings | None = None  # set by run_worker: honours `cert --data-dir/--config`
_worker_lock = threading.Lock()


def _platform() -> Platform:
    global _worker_platform
    with _worker_lock:
        if _worker_platform is None:
            _worker_platform = Platform(_worker_settings or load_settings())
        return _worker_platform


def _job_modules() -> tuple[str, ...]:
    return (_worker_settings or load_settings()).job_modules


def run_job(func_path: str, kwargs: dict[str, Any]) -> Any:
    """Entry point executed by rq workers."""
    return resolve(func_path, _job_modules())(_platform(), **kwargs)


def job_failed(
    job: Job, connection: Redis, exc_type: type[BaseException] | None, exc: BaseException | None,
    tb: TracebackType | None,
) -> None:
    """rq's failure callback, called after each failed attempt (and for an abandoned job): when no
    retry follows, record the error on the job and call its ``on_failure`` once."""
    options = JobOptions.from_json(str(job.meta.get("vigie_options") or JobOptions().to_json()))
    if isinstance(exc, JobTimeoutException):
        error = f"timed out after {options.timeout} s"
        job.retries_left = 0  # a timed-out job is failed for good: its attempt may still be acting
    elif exc_type is not None and exc_type.__name__ == "AbandonedJobError":
        error = "abandoned: the worker running the job stopped before it ended"
    elif exc is not None:
        error = describe_error(exc)
        if isinstance(exc, PermanentJobError):
            job.retries_left = 0
    else:
        error = "failed"
    log.warning("job %s attempt failed: %s", job.id, error)
    if job.retries_left and job.retries_left > 0:
        return
    if not connection.set(f"vigie:failed:{job.id}", "1", nx=True, ex=7 * 86400):
        return  # on_failure already called for this job
    job.meta["vigie_error"] = error
    job.save_meta()  # type: ignore[no-untyped-call]
    if not options.on_failure:
        return
    resolve(options.on_failure, _job_modules())(_platform(), error=error, **dict(job.args[1]))


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel kill this process when the worker that forked it dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the worker died before prctl took effect
        os._exit(1)


class WorkHorseKilled(Exception):
    """The process running the job ended without reporting (killed, out of memory, Redis lost)."""


class VigieWorker(Worker):
    """rq's forking worker, with a liveness key, the maintenance pass and horses tied to it."""

    def __init__(self, queues: list[Queue], connection: Redis, name: str, alive_ttl: int = 30,
                 maintenance_seconds: int = 10, reconnect_max_seconds: float = 30.0) -> None:
        self.alive_ttl = max(2, alive_ttl)
        self.tick = max(1, min(self.alive_ttl // 3, maintenance_seconds))
        super().__init__(queues, name=name, connection=connection, maintenance_interval=maintenance_seconds,
                         job_monitoring_interval=self.tick)
        self.max_connection_wait_time = reconnect_max_seconds  # rq's own back-off while it waits for a job

    @property
    def dequeue_timeout(self) -> int:
        return self.tick

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        super().heartbeat(timeout, pipeline)
        (pipeline if pipeline is not None else self.connection).set(
            ALIVE_KEY.format(self.name), os.getpid(), ex=self.alive_ttl
        )

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        _die_with_parent(self.pid or os.getppid())
        super().main_work_horse(job, queue)

    def handle_work_horse_killed(self, job: Job, retpid: Any, ret_val: Any, rusage: Any) -> None:
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)  # type: ignore[no-untyped-call]
        try:
            job_failed(job, self.connection, WorkHorseKilled, WorkHorseKilled(f"exit status {ret_val}"), None)
        except Exception:
            log.exception("failure callback of job %s raised", job.id)

    def subscribe(self) -> None:
        """rq's command channel, read in 1 s slices (rq's 60 s delays each stop by up to a minute:
        stopping the thread waits for its current read)."""
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def teardown(self) -> None:
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
            self.connection.delete(ALIVE_KEY.format(self.name))
        super().teardown()  # type: ignore[no-untyped-call]

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        for queue in self.queues:
            if queue.connection.set(MAINTENANCE_LOCK.format(queue.name), self.name, nx=True, ex=self.tick + 5):
                try:
                    requeue_abandoned(queue)
                    requeue_stranded(queue, grace=self.alive_ttl)
                    enqueue_due_retries(queue)
                finally:
                    queue.connection.delete(MAINTENANCE_LOCK.format(queue.name))


def requeue_abandoned(queue: Queue) -> int:
    """Hand the jobs of dead workers (no liveness key) to rq's abandoned-job handling: retried when
    retries are left, failed (and their failure callback called) otherwise. Returns how many."""
    registry = StartedJobRegistry(queue.name, connection=queue.connection)
    abandoned = 0
    for raw in queue.connection.zrange(registry.key, 0, -1):
        entry = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            worker_name = Execution.from_composite_key(entry, queue.connection).worker_name
        except Exception:  # noqa: BLE001 - an execution record gone with its worker's heartbeats
            worker_name = ""
        if worker_name and queue.connection.exists(ALIVE_KEY.format(worker_name)):
            continue
        job = Job.fetch_many([registry.parse_job_id(entry)], connection=queue.connection)[0]
        if job is None or job.get_status(refresh=False) != JobStatus.STARTED:
            # taken, never started: requeue_stranded() puts it back once it is out of this registry
            queue.connection.zrem(registry.key, entry)
            continue
        queue.connection.zadd(registry.key, {entry: 1}, xx=True)
        abandoned += 1
    if abandoned:
        log.warning("queue %s: %d job(s) of stopped workers handed back", queue.name, abandoned)
        registry.cleanup()
    return abandoned


def requeue_stranded(queue: Queue, grace: float) -> int:
    """Put back in the queue the jobs a worker took (rq's intermediate list) but never started,
    because it died or lost Redis in between; ``grace`` seconds after they were first seen there."""
    conn = queue.connection
    entries = conn.zrange(queue.started_job_registry.key, 0, -1)
    started = {StartedJobRegistry.parse_job_id(e.decode() if isinstance(e, bytes) else str(e)) for e in entries}
    moved = 0
    for job_id in queue.intermediate_queue.get_job_ids():
        if job_id in started:
            continue
        seen_key = f"vigie:stranded:{queue.name}:{job_id}"
        if conn.set(seen_key, time.time(), nx=True, ex=3600):
            continue
        if time.time() - float(conn.get(seen_key) or time.time()) < grace:
            continue
        job = Job.fetch_many([job_id], connection=conn)[0]
        with conn.pipeline() as pipe:
            if job is not None:
                queue._enqueue_job(job, pipeline=pipe)
            pipe.lrem(queue.intermediate_queue.key, 1, job_id)
            pipe.delete(seen_key)
            pipe.execute()
        moved += 1
    if moved:
        log.warning("queue %s: %d job(s) taken by a stopped worker but never started put back", queue.name, moved)
    return moved


def enqueue_due_retries(queue: Queue) -> int:
    """Move the retries whose back-off has passed from the scheduled registry to the queue."""
    registry = ScheduledJobRegistry(queue.name, connection=queue.connection)  # type: ignore[no-untyped-call]
    job_ids = registry.get_jobs_to_schedule(int(time.time()))
    if not job_ids:
        return 0
    jobs = Job.fetch_many(job_ids, connection=queue.connection)
    with queue.connection.pipeline() as pipe:
        for job_id, job in zip(job_ids, jobs, strict=True):
            if job is not None:
                queue._enqueue_job(job, pipeline=pipe, at_front=job.should_enqueue_at_front())
            registry.remove(job_id, pipeline=pipe)
        pipe.execute()
    return len(job_ids)


class _Stop:
    """SIGTERM/SIGINT while ``cert worker`` waits for Redis: stop instead of retrying."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def _redis_ready(conn: Redis) -> bool:
    try:
        return bool(conn.ping())
    except (RedisConnectionError, RedisTimeoutError, OSError):
        return False


def run_worker(settings: Settings, burst: bool = False) -> None:
    """``cert worker``: process playbook and export jobs from Redis, until stopped by a signal (or,
    with ``burst``, until the queue is empty), reconnecting with back-off when Redis goes away."""
    if not settings.redis_url:
        raise SystemExit("cert worker needs CERT_REDIS_URL (in embedded mode jobs run in-process)")
    global _worker_settings
    _worker_settings = settings  # jobs run with these, not a fresh load_settings() that drops --data-dir
    conn = Redis.from_url(settings.redis_url)
    pause = 1.0
    while True:
        worker = VigieWorker(
            [Queue(settings.rq_queue, connection=conn)],
            connection=conn,
            name=f"vigie-{os.getpid()}-{uuid.uuid4().hex[:8]}",
            alive_ttl=settings.job_worker_ttl,
            maintenance_seconds=settings.job_maintenance_seconds,
            reconnect_max_seconds=settings.job_reconnect_max_seconds,
        )
        try:
            worker.work(burst=burst, with_scheduler=False)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.error("cert worker lost Redis: %s", exc)
        finally:
            if worker.horse_pid:  # a job interrupted by the lost connection: it will be retried
                with contextlib.suppress(OSError):
                    worker.kill_horse(signal.SIGKILL)
                    worker.wait_for_horse()
        if worker._stop_requested or worker._shutdown_requested_date is not None:
            return
        if _redis_ready(conn):
            if burst:
                return
            pause = 1.0
            continue
        stop = _Stop()
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not stop.requested and not _redis_ready(conn):
            log.warning("cert worker: Redis unreachable, next attempt in %.0f s", pause)
            time.sleep(pause)
            pause = min(pause * 2, settings.job_reconnect_max_seconds)
        if stop.requested:
            return
