"""Job queues: rq on Redis in production, a durable SQLite queue in the data directory when embedded.

A job is named by the dotted path of a function ``f(platform, **kwargs)`` whose keyword arguments
are JSON values. Delivery is at least once: a job may run again after a crash, a lost worker or a
transient error, so job functions are written idempotent. Each job carries ``JobOptions``: its
timeout, how many times it is retried and after which delays, and the function called once when
it has failed for good (``on_failure(platform, error, **kwargs)``). See docs/response.md,
"Jobs: retries, timeouts, restarts".
"""

from __future__ import annotations

import importlib
import json
import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

VIGIE_PACKAGES = ("cert", "ingest", "detectors")


class PermanentJobError(Exception):
    """Raised by a job function to fail at once, without the retries its options allow."""


@dataclass(frozen=True)
class JobOptions:
    """How one job is run: at most ``timeout`` seconds per attempt; after an error or a lost worker,
    up to ``retries`` more attempts, the n-th after ``backoff[n-1]`` seconds (the last delay repeats);
    ``on_failure`` (a dotted path) is called once when the job has failed for good."""

    timeout: int = 600
    retries: int = 3
    backoff: tuple[float, ...] = (5.0, 30.0, 120.0)
    on_failure: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, int) or self.timeout < 1:
            raise ValueError(f"job timeout must be a whole number of seconds above 0, not {self.timeout!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"job retries must be a whole number, 0 or more, not {self.retries!r}")
        if any(isinstance(d, bool) or not isinstance(d, int | float) or d < 0 for d in self.backoff):
            raise ValueError(f"job back-off delays must be seconds, 0 or more, not {self.backoff!r}")
        object.__setattr__(self, "backoff", tuple(float(d) for d in self.backoff))

    def delay(self, attempt: int) -> float:
        """Seconds to wait before the attempt after ``attempt`` (1 for the first) failed."""
        if not self.backoff:
            return 0.0
        return self.backoff[min(attempt, len(self.backoff)) - 1]

    def rq_intervals(self) -> list[int]:
        """The back-off as rq's whole-second retry intervals."""
        return [math.ceil(d) for d in self.backoff] or [0]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> JobOptions:
        data = json.loads(raw)
        return cls(int(data["timeout"]), int(data["retries"]), tuple(data["backoff"]), data.get("on_failure"))


@dataclass(frozen=True)
class JobInfo:
    """What the queue knows of a job: ``queued``, ``running``, ``done`` or ``failed``."""

    id: str
    status: str
    attempts: int
    error: str = ""
    result: Any = None


def allowed_module(module: str, extra: tuple[str, ...] = ()) -> bool:
    return any(module == p or module.startswith(p + ".") for p in (*VIGIE_PACKAGES, *extra))


def resolve(path: str, extra: tuple[str, ...] = ()) -> Any:
    """The function a job names; only Vigie's packages and the ``job_modules`` setting's are allowed."""
    module, _, attr = path.rpartition(".")
    if not module or not attr or not allowed_module(module, extra):
        raise ValueError(f"refusing to run job {path!r}: not a Vigie function")
    func = getattr(importlib.import_module(module), attr, None)
    if not callable(func):
        raise ValueError(f"job {path!r} names no function")
    return func


def check_kwargs(kwargs: dict[str, Any]) -> str:
    """The job's keyword arguments as JSON: what both queues can store and give back unchanged."""
    try:
        text = json.dumps(kwargs, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"job arguments must be JSON values: {exc}") from exc
    if json.loads(text) != kwargs:
        raise ValueError("job arguments must be JSON values (tuples and non-string keys change on the way)")
    return text


def describe_error(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JobQueue(ABC):
    kind = "abstract"

    @abstractmethod
    def enqueue(self, func_path: str, job_options: JobOptions | None = None, **kwargs: Any) -> str:
        """Schedule ``func_path(platform, **kwargs)`` with ``job_options``; return a job id."""

    @abstractmethod
    def info(self, job_id: str) -> JobInfo | None:
        """The job's status, attempts so far and last error; None when the queue has forgotten it."""

    def bind(self, platform: object) -> None:  # noqa: B027 - optional hook
        """Give an in-process queue the platform its jobs run against."""

    def serve(self) -> None:  # noqa: B027 - optional hook
        """This process runs jobs (the console in embedded mode): resume the waiting ones now."""

    def start_workers(self) -> None:  # noqa: B027 - optional hook
        """Start running jobs in this process (embedded mode)."""

    def wait(self, timeout: float = 30.0) -> None:  # noqa: B027 - optional hook
        """Block until the jobs queued so far are done or failed (embedded mode only)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop this process's workers and release connections."""


class RqQueue(JobQueue):
    """Jobs in Redis, run by ``cert worker`` processes (``cert.runtime.worker``)."""

    kind = "rq"

    def __init__(self, redis_url: str, name: str, job_modules: tuple[str, ...] = ()) -> None:
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(redis_url)
        self.queue = Queue(name, connection=self.redis)
        self.job_modules = job_modules

    def enqueue(self, func_path: str, job_options: JobOptions | None = None, **kwargs: Any) -> str:
        from rq import Callback, Retry

        options = job_options or JobOptions()
        resolve(func_path, self.job_modules)  # fail here, not in the worker, on a bad name
        if options.on_failure:
            resolve(options.on_failure, self.job_modules)
        check_kwargs(kwargs)
        job = self.queue.enqueue(
            "cert.runtime.worker.run_job",
            func_path,
            kwargs,
            job_timeout=options.timeout,
            result_ttl=86400,
            failure_ttl=7 * 86400,
            retry=Retry(max=options.retries, interval=options.rq_intervals()) if options.retries else None,
            on_failure=Callback("cert.runtime.worker.job_failed", timeout=60),
            meta={"vigie_options": options.to_json()},
        )
        return str(job.id)

    def info(self, job_id: str) -> JobInfo | None:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        try:
            job = Job.fetch(job_id, connection=self.redis)
        except NoSuchJobError:
            return None
        options = JobOptions.from_json(str(job.meta.get("vigie_options") or JobOptions().to_json()))
        status = {"finished": "done", "failed": "failed", "stopped": "failed", "canceled": "failed",
                  "started": "running"}.get(getattr(job.get_status(), "value", ""), "queued")
        attempts = options.retries - (job.retries_left if job.retries_left is not None else options.retries)
        attempts += 1 if status in {"running", "done", "failed"} else 0
        error = str(job.meta.get("vigie_error") or "")
        return JobInfo(job_id, status, attempts, error, job.return_value() if status == "done" else None)

    def close(self) -> None:
        self.redis.close()

