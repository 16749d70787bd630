"""The response timer: every ``response_timer_seconds``, undo the changes whose expiry has passed
and fail the runs that stopped giving signs of life. ``cert serve`` and ``cert worker`` run it in
a thread; several processes running it at once is harmless (an undo is idempotent)."""

from __future__ import annotations

import logging
import threading

from cert.core.errors import VigieError
from cert.response.runs import expire_due, fail_stuck
from cert.runtime.platform import Platform

log = logging.getLogger(__name__)


def tick(platform: Platform) -> tuple[int, int]:
    """One pass: (changes undone, runs failed)."""
    return len(expire_due(platform)), len(fail_stuck(platform))


def start(platform: Platform, stop: threading.Event | None = None) -> threading.Thread | None:
    """The timer's thread (a daemon), or None when ``response_timer_seconds`` is 0."""
    interval = int(platform.settings.response_timer_seconds)
    if interval <= 0:
        return None
    stopping = stop or threading.Event()

    def loop() -> None:
        while not stopping.wait(interval):
            try:
                undone, failed = tick(platform)
                if undone or failed:
                    log.info("response timer: %s change(s) undone, %s stuck run(s) failed", undone, failed)
            except (VigieError, OSError) as exc:  # the next pass tries again
                log.warning("response timer: %s", exc)
            except Exception:  # a timer thread must not die on one bad pass
                log.exception("response timer failed; it goes on")

    thread = threading.Thread(target=loop, name="vigie-response-timer", daemon=True)
    thread.start()
    return thread
