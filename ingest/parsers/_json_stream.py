"""The JSON objects of a text file written by an exporter, one after the other, whatever the layout:

- one object per line (JSON Lines: ``evtx_dump -o jsonl``, ``jq -c``);
- pretty-printed objects one after the other (SigmaHQ's regression data), with or without a
  ``Record N`` line before each (``evtx_dump -o json``);
- a JSON array of objects (``jq -s``, Chainsaw's ``--json``), pretty or on one line.

Each object is yielded as its own text, exactly as in the file (lines joined with ``\\n``), with
its ordinal: the raw record of a parser. Anything else (text between objects, an array element
that is no object, an object that never closes, a line or an object too large) is an
``Unreadable`` item naming the line and the reason, and the reader resynchronises on the next
object that starts a line. The file is streamed: an object is held in memory, never the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from cert.core.lines import RejectedLine, Unreadable, read_lines

#: An object longer than this is dead-lettered (EVTX records are at most 64 KiB of binary XML).
MAX_OBJECT_CHARS = 4 << 20
_HEADER = re.compile(r"Record \d+")
# JSON strings (skipped whole: they cannot span lines) and the brackets that nest
# (a string left open runs to the end of the line: never a failed match to retry, linear time)
_TOKEN = re.compile(r'"(?:[^"\\]+|\\[\s\S]?)*(?:"|\Z)|[{}\[\]]')
_SNIPPET = 60
_LOST = 1 << 40  # the depth of an object cut by an unreadable line: it ends where the next record starts


class _Document:
    __slots__ = ("depth", "line", "parts", "size", "skipped")

    def __init__(self, line: int) -> None:
        self.line = line
        self.parts: list[str] = []
        self.depth = 0
        self.size = 0
        self.skipped = False  # too large: already dead-lettered, read to its end and dropped


def read_objects(path: str) -> Iterator[tuple[int, str] | Unreadable]:
    """(ordinal from 1, object text) of each JSON object of the file ('-': stdin; '.gz' is
    decompressed), or ``Unreadable`` with the reason."""
    n = 0
    doc: _Document | None = None
    in_array = False
    for item in read_lines(path):
        if isinstance(item, Unreadable):
            yield Unreadable(n + 1, item.reason, item.raw)
            return
        if isinstance(item, RejectedLine):
            n += 1
            yield Unreadable(n, f"line {item.lineno}: {item.reason}", item.raw)
            if doc is not None:  # the object it is part of is lost with it: skip to the next record
                if not doc.skipped:
                    n += 1
                    yield _broken(n, doc, f"the object from line {doc.line} has a line too long to read")
                doc.parts, doc.skipped, doc.depth = [], True, _LOST
            continue
        lineno, text = item
        if doc is not None and _restarts(text):
            if not doc.skipped:
                n += 1
                yield _broken(n, doc, f"the object from line {doc.line} does not close before line {lineno}")
            doc = None
        if doc is None and not in_array and _HEADER.fullmatch(text.strip()):
            continue
        i = 0
        while i < len(text):
            if doc is None:
                i = _skip_blanks(text, i, in_array)
                if i >= len(text):
                    break
                c = text[i]
                if c == "{":
                    doc = _Document(lineno)
                elif c == "[" and not in_array:
                    in_array = True
                    i += 1
                    continue
                elif c == "]" and in_array:
                    in_array = False
                    i += 1
                    continue
                else:  # up to the next object on the line
                    end = text.find("{", i + 1)
                    junk = text[i:end] if end > 0 else text[i:]
                    n += 1
                    yield Unreadable(n, f"line {lineno}: not a JSON object: {junk[:_SNIPPET]!r}", junk)
                    if end < 0:
                        break
                    i = end
                    continue
            end = _close(doc, text, i)
            if not doc.skipped:
                piece = text[i:end if end >= 0 else len(text)]
                doc.parts.append(piece)
                doc.size += len(piece) + 1
                if doc.size > MAX_OBJECT_CHARS:
                    n += 1
                    yield _broken(n, doc, f"the object from line {doc.line} is longer than "
                                          f"{MAX_OBJECT_CHARS} characters")
                    doc.parts, doc.skipped = [], True
            if end < 0:
                break
            if not doc.skipped:
                n += 1
                yield n, "\n".join(doc.parts)
            doc = None
            i = end
    if doc is not None and not doc.skipped:
        yield _broken(n + 1, doc, f"the object from line {doc.line} does not close before the end of the file")


def _restarts(text: str) -> bool:
    """A line that can only begin a new record: the previous object was cut."""
    return text.startswith("{") or bool(_HEADER.fullmatch(text.strip()))


def _skip_blanks(text: str, i: int, in_array: bool) -> int:
    separators = " \t\r\ufeff,\x00" if in_array else " \t\r\ufeff\x00"
    while i < len(text) and text[i] in separators:
        i += 1
    return i


def _close(doc: _Document, text: str, i: int) -> int:
    """Scan ``text`` from ``i``: the index after the bracket that closes ``doc``, or -1."""
    for m in _TOKEN.finditer(text, i):
        c = m.group()
        if c == "{" or c == "[":  # a string token may hold these characters
            doc.depth += 1
        elif c == "}" or c == "]":
            doc.depth -= 1
            if doc.depth <= 0:
                return m.end()
    return -1


def _broken(n: int, doc: _Document, reason: str) -> Unreadable:
    raw = "\n".join(doc.parts)
    return Unreadable(n, reason, raw[:MAX_OBJECT_CHARS])
