"""The spool: a bounded on-disk queue of batches the event store could not take.

When the store is unreachable (``StoreUnavailable``) the ingestor writes the batch here instead,
then commits its checkpoint: the spool, not the store, acknowledged the batch. Every later flush
(and every idle moment of ``--follow``) tries to replay the spool, oldest batch first, before
writing new events. Event ids are deterministic, so a batch replayed twice (a crash between the
store's acknowledgement and the removal of the segment) is stored once.

Layout: ``DATA_DIR/spool/<time_ns>-<pid>-<seq>.batch``, one segment per batch, written to a
temporary name, fsynced and renamed, so a segment is either complete or absent. A segment is a
JSON header line (source, parser) followed by one JSON array per line: position, raw line,
event. Replay takes an exclusive lock (``.lock``), so two processes never replay the same
segment at once.

The spool is bounded (``spool_max_mb``): when a batch does not fit, ``SpoolFull`` is raised and
nothing is acknowledged, so the ingestor stops loudly, keeps its last checkpoint and loses
nothing; the lines are read again on the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cert.core.ecs import Event
from cert.core.errors import VigieError

SUFFIX = ".batch"

# (position, raw line, event) as the ingestor batches them
Item = tuple[str, str, Event]


class SpoolFull(VigieError):
    """The spool cannot take another batch: the store has been unreachable for too long."""


@dataclass(frozen=True)
class Segment:
    path: Path
    source: str
    parser: str
    items: list[Item]


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._size: int | None = None

    # -- state ----------------------------------------------------------------------------------
    def _segments(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))
        except FileNotFoundError:
            return []

    def pending(self) -> int:
        """How many batches wait in the spool."""
        return len(self._segments())

    def size(self) -> int:
        total = 0
        for p in self._segments():
            with contextlib.suppress(FileNotFoundError):
                total += p.stat().st_size
        return total

    def remove_stale_temporaries(self) -> None:
        """Remove half-written segments of processes that died while writing them."""
        try:
            temps = [p for p in self.directory.iterdir() if p.name.startswith(".tmp-")]
        except FileNotFoundError:
            return
        for p in temps:
            try:
                pid = int(p.name.split("-")[1])
            except (IndexError, ValueError):
                pid = -1
            if pid == os.getpid() or _alive(pid):
                continue
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    # -- writing --------------------------------------------------------------------------------
    def append(self, source: str, parser: str, items: Sequence[Item]) -> list[tuple[Item, str]]:
        """Write one batch durably. Returns the items that cannot be serialised, with the reason
        (for the dead letters); raises ``SpoolFull`` when the batch does not fit."""
        lines = [orjson.dumps({"source": source, "parser": parser, "v": 1})]
        bad: list[tuple[Item, str]] = []
        for item in items:
            pos, raw, event = item
            try:
                lines.append(orjson.dumps((pos, _raw_out(raw), event)))
            except TypeError as exc:  # orjson.JSONEncodeError
                bad.append((item, f"cannot serialise the event: {exc}"))
        if len(lines) == 1:
            return bad
        data = b"\n".join(lines) + b"\n"
        with self._lock:
            if self._size is None or self._size + len(data) > self.max_bytes:
                self._size = self.size()  # another process may have replayed some meanwhile
            if self._size + len(data) > self.max_bytes:
                raise SpoolFull(
                    f"the spool {self.directory} is full ({self._size:,} bytes, limit {self.max_bytes:,}; "
                    f"spool_max_mb): the event store has been unreachable for too long. Nothing was lost: "
                    f"the last {len(items)} lines of {source} were not acknowledged and are read again on "
                    f"the next run. Restore the event store, or raise CERT_SPOOL_MAX_MB."
                )
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):08d}{SUFFIX}"
            tmp = self.directory / f".tmp-{os.getpid()}-{name}"
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.directory / name)
            _fsync_dir(self.directory)
            self._size += len(data)
        return bad

    # -- replaying ------------------------------------------------------------------------------
    def replay(self, handle: Callable[[Segment], None]) -> int:
        """Hand every segment, oldest first, to ``handle`` and remove it once ``handle`` returns.
        An exception from ``handle`` (the store is still down) stops the replay and keeps the
        segment. Returns how many segments were replayed; 0 when another process holds the lock."""
        if not self._segments():
            return 0
        self.directory.mkdir(parents=True, exist_ok=True)
        done = 0
        with open(self.directory / ".lock", "a+b") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0
            try:
                for path in self._segments():
                    segment = read_segment(path)
                    if segment is None:
                        continue
                    handle(segment)
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                    done += 1
                    with self._lock:
                        self._size = None
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        return done


def read_segment(path: Path) -> Segment | None:
    """A segment's content; None when it vanished (replayed by another process)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    lines = iter(data.splitlines())
    header: dict[str, Any] = orjson.loads(next(lines))
    items: list[Item] = []
    for line in _nonblank(lines):
        pos, raw, event = orjson.loads(line)
        items.append((str(pos), _raw_in(raw), event))
    return Segment(path, str(header["source"]), str(header["parser"]), items)


def _raw_out(raw: str) -> str | dict[str, str]:
    """The raw line as JSON can hold it: undecodable bytes (kept as surrogates) go as hex."""
    if raw.isascii():
        return raw
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        return {"hex": raw.encode("utf-8", "surrogateescape").hex()}
    return raw


def _raw_in(raw: Any) -> str:
    if isinstance(raw, dict):
        return bytes.fromhex(str(raw["hex"])).decode("utf-8", "surrogateescape")
    return str(raw)


def _nonblank(lines: Iterator[bytes]) -> Iterator[bytes]:
    return (line for line in lines if line.strip())


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
