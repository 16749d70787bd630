"""Job queues: rq on Redis in production, a thread pool in-process when embedded.

A job is named by the dotted path of a function ``f(platform, **kwargs)``. The in-process queue
runs it against the platform it was bound to; an rq worker (``cert.runtime.worker``) builds its
own ``Platform`` from the same settings (environment and config file).
"""

from __future__ import annotations

import importlib
import logging
import uuid
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from cert.core.config import Settings

log = logging.getLogger(__name__)

def resolve(path: str) -> Any:
    module, _, attr = path.rpartition(".")
    if not module.startswith(("cert.", "ingest.", "detectors.")):
        raise ValueError(f"refusing to run job {path!r}: not a Vigie function")
    return getattr(importlib.import_module(module), attr)


class JobQueue(ABC):
    kind = "abstract"

    @abstractmethod
    def enqueue(self, func_path: str, **kwargs: Any) -> str:
        """Schedule ``func_path(platform, **kwargs)``; return a job id."""

    def bind(self, platform: object) -> None:  # noqa: B027 - optional hook
        """Give an in-process queue the platform its jobs run against."""

    def wait(self, timeout: float = 30.0) -> None:  # noqa: B027 - optional hook
        """Block until the jobs queued so far have run (in-process only)."""


class InProcessQueue(JobQueue):
    kind = "in-process"

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vigie-job")
        self._futures: list[Future[Any]] = []
        self._platform: object | None = None

    def bind(self, platform: object) -> None:
        self._platform = platform

    def enqueue(self, func_path: str, **kwargs: Any) -> str:
        if self._platform is None:
            raise RuntimeError("in-process queue used before bind(platform)")
        func = resolve(func_path)
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
        resolve(func_path)  # fail here, not in the worker, on a bad name
        job = self.queue.enqueue("cert.runtime.worker.run_job", func_path, kwargs, job_timeout=600, result_ttl=86400)
        return str(job.id)


def make_queue(settings: Settings) -> JobQueue:
    if settings.redis_url:
        return RqQueue(settings.redis_url, settings.rq_queue)
    return InProcessQueue()
