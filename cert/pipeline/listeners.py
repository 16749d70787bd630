"""Network listeners (syslog over UDP/TCP/TLS, NetFlow/IPFIX over UDP): the contract, the
registry, and the sink that feeds what they receive to the ingestion pipeline.

A listener plug-in subclasses ``Listener`` and registers with ``@listeners.register`` (the
``ingest.listeners`` package, named in the ``plugins`` setting). It receives bytes and hands
lines to a ``LineSink``: one thread that batches them, flushes every ``batch_size`` lines or
``flush_seconds`` seconds, and writes them through ``cert.pipeline.ingestor.Ingestor`` — the same
parsing, enrichment, dead-letter store and event store as ``cert ingest``. Input that cannot
even be framed or decoded goes to the dead-letter store too, with its reason.

The parser's per-source settings (``ParserOptions``: time zone, receive time) are part of the
listener's configuration. For a parser of multi-line records (``Parser.continuation``), the
messages of one peer are joined as a file's lines are; the last record of a flush waits for the
next flush (one flush interval at most), where its continuation lines may be.

Event ids: a message received is never received again (syslog over TCP has no acknowledgement
to resend after; a datagram is sent once), so each message gets an id of its own: the sink's
token (drawn when the sink is made, one per listener run) and the message's number in the sink's
sequence stand for the file identity and position of ``cert ingest`` (``cert.core.ecs.event_id``).
Identical messages on one connection, or in two datagrams, are two events; a batch spooled while
the store was down keeps its ids, so replaying it twice stores it once.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from cert.core.ecs import Event
from cert.core.errors import InvalidInput
from cert.core.parser import DEFAULT_OPTIONS, ParserOptions
from cert.core.registry import Registry
from cert.pipeline.ingestor import Ingestor, IngestSummary
from cert.pipeline.multiline import split_trailing
from cert.pipeline.state import reason_class
from cert.pipeline.writer import Batch

if TYPE_CHECKING:
    from cert.runtime.platform import Platform

log = logging.getLogger("cert.pipeline.listeners")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """``127.0.0.1:5514``, ``[::1]:5514`` or ``0.0.0.0:514``: a host and a port, both required."""
        host, sep, port = text.strip().rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise InvalidInput(f"listen address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:5514 or [::1]:5514")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ListenerConfig:
    udp: tuple[Endpoint, ...] = ()
    tcp: tuple[Endpoint, ...] = ()
    tls: tuple[Endpoint, ...] = ()
    tls_cert: Path | None = None
    tls_key: Path | None = None
    parser: str | None = None
    batch_size: int = 2000
    flush_seconds: float = 1.0
    max_message_bytes: int = 64 * 1024
    max_connections: int = 256
    parser_options: ParserOptions = DEFAULT_OPTIONS

    def __post_init__(self) -> None:
        if not (self.udp or self.tcp or self.tls):
            raise InvalidInput("give at least one address to listen on (--udp, --tcp or --tls)")
        if self.tls and not (self.tls_cert and self.tls_key):
            raise InvalidInput("--tls needs --tls-cert and --tls-key (PEM files)")
        if self.batch_size < 1 or self.flush_seconds <= 0 or self.max_message_bytes < 480:
            raise InvalidInput("batch size must be >= 1, flush interval > 0 and message limit >= 480 bytes")


@dataclass
class ListenerStats:
    received: int = 0
    ingested: int = 0
    duplicates: int = 0
    skipped: int = 0
    dropped: int = 0  # UDP input refused because the sink's queue was full
    connections: int = 0
    refused: int = 0  # connections refused (over the limit) or failed TLS handshakes
    dead_letters: Counter[str] = field(default_factory=Counter)

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())

    def line(self) -> str:
        return (f"{self.received} received, {self.ingested} events ingested, {self.duplicates} already stored, "
                f"{self.skipped} skipped, {self.dead_lettered} dead-lettered, {self.dropped} dropped, "
                f"{self.refused} connections refused")


class Listener(ABC):
    name: ClassVar[str]
    transports: ClassVar[frozenset[str]]  # of "udp", "tcp", "tls"
    default_parser: ClassVar[str]

    def __init__(self, platform: Platform, config: ListenerConfig,
                 on_batch: Callable[[list[Event]], None] | None = None) -> None:
        used = {t for t in ("udp", "tcp", "tls") if getattr(config, t)}
        unsupported = sorted(used - self.transports)
        if unsupported:
            raise InvalidInput(f"the {self.name} listener does not speak {', '.join(unsupported)} "
                               f"(it listens on {', '.join(sorted(self.transports))})")
        self.platform = platform
        self.config = config
        self.on_batch = on_batch  # called with each stored batch (``cert listen --detect``)

    def make_sink(self) -> LineSink:
        """The sink this listener's input goes to, with its parser and batching."""
        cfg = self.config
        return LineSink(self.platform, cfg.parser or self.default_parser, cfg.batch_size, cfg.flush_seconds,
                        on_batch=self.on_batch, options=cfg.parser_options)

    @abstractmethod
    def start(self) -> list[str]:
        """Bind and serve in background threads; the bound addresses (``udp://127.0.0.1:5514``)."""

    @abstractmethod
    def stop(self) -> ListenerStats:
        """Stop receiving, flush what was received, and say what happened."""


listeners: Registry[Listener] = Registry("listener")


_STOP = object()


class LineSink:
    """The one thread that parses and stores what listeners receive, in batches.

    ``put`` is called from receiving threads; items wait in a bounded queue (``block=False``
    for UDP, which drops and counts rather than stall the socket; TCP blocks, which pushes
    back on the sender). Each flush groups the lines by source, so every event and dead letter
    names the peer it came from."""

    def __init__(self, platform: Platform, parser: str, batch_size: int = 2000, flush_seconds: float = 1.0,
                 max_queue: int = 100_000, on_batch: Callable[[list[Event]], None] | None = None,
                 options: ParserOptions = DEFAULT_OPTIONS) -> None:
        self.platform = platform
        self.ingestor = Ingestor(platform, parser, batch_size=max(batch_size, 1), on_batch=on_batch,
                                 options=options)
        self._continuation = self.ingestor.parser.continuation
        # per (source, static fields): the last record of the previous flush, held for this one
        self._held: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[int, str]]] = {}
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.stats = ListenerStats()
        self._queue: queue.Queue[object] = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name=f"sink-{parser}", daemon=True)
        self._count = 0  # messages received: each message's position
        self.identity = secrets.token_hex(12)  # this run's token, in every event id
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def put(self, source: str, line: str, fields: dict[str, str] | None = None, block: bool = True) -> bool:
        return self.put_many(source, [line], fields, block)

    def put_many(self, source: str, lines: list[str], fields: dict[str, str] | None = None,
                 block: bool = True) -> bool:
        """Queue the lines of one source (one queue item: a datagram's records, a TCP chunk's messages)."""
        if not lines:
            return True
        try:
            self._queue.put(("lines", source, lines, fields or {}), block=block)
        except queue.Full:
            with self._lock:
                self.stats.dropped += len(lines)
            return False
        return True

    def dead_letter(self, source: str, position: str, reason: str, raw: bytes) -> None:
        """Input that never became a line (a frame too long, an undecodable datagram). Never
        blocks the receiving thread: when the queue is full it is counted as dropped."""
        try:
            self._queue.put(("dead", source, position, reason, raw), block=False)
        except queue.Full:
            with self._lock:
                self.stats.dropped += 1

    def count_refused(self) -> None:
        with self._lock:
            self.stats.refused += 1

    def stop(self, timeout: float = 30.0) -> ListenerStats:
        """Flush everything queued so far, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        return self.stats

    def _run(self) -> None:
        pending: list[tuple[str, str, dict[str, str]]] = []
        dead: list[tuple[str, str, str, bytes]] = []
        deadline = time.monotonic() + self.flush_seconds
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP:
                self._flush(pending, dead, final=True)
                return
            if isinstance(item, tuple) and item[0] == "lines":
                pending.extend((item[1], line, item[3]) for line in item[2])
            elif isinstance(item, tuple) and item[0] == "dead":
                dead.append((item[1], item[2], item[3], item[4]))
            if len(pending) + len(dead) >= self.batch_size or time.monotonic() >= deadline:
                self._flush(pending, dead)
                deadline = time.monotonic() + self.flush_seconds

    def _flush(self, pending: list[tuple[str, str, dict[str, str]]], dead: list[tuple[str, str, str, bytes]],
               final: bool = False) -> None:
        groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[int, str]]] = {}
        for source, line, fields in pending:
            self._count += 1
            groups.setdefault((source, tuple(sorted(fields.items()))), []).append((self._count, line))
        pending.clear()
        if self._continuation is not None:
            groups = self._hold_trailing(groups, final)
        for (source, static), lines in groups.items():
            self.ingestor.static_fields = dict(static)
            try:
                self._account(self.ingestor.ingest(lines, source=source, identity=self.identity))
            except Exception as exc:  # noqa: BLE001 - a database outage must not kill the listener
                log.error("could not ingest %d messages from %s: %s", len(lines), source, exc)
                reason = f"ingest failed: {type(exc).__name__}: {exc}"
                dead.extend((source, f"message {n}", reason, _bytes(line)) for n, line in lines)
        by_source: dict[str, list[tuple[str, str, bytes]]] = {}
        for source, position, reason, raw in dead:
            by_source.setdefault(source, []).append((position, reason, raw))
        dead.clear()
        for source, letters in by_source.items():
            self._store_dead_letters(source, letters)

    def _hold_trailing(self, groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[int, str]]],
                       final: bool) -> dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[int, str]]]:
        """The lines to ingest now: each source's held record goes first; the last record of
        each source's new lines waits for the next flush, unless this is the last flush or the
        record began in the previous one (it waited its flush interval)."""
        assert self._continuation is not None
        held, self._held = self._held, {}
        # nothing more from a peer: its held record is complete
        out = {key: lines for key, lines in held.items() if key not in groups}
        for key, lines in groups.items():
            before = held.get(key, [])
            lines = before + lines
            start = split_trailing(lines, self._continuation)
            if final or start < len(before):
                out[key] = lines
                continue
            self._held[key] = lines[start:]
            if start:
                out[key] = lines[:start]
        return out

    def _account(self, summary: IngestSummary) -> None:
        with self._lock:
            self.stats.received += summary.read
            self.stats.ingested += summary.ingested
            self.stats.duplicates += summary.duplicates
            self.stats.skipped += summary.skipped
            self.stats.dead_letters.update(summary.dead_letters)

    def _store_dead_letters(self, source: str, letters: list[tuple[str, str, bytes]]) -> None:
        """Input that never became a line (a frame too long, an undecodable datagram), committed the
        way ``cert ingest`` commits a batch (``StoreWriter.write``): the dead letters with the
        source's counters, per source and per reason, in one transaction."""
        batch = Batch(source, self.ingestor.parser.name, self.ingestor.parser.unit, dead=letters, lines=len(letters))
        summary = IngestSummary()
        try:
            self.ingestor.writer.write(batch, summary)
        except Exception as exc:  # noqa: BLE001 - the database may be down; say so and go on
            log.error("could not store %d dead letters from %s: %s", len(letters), source, exc)
            summary.read = len(letters)
            summary.dead_letters.update(reason_class(reason) for _, reason, _ in letters)
        self._account(summary)


def _bytes(line: str) -> bytes:
    return line.encode("utf-8", "surrogateescape")
