"""Real Redis and PostgreSQL servers for the tests, on a free loopback port, in a private directory.

Plain Python (no pytest): ``start_redis(workdir)`` and ``start_postgres(workdir)`` return a
``Server`` that is stopped by its process id (``server.stop()``), never by name. A missing
binary raises ``ServerUnavailable(reason)`` so that a fixture can skip with that reason.

Binaries are looked up on ``PATH`` and then in Debian's locations (``/usr/bin/redis-server``,
``/usr/lib/postgresql/<version>/bin``). PostgreSQL refuses to run as root: when the tests run
as root, the cluster is created and run as an unprivileged account (``$VIGIE_TEST_PG_USER``,
else ``vigie-test`` when it exists, else ``nobody``). Nothing listens outside 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
START_ATTEMPTS = 3  # a free port can be taken between find_free_port() and the bind: retry
READY_TIMEOUT = 60.0


class ServerUnavailable(RuntimeError):
    """The server cannot be started here (binary missing, no unprivileged account...)."""

    @property
    def reason(self) -> str:
        return str(self.args[0]) if self.args else "server unavailable"


class ServerStartError(RuntimeError):
    """The binary is there but the server did not come up; the message carries its log."""


def find_free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    pid: int
    port: int
    workdir: Path
    stop_signal: int = signal.SIGTERM
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    cleanup: list[Path] = field(default_factory=list, repr=False)

    @property
    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def log(self, limit: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-limit:]

    def stop(self, timeout: float = 30.0) -> None:
        """Signal the server by pid (``stop_signal``), then SIGKILL after ``timeout``; wait for exit."""
        try:
            if self.running:
                _signal(self.pid, self.stop_signal)
                if not _wait_exit(self, timeout):
                    _signal(self.pid, signal.SIGKILL)
                    _wait_exit(self, 10.0)
        finally:
            for path in self.cleanup:
                shutil.rmtree(path, ignore_errors=True)
            self.cleanup.clear()


@dataclass
class PostgresServer(Server):
    """A PostgreSQL cluster with a database ``vigie`` owned by the role ``vigie`` (CREATEDB)."""

    host: str = LOOPBACK
    user: str = "vigie"

    def database_url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database owned by ``vigie``; return its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        name = name or f"vigie_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(**self._conninfo("vigie"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(self.user))
            )
        return self.database_url(name)

    def drop_database(self, name_or_url: str) -> None:
        """Drop a database made by ``create_database`` (closing any connection still open on it)."""
        import psycopg
        from psycopg import sql

        name = name_or_url.rsplit("/", 1)[-1]
        with psycopg.connect(**self._conninfo("vigie"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _conninfo(self, dbname: str) -> dict[str, object]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": dbname,
            "connect_timeout": 5,
        }


# --------------------------------------------------------------------------- helpers


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_exit(server: Server, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    if server.process is not None:
        try:
            server.process.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    while time.monotonic() < deadline:
        if not server.running:
            return True
        time.sleep(0.05)
    return not server.running


def _which(name: str, extra_dirs: list[str]) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in extra_dirs:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _postgres_bin_dirs() -> list[str]:
    def version(path: str) -> int:
        try:
            return int(Path(path).parent.name)
        except ValueError:
            return 0

    return sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)


def _postgres_binaries() -> tuple[str, str]:
    """(initdb, postgres) from the same installation."""
    initdb = _which("initdb", _postgres_bin_dirs())
    if initdb is None:
        raise ServerUnavailable("PostgreSQL server binaries not found (install Debian's postgresql package)")
    bindir = Path(os.path.realpath(initdb)).parent
    postgres = bindir / "postgres"
    if not postgres.is_file():
        found = _which("postgres", _postgres_bin_dirs())
        if found is None:
            raise ServerUnavailable(f"PostgreSQL 'postgres' binary not found next to {initdb}")
        postgres = Path(found)
    return str(initdb), str(postgres)


def _terminate(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        _signal(proc.pid, sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _signal(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# --------------------------------------------------------------------------- Redis


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(workdir: Path, *, port: int | None = None, appendonly: bool = False) -> Server:
    """Start ``redis-server`` on a loopback port (free, or ``port``), data in ``workdir``; no
    persistence unless ``appendonly`` (then a restart on the same port and directory keeps the data)."""
    binary = _which("redis-server", ["/usr/bin", "/usr/local/bin", "/usr/sbin"])
    if binary is None:
        raise ServerUnavailable("redis-server not found (install Debian's redis-server package)")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    wanted = port
    for _attempt in range(START_ATTEMPTS):
        port = wanted or find_free_port()
        log_path = workdir / f"redis-{port}.log"
        cmd = [
            binary,
            "--port",
            str(port),
            "--bind",
            LOOPBACK,
            "--save",
            "",
            "--appendonly",
            "yes" if appendonly else "no",
            "--dir",
            str(workdir),
            "--daemonize",
            "no",
            "--logfile",
            str(log_path),
        ]
        proc = subprocess.Popen(
            cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        server = Server(
            "redis", f"redis://{LOOPBACK}:{port}/0", proc.pid, port, workdir, signal.SIGTERM, log_path, proc
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            if _redis_ping(port):
                return server
            time.sleep(0.05)
        last_error = server.log()
        _terminate(proc, signal.SIGTERM)
        if "Address already in use" not in last_error:
            break
    raise ServerStartError(f"redis-server did not answer PING: {last_error or 'no log'}")


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_account() -> pwd.struct_passwd | None:
    """The unprivileged account PostgreSQL runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    names = (
        [os.environ["VIGIE_TEST_PG_USER"]]
        if os.environ.get("VIGIE_TEST_PG_USER")
        else ["vigie-test", "nobody"]
    )
    for name in names:
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        if account.pw_uid != 0:
            return account
    raise ServerUnavailable(
        f"running as root and no unprivileged account for PostgreSQL (tried {', '.join(names)}; "
        "set VIGIE_TEST_PG_USER)"
    )


def _reachable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether ``uid`` can traverse every directory leading to ``path`` (Unix permission bits)."""
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == gid:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


def _run_as(account: pwd.struct_passwd | None) -> dict[str, object]:
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _pg_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C", TZ="UTC")
    return env


def start_postgres(workdir: Path) -> PostgresServer:
    """Create a cluster in ``workdir`` and start it on a free loopback port (trust auth, loopback
    only, Unix socket inside the cluster's directory); create role and database ``vigie``."""
    initdb, postgres = _postgres_binaries()
    try:
        import psycopg
    except ImportError as exc:
        raise ServerUnavailable(f"psycopg is not installed: {exc}") from exc
    account = _postgres_account()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    cleanup: list[Path] = []
    base = workdir
    if account is not None and not _reachable_by(workdir, account.pw_uid, account.pw_gid):
        # e.g. pytest's /tmp/pytest-of-root is 0700: keep the cluster in a private dir of its own
        base = Path(tempfile.mkdtemp(prefix="vigie-pg-"))
        cleanup.append(base)
    root = base / "postgres"
    datadir, sockdir = root / "data", root / "run"
    log_path = root / "postgres.log"
    root.mkdir(mode=0o700)
    sockdir.mkdir(mode=0o700)
    if account is not None:
        for path in (base, root, sockdir) if base != workdir else (root, sockdir):
            os.chown(path, account.pw_uid, account.pw_gid)
    env, run_as = _pg_env(), _run_as(account)
    init = subprocess.run(
        [
            initdb,
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-instructions",
            "--no-sync",
        ],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        **run_as,  # type: ignore[call-overload]
    )
    if init.returncode != 0:
        for path in cleanup:
            shutil.rmtree(path, ignore_errors=True)
        raise ServerStartError(
            f"initdb failed ({init.returncode}): {init.stderr.decode(errors='replace')[-2000:]}"
        )
    # trust, but only on the Unix socket and 127.0.0.1
    (datadir / "pg_hba.conf").write_text(
        "# written by tests/servers.py\nlocal all all trust\nhost all all 127.0.0.1/32 trust\n"
    )
    last_error = ""
    for _attempt in range(START_ATTEMPTS):
        port = find_free_port()
        cmd = [
            postgres,
            "-D",
            str(datadir),
            "-p",
            str(port),
            "-k",
            str(sockdir),
            "-c",
            f"listen_addresses={LOOPBACK}",
            "-c",
            "unix_socket_permissions=0700",
            # throw-away test cluster: durability is not needed, speed is
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=100",
            "-c",
            "logging_collector=off",
        ]
        with open(log_path, "ab") as log:
            if account is not None:
                os.chown(log_path, account.pw_uid, account.pw_gid)
            proc = subprocess.Popen(
                cmd,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **run_as,  # type: ignore[call-overload]
            )
        server = PostgresServer(
            "postgres",
            f"postgresql+psycopg://vigie@{LOOPBACK}:{port}/vigie",
            proc.pid,
            port,
            workdir,
            signal.SIGINT,
            log_path,
            proc,
            cleanup,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with psycopg.connect(
                    host=LOOPBACK,
                    port=port,
                    user="postgres",
                    dbname="postgres",
                    connect_timeout=2,
                    autocommit=True,
                ) as conn:
                    conn.execute("CREATE ROLE vigie LOGIN CREATEDB")
                    conn.execute("CREATE DATABASE vigie OWNER vigie")
                ready = True
                break
            except psycopg.OperationalError:
                time.sleep(0.1)
        if ready:
            return server
        last_error = server.log()
        _terminate(proc, signal.SIGINT)
        if "could not bind" not in last_error and "already in use" not in last_error:
            break
    for path in cleanup:
        shutil.rmtree(path, ignore_errors=True)
    raise ServerStartError(f"PostgreSQL did not become ready: {last_error[-3000:] or 'no log'}")
