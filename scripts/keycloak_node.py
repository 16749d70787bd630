#!/usr/bin/env python3
"""Start/stop a real Keycloak 26 on 127.0.0.1 for tests and CI (the OpenID Connect provider).

Keycloak is the ``org.keycloak:keycloak-quarkus-dist`` zip from Maven Central, fetched with
``mvn dependency:copy``, unpacked once into a cache directory (``$VIGIE_CACHE_DIR``, else
``$XDG_CACHE_HOME/vigie``, else ``~/.cache/vigie``) as ``keycloak-<version>`` and pre-built there
(``kc.sh build``: in-memory H2 database, health endpoints), so that each start is an
``--optimized`` one. No Docker, no download from anywhere else.

Each node runs from a directory of its own: ``bin/`` copied from the cache (``kc.sh`` takes its
home from its own location), ``lib/``, ``conf/``, ``themes/`` and ``providers/`` linked to the
cache, and its own ``data/`` holding the realm files to import (``--import-realm``). The database
is in memory: every start is a fresh provider with exactly the imported realms.

Keycloak 26 needs Java 21 or newer: ``JAVA_HOME`` when it is one, else the newest
``/usr/lib/jvm/*/bin/java`` of version 21 or more, else ``java`` on PATH when it is recent enough.
Only the Keycloak process gets that ``JAVA_HOME``.

Dependency-free (stdlib only). Used both as a module::

    import keycloak_node
    node = keycloak_node.start(realm_files=[Path("tests/fixtures/keycloak-realm.json")])
    ... node.issuer("vigie") ...
    node.stop()

and as a CLI::

    python scripts/keycloak_node.py java        # the Java 21+ home it would use (exit 1: none)
    python scripts/keycloak_node.py build
    python scripts/keycloak_node.py start --realm tests/fixtures/keycloak-realm.json     # foreground
    python scripts/keycloak_node.py start --realm r.json --pidfile /tmp/kc.pid --detach
    python scripts/keycloak_node.py stop --pidfile /tmp/kc.pid

Environment: ``VIGIE_KEYCLOAK_VERSION`` (default below), ``MVN`` (else ``mvn`` on PATH),
``VIGIE_KEYCLOAK_JAVA_OPTS`` (JVM options replacing the small-footprint default).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

from node_process import HOST, NodeProcess, build_lock, cli_workdir, find_mvn, run_cli
from node_process import free_port as free_port  # keycloak_node.free_port, for callers
from node_process import stop_pid as stop_pid  # keycloak_node.stop_pid, for callers

VERSION = os.environ.get("VIGIE_KEYCLOAK_VERSION") or "26.7.3"
ARTIFACT = "org.keycloak:keycloak-quarkus-dist:{version}:zip"
MIN_JAVA = 21
LOG_NAME = "keycloak.log"
# Build-time options, baked into lib/quarkus by ``kc.sh build`` (an --optimized start needs the same):
# in-memory database, local caches only (no cluster discovery, nothing listening beyond HTTP), health.
BUILD_OPTIONS = ("--db=dev-mem", "--cache=local", "--health-enabled=true")
BUILT_MARKER = ".vigie-built"
# Small footprint for a 2-core CI machine: serial GC, C1 only, 512 MiB heap at most.
DEFAULT_JAVA_OPTS = "-Xms64m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError"
LINKED = ("lib", "conf", "themes", "providers")

# Never go through an HTTP proxy for loopback health checks.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _log(msg: str) -> None:
    KeycloakNode.log(msg)


# --------------------------------------------------------------------------- Java and Maven


def java_version(java: str) -> int:
    """The feature version of a ``java`` binary (17, 21, 25...), 0 when it cannot be told."""
    release = Path(java).resolve().parent.parent / "release"
    text = ""
    with contextlib.suppress(OSError):
        text = release.read_text(errors="replace")
    m = re.search(r'^JAVA_VERSION="(\d+)', text, re.MULTILINE)
    if m is None:
        try:
            out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return 0
        m = re.search(r'version "(\d+)', out.stderr + out.stdout)
    if m is None:
        return 0
    major = int(m.group(1))
    return 0 if major == 1 else major  # "1.8" is Java 8: too old anyway


def find_java_home() -> Path:
    """A Java home of version ``MIN_JAVA`` or newer (see the module docstring for the order)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and java_version(str(Path(java_home) / "bin" / "java")) >= MIN_JAVA:
        return Path(java_home)
    candidates = glob.glob("/usr/lib/jvm/*/bin/java")
    on_path = shutil.which("java")
    if on_path:
        candidates.append(os.path.realpath(on_path))
    found = [(v, java) for java in candidates
             if Path(java).is_file() and os.access(java, os.X_OK) and (v := java_version(java)) >= MIN_JAVA]
    if not found:
        raise RuntimeError(
            f"Keycloak needs Java {MIN_JAVA} or newer; none found (JAVA_HOME, /usr/lib/jvm/*, PATH)"
        )
    return Path(max(found)[1]).parent.parent


# --------------------------------------------------------------------------- the cached distribution


def cache_root() -> Path:
    if os.environ.get("VIGIE_CACHE_DIR"):
        return Path(os.environ["VIGIE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vigie"


def home(version: str = VERSION) -> Path:
    """Where the distribution of ``version`` is unpacked and built."""
    return cache_root() / f"keycloak-{version}"


def is_built(version: str = VERSION) -> bool:
    marker = home(version) / BUILT_MARKER
    try:
        return marker.read_text().split() == list(BUILD_OPTIONS)
    except OSError:
        return False


def _fetch_and_unpack(version: str) -> None:
    """``mvn dependency:copy`` the dist zip, unpack it beside the cache, then move it in place."""
    root = cache_root()
    with tempfile.TemporaryDirectory(prefix="keycloak-fetch-", dir=root) as tmp:
        cmd = [find_mvn(), "-q", "-B", "dependency:copy", f"-Dartifact={ARTIFACT.format(version=version)}",
               f"-DoutputDirectory={tmp}"]
        _log("fetching Keycloak: " + shlex.join(cmd))
        proc = subprocess.run(cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              check=False)
        zips = list(Path(tmp).glob("keycloak-quarkus-dist-*.zip"))
        if proc.returncode != 0 or not zips:
            tail = "\n".join(proc.stdout.splitlines()[-40:])
            artifact = ARTIFACT.format(version=version)
            raise RuntimeError(f"maven could not fetch {artifact} (exit {proc.returncode}):\n{tail}")
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(zips[0]) as zf:
            zf.extractall(unpacked)  # a release artifact from Maven Central, into a private directory
        tops = list(unpacked.iterdir())
        if len(tops) != 1 or not (tops[0] / "bin" / "kc.sh").is_file():
            raise RuntimeError(f"unexpected layout in {zips[0].name}: {[p.name for p in tops]}")
        for script in (tops[0] / "bin").glob("*.sh"):
            script.chmod(0o755)
        target = home(version)
        if target.exists():
            shutil.rmtree(target)
        tops[0].rename(target)


def build(version: str = VERSION, force: bool = False) -> Path:
    """Fetch, unpack and pre-build Keycloak ``version`` in the cache (once); return its home."""
    if not force and is_built(version):
        return home(version)
    with build_lock(cache_root() / ".keycloak.lock"):
        if not force and is_built(version):
            return home(version)
        t0 = time.monotonic()
        kc_home = home(version)
        if force or not (kc_home / "bin" / "kc.sh").is_file():
            _fetch_and_unpack(version)
        java_home = find_java_home()
        cmd = [str(kc_home / "bin" / "kc.sh"), "build", *BUILD_OPTIONS]
        _log(f"building Keycloak {version} with {java_home}: " + shlex.join(cmd))
        proc = subprocess.run(cmd, cwd=kc_home, env=_kc_env(java_home), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, check=False, timeout=600)
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-40:])
            raise RuntimeError(f"kc.sh build failed (exit {proc.returncode}):\n{tail}")
        (kc_home / BUILT_MARKER).write_text(" ".join(BUILD_OPTIONS) + "\n")
        _log(f"Keycloak {version} ready in {kc_home} ({time.monotonic() - t0:.1f}s)")
        return kc_home


def _kc_env(java_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KC_", "KEYCLOAK_", "QUARKUS_"))}
    env["JAVA_HOME"] = str(java_home)
    env["JAVA_OPTS"] = os.environ.get("VIGIE_KEYCLOAK_JAVA_OPTS") or DEFAULT_JAVA_OPTS
    env.pop("JAVA_OPTS_APPEND", None)
    env.pop("JAVA_OPTS_KC_HEAP", None)
    return env


# --------------------------------------------------------------------------- process helpers


def _http_status(url: str, timeout: float) -> int:
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# --------------------------------------------------------------------------- node


class KeycloakNode(NodeProcess):
    """A running Keycloak started by :func:`start`; :meth:`stop` SIGTERMs ``kc.sh``, which passes it on to the JVM."""

    NAME = "Keycloak"
    PROGRAM = "keycloak_node"
    LOG_NAME = LOG_NAME
    PROCESS = "a Keycloak process"
    COMMAND_MARKERS = (b"kc.sh", b"quarkus-run.jar")
    # A SIGKILL of the kc.sh shell would orphan its JVM.
    KILL_CHILDREN = True

    def __init__(self, port: int, management_port: int, pid: int, workdir: Path,
                 proc: subprocess.Popen[bytes] | None, cleanup: bool) -> None:
        super().__init__(port, pid, workdir, proc, cleanup)
        self.management_port = management_port

    def issuer(self, realm: str) -> str:
        """The OpenID Connect issuer of ``realm`` (its discovery document is under it)."""
        return f"{self.url}/realms/{realm}"


def _lay_out(kc_home: Path, workdir: Path, realm_files: Sequence[Path]) -> Path:
    """The node's own home in ``workdir``: bin copied, the rest linked, data (and realms) its own."""
    node_home = workdir / "keycloak"
    if node_home.exists():
        shutil.rmtree(node_home)
    node_home.mkdir(parents=True)
    shutil.copytree(kc_home / "bin", node_home / "bin", symlinks=True)
    for name in LINKED:
        (node_home / name).symlink_to(kc_home / name, target_is_directory=True)
    imports = node_home / "data" / "import"
    imports.mkdir(parents=True)
    for realm in realm_files:
        name = json.loads(Path(realm).read_text(encoding="utf-8"))["realm"]  # a broken file fails here
        shutil.copyfile(realm, imports / f"{name}-realm.json")  # the name Keycloak requires
    return node_home


def start(
    realm_files: Sequence[Path] = (),
    *,
    port: int | None = None,
    management_port: int | None = None,
    workdir: Path | None = None,
    timeout: float = 180.0,
    detach: bool = False,
    version: str = VERSION,
) -> KeycloakNode:
    """Build if needed, start Keycloak importing ``realm_files``, wait until it is ready.

    ``port``/``management_port`` ``None`` pick free loopback ports. ``workdir=None`` uses a fresh
    temporary directory deleted by :meth:`KeycloakNode.stop`. Ready means: the health endpoint
    says UP and each imported realm serves its OpenID Connect discovery document. A node that is
    not ready after ``timeout`` seconds is stopped and an error raised with the log's tail.
    Non-detached nodes are also stopped at interpreter exit.
    """
    kc_home = build(version)
    java_home = find_java_home()
    port = port or free_port()
    management_port = management_port or free_port()
    cleanup = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="vigie-keycloak-")) if workdir is None else Path(workdir)
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    node_home = _lay_out(kc_home, workdir, realm_files)
    realms = [json.loads(Path(r).read_text(encoding="utf-8"))["realm"] for r in realm_files]
    cmd = [
        str(node_home / "bin" / "kc.sh"), "start", "--optimized",
        "--http-enabled=true", f"--http-host={HOST}", f"--http-port={port}",
        f"--http-management-port={management_port}", "--hostname-strict=false",
        *BUILD_OPTIONS, "--import-realm",
    ]
    env = _kc_env(java_home)
    env["JAVA_OPTS"] += f" -Djava.io.tmpdir={node_home / 'data'}"
    t0 = time.monotonic()
    proc = KeycloakNode.launch(cmd, workdir, cwd=node_home, env=env, detach=detach, note=f"JAVA_HOME={java_home}")
    node = KeycloakNode(port, management_port, proc.pid, workdir, None if detach else proc, cleanup)
    if not detach:
        atexit.register(node.stop)

    checks = [f"http://{HOST}:{management_port}/health/ready"]
    checks += [f"{node.issuer(r)}/.well-known/openid-configuration" for r in realms]

    def not_ready() -> str | None:
        try:
            statuses = [_http_status(url, timeout=5) for url in checks]
        except (urllib.error.URLError, OSError) as exc:
            return repr(exc)
        if all(s == 200 for s in statuses):
            return None
        return ", ".join(f"{u} -> {s}" for u, s in zip(checks, statuses, strict=True))

    node.wait_ready(proc, not_ready, started=t0, timeout=timeout, interval=0.5)
    return node


# --------------------------------------------------------------------------- CLI


def _cmd_java(args: argparse.Namespace) -> int:
    print(find_java_home())
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    kc_home = build(args.version, force=args.force)
    _log(f"Keycloak {args.version} built in {kc_home}")
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    workdir = cli_workdir(args, prefix="vigie-keycloak-")
    node = start([Path(r) for r in args.realm], port=args.port, management_port=args.management_port,
                 workdir=workdir, timeout=args.timeout, detach=args.detach, version=args.version)
    pidfile = Path(args.pidfile) if args.pidfile else None
    return node.serve(pidfile, detach=args.detach)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--version", default=VERSION, help=f"Keycloak version (default {VERSION})")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("java", help=f"print the Java {MIN_JAVA}+ home Keycloak would run with (exit 1: none)")
    p.set_defaults(func=_cmd_java)

    p = sub.add_parser("build", help="fetch, unpack and pre-build Keycloak in the cache (no-op when done)")
    p.add_argument("--force", action="store_true", help="fetch and build again")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("start", help="start Keycloak and wait until it is ready")
    p.add_argument("--realm", action="append", default=[], help="realm JSON file to import (repeatable)")
    p.add_argument("--port", type=int, default=None, help="HTTP port (default: a free port)")
    p.add_argument("--management-port", type=int, default=None, help="health port (default: a free port)")
    p.add_argument("--dir", help="working directory (default: a new temp dir)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness")
    p.add_argument("--pidfile", help="write the launcher's pid here")
    p.add_argument("--detach", action="store_true", help="return once ready, leave Keycloak running")
    p.set_defaults(func=_cmd_start)

    KeycloakNode.add_stop_command(sub, "stop a Keycloak started with --detach", by_pid=False)

    return run_cli(parser, argv, log=_log)


if __name__ == "__main__":
    sys.exit(main())
