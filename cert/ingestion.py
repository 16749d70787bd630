"""The parser contract and the ingestion pipeline: raw lines -> ECS events -> event store.

A parser plug-in subclasses ``Parser`` and registers with ``@parsers.register``. The
pipeline adds what every event carries (``event.id``, ``event.original``, ``event.ingested``,
``related.*``, the constituency's ``organization.*``), writes in batches, and sends every line
that cannot be parsed or stored to the dead-letter store with its reason. Nothing is dropped
silently and no input line can crash the pipeline.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from cert.ecs import Event, add_related, event_id, get, now_iso, parse_ts, put
from cert.models import DeadLetter
from cert.registry import Registry

if TYPE_CHECKING:
    from cert.platform import Platform

ECS_VERSION = "8.11.0"


class ParseError(ValueError):
    """A line this parser cannot read; the message is the dead-letter reason."""


class Parser(ABC):
    name: ClassVar[str]
    dataset: ClassVar[str]
    module: ClassVar[str]

    @abstractmethod
    def parse(self, line: str) -> Event | None:
        """The ECS event for one line, None for a line to skip (blank, comment), or ParseError."""


parsers: Registry[Parser] = Registry("parser")


def finalize(event: Event, parser: Parser, raw: str, source: str, keep_original: bool = True) -> Event:
    """Add the fields every stored event carries."""
    put(event, "event.id", event_id(parser.dataset, raw, source))
    put(event, "event.dataset", get(event, "event.dataset") or parser.dataset)
    put(event, "event.module", get(event, "event.module") or parser.module)
    put(event, "event.ingested", now_iso())
    event.setdefault("event", {}).setdefault("kind", "event")
    put(event, "ecs.version", ECS_VERSION)
    if keep_original:
        put(event, "event.original", raw)
    put(event, "log.file.path", source) if source and source != "-" else None
    ts = get(event, "@timestamp")
    if not ts:
        raise ParseError("no timestamp")
    parse_ts(str(ts))  # validates
    add_related(event, "ip", get(event, "source.ip"), get(event, "destination.ip"), get(event, "client.ip"))
    add_related(event, "user", get(event, "user.name"))
    add_related(event, "ip", get(event, "host.ip"))
    add_related(event, "hosts", get(event, "host.name"), get(event, "destination.domain"))
    return event


@dataclass
class IngestSummary:
    read: int = 0
    ingested: int = 0
    duplicates: int = 0
    skipped: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    new_event_ids: list[str] = field(default_factory=list)

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())


def read_lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of a file, or of stdin for '-'. Undecodable bytes are kept escaped."""
    if path == "-":
        for n, line in enumerate(sys.stdin.buffer, 1):
            yield n, line.decode("utf-8", "surrogateescape").rstrip("\r\n")
        return
    with Path(path).open("rb") as fh:
        for n, bline in enumerate(fh, 1):
            yield n, bline.decode("utf-8", "surrogateescape").rstrip("\r\n")


def follow_lines(path: str, poll: float = 0.5, stop: Callable[[], bool] = lambda: False,
                 from_start: bool = True) -> Iterator[tuple[int, str] | None]:
    """Tail a file like ``tail -F``: keep reading as it grows, reopen it when it is rotated
    (another inode at the path) or truncated. Yields None when idle, so the caller can flush."""
    import os
    import time

    fh = None
    inode = -1
    lineno = 0
    pending = b""
    while not stop():
        if fh is None:
            try:
                fh = open(path, "rb")  # noqa: SIM115 - kept open across iterations
            except FileNotFoundError:
                time.sleep(poll)
                yield None
                continue
            inode = os.fstat(fh.fileno()).st_ino
            if not from_start and lineno == 0:
                fh.seek(0, os.SEEK_END)
            lineno, pending = 0, b""
        chunk = fh.readline()
        if chunk:
            if not chunk.endswith(b"\n"):
                pending += chunk
                continue
            lineno += 1
            yield lineno, (pending + chunk).decode("utf-8", "surrogateescape").rstrip("\r\n")
            pending = b""
            continue
        yield None
        try:
            st = os.stat(path)
            rotated = st.st_ino != inode or st.st_size < fh.tell()
        except FileNotFoundError:
            rotated = True
        if rotated:
            fh.close()
            fh = None
            from_start = True
            continue
        time.sleep(poll)
    if fh is not None:
        fh.close()


class Ingestor:
    """Parses lines with one parser and writes them to the platform's event store."""

    def __init__(self, platform: Platform, parser_name: str, batch_size: int = 2000,
                 on_batch: Callable[[list[Event]], None] | None = None,
                 static_fields: dict[str, str] | None = None) -> None:
        self.platform = platform
        self.static_fields = static_fields or {}
        self.parser = parsers.get(parser_name)()
        self.batch_size = batch_size
        self.on_batch = on_batch
        self.constituency = platform.constituency

    def _dead_letter(self, summary: IngestSummary, source: str, position: str, reason: str, raw: str) -> None:
        summary.dead_letters[reason] += 1
        with self.platform.db.session() as s:
            s.add(DeadLetter(source=source[:500], parser=self.parser.name, position=position, reason=reason[:500],
                             raw=raw.encode("utf-8", "surrogateescape")))

    def _flush(self, batch: list[tuple[str, str, Event]], summary: IngestSummary, source: str) -> None:
        if not batch:
            return
        result = self.platform.events.write([ev for _, _, ev in batch])
        failed_ids = {id(ev) for ev, _ in result.failed}
        for pos, raw, ev in batch:
            if id(ev) in failed_ids:
                reason = next(r for e, r in result.failed if e is ev)
                self._dead_letter(summary, source, pos, f"store: {reason}", raw)
        summary.ingested += result.written
        summary.duplicates += result.duplicates
        stored = [ev for _, _, ev in batch if id(ev) not in failed_ids]
        summary.new_event_ids.extend(str(get(ev, "event.id")) for ev in stored)
        if self.on_batch is not None:
            self.on_batch(stored)
        batch.clear()

    def ingest(self, lines: Iterable[tuple[int, str] | None], source: str,
               progress: Callable[[int], None] | None = None) -> IngestSummary:
        """Ingest (line number, text) pairs; a None item means the source is idle: flush now."""
        summary = IngestSummary()
        batch: list[tuple[str, str, Event]] = []
        keep = self.platform.settings.keep_original
        for item in lines:
            if item is None:
                self._flush(batch, summary, source)
                continue
            lineno, raw = item
            summary.read += 1
            if progress is not None:
                progress(len(raw) + 1)
            try:
                parsed = self.parser.parse(raw)
                if parsed is None:
                    summary.skipped += 1
                    continue
                for key, value in self.static_fields.items():
                    if get(parsed, key) is None:
                        put(parsed, key, value)
                self.constituency.enrich(parsed)
                event = finalize(parsed, self.parser, raw, source, keep)
            except (ParseError, ValueError, TypeError, KeyError, IndexError) as exc:
                reason = str(exc) if isinstance(exc, ParseError) else f"{type(exc).__name__}: {exc}"
                self._dead_letter(summary, source, f"line {lineno}", reason, raw)
                continue
            batch.append((f"line {lineno}", raw, event))
            if len(batch) >= self.batch_size:
                self._flush(batch, summary, source)
        self._flush(batch, summary, source)
        return summary
