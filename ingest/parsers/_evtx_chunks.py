"""EVTX records read chunk by chunk in a child process, so that a corrupt chunk cannot stall the
ingest.

The ``evtx`` package (Rust) can loop forever on some damaged chunks (omerbenamram/evtx #263,
#264, #288, #290: not a panic, so nothing in-process can stop it, and it holds the GIL). EVTX files
come from the machines being watched, so a damaged or hostile one must cost one chunk, not the
ingest. The child (``python -m ingest.parsers._evtx_chunks``) is kept between files, which it is
given on stdin as ``<first chunk>\t<path>`` lines (the path's bytes in hex). It parses each 64 KiB chunk on its own (the
file header plus that chunk: templates and strings are per chunk, so the records are the same as
from the whole file) and writes frames to stdout, flushed after each:

    C <chunk> 0\n                  a chunk starts
    R <record id> <n>\n<n bytes>   a record (its JSON text)
    E <chunk> <n>\n<n bytes>       a record the library refused (the reason)
    G <chunk> <count>\n            gave up on the chunk after <count> refusals in a row
    D 0 0\n                        the file is done

The parent (``read_chunks``) waits at most ``stall_seconds`` for each frame. A child that stalls
is killed (by its pid) and one that dies is reported; either way the chunk it was in becomes a
dead letter and a new child resumes at the next chunk. The child ends with its stdin (or is
killed at exit).
"""

from __future__ import annotations

import atexit
import io
import os
import select
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

HEADER, CHUNK = 4096, 65536
MAX_CONSECUTIVE_ERRORS = 1000
#: How long the reader may work on a chunk without producing a record or finishing it.
STALL_SECONDS = float(os.environ.get("VIGIE_EVTX_STALL_SECONDS", "20"))


class Refused(str):
    """A record of the chunk the library refused, or a chunk given up on (the reason)."""


def _frame(out: BinaryIO, kind: bytes, head: int, body: bytes = b"") -> None:
    out.write(b"%s %d %d\n%s" % (kind, head, len(body), body))
    out.flush()


def _child() -> None:
    """Serve requests (``<first chunk>\t<path as hex bytes>`` lines on stdin) until stdin closes."""
    import evtx  # only the child parses

    out = sys.stdout.buffer
    for request in sys.stdin.buffer:
        first, path = request.split(b"\t")
        _read(evtx, os.fsdecode(bytes.fromhex(path.decode())), int(first), out)
        _frame(out, b"D", 0)


def _read(evtx: Any, path: str, first: int, out: BinaryIO) -> None:
    with open(path, "rb") as f:
        header = f.read(HEADER)
        f.seek(HEADER + first * CHUNK)
        number = first
        while len(chunk := f.read(CHUNK)) == CHUNK:
            _frame(out, b"C", number)
            try:
                records = evtx.PyEvtxParser(io.BytesIO(header + chunk), 1).records_json()
            except (OSError, RuntimeError, ValueError) as exc:
                _frame(out, b"E", number, str(exc).encode("utf-8", "backslashreplace"))
                number += 1
                continue
            errors = 0
            while True:
                try:
                    record = next(records)
                except StopIteration:
                    break
                except (OSError, RuntimeError, ValueError) as exc:
                    errors += 1
                    _frame(out, b"E", number, str(exc).encode("utf-8", "backslashreplace"))
                    if errors >= MAX_CONSECUTIVE_ERRORS:
                        _frame(out, b"G", number)
                        break
                    continue
                if not isinstance(record, dict):
                    break
                errors = 0
                _frame(out, b"R", int(record["event_record_id"]),
                       str(record["data"]).encode("utf-8", "surrogatepass"))
            number += 1


class _Stalled(Exception):
    pass


class _Frames:
    """Frames from a child's stdout, each within `stall` seconds."""

    def __init__(self, fd: int, stall: float) -> None:
        self.fd, self.stall, self.buf = fd, stall, bytearray()

    def _fill(self) -> bool:
        ready, _, _ = select.select([self.fd], [], [], self.stall)
        if not ready:
            raise _Stalled
        data = os.read(self.fd, 1 << 16)
        self.buf += data
        return bool(data)

    def next(self) -> tuple[bytes, int, bytes] | None:
        """(kind, head, body), or None when the child closed its output."""
        while (end := self.buf.find(b"\n")) < 0:
            if not self._fill():
                return None
        kind, head, size = bytes(self.buf[:end]).split(b" ")
        need = end + 1 + int(size)
        while len(self.buf) < need:
            if not self._fill():
                return None
        body = bytes(self.buf[end + 1:need])
        del self.buf[:need]
        return kind, int(head), body


class _Reader:
    """The child process, kept from one file to the next (starting one costs more than reading a
    small file); a new one replaces it after a stall, a failure, or a read left unfinished."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.frames: _Frames | None = None
        self.lock = threading.Lock()

    def start(self, stall: float) -> tuple[subprocess.Popen[bytes], _Frames]:
        if self.proc is None or self.proc.poll() is not None or self.frames is None:
            self.stop()
            self.proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            assert self.proc.stdout is not None
            self.frames = _Frames(self.proc.stdout.fileno(), stall)
        self.frames.stall = stall
        return self.proc, self.frames

    def stop(self) -> None:
        """End the child (by its pid), if there is one."""
        proc, self.proc, self.frames = self.proc, None, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()


_READER = _Reader()
atexit.register(_READER.stop)


def read_chunks(path: str, chunks: int, stall_seconds: float | None = None) -> Iterator[tuple[int, str] | Refused]:
    """(record id, JSON text) of each record of the `chunks` whole chunks of an EVTX file, in
    order, and a ``Refused`` reason for each record, or whole chunk, that could not be read."""
    stall = STALL_SECONDS if stall_seconds is None else stall_seconds
    # the shared child, unless another read (in this thread or another) has it: then one of its own
    shared = _READER.lock.acquire(blocking=False)
    reader = _READER if shared else _Reader()
    try:
        yield from _read_with(reader, path, chunks, stall)
    finally:
        if shared:
            _READER.lock.release()
        else:
            reader.stop()


def _read_with(reader: _Reader, path: str, chunks: int, stall: float) -> Iterator[tuple[int, str] | Refused]:
    start = 0
    while start < chunks:
        proc, frames = reader.start(stall)
        current, problem, done = start, "", False
        try:
            assert proc.stdin is not None
            try:
                proc.stdin.write(f"{start}\t{os.fsencode(os.path.abspath(path)).hex()}\n".encode())
                proc.stdin.flush()
            except OSError as exc:
                problem = f"the EVTX reader could not be asked for it ({exc})"
            while not problem:
                try:
                    frame = frames.next()
                except _Stalled:
                    problem = f"the EVTX reader made no progress for {stall:g} s on it"
                    break
                if frame is None:
                    proc.wait()
                    problem = f"the EVTX reader failed on it (exit status {proc.returncode})"
                    break
                kind, head, body = frame
                if kind == b"R":
                    yield head, body.decode("utf-8", "surrogatepass")
                elif kind == b"C":
                    current = head
                elif kind == b"E":
                    yield Refused(body.decode("utf-8", "replace"))
                elif kind == b"G":
                    yield Refused(f"gave up on chunk {head} after {MAX_CONSECUTIVE_ERRORS} unreadable "
                                  "records in a row")
                else:  # D: the whole file read
                    done = True
                    start = chunks
                    break
        finally:
            if not done:  # stalled, failed, or the caller stopped reading: a fresh child next time
                reader.stop()
        if problem:
            yield Refused(f"corrupt EVTX chunk {current}: {problem}; its other records are lost")
            start = current + 1


if __name__ == "__main__":
    _child()
