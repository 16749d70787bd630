"""Process management shared by the test node launchers (``es_node.py``, ``keycloak_node.py``).

Free loopback ports, pid checks that tell a zombie or a reused pid from the node, stopping a
process by its pid (SIGTERM, then SIGKILL), a log's tail, an advisory lock around builds,
Maven's location, and :class:`NodeProcess`, the base of the node classes: it starts the server
with its output in a log, waits until it is ready, stops it, and carries the steps the two
command lines share (foreground run, stop by pidfile).

Dependency-free (stdlib only), imported as ``node_process`` from the scripts' folder.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar, Self

HOST = "127.0.0.1"

Log = Callable[[str], None]


def logger(program: str) -> Log:
    """A function printing a message on stderr, prefixed with ``[program]``."""

    def log(msg: str) -> None:
        print(f"[{program}] {msg}", file=sys.stderr, flush=True)

    return log


_log = logger("node_process")


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a running process (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def runs_one_of(pid: int, *markers: bytes) -> bool:
    """Best-effort check that ``pid``'s command line holds one of ``markers`` (guards against pid reuse).

    Without ``/proc`` (non-Linux) it cannot be told, and the answer is True: the pidfile is trusted.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return any(marker in cmdline for marker in markers)


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of the file at ``path`` (a note in their place when it cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<no log: {exc}>"


def kill_children(pid: int) -> None:
    """SIGKILL the direct children of ``pid`` (e.g. the JVM a launcher shell started)."""
    with contextlib.suppress(OSError, ValueError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)


def stop_pid(
    pid: int,
    timeout: float = 30.0,
    proc: subprocess.Popen[bytes] | None = None,
    *,
    children: bool = False,
    log: Log = _log,
) -> None:
    """SIGTERM pid, wait up to timeout, then SIGKILL. Stops by pid only.

    ``proc``, when given, is the :class:`subprocess.Popen` of pid (it is reaped). ``children``:
    before the SIGKILL, also SIGKILL pid's children, which killing pid alone would orphan.
    """
    if not pid_alive(pid):
        if proc is not None:
            proc.poll()
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        elif not pid_alive(pid):
            return
        time.sleep(0.1)
    log(f"pid {pid} still alive after {timeout:.0f}s, sending SIGKILL")
    if children:
        kill_children(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait(timeout=10)
    else:
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)


@contextlib.contextmanager
def build_lock(lock_path: Path) -> Iterator[None]:
    """Serialise concurrent builds (pytest-xdist workers, two test sessions) with an advisory lock on ``lock_path``."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def find_mvn() -> str:
    """``$MVN``, else ``mvn`` on PATH; RuntimeError when neither."""
    mvn = os.environ.get("MVN") or shutil.which("mvn")
    if not mvn:
        raise RuntimeError("Maven ('mvn') not found on PATH; install Maven 3.8+ or set MVN")
    return mvn


class NodeProcess:
    """A server process serving HTTP on ``127.0.0.1:port``, logging to ``workdir/LOG_NAME``.

    ``proc`` is its :class:`subprocess.Popen` when this process waits for it (``None`` for a
    detached node, known by pid only). ``cleanup``: :meth:`stop` deletes ``workdir``.
    Subclasses name the server and how to recognise its process.
    """

    NAME: ClassVar[str] = "server"  # in messages: "<NAME> ready at ..."
    PROGRAM: ClassVar[str] = "node_process"  # the prefix of log lines
    LOG_NAME: ClassVar[str] = "node.log"
    PROCESS: ClassVar[str] = "a server process"  # in "pid N is not <PROCESS>"
    COMMAND_MARKERS: ClassVar[tuple[bytes, ...]] = ()  # one of them is in the process's command line
    # SIGKILL the process's children too when it outlives SIGTERM (a launcher shell's JVM).
    KILL_CHILDREN: ClassVar[bool] = False

    def __init__(
        self,
        port: int,
        pid: int,
        workdir: Path,
        proc: subprocess.Popen[bytes] | None,
        cleanup: bool,
    ) -> None:
        self.port = port
        self.pid = pid
        self.workdir = workdir
        self.url = f"http://{HOST}:{port}"
        self.log_path = workdir / self.LOG_NAME
        self.startup_seconds = 0.0
        self._proc = proc
        self._cleanup = cleanup
        self._stopped = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, pid={self.pid}, workdir={str(self.workdir)!r})"

    @classmethod
    def log(cls, msg: str) -> None:
        logger(cls.PROGRAM)(msg)

    def alive(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return pid_alive(self.pid)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the process (a clean shutdown), SIGKILL after timeout. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        stop_pid(self.pid, timeout=timeout, proc=self._proc, children=self.KILL_CHILDREN, log=self.log)
        if self._cleanup:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------- start

    @classmethod
    def launch(
        cls,
        cmd: Sequence[str],
        workdir: Path,
        *,
        cwd: Path,
        detach: bool,
        env: dict[str, str] | None = None,
        note: str = "",
    ) -> subprocess.Popen[bytes]:
        """Start ``cmd`` with its output appended to ``workdir/LOG_NAME``, after a line naming it.

        ``detach``: in a session of its own, so that it outlives this process's terminal.
        ``note`` goes on that line before the command (e.g. the environment it gets).
        """
        with open(workdir / cls.LOG_NAME, "ab") as log:
            prefix = f"{note} " if note else ""
            log.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')} {prefix}{shlex.join(cmd)}\n".encode())
            log.flush()
            return subprocess.Popen(
                list(cmd),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=detach,
            )

    def wait_ready(
        self,
        proc: subprocess.Popen[bytes],
        check: Callable[[], str | None],
        *,
        started: float,
        timeout: float,
        interval: float,
        ready: str = "ready",
    ) -> None:
        """Call ``check`` every ``interval`` seconds until it returns None (ready), else what is missing.

        When ``proc`` exits first, or ``timeout`` seconds after ``started`` (a ``time.monotonic()``),
        the node is stopped and RuntimeError raised with the log's tail. Sets :attr:`startup_seconds`.
        """
        deadline = started + timeout
        last_error = "no attempt"
        while True:
            if proc.poll() is not None:
                log_tail = tail(self.log_path)
                self.stop()
                raise RuntimeError(
                    f"{self.NAME} exited with code {proc.returncode} during startup; log {self.log_path}:\n{log_tail}"
                )
            error = check()
            if error is None:
                break
            last_error = error
            if time.monotonic() > deadline:
                log_tail = tail(self.log_path)
                self.stop(timeout=10)
                raise RuntimeError(
                    f"{self.NAME} not {ready} after {timeout:.0f}s ({last_error}); log {self.log_path}:\n{log_tail}"
                )
            time.sleep(interval)
        self.startup_seconds = time.monotonic() - started
        self.log(f"{self.NAME} ready at {self.url} (pid {self.pid}) in {self.startup_seconds:.1f}s")

    # ----------------------------------------------------------------------- CLI

    def serve(self, pidfile: Path | None, *, detach: bool, stop_timeout: float = 30.0) -> int:
        """After a CLI start: write the pid to ``pidfile``, print the URL, then stay or go.

        ``detach``: return 0 at once, the node left running. Else wait until the node dies (1) or
        a signal stops it (0), and remove ``pidfile`` on the way out.
        """
        if pidfile:
            write_pidfile(pidfile, self.pid)
        print(self.url, flush=True)
        if detach:
            self.log(f"detached; log {self.log_path}; stop with: {sys.argv[0]} stop --pidfile {pidfile}")
            return 0

        def _on_term(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        # Explicit handlers: SIGINT may be inherited as "ignored" (e.g. started with & from a script).
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _on_term)
        self.log(f"running in foreground (log {self.log_path}); Ctrl-C to stop")
        try:
            while self.alive():
                time.sleep(0.5)
            self.log(f"{self.NAME} exited on its own; log tail:\n" + tail(self.log_path, 20))
            return 1
        except KeyboardInterrupt:
            self.log("stopping ...")
            self.stop(timeout=stop_timeout)
            self.log("stopped")
            return 0
        finally:
            if pidfile:
                with contextlib.suppress(OSError):
                    pidfile.unlink()

    @classmethod
    def add_stop_command(
        cls,
        sub: argparse._SubParsersAction[argparse.ArgumentParser],
        help: str,
        *,
        by_pid: bool,
    ) -> None:
        """The ``stop`` sub-command: ``--pidfile`` (required unless ``by_pid`` adds ``--pid``), ``--timeout``."""
        p = sub.add_parser("stop", help=help)
        p.add_argument("--pidfile", required=not by_pid)
        if by_pid:
            p.add_argument("--pid", type=int)
        p.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
        p.set_defaults(func=cls._cmd_stop)

    @classmethod
    def _cmd_stop(cls, args: argparse.Namespace) -> int:
        pidfile: Path | None
        if getattr(args, "pid", None) is not None:
            pid, pidfile = args.pid, None
        elif args.pidfile:
            pidfile = Path(args.pidfile)
            pid = read_pidfile(pidfile)
        else:
            raise SystemExit("stop needs --pidfile or --pid")
        cls.stop_detached(pid, pidfile, timeout=args.timeout)
        return 0

    @classmethod
    def stop_detached(cls, pid: int, pidfile: Path | None, timeout: float = 30.0) -> None:
        """Stop the node of ``pid`` (started with --detach), refusing a pid that is not one; remove ``pidfile``."""
        if not pid_alive(pid):
            cls.log(f"pid {pid} is not running")
        elif not runs_one_of(pid, *cls.COMMAND_MARKERS):
            raise SystemExit(f"pid {pid} is not {cls.PROCESS}; refusing to signal it")
        else:
            t0 = time.monotonic()
            stop_pid(pid, timeout=timeout, children=cls.KILL_CHILDREN, log=cls.log)
            cls.log(f"stopped pid {pid} in {time.monotonic() - t0:.1f}s")
        if pidfile:
            with contextlib.suppress(OSError):
                pidfile.unlink()


def cli_workdir(args: argparse.Namespace, prefix: str) -> Path | None:
    """The working directory of a CLI start (``args.dir``, ``args.detach``, ``args.pidfile``).

    ``--detach`` needs ``--pidfile`` (SystemExit otherwise) and, without ``--dir``, gets a new
    temporary directory that outlives the node. None: :func:`start` makes one it deletes.
    """
    if args.detach and not args.pidfile:
        raise SystemExit("--detach requires --pidfile")
    workdir = Path(args.dir) if args.dir else None
    if args.detach and workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix=prefix))
    return workdir


def write_pidfile(path: Path, pid: int) -> None:
    """Write ``pid`` to ``path`` atomically (a reader never sees a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(path)


def read_pidfile(path: Path) -> int:
    """The pid in ``path``; SystemExit with the reason when there is none."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError) as exc:
        raise SystemExit(f"cannot read pid from {path}: {exc}") from exc


def run_cli(parser: argparse.ArgumentParser, argv: Sequence[str] | None, log: Log) -> int:
    """Parse ``argv`` and run the sub-command's ``func`` (set with ``set_defaults``): its exit status.

    A RuntimeError (a failed build or start) is logged and gives exit status 1.
    """
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except RuntimeError as exc:
        log(f"error: {exc}")
        return 1
