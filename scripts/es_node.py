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
    node = es_node.start(profile="bench")   # G1, full JIT, heap min(4g, RAM/4): benchmarks
    ...  Elasticsearch(node.url) ...
    node.stop()

and as a CLI::

    python scripts/es_node.py build
    python scripts/es_node.py start --port 9200 --dir /tmp/x           # foreground, Ctrl-C stops
    python scripts/es_node.py start --profile bench                    # production-like JVM
    python scripts/es_node.py start --port 9200 --dir /tmp/x --pidfile /tmp/x/es.pid --detach
    python scripts/es_node.py stop --pidfile /tmp/x/es.pid

Environment: ``JAVA_HOME`` (else ``java`` on PATH), ``MVN`` (else ``mvn`` on
PATH), ``VIGIE_ES_JAVA_OPTS`` (extra JVM options, whitespace separated).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from node_process import HOST, NodeProcess, build_lock, cli_workdir, find_mvn, run_cli
from node_process import free_port as free_port  # es_node.free_port, used by tests
from node_process import stop_pid as stop_pid  # es_node.stop_pid, used by tests
from node_process import tail as _tail  # noqa: F401 - es_node._tail, used by tests

HERE = Path(__file__).resolve().parent
ES_PROJECT = HERE / "es"
POM = ES_PROJECT / "pom.xml"
TARGET = ES_PROJECT / "target"
CLASSES = TARGET / "classes"
LIB = TARGET / "lib"
MAIN_CLASS = "org.vigie.esnode.EsNode"
MAIN_CLASS_FILE = CLASSES / "org" / "vigie" / "esnode" / "EsNode.class"
LOG_NAME = "es-node.log"

# JVM flags the official distribution sets (see server-cli SystemJvmOptions), common to every profile.
SYSTEM_JVM_OPTS = [
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

# The tests' profile: small footprint and fast start-up for CI (2 cores): serial GC, C1 only.
BASE_JVM_OPTS = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", *SYSTEM_JVM_OPTS]

# The benchmark profile: what the official distribution runs in production (its jvm.options):
# G1 with its reserve and marking threshold, the full tiered JIT (C1 then C2), and a heap sized
# for the machine (``bench_heap``), -Xms equal to -Xmx.
BENCH_JVM_OPTS = ["-XX:+UseG1GC", "-XX:G1ReservePercent=25", "-XX:InitiatingHeapOccupancyPercent=30",
                  *SYSTEM_JVM_OPTS]

PROFILES = {"test": BASE_JVM_OPTS, "bench": BENCH_JVM_OPTS}
TEST_HEAP = "512m"


def bench_heap() -> str:
    """The benchmark heap: a quarter of the machine's RAM (the client being measured runs on the
    same machine, and the node needs file-system cache beside its heap), between 512 MB and 4 GB."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "1g"
    mb = max(512, min(4096, ram // 4 // (1024 * 1024)))
    return f"{mb}m"


def jvm_options(profile: str = "test", heap: str | None = None) -> list[str]:
    """The JVM options of a node of ``profile`` ("test": the lean defaults; "bench": production-
    like), with ``heap`` (default: 512m for "test", ``bench_heap()`` for "bench") and any
    ``VIGIE_ES_JAVA_OPTS``."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: one of {', '.join(PROFILES)}")
    heap = heap or (bench_heap() if profile == "bench" else TEST_HEAP)
    return [f"-Xms{heap}", f"-Xmx{heap}", *PROFILES[profile], *shlex.split(os.environ.get("VIGIE_ES_JAVA_OPTS", ""))]


# Never go through an HTTP proxy for loopback health checks.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _log(msg: str) -> None:
    EsNode.log(msg)


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


def _find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise RuntimeError("Java ('java') not found on PATH; install a JDK/JRE 17+ or set JAVA_HOME")
    return java


def build(force: bool = False) -> None:
    """Compile the launcher and copy its runtime jars to scripts/es/target/lib (once)."""
    if not force and is_built():
        return
    with build_lock(TARGET / ".build.lock"):
        if not force and is_built():  # another process built it while we waited
            return
        cmd = [find_mvn(), "-q", "-B", "-f", str(POM), "package", "dependency:copy-dependencies"]
        _log("building Elasticsearch launcher: " + shlex.join(cmd))
        t0 = time.monotonic()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if proc.returncode != 0 or not is_built():
            tail = "\n".join(proc.stdout.splitlines()[-60:])
            raise RuntimeError(f"maven build failed (exit {proc.returncode}):\n{tail}")
        MAIN_CLASS_FILE.touch()  # mark as up to date w.r.t. sources
        _log(f"build done in {time.monotonic() - t0:.1f}s ({len(list(LIB.glob('*.jar')))} jars in {LIB})")


# --------------------------------------------------------------------------- process helpers


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Like Elasticsearch (network.tcp.reuse_address): TIME_WAIT leftovers do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def _http_json(url: str, timeout: float) -> dict[str, object]:
    with _OPENER.open(url, timeout=timeout) as resp:
        data: dict[str, object] = json.loads(resp.read().decode())
        return data


# --------------------------------------------------------------------------- node


class EsNode(NodeProcess):
    """A running Elasticsearch node started by :func:`start`; :meth:`stop` SIGTERMs the JVM (a clean shutdown)."""

    NAME = "Elasticsearch"
    PROGRAM = "es_node"
    LOG_NAME = LOG_NAME
    PROCESS = f"an {MAIN_CLASS} process"
    COMMAND_MARKERS = (MAIN_CLASS.encode(),)
    jvm_options: tuple[str, ...] = ()  # as started (``jvm_options``), without the parent-pid watch


def start(
    port: int | None = None,
    workdir: Path | None = None,
    heap: str | None = None,
    *,
    profile: str = "test",
    transport_port: int = 0,
    cluster_name: str = "vigie-test",
    timeout: float = 120.0,
    settings: Sequence[str] = (),
    detach: bool = False,
) -> EsNode:
    """Build if needed, launch the node, wait for yellow/green health, return an :class:`EsNode`.

    ``port=None`` picks a free loopback port. ``workdir=None`` uses a fresh temporary
    directory that is deleted by :meth:`EsNode.stop`. ``settings`` are extra
    ``key=value`` Elasticsearch settings. ``profile`` chooses the JVM settings (``jvm_options``):
    "test" (the default: serial GC, C1 only, 512 MB heap) or "bench" (G1, full JIT, a heap sized
    for the machine); ``heap`` overrides the profile's heap. Non-detached nodes die with this Python
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

    jvm = jvm_options(profile, heap)
    options = tuple(jvm)
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
    proc = EsNode.launch(cmd, workdir, cwd=workdir, detach=detach)
    node = EsNode(port, proc.pid, workdir, None if detach else proc, cleanup)
    node.jvm_options = options
    if not detach:
        atexit.register(node.stop)

    health_url = f"{node.url}/_cluster/health?wait_for_status=yellow&timeout=5s"

    def unhealthy() -> str | None:
        try:
            health = _http_json(health_url, timeout=10)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return repr(exc)
        return None if health.get("status") in ("green", "yellow") else f"status {health.get('status')}"

    node.wait_ready(proc, unhealthy, started=t0, timeout=timeout, interval=0.25, ready="healthy")
    return node


# --------------------------------------------------------------------------- CLI


def _cmd_build(args: argparse.Namespace) -> int:
    build(force=args.force)
    _log(f"launcher ready: {CLASSES} + {LIB}")
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    workdir = cli_workdir(args, prefix="vigie-es-")
    node = start(
        port=args.port,
        workdir=workdir,
        heap=args.heap,
        profile=args.profile,
        transport_port=args.transport_port,
        cluster_name=args.cluster_name,
        timeout=args.timeout,
        settings=args.setting,
        detach=args.detach,
    )
    pidfile = Path(args.pidfile) if args.pidfile else None
    return node.serve(pidfile, detach=args.detach, stop_timeout=args.stop_timeout)


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
    p.add_argument("--profile", choices=sorted(PROFILES), default="test",
                   help="JVM settings: test (serial GC, C1 only, 512m heap; default) or bench "
                        "(G1, full tiered JIT, heap min(4g, RAM/4))")
    p.add_argument("--heap", default=None, help="JVM heap, e.g. 512m or 1g (default: the profile's)")
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

    EsNode.add_stop_command(sub, "stop a node started with --detach", by_pid=True)

    return run_cli(parser, argv, log=_log)


if __name__ == "__main__":
    sys.exit(main())
