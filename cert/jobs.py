"""Background jobs: rq workers on Redis in production, a thread pool in-process when embedded.

A job is named by the dotted path of a function ``f(platform, **kwargs)``; the worker builds
its own ``Platform`` from the same settings (environment and config file).
"""

from __future__ import annotations

import importlib
import logging
import threading
import uuid
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from cert.config import Settings, load_settings

if TYPE_CHECKING:
    from cert.platform import Platform

log = logging.getLogger(__name__)

_worker_platform: Platform | None = None
_worker_settings: Settings | None = None  # set by run_worker: honours `cert --data-dir/--config`
_worker_lock = threading.Lock()


def _resolve(path: str) -> Any:
    module, _, attr = path.rpartition(".")
    if not module.startswith(("cert.", "ingest.", "detectors.")):
        raise ValueError(f"refusing to run job {path!r}: not a Vigie function")
    return getattr(importlib.import_module(module), attr)


def run_job(func_path: str, kwargs: dict[str, Any]) -> Any:
    """Entry point executed by rq workers."""
    global _worker_platform
    from cert.platform import Platform

    with _worker_lock:
        if _worker_platform is None:
            _worker_platform = Platform(_worker_settings or load_settings())
    return _resolve(func_path)(_worker_platform, **kwargs)


class JobQueue(ABC):
    kind = "abstract"

    @abstractmethod
    def enqueue(self, func_path: str, **kwargs: Any) -> str:
        """Schedule ``func_path(platform, **kwargs)``; return a job id."""

    def bind(self, platform: Platform) -> None:  # noqa: B027 - optional hook
        """Give an in-process queue the platform its jobs run against."""

    def wait(self, timeout: float = 30.0) -> None:  # noqa: B027 - optional hook
        """Block until the jobs queued so far have run (in-process only)."""


class InProcessQueue(JobQueue):
    kind = "in-process"

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vigie-job")
        self._futures: list[Future[Any]] = []
        self._platform: Platform | None = None

    def bind(self, platform: Platform) -> None:
        self._platform = platform

    def enqueue(self, func_path: str, **kwargs: Any) -> str:
        if self._platform is None:
            raise RuntimeError("in-process queue used before bind(platform)")
        func = _resolve(func_path)
        job_id = uuid.uuid4().hex
        fut = self._pool.submit(func, self._platform, **kwargs)
        fut.add_done_callback(_log_failure)
        self._futures.append(fut)
        return job_id

    def wait(self, timeout: float = 30.0) -> None:
        pending, self._futures = self._futures, []
        for fut in pending:
            fut.exception(timeout=timeout)


def _log_failure(fut: Future[Any]) -> None:
    exc = fut.exception()
    if exc is not None:
        log.error("background job failed: %s", exc)


class RqQueue(JobQueue):
    kind = "rq"

    def __init__(self, redis_url: str, name: str) -> None:
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(redis_url)
        self.queue = Queue(name, connection=self.redis)

    def enqueue(self, func_path: str, **kwargs: Any) -> str:
        _resolve(func_path)  # fail here, not in the worker, on a bad name
        job = self.queue.enqueue(run_job, func_path, kwargs, job_timeout=600, result_ttl=86400)
        return str(job.id)


def make_queue(settings: Settings) -> JobQueue:
    if settings.redis_url:
        return RqQueue(settings.redis_url, settings.rq_queue)
    return InProcessQueue()


def run_worker(settings: Settings, burst: bool = False) -> None:
    """``cert worker``: process playbook and export jobs from Redis."""
    if not settings.redis_url:
        raise SystemExit("cert worker needs CERT_REDIS_URL (in embedded mode jobs run in-process)")
    from redis import Redis
    from rq import Queue, Worker

    global _worker_settings
    _worker_settings = settings  # jobs run with these, not a fresh load_settings() that drops --data-dir
    conn = Redis.from_url(settings.redis_url)
    worker = Worker([Queue(settings.rq_queue, connection=conn)], connection=conn)
    worker.work(burst=burst, with_scheduler=False)
