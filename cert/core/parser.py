"""The parser contract: a parser plug-in turns one raw record (a log line, an EVTX record as text)
into an ECS event. It subclasses ``Parser`` and registers with ``@parsers.register``.

Record sources: a parser reads its files with ``Parser.read(path)``, which yields
``(position, raw record text)`` pairs. The default reads text lines; a parser of a binary
format (EVTX) overrides it to extract each record as text, and yields ``Unreadable`` for what
it cannot extract (a corrupt chunk, a truncated file), which is dead-lettered with its reason.

Per-source settings: ``ParserOptions`` (the time zone of timestamps written without one, whether a
record with no time of its own takes its receive time). The Ingestor gives them to the parser of
each source with ``Parser.configure``; a parser reads them from ``self.options``.

Multi-line records: a parser whose records may span lines sets ``continuation``, the pattern of a
line that continues the record before it (Filebeat's ``multiline.pattern`` with ``match: after``).
The Ingestor then joins each record's lines with ``\n`` before ``parse`` (``cert.pipeline.multiline``),
so that a file and a network stream give the same records.
"""

from __future__ import annotations

import copy
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cert.core.ecs import Event
from cert.core.errors import InvalidInput
from cert.core.lines import Unreadable, read_lines
from cert.core.registry import Registry

__all__ = ["DEFAULT_OPTIONS", "RECEIPT_TAG", "FastPath", "ParseError", "Parser", "ParserOptions", "Unreadable",
           "parsers"]


class ParseError(ValueError):
    """A line this parser cannot read; the message is the dead-letter reason."""


#: The tag of an event whose ``@timestamp`` is its receive time (``ParserOptions.receive_time``).
RECEIPT_TAG = "time_from_receipt"


@dataclass(frozen=True)
class ParserOptions:
    """The settings of one source, read by its parser.

    ``timezone``: the IANA zone (``Africa/Abidjan``) of the timestamps the source writes without a
    zone or offset (RFC 3164 syslog in local time, an access log without its offset); recorded in
    ``event.timezone`` of the events it applies to. None: such timestamps are UTC.
    ``receive_time``: a record with no time of its own (a CEF record with no syslog header and no
    ``rt``) takes the time it was ingested as ``@timestamp``, equal to ``event.ingested``, with
    the tag ``time_from_receipt``. False: such a record is refused (dead-lettered)."""

    timezone: str | None = None
    receive_time: bool = False
    zone: tzinfo | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.timezone is None:
            return
        if not _ZONE_NAME.fullmatch(self.timezone):
            raise InvalidInput(f"time zone {self.timezone!r}: expected an IANA name such as Africa/Abidjan")
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"unknown time zone {self.timezone!r}: expected an IANA name such as "
                               "Africa/Abidjan") from None
        object.__setattr__(self, "zone", zone)


_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}")
DEFAULT_OPTIONS = ParserOptions()


#: A native parse+finalize of one line: (line, source, keep_original, ingested, identity, position)
#: -> the event (its ``@timestamp`` fixed-width UTC text, its ``event.id`` that of
#: ``cert.core.ecs.event_id`` for the identity and position), or None for a line it leaves to ``parse``.
FastPath = Callable[[str, str, bool, str, str, int], "Event | None"]


class Parser(ABC):
    name: ClassVar[str]
    dataset: ClassVar[str]
    module: ClassVar[str]
    #: What a position counts in dead letters and summaries ("line 12", "record 4711"). Only
    #: "line" parsers can follow a growing file (``cert ingest --follow``).
    unit: ClassVar[str] = "line"
    #: The file name endings of this parser's usual files (lower case, with the dot, e.g.
    #: ``(".evtx",)``): a directory given to ``cert ingest`` is read for those files only. Empty
    #: (the default): every regular file of the directory.
    extensions: ClassVar[tuple[str, ...]] = ()
    #: A line this pattern matches (``re.match``) continues the record before it; None (the
    #: default): every line is a record.
    continuation: ClassVar[re.Pattern[str] | None] = None
    #: The source's settings (``configure``).
    options: ParserOptions = DEFAULT_OPTIONS

    @abstractmethod
    def parse(self, line: str) -> Event | None:
        """The ECS event for one line, None for a line to skip (blank, comment), or ParseError."""

    @property
    def fast_path(self) -> FastPath | None:
        """The parser's optional fast path (a native parser, when its module is installed): for
        one line, what ``parse`` then ``_finalize`` give, its ``@timestamp`` validated and written
        ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, fixed width, so that text order is time order); or
        None to take the ordinary path (which also raises ParseError for bad input). None (the
        default) when the parser has none; the Ingestor asks once per source, never per line. The
        Ingestor applies static fields and enrichment after it, so it is only used when those
        cannot change what ``_finalize`` adds (see ``FINALIZE_ROOTS``), and only with the
        default ``ParserOptions`` (a fast path reads none)."""
        return None

    def read(self, path: str) -> Iterator[tuple[int, str] | Unreadable]:
        """The raw records of a file ('-' for stdin) in order, as (position, text) pairs. The
        default reads lines; a parser of a non-line format overrides this. The position is part
        of each event's id: reading the same file again must give the same positions (a line
        number, a record's own number such as the EVTX EventRecordID)."""
        return read_lines(path)

    def for_source(self, source: str) -> Parser:
        """The parser for one source (a file, a stream). Stateless parsers are shared (self); a
        parser whose lines depend on earlier ones (Zeek's TSV header) returns a fresh instance,
        so concurrent sources (``--follow`` on several files) never mix their state."""
        return self

    def configure(self, options: ParserOptions) -> Parser:
        """This parser with a source's settings: self when they are those it has, else a copy
        (parsers are shared between sources, so a setting never leaks to another source)."""
        if options == self.options:
            return self
        clone = copy.copy(self)
        clone.options = options
        return clone


parsers: Registry[Parser] = Registry("parser")
