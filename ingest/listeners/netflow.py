"""NetFlow v5/v9 and IPFIX collector over UDP: ``cert listen netflow --udp 0.0.0.0:2055``.

Each datagram is decoded where it is received (``ingest.netflow.decoder``, one template cache
for all the listening sockets); each flow or options record becomes one line for the
``netflow`` parser, and its source is ``netflow://`` + the exporter's IP. A datagram that cannot
be decoded, and data whose template never came, go to the dead-letter store with the reason.
"""

from __future__ import annotations

import threading

from cert.pipeline.listeners import Listener, ListenerStats, listeners
from ingest.listeners._net import Peer, UdpReceiver
from ingest.netflow.decoder import NetflowDecoder
from ingest.netflow.records import DecodeError


@listeners.register
class NetflowListener(Listener):
    name = "netflow"
    transports = frozenset({"udp"})
    default_parser = "netflow"

    def start(self) -> list[str]:
        cfg = self.config
        self.stopping = threading.Event()
        self.decoder = NetflowDecoder()
        self._lock = threading.Lock()
        self.sink = self.make_sink()
        self.receivers = [UdpReceiver(e, self._datagram, self.stopping, tick=self._expire) for e in cfg.udp]
        self.sink.start()
        for receiver in self.receivers:
            receiver.start()
        return [f"udp://{r.endpoint}" for r in self.receivers]

    def stop(self) -> ListenerStats:
        self.stopping.set()
        for receiver in self.receivers:
            receiver.join(5)
        return self.sink.stop()

    def _datagram(self, data: bytes, peer: Peer) -> None:
        with self._lock:
            result = self.decoder.decode(data, peer)
        source = f"netflow://{peer[0]}"
        self.sink.put_many(source, [record.to_line() for record in result.records], block=False)
        self._dead_letters(result.errors)

    def _expire(self) -> None:
        with self._lock:
            errors = self.decoder.expire()
        self._dead_letters(errors)

    def _dead_letters(self, errors: list[DecodeError]) -> None:
        for error in errors:
            self.sink.dead_letter(f"netflow://{error.exporter}", error.position, error.reason, error.raw)
