#!/usr/bin/env python3
"""Start/stop a real single-node Elasticsearch 8.x on 127.0.0.1 for tests and CI.

The node is a small Java launcher (``scripts/es``, built with Maven from Maven
Central artifacts only: ``org.elasticsearch:elasticsearch`` +
``org.elasticsearch.plugin:transport-netty4``) that runs Elasticsearch
in-process with its modules loaded from the classpath. No download from
elastic.co, no Docker, no security/x-pack.

Dependency-free (stdlib only). Used both as a module::

    import es_node
    node = es_node.start()            # free loopback port, temp dir, 512m heap
    ...  Elasticsearch(node.url) ...
    node.stop()

and as a CLI::

    python scripts/es_node.py build
    python scripts/es_node.py start --port 9200 --dir /tmp/x           # foreground, Ctrl-C stops
    python scripts/es_node.py start --port 9200 --dir /tmp/x --pidfile /tmp/x/es.pid --detach
    python scripts/es_node.py stop --pidfile /tmp/x/es.pid

Environment: ``JAVA_HOME`` (else ``java`` on PATH), ``MVN`` (else ``mvn`` on
PATH), ``VIGIE_ES_JAVA_OPTS`` (extra JVM options, whitespace separated).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ES_PROJECT = HERE / "es"
POM = ES_PROJECT / "pom.xml"
TARGET = ES_PROJECT / "target"
CLASSES = TARGET / "classes"
LIB = TARGET / "lib"
MAIN_CLASS = "org.vigie.esnode.EsNode"
MAIN_CLASS_FILE = CLASSES / "org" / "vigie" / "esnode" / "EsNode.class"
LOG_NAME = "es-node.log"
HOST = "127.0.0.1"

# JVM flags the official distribution sets (see server-cli SystemJvmOptions), plus
# small-footprint/fast-startup choices for CI (2 cores): serial GC, C1 only.
BASE_JVM_OPTS = [
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xss1m",
    "-XX:-OmitStackTraceInFastThrow",
    "-Djava.awt.headless=true",
    "-Dfile.encoding=UTF-8",
    "-Djna.nosys=true",
    "-Dio.netty.noUnsafe=true",
    "-Dio.netty.noKeySetOptimization=true",
    "-Dio.netty.recycler.maxCapacityPerThread=0",
    "-Dlog4j.shutdownHookEnabled=false",
    "-Dlog4j2.disable.jmx=true",
    "-Dlog4j2.formatMsgNoLookups=true",
    "-Djava.locale.providers=SPI,CLDR",
]

# Never go through an HTTP proxy for loopback health checks.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _log(msg: str) -> None:
    print(f"[es_node] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- build


def _sources() -> Iterator[Path]:
    yield POM
    yield from (ES_PROJECT / "src").rglob("*.java")


def is_built() -> bool:
    """True when compiled classes and the runtime jars are present and newer than the sources."""
    if not MAIN_CLASS_FILE.is_file() or not LIB.is_dir():
        return False
    jars = [p.name for p in LIB.glob("*.jar")]
    if not any(n.startswith("elasticsearch-8.") for n in jars):
        return False
    if not any(n.startswith("transport-netty4-") for n in jars):
        return False
    built_at = MAIN_CLASS_FILE.stat().st_mtime
    return all(src.stat().st_mtime <= built_at for src in _sources())


def _find_mvn() -> str:
    mvn = os.environ.get("MVN") or shutil.which("mvn")
    if not mvn:
        raise RuntimeError("Maven ('mvn') not found on PATH; install Maven 3.8+ or set MVN")
    return mvn


def _find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise RuntimeError("Java ('java') not found on PATH; install a JDK/JRE 17+ or set JAVA_HOME")
    return java


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Serialise concurrent builds (e.g. pytest-xdist workers) with an advisory file lock."""
    TARGET.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(TARGET / ".build.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(force: bool = False) -> None:
    """Compile the launcher and copy its runtime jars to scripts/es/target/lib (once)."""
    if not force and is_built():
        return
    with _build_lock():
        if not force and is_built():  # another process built it while we waited
            return
        cmd = [_find_mvn(), "-q", "-B", "-f", str(POM), "package", "dependency:copy-dependencies"]
        _log("building Elasticsearch launcher: " + shlex.join(cmd))
        t0 = time.monotonic()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if proc.returncode != 0 or not is_built():
            tail = "\n".join(proc.stdout.splitlines()[-60:])
            raise RuntimeError(f"maven build failed (exit {proc.returncode}):\n{tail}")
        MAIN_CLASS_FILE.touch()  # mark as up to date w.r.t. sources
        _log(f"build done in {time.monotonic() - t0:.1f}s ({len(list(LIB.glob('*.jar')))} jars in {LIB})")


# --------------------------------------------------------------------------- process helpers


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Like Elasticsearch (network.tcp.reuse_address): TIME_WAIT leftovers do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def _pid_alive(pid: int) -> bool:
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


def _is_our_java(pid: int) -> bool:
    """Best-effort check that pid is an EsNode JVM (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (non-Linux): cannot verify, trust the pidfile
    return MAIN_CLASS.encode() in cmdline


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<no log: {exc}>"


def _http_json(url: str, timeout: float) -> dict[str, object]:
    with _OPENER.open(url, timeout=timeout) as resp:
        data: dict[str, object] = json.loads(resp.read().decode())
        return data


def stop_pid(pid: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM pid, wait up to timeout, then SIGKILL. Stops by pid only."""
    if not _pid_alive(pid):
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
        elif not _pid_alive(pid):
            return
        time.sleep(0.1)
    _log(f"pid {pid} still alive after {timeout:.0f}s, sending SIGKILL")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait(timeout=10)
    else:
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)


# --------------------------------------------------------------------------- node


class EsNode:
    """A running Elasticsearch node started by :func:`start`."""

    def __init__(
        self,
        port: int,
        pid: int,
        workdir: Path,
        proc: subprocess.Popen[bytes] | None,
        cleanup: bool,
        startup_seconds: float,
    ) -> None:
        self.port = port
        self.pid = pid
        self.workdir = workdir
        self.url = f"http://{HOST}:{port}"
        self.log_path = workdir / LOG_NAME
        self.startup_seconds = startup_seconds
        self._proc = proc
        self._cleanup = cleanup
        self._stopped = False

    def __repr__(self) -> str:
        return f"EsNode(url={self.url!r}, pid={self.pid}, workdir={str(self.workdir)!r})"

    def alive(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return _pid_alive(self.pid)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the JVM (clean Elasticsearch shutdown), SIGKILL after timeout. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        stop_pid(self.pid, timeout=timeout, proc=self._proc)
        if self._cleanup:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> EsNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    port: int | None = None,
    workdir: Path | None = None,
    heap: str = "512m",
    *,
    transport_port: int = 0,
    cluster_name: str = "vigie-test",
    timeout: float = 120.0,
    settings: Sequence[str] = (),
    detach: bool = False,
) -> EsNode:
    """Build if needed, launch the node, wait for yellow/green health, return an :class:`EsNode`.

    ``port=None`` picks a free loopback port. ``workdir=None`` uses a fresh temporary
    directory that is deleted by :meth:`EsNode.stop`. ``settings`` are extra
    ``key=value`` Elasticsearch settings. Non-detached nodes die with this Python
    process (the JVM watches its parent pid) and are also stopped at interpreter exit.
    """
    build()
    java = _find_java()

    if port is None:
        port = free_port()
    elif _port_in_use(port):
        raise RuntimeError(f"port {HOST}:{port} is already in use")

    cleanup = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="vigie-es-")) if workdir is None else Path(workdir)
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / LOG_NAME

    jvm = [f"-Xms{heap}", f"-Xmx{heap}", *BASE_JVM_OPTS]
    jvm += shlex.split(os.environ.get("VIGIE_ES_JAVA_OPTS", ""))
    if not detach:
        jvm.append(f"-Dvigie.es.parentPid={os.getpid()}")
    cmd = [
        java,
        *jvm,
        "-cp",
        f"{CLASSES}{os.pathsep}{LIB / '*'}",
        MAIN_CLASS,
        str(port),
        str(transport_port),
        str(workdir),
        cluster_name,
        *settings,
    ]

    t0 = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')} {shlex.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=detach,
        )
    node = EsNode(port, proc.pid, workdir, None if detach else proc, cleanup, 0.0)
    if not detach:
        atexit.register(node.stop)

    health_url = f"{node.url}/_cluster/health?wait_for_status=yellow&timeout=5s"
    deadline = t0 + timeout
    last_error = "no attempt"
    while True:
        if proc.poll() is not None:
            tail = _tail(log_path)
            node.stop()
            raise RuntimeError(
                f"Elasticsearch exited with code {proc.returncode} during startup; log {log_path}:\n{tail}"
            )
        try:
            health = _http_json(health_url, timeout=10)
            if health.get("status") in ("green", "yellow"):
                break
            last_error = f"status {health.get('status')}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_error = repr(exc)
        if time.monotonic() > deadline:
            tail = _tail(log_path)
            node.stop(timeout=10)
            raise RuntimeError(
                f"Elasticsearch not healthy after {timeout:.0f}s ({last_error}); log {log_path}:\n{tail}"
            )
        time.sleep(0.25)

    node.startup_seconds = time.monotonic() - t0
    _log(f"Elasticsearch ready at {node.url} (pid {node.pid}) in {node.startup_seconds:.1f}s")
    return node


# --------------------------------------------------------------------------- CLI


def _write_pidfile(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(path)


def _cmd_build(args: argparse.Namespace) -> int:
    build(force=args.force)
    _log(f"launcher ready: {CLASSES} + {LIB}")
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    if args.detach and not args.pidfile:
        raise SystemExit("--detach requires --pidfile")
    workdir = Path(args.dir) if args.dir else None
    if args.detach and workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="vigie-es-"))
    node = start(
        port=args.port,
        workdir=workdir,
        heap=args.heap,
        transport_port=args.transport_port,
        cluster_name=args.cluster_name,
        timeout=args.timeout,
        settings=args.setting,
        detach=args.detach,
    )
    pidfile = Path(args.pidfile) if args.pidfile else None
    if pidfile:
        _write_pidfile(pidfile, node.pid)
    print(node.url, flush=True)
    if args.detach:
        _log(f"detached; log {node.log_path}; stop with: {sys.argv[0]} stop --pidfile {pidfile}")
        return 0

    def _on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Explicit handlers: SIGINT may be inherited as "ignored" (e.g. started with & from a script).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_term)
    _log(f"running in foreground (log {node.log_path}); Ctrl-C to stop")
    try:
        while node.alive():
            time.sleep(0.5)
        _log("Elasticsearch exited on its own; log tail:\n" + _tail(node.log_path, 20))
        return 1
    except KeyboardInterrupt:
        _log("stopping ...")
        node.stop(timeout=args.stop_timeout)
        _log("stopped")
        return 0
    finally:
        if pidfile:
            with contextlib.suppress(OSError):
                pidfile.unlink()


def _cmd_stop(args: argparse.Namespace) -> int:
    if args.pid is not None:
        pid, pidfile = args.pid, None
    elif args.pidfile:
        pidfile = Path(args.pidfile)
        try:
            pid = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError) as exc:
            raise SystemExit(f"cannot read pid from {pidfile}: {exc}") from exc
    else:
        raise SystemExit("stop needs --pidfile or --pid")
    if not _pid_alive(pid):
        _log(f"pid {pid} is not running")
    elif not _is_our_java(pid):
        raise SystemExit(f"pid {pid} is not an {MAIN_CLASS} process; refusing to signal it")
    else:
        t0 = time.monotonic()
        stop_pid(pid, timeout=args.timeout)
        _log(f"stopped pid {pid} in {time.monotonic() - t0:.1f}s")
    if pidfile:
        with contextlib.suppress(OSError):
            pidfile.unlink()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="compile the launcher with Maven (no-op when up to date)")
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("start", help="start a node and wait until it is healthy")
    p.add_argument("--port", type=int, default=None, help="HTTP port (default: a free port)")
    p.add_argument("--transport-port", type=int, default=0, help="transport port (default 0 = ephemeral)")
    p.add_argument("--dir", help="home/data directory (default: a new temp dir)")
    p.add_argument("--heap", default="512m", help="JVM heap, e.g. 512m (default) or 1g")
    p.add_argument("--cluster-name", default="vigie-test")
    p.add_argument("--timeout", type=float, default=120.0, help="health wait timeout in seconds")
    p.add_argument("--stop-timeout", type=float, default=30.0)
    p.add_argument("--pidfile", help="write the JVM pid here")
    p.add_argument("--detach", action="store_true", help="return once healthy, leave node running")
    p.add_argument(
        "-E",
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Elasticsearch setting (repeatable)",
    )
    p.set_defaults(func=_cmd_start)

    p = sub.add_parser("stop", help="stop a node started with --detach")
    p.add_argument("--pidfile")
    p.add_argument("--pid", type=int)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    p.set_defaults(func=_cmd_stop)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except RuntimeError as exc:
        _log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
