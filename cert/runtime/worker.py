"""``cert worker``: an rq worker that runs queued jobs against its own ``Platform``."""

from __future__ import annotations

import threading
from typing import Any

from cert.core.config import Settings, load_settings
from cert.runtime.jobs import resolve
from cert.runtime.platform import Platform

_worker_platform: Platform | None = None
_worker_settings: Settings | None = None  # set by run_worker: honours `cert --data-dir/--config`
_worker_lock = threading.Lock()


def run_job(func_path: str, kwargs: dict[str, Any]) -> Any:
    """Entry point executed by rq workers."""
    global _worker_platform
    with _worker_lock:
        if _worker_platform is None:
            _worker_platform = Platform(_worker_settings or load_settings())
    return resolve(func_path)(_worker_platform, **kwargs)


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
