"""The parser contract and the ingestion pipeline: raw lines -> ECS events -> event store.

A parser plug-in subclasses ``Parser`` and registers with ``@parsers.register``. The
pipeline adds what every event carries (``event.id``, ``event.original``, ``event.ingested``,
``related.*``, ``labels.vigie_parser`` the name of the parser that read it, the constituency's
``organization.*``, the fields Elastic's pipelines derive from others: ``cert.enrichment.fields``),
writes in batches, and sends every line that cannot be parsed or stored to the dead-letter store
with its reason. Nothing is dropped silently and no input line can crash the pipeline.

Record sources: a parser reads its files with ``Parser.read(path)``, which yields
``(position, raw record text)`` pairs. The default reads text lines; a parser of a binary
format (EVTX) overrides it to extract each record as text, and yields ``Unreadable`` for what
it cannot extract (a corrupt chunk, a truncated file), which is dead-lettered with its reason.
Either way the raw record text is the input of ``parse()``, becomes ``event.original`` and,
with the dataset and the source, derives the deterministic ``event.id``. A parser of multi-line
records (``Parser.continuation``) gets each record's lines joined (``cert.pipeline.multiline``);
its position is its first line, and its continuation lines count as read and skipped (they give
no event of their own), so that every line read is an event, a skipped line or a dead letter.

Per-source settings (``ParserOptions``: time zone, receive time) are given to the Ingestor and
passed to the parser of each source (``Parser.configure``).

Event ids (``cert.core.ecs.event_id``, decision 0007) hash the dataset, the source, the
identity of what was read there, the record's position in it and the raw text:

- a file read from a checkpoint (``FileReader``): its path, its ``record_identity`` (a hash of
  its first line) and the line's byte offset;
- records a parser reads itself (EVTX, a ``.gz`` file, stdin): the path (``-`` for stdin), no
  identity, and the position the reader gives (the line number, the EventRecordID);
- a listener: ``tcp://peer``..., the listener run's token and the message's sequence number.

So two identical lines at two places are two events, and a replay (the same file again, with or
without its checkpoint, after a crash) gives the same ids, which the stores deduplicate.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from cert.constituency.directory import Organization
from cert.core.ecs import Event, get, now_iso, parse_ts, put
from cert.core.lines import FileReader, LineItem, RejectedLine
from cert.core.parser import (
    DEFAULT_OPTIONS,
    RECEIPT_TAG,
    FastPath,
    ParseError,
    Parser,
    ParserOptions,
    Unreadable,
    parsers,
)
from cert.enrichment.fields import enrich as derived_fields
from cert.pipeline.multiline import Joiner
from cert.pipeline.state import load_checkpoint
from cert.pipeline.writer import Batch, StoreWriter, WriterThread, raw_bytes
from cert.pipeline.writer import IngestSummary as IngestSummary  # re-exported: the pipeline's result
from cert.runtime.platform import Platform

ECS_VERSION = "8.11.0"
log = logging.getLogger(__name__)


def finalize(event: Event, parser: Parser, raw: str, source: str, keep_original: bool = True,
             identity: str = "", position: int = 0) -> Event:
    """Add the fields every stored event carries; the id is that of the record at ``position`` of
    ``source`` (read as ``identity``), see ``cert.core.ecs.event_id``."""
    _finalize(event, parser, raw, source, keep_original, now_iso(), identity, position)
    return event


def _finalize(event: Event, parser: Parser, raw: str, source: str, keep_original: bool, ingested: str,
              identity: str, position: int) -> datetime:
    """``finalize`` on the hot path: the ingestion time is given (one per batch) and the
    timestamp it validated is returned. Plain dict operations: this runs for every event."""
    ev = event.get("event")
    if ev.__class__ is not dict:
        ev = event["event"] = {}
    ev["id"] = _event_id(parser.dataset, raw, source, identity, position)
    if not ev.get("dataset"):
        ev["dataset"] = parser.dataset
    if not ev.get("module"):
        ev["module"] = parser.module
    ev["ingested"] = ingested
    if "kind" not in ev:
        ev["kind"] = "event"
    if keep_original:
        ev["original"] = raw
    _sub(event, "ecs")["version"] = ECS_VERSION
    _sub(event, "labels")["vigie_parser"] = parser.name
    if source and source != "-" and "://" not in source:  # network sources (udp://host) are no file
        _sub(_sub(event, "log"), "file")["path"] = source
    ts = event.get("@timestamp")
    if not ts:
        if not parser.options.receive_time:
            raise ParseError("no timestamp")
        ts = _receipt_time(event, ingested)
    when = parse_ts(ts if ts.__class__ is str else str(ts))
    source_, dest, host = event.get("source"), event.get("destination"), event.get("host")
    _related(event, "ip", source_, "ip", dest, "ip", event.get("client"), "ip", host, "ip")
    _related(event, "user", event.get("user"), "name")
    _related(event, "hosts", host, "name", dest, "domain")
    if not raw.isascii() and not _encodable(raw):
        _clean_strings(event)
    return when


def _receipt_time(event: Event, ingested: str) -> str:
    """A record with no time of its own, from a source configured to take its receive time: the
    ingestion time, tagged ``time_from_receipt``."""
    event["@timestamp"] = ingested
    tags = event.get("tags")
    if not isinstance(tags, list):
        tags = event["tags"] = [] if tags is None else [str(tags)]
    if RECEIPT_TAG not in tags:
        tags.append(RECEIPT_TAG)
    return ingested


#: The top-level fields ``_finalize`` reads or writes: a static field under one of them turns
#: ``Parser.fast_path`` off (static fields apply before ``_finalize`` on the ordinary path).
#: ``labels`` is not one: ``_finalize`` sets ``labels.vigie_parser`` over whatever a static field
#: put there, and the fast path sets it before static fields, which never replace a value.
FINALIZE_ROOTS = frozenset({"@timestamp", "event", "ecs", "log", "related", "source", "destination", "client",
                            "host", "user"})


def _sub(obj: Event, key: str) -> Event:
    sub = obj.get(key)
    if sub.__class__ is not dict:
        sub = obj[key] = {}
    return sub


def _related(event: Event, kind: str, *pairs: Any) -> None:
    """Add to ``related.<kind>`` the values at (object, field) pairs (lists flattened; None,
    "" and "-" left out; no duplicates), as ``cert.core.ecs.add_related`` does, inlined."""
    bucket: list[str] | None = None
    for i in range(0, len(pairs), 2):
        obj = pairs[i]
        if obj.__class__ is not dict:
            continue
        value = obj.get(pairs[i + 1])
        if value is None:
            continue
        for v in value if value.__class__ is list else (value,):
            if v is None or v == "" or v == "-":
                continue
            text = v if v.__class__ is str else str(v)
            if bucket is None:
                related = event.get("related")
                if related.__class__ is not dict:
                    related = event["related"] = {}
                found = related.get(kind)
                if found.__class__ is list:
                    bucket = found
                else:  # absent, or one value a parser set alone
                    bucket = related[kind] = [] if found is None else [found if isinstance(found, str) else str(found)]
            if text not in bucket:
                bucket.append(text)


def _event_id(dataset: str, raw: str, source: str, identity: str, position: int) -> str:
    """``cert.core.ecs.event_id``, with the hash of its (dataset, source, identity) prefix computed once."""
    key = (dataset, source, identity)
    base = _ID_BASES.get(key)
    if base is None:
        base = hashlib.blake2b(b"%s\x00%s\x00%s\x00" % (dataset.encode(), source.encode("utf-8", "surrogateescape"),
                                                       identity.encode()), digest_size=16)
        if len(_ID_BASES) >= 4096:
            _ID_BASES.clear()
        _ID_BASES[key] = base
    h = base.copy()
    h.update(f"{position}\x00{raw}".encode("utf-8", "surrogateescape"))  # one encode, one update: the hot path
    return h.hexdigest()


_ID_BASES: dict[tuple[str, str, str], Any] = {}


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clean(text: str) -> str:
    """Undecodable input bytes (kept as lone surrogates) as ``\\xNN`` text: JSON and the
    stores need valid Unicode. The raw bytes stay intact in the dead letters and the event id."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that no byte produced
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _clean_strings(obj: Any) -> Any:
    if isinstance(obj, str):
        return obj if _encodable(obj) else _clean(obj)
    if isinstance(obj, dict):
        for key, value in list(obj.items()):
            if isinstance(key, str) and not _encodable(key):  # a field named by the input (RFC 5424 SD, CEF)
                del obj[key]
                key = _clean(key)
            obj[key] = _clean_strings(value)
        return obj
    if isinstance(obj, list):
        obj[:] = [_clean_strings(v) for v in obj]
    return obj


def _fits(fast: FastPath | None) -> bool:
    """Whether a fast path takes the arguments of the ``FastPath`` contract: a native module built
    from other sources (an older signature) is left unused, and the Python path, the reference,
    takes every line instead of each call failing."""
    if fast is None:
        return True
    try:
        fast("", "", False, "", "", 0)  # an empty line: declined
    except TypeError as exc:
        log.warning("the parser's fast path does not fit the FastPath contract (%s): not used; "
                    "rebuild the native module (pip install ./native)", exc)
        return False
    return True


def _chain(first: Callable[[Event], None], second: Callable[[Event], None]) -> Callable[[Event], None]:
    def both(event: Event) -> None:
        first(event)
        second(event)
    return both


class Ingestor:
    """Parses lines with one parser and writes them to the platform's event store.

    After each batch the store acknowledged (or the spool took, when the store is unreachable),
    the batch's dead letters, counters and file checkpoint are committed together
    (``cert.pipeline.state``). Nothing else is ever acknowledged: a crash replays from the last
    checkpoint, and deterministic event ids make the replay harmless. Batches are written by a
    thread beside the parsing loop (``cert.pipeline.writer``)."""

    def __init__(self, platform: Platform, parser_name: str, batch_size: int = 2000,
                 on_batch: Callable[[list[Event]], None] | None = None,
                 static_fields: dict[str, str] | None = None, collect_ids: bool = False,
                 organization: Organization | None = None, options: ParserOptions = DEFAULT_OPTIONS) -> None:
        self.platform = platform
        self.options = options
        self.organization = organization  # events with no address of the constituency belong to it
        self.static_fields = {k: _clean(v) for k, v in (static_fields or {}).items()}
        self.parser = parsers.get(parser_name)().configure(options)
        self.batch_size = batch_size
        self.geoip = platform.geoip
        self.writer = StoreWriter(platform, on_batch, collect_ids)
        self.spool = self.writer.spool

    @property
    def on_batch(self) -> Callable[[list[Event]], None] | None:
        return self.writer.on_batch

    @on_batch.setter
    def on_batch(self, value: Callable[[list[Event]], None] | None) -> None:
        self.writer.on_batch = value

    # -- files --------------------------------------------------------------------------------
    def checkpointed(self) -> bool:
        """Whether this parser reads plain lines, so files can be resumed from a checkpoint."""
        return self.parser.unit == "line" and type(self.parser).read is Parser.read

    def open_file(self, path: str, *, follow: bool = False, stop: Callable[[], bool] = lambda: False,
                  poll: float = 0.5) -> FileReader:
        """A reader of ``path`` from its checkpoint (source: the absolute path)."""
        source = os.path.abspath(path)
        start = load_checkpoint(self.platform.db, source, self.parser.name)
        return FileReader(source, start, follow=follow, stop=stop, poll=poll)

    def ingest_file(self, path: str, *, follow: bool = False, stop: Callable[[], bool] = lambda: False,
                    progress: Callable[[int, int], None] | None = None) -> IngestSummary:
        if not self.checkpointed():  # whole-file formats (EVTX, NetFlow captures): the parser reads
            if follow:
                raise ValueError(f"parser {self.parser.name} reads whole files, it cannot follow one")
            return self.ingest(self.parser.read(path), source=os.path.abspath(path), progress=progress)
        reader = self.open_file(path, follow=follow, stop=stop)
        return self.ingest(reader, source=reader.path, progress=progress)

    def drain_spool(self) -> IngestSummary:
        """Replay what waits in the spool; StoreUnavailable when the store is still down."""
        return self.writer.drain_spool()

    # -- the pipeline -------------------------------------------------------------------------
    def ingest(self, lines: Iterable[LineItem | Unreadable], source: str,
               progress: Callable[[int, int], None] | None = None, identity: str = "") -> IngestSummary:
        """Ingest (position, text) pairs, as ``Parser.read`` yields them; an ``Unreadable`` or
        ``RejectedLine`` item is dead-lettered; a None item means the source is idle: flush now.
        From a ``FileReader``, each flush also commits the file checkpoint, and the event ids take
        the reader's file identity and byte offsets; else they take ``identity`` and the items'
        positions (which must be those of a replay of the same records: see
        ``cert.core.ecs.event_id``). ``progress`` is called after each batch with the bytes and
        lines it consumed."""
        summary = IngestSummary()
        thread = WriterThread(self.writer, summary, progress)
        self.writer.sid(source, self.parser.name)
        try:
            self._parse_all(lines, source, thread, progress is not None, identity)
        finally:
            thread.close()
        return summary

    def _enricher(self) -> Callable[[Event], None]:
        """The derived ECS fields (``cert.enrichment.fields``), ``organization.*`` from the
        constituency as the contact database holds it now, then GeoIP."""
        constituency = self.platform.constituency
        org = self.organization
        enrich: Callable[[Event], None] = _chain(derived_fields, constituency.enrich if org is None
                                                 else functools.partial(constituency.enrich, fallback=org))
        if self.geoip is not None:
            enrich = _chain(enrich, self.geoip.enrich)
        return enrich

    def _parse_all(self, lines: Iterable[LineItem | Unreadable], source: str, thread: WriterThread,
                   count_bytes: bool, identity: str) -> None:
        reader = lines if isinstance(lines, FileReader) else None
        offset = [reader.start_offset if reader is not None else 0]
        keep = self.platform.settings.keep_original
        unit = self.parser.unit
        enrich = self._enricher()
        static = list(self.static_fields.items())
        parser = self.parser.for_source(source).configure(self.options)
        parse = parser.parse
        fast = parser.fast_path if parser.options == DEFAULT_OPTIONS else None
        if any(key.split(".", 1)[0] in FINALIZE_ROOTS for key, _ in static) or not _fits(fast):
            fast = None
        joiner = None
        if parser.continuation is not None:
            joiner = Joiner(parser.continuation, reader)
            lines = joiner.join(lines)
        limit = self.batch_size

        receipt = parser.options.receive_time

        def new_batch() -> Batch:
            return Batch(source, self.parser.name, unit, receipt_times=receipt)

        def hand_over(b: Batch) -> Batch:
            nonlocal enrich
            enrich = self._enricher()  # an edit of the contact database applies from the next batch
            if joiner is not None:  # continuation lines: read, no event of their own
                joined = joiner.take_joined()
                b.lines += joined
                b.skipped += joined
            if b.newest_stamp is not None:  # the fast path's newest @timestamp, as a datetime
                when = parse_ts(b.newest_stamp)
                if b.newest is None or when > b.newest:
                    b.newest = when
            if b.lines:
                if reader is not None:
                    b.position = reader.position if joiner is None else joiner.position
                    b.progress_bytes, offset[0] = max(0, reader.offset - offset[0]), reader.offset
                thread.submit(b)
            return new_batch()

        b = new_batch()
        ingested = now_iso()
        nbytes = 0
        for item in lines:
            if item.__class__ is not tuple:
                if item is None:
                    b.progress_bytes, nbytes = nbytes, 0
                    b = hand_over(b)
                    thread.idle()
                    ingested = now_iso()
                    continue
                if isinstance(item, (Unreadable, RejectedLine)):
                    pos = item.position if isinstance(item, Unreadable) else item.lineno
                    b.lines += 1
                    b.dead.append((f"{unit} {pos}", item.reason, raw_bytes(item.raw)))
                    if len(b.dead) >= limit:
                        b.progress_bytes, nbytes = nbytes, 0
                        b = hand_over(b)
                    continue
            lineno, raw = item  # type: ignore[misc]
            b.lines += 1
            if count_bytes:
                nbytes += len(raw) + 1
            if reader is None:
                position = lineno
            elif joiner is None:
                position, identity = reader.line_start, reader.identity
            else:
                position, identity = joiner.record_start
            try:
                done = None if fast is None else fast(raw, source, keep, ingested, identity, position)
                if done is None:
                    parsed = parse(raw)
                    if parsed is None:
                        b.skipped += 1
                        continue
                else:
                    parsed = done
                for key, value in static:
                    if get(parsed, key) is None:
                        put(parsed, key, value)
                enrich(parsed)
                when = (None if done is not None
                        else _finalize(parsed, parser, raw, source, keep, ingested, identity, position))
            except (ParseError, ValueError, TypeError, KeyError, IndexError) as exc:
                reason = str(exc) if isinstance(exc, ParseError) else f"{type(exc).__name__}: {exc}"
                b.dead.append((f"{unit} {lineno}", reason, raw_bytes(raw)))
            except Exception as exc:  # noqa: BLE001 - plug-in boundary: a parser's bug dead-letters the line, named
                b.dead.append((f"{unit} {lineno}", f"parser error {type(exc).__name__}: {exc}", raw_bytes(raw)))
            else:
                b.events.append((lineno, raw, parsed))
                if when is None:  # fast path: compared as text (fixed-width UTC), parsed per batch
                    stamp = parsed["@timestamp"]
                    if b.newest_stamp is None or stamp > b.newest_stamp:
                        b.newest_stamp = stamp
                elif b.newest is None or when > b.newest:
                    b.newest = when
            if len(b.events) >= limit or len(b.dead) >= limit or b.lines >= 4 * limit:
                b.progress_bytes, nbytes = nbytes, 0
                b = hand_over(b)
                ingested = now_iso()
        b.progress_bytes = nbytes
        hand_over(b)
