"""The parser contract: a parser plug-in turns one raw record (a log line, an EVTX record as text)
into an ECS event. It subclasses ``Parser`` and registers with ``@parsers.register``.

Record sources: a parser reads its files with ``Parser.read(path)``, which yields
``(position, raw record text)`` pairs. The default reads text lines; a parser of a binary
format (EVTX) overrides it to extract each record as text, and yields ``Unreadable`` for what
it cannot extract (a corrupt chunk, a truncated file), which is dead-lettered with its reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import ClassVar

from cert.core.ecs import Event
from cert.core.lines import Unreadable, read_lines
from cert.core.registry import Registry

__all__ = ["FastPath", "ParseError", "Parser", "Unreadable", "parsers"]


class ParseError(ValueError):
    """A line this parser cannot read; the message is the dead-letter reason."""


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
        cannot change what ``_finalize`` adds (see ``FINALIZE_ROOTS``)."""
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


parsers: Registry[Parser] = Registry("parser")
