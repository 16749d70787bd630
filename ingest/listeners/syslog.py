"""Syslog receiver: UDP (RFC 5426, one message per datagram), TCP (RFC 6587 octet counting or
newline framing) and TLS (RFC 5425). ``cert listen syslog --udp 127.0.0.1:5514 --tcp 127.0.0.1:5514``.

Messages are parsed by the ``syslog`` parser (``--parser`` picks another, e.g. ``linux.auth``)
and stored like ``cert ingest`` stores lines; each event records the peer in
``log.source.address``, and its source is ``udp://``, ``tcp://`` or ``tls://`` + the peer's IP.
"""

from __future__ import annotations

import logging
import threading

from cert.pipeline.listeners import Listener, ListenerStats, listeners
from ingest.listeners._net import Connection, Peer, TcpAcceptor, UdpReceiver, read_stream, tls_context
from ingest.listeners.framing import FrameError, SyslogFramer

log = logging.getLogger("ingest.listeners.syslog")

TRAILER = b"\r\n\x00"


def _text(message: bytes) -> str:
    return message.decode("utf-8", "surrogateescape")


def _address(peer: Peer) -> str:
    return f"[{peer[0]}]:{peer[1]}" if ":" in peer[0] else f"{peer[0]}:{peer[1]}"


@listeners.register
class SyslogListener(Listener):
    name = "syslog"
    transports = frozenset({"udp", "tcp", "tls"})
    default_parser = "syslog"

    def start(self) -> list[str]:
        cfg = self.config
        self.stopping = threading.Event()
        self.sink = self.make_sink()
        self.receivers: list[UdpReceiver] = [UdpReceiver(e, self._datagram, self.stopping) for e in cfg.udp]
        self.acceptors: list[TcpAcceptor] = [
            TcpAcceptor(e, self._stream, self.stopping, cfg.max_connections, on_refused=self._refused) for e in cfg.tcp]
        if cfg.tls:
            assert cfg.tls_cert is not None and cfg.tls_key is not None  # checked by ListenerConfig
            context = tls_context(cfg.tls_cert, cfg.tls_key)
            self.acceptors += [TcpAcceptor(e, self._stream, self.stopping, cfg.max_connections, context,
                                           self._refused) for e in cfg.tls]
        self.sink.start()
        for thread in [*self.receivers, *self.acceptors]:
            thread.start()
        return [f"udp://{r.endpoint}" for r in self.receivers] + [
            f"{'tls' if a.tls else 'tcp'}://{a.endpoint}" for a in self.acceptors]

    def stop(self) -> ListenerStats:
        self.stopping.set()
        for thread in [*self.receivers, *self.acceptors]:
            thread.join(5)
        for acceptor in self.acceptors:
            acceptor.join_connections(5)
        stats = self.sink.stop()
        stats.connections = sum(a.accepted for a in self.acceptors)
        return stats

    # ---- UDP: one message per datagram ----
    def _datagram(self, data: bytes, peer: Peer) -> None:
        message = data.rstrip(TRAILER)
        if not message:
            return
        if len(message) > self.config.max_message_bytes:
            self.sink.dead_letter(f"udp://{peer[0]}", "datagram", f"message of {len(message)} bytes exceeds the "
                                  f"limit of {self.config.max_message_bytes} bytes",
                                  message[: self.config.max_message_bytes])
            return
        self.sink.put(f"udp://{peer[0]}", _text(message), {"log.source.address": _address(peer)}, block=False)

    # ---- TCP and TLS: a stream of framed messages ----
    def _stream(self, conn: Connection, stopping: threading.Event) -> None:
        scheme = "tls" if conn.tls else "tcp"
        source = f"{scheme}://{conn.peer[0]}"
        fields = {"log.source.address": _address(conn.peer)}
        framer = SyslogFramer(self.config.max_message_bytes)

        def deliver(result: tuple[list[bytes], list[FrameError]]) -> None:
            messages, errors = result
            self.sink.put_many(source, [_text(m) for m in messages], fields)
            for error in errors:
                self.sink.dead_letter(source, "stream", error.reason, error.raw)

        read_stream(conn, stopping, lambda chunk: deliver(framer.feed(chunk)))
        deliver(framer.close())

    def _refused(self, peer: Peer, reason: str) -> None:
        log.warning("refused %s: %s", _address(peer), reason)
        self.sink.count_refused()
