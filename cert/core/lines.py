"""Reading log files from a checkpoint: where we are in a file, and how to find it again.

A checkpoint is (inode, offset, line number, fingerprint): the next byte to read in the file that
had this inode, and a hash of its first bytes. ``FileReader`` resumes from one, and knows what
happened to the file while we were away:

- same inode, same first bytes, offset within the file: resume at the offset;
- same inode but shorter than the offset, or other first bytes: truncated or rewritten
  (``copytruncate``), read it again from the start;
- another inode at the path: rotated; if the old file is still in the same directory
  (``access.log.1``), finish it from the offset first, then read the new file from the start.

In ``follow`` mode the reader keeps reading as the file grows and handles rotation and
truncation the same way (``tail -F``). Lines longer than ``max_line_bytes`` are not kept in
memory: the reader yields a ``RejectedLine`` (the first bytes and the reason) for the dead
letters. The checkpoints themselves are stored in the SQL database (``ingest_sources``), in the
same transaction as the batch's dead letters and counters, after the event store acknowledged
the batch: see ``cert.pipeline.state``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, cast

from cert.core.errors import InvalidInput

FINGERPRINT_BYTES = 1024
MAX_LINE_BYTES = 1 << 20  # 1 MiB: longer lines are dead-lettered, never held in memory


@dataclass(frozen=True)
class FilePosition:
    inode: int | None
    offset: int = 0
    line: int = 0
    fingerprint: str = ""


class RejectedLine(NamedTuple):
    """A line the reader itself refuses (too long); ``raw`` holds its first bytes only."""

    lineno: int
    raw: str
    reason: str


LineItem = tuple[int, str] | RejectedLine | None


def fingerprint_of(fh: BinaryIO, length: int) -> str:
    """``"<n>:<hash>"`` of the first ``n = min(length, FINGERPRINT_BYTES)`` bytes of the file."""
    n = min(length, FINGERPRINT_BYTES)
    if n <= 0:
        return ""
    head = os.pread(fh.fileno(), n, 0)
    return f"{n}:{hashlib.blake2b(head, digest_size=12).hexdigest()}"


def record_identity(first_line: bytes) -> str:
    """The identity of what a reader reads (a file, one generation of a rotated log): a hash of
    its first line (without the line ending, at most ``FINGERPRINT_BYTES``). It is part of every
    event id (``cert.core.ecs.event_id``): it does not change while the file grows, nor when the
    file is renamed, copied, restored or read again from a checkpoint, and it changes when a new
    file takes the path (rotation, ``copytruncate``)."""
    return hashlib.blake2b(first_line.rstrip(b"\r")[:FINGERPRINT_BYTES], digest_size=12).hexdigest()


def _first_line(fh: BinaryIO, limit: int) -> bytes:
    """The first line of an open file (up to ``limit`` bytes), without its newline."""
    data = b""
    while len(data) < limit:
        chunk = os.pread(fh.fileno(), min(1 << 16, limit - len(data)), len(data))
        if not chunk:
            break
        end = chunk.find(b"\n")
        if end >= 0:
            return data + chunk[:end]
        data += chunk
    return data


def _matches(fh: BinaryIO, fingerprint: str) -> bool:
    if not fingerprint:
        return True
    n_text, _, _ = fingerprint.partition(":")
    try:
        n = int(n_text)
    except ValueError:
        return False
    return os.fstat(fh.fileno()).st_size >= n and fingerprint_of(fh, n) == fingerprint


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape").rstrip("\r\n")


class FileReader:
    """Iterates ``(line number, text)`` of one file from a checkpoint; ``position`` is the
    checkpoint after the last line yielded. With ``follow``, yields None whenever it is idle
    (at the end of the file), so that the caller can flush its batch.

    Beside each line it yields, ``line_start`` is the byte offset where the line starts in its
    file and ``identity`` the file's ``record_identity``: with the path, what makes the line's
    event id (the same line read again gets the same id; another line, or the same text at
    another place, another id)."""

    def __init__(self, path: str | Path, start: FilePosition | None = None, *, follow: bool = False,
                 poll: float = 0.5, stop: Callable[[], bool] = lambda: False,
                 max_line_bytes: int = MAX_LINE_BYTES, stream: BinaryIO | None = None) -> None:
        self.path = str(path)
        self._stream = stream  # an already open stream (stdin): read once, no checkpoint
        self.start = start
        self.follow = follow
        self.poll = poll
        self.stop = stop
        self.max_line_bytes = max_line_bytes
        self._fh: BinaryIO | None = None
        self._inode: int | None = None
        self._offset = 0  # after the last complete line yielded
        self._line = 0
        self._fingerprint: tuple[int, str] | None = None  # (length hashed, fingerprint) of the open file
        self.line_start = 0  # byte offset of the last line yielded, in its file
        self.identity = ""  # record_identity of the file of the last line yielded
        self.start_offset = 0  # where reading started in the file at the path (for progress bars)
        self.rotated_from: str | None = None  # the rotated file finished first, if any
        self._backlog: tuple[BinaryIO, int, int] | None = None  # (old file, offset, line) to finish first
        if stream is None:
            self._open_at_start()

    # -- opening ------------------------------------------------------------------------------
    def _open(self) -> BinaryIO | None:
        try:
            return open(self.path, "rb")
        except FileNotFoundError:
            if self.follow:
                return None
            raise InvalidInput(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise InvalidInput(f"{self.path}: is a directory, not a log file") from None
        except PermissionError:
            raise InvalidInput(f"{self.path}: permission denied") from None

    def _open_at_start(self) -> None:
        fh = self._open()
        start = self.start
        if fh is None:  # following a file that is not there (yet): rotated away while we were down?
            old = self._find_rotated(start) if start is not None and start.inode is not None else None
            if old is not None and start is not None:
                self._backlog = (old, start.offset, start.line)
            return
        st = os.fstat(fh.fileno())
        self._set_file(fh, st.st_ino)
        if start is None or start.inode is None:
            return
        if start.inode == st.st_ino:
            if start.offset <= st.st_size and _matches(fh, start.fingerprint):
                self._seek(start.offset, start.line)
            return  # else: truncated or rewritten in place, read again from the start
        old = self._find_rotated(start)
        if old is not None:
            self._backlog = (old, start.offset, start.line)

    def _find_rotated(self, start: FilePosition) -> BinaryIO | None:
        """The file that had the checkpoint's inode, if it was renamed within the directory."""
        directory = Path(self.path).parent
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return None
        for entry in entries:
            try:
                if entry.inode() != start.inode or not entry.is_file():
                    continue
                fh = open(entry.path, "rb")  # noqa: SIM115 - closed by the caller
            except OSError:
                continue
            if os.fstat(fh.fileno()).st_size >= start.offset and _matches(fh, start.fingerprint):
                self.rotated_from = entry.path
                return fh
            fh.close()
        return None

    def _set_file(self, fh: BinaryIO, inode: int) -> None:
        self._fh, self._inode = fh, inode
        self._offset = self._line = 0
        self._fingerprint = None
        self.identity = ""  # set from the first line read

    def _seek(self, offset: int, line: int) -> None:
        assert self._fh is not None
        self._fh.seek(offset)
        self._offset, self._line = offset, line
        self.start_offset = offset
        self._identify()

    def _identify(self) -> None:
        """The identity of a file read from the middle: its first line, read apart."""
        if self._fh is not None and self._offset > 0:
            self.identity = record_identity(_first_line(self._fh, self.max_line_bytes))

    def _close(self) -> None:
        if self._fh is not None:
            self._remember_fingerprint()  # the last checkpoint is taken after the file is closed
            self._fh.close()
            self._fh = None

    def _remember_fingerprint(self) -> str:
        assert self._fh is not None
        if self._stream is not None:
            return ""
        n = min(self._offset, FINGERPRINT_BYTES)
        if self._fingerprint is None or self._fingerprint[0] != n:
            self._fingerprint = (n, fingerprint_of(self._fh, n))
        return self._fingerprint[1]

    def skip_to_end(self) -> None:
        """Start at the end of the file (``tail -f`` without history)."""
        if self._fh is not None:
            self._backlog = None
            size = os.fstat(self._fh.fileno()).st_size
            self._fh.seek(size)
            self._offset = self.start_offset = size
            self._line = 0
            self._identify()

    # -- position -----------------------------------------------------------------------------
    @property
    def offset(self) -> int:
        """Bytes consumed in the current file (after the last line yielded)."""
        return self._offset

    @property
    def position(self) -> FilePosition:
        """The checkpoint after the last line yielded."""
        fp = ""
        if self._fh is not None:
            fp = self._remember_fingerprint()
        elif self._fingerprint is not None and self._fingerprint[0] == min(self._offset, FINGERPRINT_BYTES):
            fp = self._fingerprint[1]
        return FilePosition(self._inode, self._offset, self._line, fp)

    @property
    def mark(self) -> tuple[int | None, int, int]:
        """(inode, offset, line) after the last line yielded: cheap, for ``position_at``."""
        return self._inode, self._offset, self._line

    def position_at(self, mark: tuple[int | None, int, int]) -> FilePosition:
        """The checkpoint at an earlier ``mark`` of the file being read (a record held back by
        a reader of multi-line records starts there); ``position`` if the file changed since."""
        inode, offset, line = mark
        if inode != self._inode or self._fh is None or offset > self._offset:
            return self.position
        fp = ""
        if self._stream is None:
            n = min(offset, FINGERPRINT_BYTES)
            cached = self._fingerprint
            fp = cached[1] if cached is not None and cached[0] == n else fingerprint_of(self._fh, n)
        return FilePosition(inode, offset, line, fp)

    # -- reading ------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[LineItem]:
        if self._stream is not None:
            self._fh = self._stream
            try:
                yield from self._read_available(final=True)
            finally:
                self._fh = None
            return
        try:
            if self._backlog is not None:
                yield from self._finish_rotated()
            while not self.stop():
                if self._fh is None:
                    fh = self._open()
                    if fh is None:
                        yield None
                        time.sleep(self.poll)
                        continue
                    self._set_file(fh, os.fstat(fh.fileno()).st_ino)
                yield from self._read_available()
                if not self.follow:
                    return
                yield None
                change = self._changed()
                if change == "rotated":  # finish the old file: the writer may have added lines
                    yield from self._read_available(final=True)
                if change:
                    self._close()
                    continue
                time.sleep(self.poll)
        finally:
            self._close()

    def _finish_rotated(self) -> Iterator[LineItem]:
        assert self._backlog is not None
        old, offset, line = self._backlog
        current, current_inode = self._fh, self._inode
        self._fh, self._inode = old, os.fstat(old.fileno()).st_ino
        self._fingerprint = None
        self._seek(offset, line)
        try:
            yield from self._read_available(final=True)
        finally:
            old.close()
            self._backlog = None
        if current is not None and current_inode is not None:
            self._set_file(current, current_inode)
        else:  # no file at the path yet: the loop opens it when it appears
            self._fh, self._inode, self._offset, self._line, self._fingerprint = None, None, 0, 0, None
        self.start_offset = 0

    def _changed(self) -> str:
        """"rotated" (another inode at the path, or none), "truncated" (shorter, or other first
        bytes: rewritten in place), or "" when the file only grew or stayed as it was."""
        assert self._fh is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "rotated"
        if st.st_ino != self._inode:
            return "rotated"
        if st.st_size < self._offset:
            return "truncated"
        if self._fingerprint is not None and not _matches(self._fh, self._fingerprint[1]):
            return "truncated"
        return ""

    def _read_available(self, final: bool = False) -> Iterator[LineItem]:
        """Complete lines up to the end of the file. A last line without its newline is held
        back while following (it is still being written) unless ``final`` (the file is done)."""
        fh = self._fh
        assert fh is not None
        limit = self.max_line_bytes + 1
        readline = fh.readline
        while True:
            chunk = readline(limit)
            if not chunk:
                return
            if chunk[-1:] == b"\n":
                start = self.line_start = self._offset
                if not start:
                    self.identity = record_identity(chunk[:-1])
                self._offset += len(chunk)
                self._line += 1
                yield self._line, _decode(chunk)
                continue
            if len(chunk) >= limit:
                yield from self._skip_long_line(chunk, final)
                continue
            # the end of the file without a newline
            more = readline(limit - len(chunk))
            if more:  # the writer appended meanwhile
                chunk += more
                if chunk[-1:] == b"\n":
                    self._start_line(chunk[:-1])
                    self._offset += len(chunk)
                    self._line += 1
                    yield self._line, _decode(chunk)
                    continue
                if len(chunk) >= limit:
                    yield from self._skip_long_line(chunk, final)
                    continue
            if self.follow and not final:
                fh.seek(self._offset)  # read the whole line again once it is complete
                return
            self._start_line(chunk)
            self._offset += len(chunk)
            self._line += 1
            yield self._line, _decode(chunk)
            return

    def _start_line(self, text: bytes) -> None:
        """``line_start`` (and ``identity``, for the first line) of the line about to be yielded."""
        self.line_start = self._offset
        if not self._offset:
            self.identity = record_identity(text)

    def _skip_long_line(self, head: bytes, final: bool) -> Iterator[LineItem]:
        """Consume a line longer than the limit without keeping it; reject it with its head."""
        fh = self._fh
        assert fh is not None
        length = len(head)
        while True:
            chunk = fh.readline(1 << 16)
            length += len(chunk)
            if chunk[-1:] == b"\n" or (not chunk and (final or not self.follow)):
                break
            if not chunk:  # still being written: wait for its end
                if self.stop():
                    fh.seek(self._offset)
                    return
                time.sleep(self.poll)
        self._start_line(head.partition(b"\n")[0])
        self._offset += length
        self._line += 1
        yield RejectedLine(self._line, _decode(head[: self.max_line_bytes]),
                           f"line longer than {self.max_line_bytes} bytes ({length} bytes), not parsed")


@dataclass(frozen=True)
class Unreadable:
    """A record a reader found but could not extract; the Ingestor dead-letters it."""

    position: int
    reason: str
    raw: str = ""


def read_lines(path: str) -> Iterator[tuple[int, str] | Unreadable]:
    """(line number, text) of a file, or of stdin for '-'. Undecodable bytes are kept escaped;
    a line longer than 1 MiB comes as a ``RejectedLine`` (dead-lettered, never held whole).
    A file whose name ends with ``.gz`` is decompressed; where its gzip data turns out corrupt or
    truncated, the rest of it is one ``Unreadable`` item (the lines before it are kept)."""
    if path == "-":
        yield from cast(Iterator[tuple[int, str]], iter(FileReader("-", stream=sys.stdin.buffer)))
        return
    if not path.endswith(".gz"):
        yield from cast(Iterator[tuple[int, str]], iter(FileReader(path)))
        return
    import gzip
    import zlib

    n = 0
    with gzip.open(path, "rb") as gz:
        try:
            for item in FileReader(path, stream=cast(BinaryIO, gz)):
                assert item is not None
                n = item[0]
                yield cast(tuple[int, str], item)
        except (OSError, EOFError, zlib.error) as exc:
            yield Unreadable(n + 1, f"unreadable gzip data from line {n + 1} on: {exc}")


def follow_lines(path: str, poll: float = 0.5, stop: Callable[[], bool] = lambda: False,
                 from_start: bool = True) -> Iterator[LineItem]:
    """Tail a file like ``tail -F`` (see ``cert.core.lines.FileReader``). Yields None when idle."""
    reader = FileReader(path, follow=True, poll=poll, stop=stop)
    if not from_start:
        reader.skip_to_end()
    return iter(reader)
