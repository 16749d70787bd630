"""Helpers of the ingest reliability tests: a large Apache-format log file with unique lines, the
events it must produce, and ``cert`` run as a subprocess (as an operator runs it)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from support import apache_line

from cert.core.ecs import event_id
from cert.core.lines import record_identity

ROOT = Path(__file__).resolve().parents[2]
@dataclass
class LogFile:
    path: Path
    lines: int
    event_ids: set[str] = field(default_factory=set)
    bad_lines: dict[int, bytes] = field(default_factory=dict)  # line number -> raw


def make_apache_file(path: Path, lines: int, bad_every: int = 0, start: int = 0,
                     append: bool = False) -> LogFile:
    """``lines`` Apache combined-format lines, each made unique by its ident field (``r<n>``),
    which the parser ignores; every ``bad_every``-th line is garbage that must be dead-lettered.
    Event ids are those ``cert ingest`` gives (source: the absolute path; the file's identity:
    its first line; position: the line's byte offset)."""
    source = os.path.abspath(path)
    out = LogFile(path, lines)
    first_line, offset, identity = 1, 0, None
    if append and path.exists():
        with path.open("rb") as fh:
            existing = fh.read()
        first_line += len(existing.splitlines())
        offset = len(existing)
        identity = record_identity(existing.partition(b"\n")[0]) if existing else None
    with path.open("ab" if append else "wb") as fh:
        for i in range(start, start + lines):
            bad = bool(bad_every) and i % bad_every == bad_every - 1
            if bad:
                raw = f"corrupt record {i} \x00\xff".encode("latin-1")
                out.bad_lines[first_line + i - start] = raw
            else:
                ip, _, rest = apache_line(i).partition(b" ")
                _, _, rest = rest.partition(b" ")
                raw = ip + b" r" + str(i).encode() + b" " + rest
            if identity is None:
                identity = record_identity(raw)
            if not bad:
                out.event_ids.add(event_id("web.access", raw.decode("utf-8", "surrogateescape"), source,
                                           identity, offset))
            fh.write(raw + b"\n")
            offset += len(raw) + 1
    return out


def cert_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``cert`` subprocess: none of the caller's CERT_* settings, the
    parsers only (no detector to load), the given data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env.update(CERT_DATA_DIR=str(data_dir), CERT_PLUGINS="ingest.parsers", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def cert(args: list[str], env: dict[str, str], timeout: float = 300, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cert.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False, **kw)  # type: ignore[call-overload]


class CertProcess:
    """A running ``cert`` command whose output goes to files: a pipe nobody reads while the test
    waits would fill up and block the command (its logging) — a deadlock of the test, not of cert."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self._out = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._err = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "cert.cli", *args], env=env, cwd=ROOT, text=True,
                                     stdout=self._out, stderr=self._err)
        self.pid = self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def poll(self) -> int | None:
        return self.proc.poll()

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.proc.kill()

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the end; (stdout, stderr)."""
        self.proc.wait(timeout)
        out = []
        for fh in (self._out, self._err):
            fh.seek(0)
            out.append(fh.read())
            fh.close()
        return out[0], out[1]


def start_cert(args: list[str], env: dict[str, str]) -> CertProcess:
    return CertProcess(args, env)


def checkpoint(data_dir: Path, source: Path) -> tuple[int, int, int]:
    """(offset, lines, dead letters) committed for a file, read as the console would."""
    db = data_dir / "vigie.sqlite3"
    if not db.exists():
        return 0, 0, 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        row = con.execute("SELECT file_offset, lines, dead_letters FROM ingest_sources WHERE source = ?",
                          (os.path.abspath(source),)).fetchone()
    except sqlite3.OperationalError:  # tables not there yet
        row = None
    finally:
        con.close()
    return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)


def wait_for(predicate: object, timeout: float, what: str, proc: CertProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"cert exited ({proc.returncode}) while waiting for {what}:\n{out}\n{err}")
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def dead_letters(data_dir: Path, source: Path) -> list[tuple[str, bytes]]:
    con = sqlite3.connect(data_dir / "vigie.sqlite3")
    try:
        return [(str(p), bytes(r)) for p, r in con.execute(
            "SELECT position, raw FROM dead_letters WHERE source = ? ORDER BY id", (os.path.abspath(source),))]
    finally:
        con.close()


def embedded_ids(data_dir: Path) -> list[str]:
    con = sqlite3.connect(data_dir / "events.sqlite3")
    try:
        return [str(r[0]) for r in con.execute("SELECT id FROM events")]
    finally:
        con.close()
