"""Sockets for the listeners: a UDP receiver and a TCP (optionally TLS) acceptor, each a thread
that stops by itself when asked (every blocking call has a short timeout)."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

from cert.core.errors import InvalidInput
from cert.pipeline.listeners import Endpoint

log = logging.getLogger("ingest.listeners")

POLL = 0.25  # seconds between checks of the stop flag
Peer = tuple[str, int]


def _bind(endpoint: Endpoint, kind: socket.SocketKind) -> socket.socket:
    try:
        infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=kind)
    except socket.gaierror as exc:
        raise InvalidInput(f"cannot resolve listen address {endpoint}: {exc}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InvalidInput(f"cannot listen on {endpoint}: {exc.strerror or exc}") from None
    sock.settimeout(POLL)
    return sock


def bound(sock: socket.socket) -> Endpoint:
    host, port = sock.getsockname()[:2]
    return Endpoint(host, port)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context: TLS 1.2 at least, the operator's certificate chain and key (PEM)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInput(f"cannot load the TLS certificate {cert} and key {key}: {exc}") from None
    return ctx


class UdpReceiver(threading.Thread):
    """Calls ``handle(datagram, peer)`` for each datagram, and ``tick()`` when idle."""

    def __init__(self, endpoint: Endpoint, handle: Callable[[bytes, Peer], None], stopping: threading.Event,
                 tick: Callable[[], None] | None = None, rcvbuf: int = 4 * 1024 * 1024) -> None:
        super().__init__(name=f"udp-{endpoint}", daemon=True)
        self.sock = _bind(endpoint, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.endpoint = bound(self.sock)
        self.handle = handle
        self.tick = tick
        self.stopping = stopping

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    data, peer = self.sock.recvfrom(65535)
                except TimeoutError:
                    if self.tick is not None:
                        self.tick()
                    continue
                except OSError as exc:
                    log.warning("udp %s: %s", self.endpoint, exc)
                    continue
                self.handle(data, (peer[0], peer[1]))
        finally:
            self.sock.close()


class Connection:
    """One accepted TCP (or TLS) connection, handed to the listener's reader."""

    def __init__(self, sock: socket.socket, peer: Peer, tls: bool) -> None:
        self.sock = sock
        self.peer = peer
        self.tls = tls


class TcpAcceptor(threading.Thread):
    """Accepts connections (at most ``max_connections`` at once) and runs ``serve(connection)``
    for each in its own thread; with ``tls`` the handshake happens in that thread first."""

    def __init__(self, endpoint: Endpoint, serve: Callable[[Connection, threading.Event], None],
                 stopping: threading.Event, max_connections: int = 256, tls: ssl.SSLContext | None = None,
                 on_refused: Callable[[Peer, str], None] | None = None) -> None:
        super().__init__(name=f"tcp-{endpoint}", daemon=True)
        self.sock = _bind(endpoint, socket.SOCK_STREAM)
        self.sock.listen(128)
        self.endpoint = bound(self.sock)
        self.serve = serve
        self.stopping = stopping
        self.max_connections = max_connections
        self.tls = tls
        self.on_refused = on_refused
        self.active: set[threading.Thread] = set()
        self.accepted = 0
        self._lock = threading.Lock()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    conn, peer = self.sock.accept()
                except TimeoutError:
                    continue
                except OSError as exc:
                    log.warning("tcp %s: %s", self.endpoint, exc)
                    continue
                with self._lock:
                    self.active = {t for t in self.active if t.is_alive()}
                    full = len(self.active) >= self.max_connections
                if full:
                    conn.close()
                    if self.on_refused is not None:
                        self.on_refused((peer[0], peer[1]), f"too many connections (limit {self.max_connections})")
                    continue
                worker = threading.Thread(target=self._serve, args=(conn, (peer[0], peer[1])), daemon=True,
                                          name=f"conn-{peer[0]}:{peer[1]}")
                with self._lock:
                    self.active.add(worker)
                    self.accepted += 1
                worker.start()
        finally:
            self.sock.close()

    def _serve(self, conn: socket.socket, peer: Peer) -> None:
        try:
            if self.tls is not None:
                conn.settimeout(10)
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    log.warning("tls handshake with %s:%s failed: %s", peer[0], peer[1], exc)
                    if self.on_refused is not None:
                        self.on_refused(peer, f"TLS handshake failed: {exc}")
                    return
            conn.settimeout(POLL)
            self.serve(Connection(conn, peer, self.tls is not None), self.stopping)
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def join_connections(self, timeout: float) -> None:
        with self._lock:
            workers = list(self.active)
        for worker in workers:
            worker.join(timeout)


def read_stream(conn: Connection, stopping: threading.Event, feed: Callable[[bytes], None]) -> None:
    """Read a connection until EOF, an error, or the stop flag; hand each chunk to ``feed``."""
    while not stopping.is_set():
        try:
            chunk = conn.sock.recv(65536)
        except TimeoutError:
            continue
        except ssl.SSLWantReadError:
            continue
        except OSError as exc:
            log.info("connection from %s:%s ended: %s", conn.peer[0], conn.peer[1], exc)
            return
        if not chunk:
            return
        feed(chunk)
