"""Multi-line records: a first line and the lines that continue it, joined into one record.

A parser that reads such records names the pattern of a continuation line
(``Parser.continuation``; for syslog files, a line starting with white space, as Filebeat's system
module configures ``multiline.pattern: '^\\s'``, ``match: after``). ``Joiner`` joins each first line
with its continuations (``\\n`` between them) before the parser sees it, for a file and for a
listener's messages alike, so both give the same records:

- the record's position is its first line (dead letters and event ids name it: ``record_start``);
- a record is complete when the next first line arrives, at the end of the input, when the source
  is idle (a file read to its end), or when the next line comes from another file;
- it holds at most ``MAX_LINES`` lines and ``MAX_LINE_BYTES`` bytes (Filebeat keeps 500 lines and
  drops the rest): a continuation beyond that starts a record of its own, which the parser
  refuses (dead-lettered with its reason), so no line is lost;
- a continuation with no record before it (the first line of the input) is a record of its own;
- the continuation lines are counted (``take_joined``): the Ingestor counts them as lines read
  that gave no event of their own (``skipped``), so lines read still add up;
- the checkpoint of a file (``Joiner.position``) is never past the first line of the record held
  back: a restart reads that record again whole.

A listener's messages arrive in flushes; ``split_trailing`` keeps the last record of a flush back
for the next one (one flush interval at most, like Filebeat's ``multiline.timeout``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from cert.core.lines import MAX_LINE_BYTES, FilePosition, FileReader, LineItem
from cert.core.parser import Unreadable

MAX_LINES = 500

Item = LineItem | Unreadable


class Joiner:
    """Joins the (position, text) items of one source into records; other items (None: the
    source is idle, a rejected or unreadable record) end the record held and pass through."""

    def __init__(self, continuation: re.Pattern[str], reader: FileReader | None = None,
                 max_lines: int = MAX_LINES, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.continuation = continuation
        self.reader = reader
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._held: list[str] = []
        self._held_at: tuple[int | None, int, int] | None = None  # the reader's mark before the record
        self._joined = 0  # continuation lines of the records given out, not yet taken
        self._start: tuple[int, str] = (0, "")  # the reader's (line_start, identity) at the held record's first line
        #: The reader's ``(line_start, identity)`` at the first line of the record last given out:
        #: what its event id is made of (``cert.core.ecs.event_id``), whatever was read after it.
        self.record_start: tuple[int, str] = (0, "")

    def take_joined(self) -> int:
        """The continuation lines of the records given out since the last call."""
        n, self._joined = self._joined, 0
        return n

    @property
    def position(self) -> FilePosition:
        """The reader's checkpoint: before the record held back, if any."""
        assert self.reader is not None
        if self._held and self._held_at is not None:
            return self.reader.position_at(self._held_at)
        return self.reader.position

    def join(self, items: Iterable[Item]) -> Iterator[Item]:
        match = self.continuation.match
        reader = self.reader
        before = reader.mark if reader is not None else None  # the reader's mark before this item
        held = self._held
        number = 0
        size = 0
        for item in items:
            after = reader.mark if reader is not None else None
            if item.__class__ is tuple:
                lineno, text = item  # type: ignore[misc]
                if (held and match(text) is not None and len(held) < self.max_lines
                        and size + len(text) < self.max_bytes
                        and (after is None or self._held_at is None or after[0] == self._held_at[0])):
                    held.append(text)
                    size += len(text) + 1
                else:
                    record = self._release(number) if held else None
                    if reader is not None:
                        self._start = (reader.line_start, reader.identity)
                    held[:] = [text]
                    number, size = lineno, len(text)
                    if before is not None and after is not None and before[0] != after[0]:
                        before = (after[0], 0, 0)  # the first line of the next file
                    self._held_at = before
                    if record is not None:
                        yield record
            else:
                if held:
                    yield self._release(number)
                yield item
            before = after
        if held:
            yield self._release(number)

    def _release(self, number: int) -> tuple[int, str]:
        """The record held (its first line's number given), which is let go: its lines joined, its
        continuation lines counted, its start recorded for its event id."""
        held = self._held
        record = (number, "\n".join(held))
        self._joined += len(held) - 1
        self.record_start = self._start
        held.clear()
        return record


def split_trailing(lines: list[tuple[int, str]], continuation: re.Pattern[str]) -> int:
    """Where the last record of ``lines`` starts (its first line's index; 0 when every line
    continues the first one)."""
    match = continuation.match
    for i in range(len(lines) - 1, -1, -1):
        if match(lines[i][1]) is None:
            return i
    return 0
