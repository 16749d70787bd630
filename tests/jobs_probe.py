"""Job functions for the job-queue tests, run by real workers (allowed through ``job_modules``).

``record`` is idempotent the way Vigie's jobs are written: it notes each attempt, then applies its
effect (a row keyed by ``key``) only when the key is not there yet.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path


def _db(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS attempts (key TEXT, pid INTEGER)")
    conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, applied INTEGER)")
    conn.execute("CREATE TABLE IF NOT EXISTS failures (key TEXT, error TEXT)")
    return conn


def record(platform: object, key: str, path: str, fail_times: int = 0, sleep: float = 0.0,
           started: str | None = None) -> int:
    """Attempt n: the first one takes ``sleep`` seconds; raise a transient error while
    n <= fail_times, else apply the effect once."""
    conn = _db(path)
    conn.execute("INSERT INTO attempts VALUES (?, ?)", (key, os.getpid()))
    n = int(conn.execute("SELECT count(*) FROM attempts WHERE key = ?", (key,)).fetchone()[0])
    if started:
        with Path(started).open("a") as f:
            f.write(f"{os.getpid()}\n")
    if sleep and n == 1:
        time.sleep(sleep)
    if n <= fail_times:
        raise ConnectionError(f"service unreachable (attempt {n})")
    if conn.execute("SELECT 1 FROM effects WHERE key = ?", (key,)).fetchone() is None:
        conn.execute("INSERT INTO effects VALUES (?, 1)", (key,))
    return n


def failed(platform: object, error: str, key: str, path: str, **_: object) -> None:
    """on_failure: what the playbook engine does with it (record the failure)."""
    _db(path).execute("INSERT INTO failures VALUES (?, ?)", (key, error))


def attempts(path: str, key: str) -> int:
    return int(_db(path).execute("SELECT count(*) FROM attempts WHERE key = ?", (key,)).fetchone()[0])


def effects(path: str) -> list[str]:
    return [r[0] for r in _db(path).execute("SELECT key FROM effects ORDER BY key")]


def failures(path: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in _db(path).execute("SELECT key, error FROM failures ORDER BY rowid")]
