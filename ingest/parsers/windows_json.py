"""Windows event log records exported as JSON by the EVTX dumpers built on omerbenamram/evtx (the
library of the ``windows.evtx`` parser): ``evtx_dump -o json`` (pretty objects after ``Record N``
lines), ``evtx_dump -o jsonl``, the ``.json`` files of SigmaHQ's regression data (pretty objects
one after the other), and JSON arrays of such records (``jq -s``, Chainsaw's ``dump --json``).
Each record is ``{"Event": {"System": ..., "EventData": ...}}``, attributes under ``#attributes``
or, as the tools that set evtx's ``separate_json_attributes`` write them (Chainsaw, Hayabusa), in
a sibling ``<Element>_attributes`` object.

A record is read exactly as ``windows.evtx`` reads the same record from the ``.evtx`` file (the
same function), so both give the same normalised event (``_windows_ecs``) and Sigma rules see the
same fields. The raw record (``event.original``, the seed of ``event.id``) is the record as compact
JSON, as ``windows.evtx`` keeps it: an object written on several lines is compacted (whitespace
only: the keys, their order and the values are kept), one written on one line is kept as it is
(``evtx_dump -o jsonl`` writes the very text ``windows.evtx`` keeps).

Not read: flattened renderings (Zircolite's ``--keepflat``, Hayabusa's and Chainsaw's detection
reports), which rename and merge System and EventData fields (``Version``, ``ProcessID``) so that
the record cannot be rebuilt; ingest the ``.evtx`` files, or evtx_dump's JSON, instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from cert.core.ecs import Event
from cert.core.parser import ParseError, Parser, Unreadable, parsers
from ingest.parsers._json_stream import read_objects
from ingest.parsers._windows_fields import loads
from ingest.parsers.windows_evtx import from_evtx_json

_SEPARATE = "_attributes"
# a string, kept (one left open runs to the end: linear time), or the blanks between tokens
_LAYOUT = re.compile(r'("(?:[^"\\]+|\\[\s\S]?)*(?:"|\Z))|[ \t\r\n]+')


@parsers.register
class WindowsJsonParser(Parser):
    name = "windows.json"
    dataset = "windows.eventlog"
    module = "windows"
    unit = "record"

    def read(self, path: str) -> Iterator[tuple[int, str] | Unreadable]:
        for item in read_objects(path):
            if isinstance(item, tuple) and "\n" in item[1]:
                yield item[0], compact(item[1])
            else:
                yield item

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        event = loads(line).get("Event")
        if not isinstance(event, dict):
            raise ParseError("no Event object: not a Windows event record as evtx_dump writes it")
        if '_attributes"' in line:
            event = joined_attributes(event)
        return from_evtx_json(event)


def compact(text: str) -> str:
    """A JSON text without its layout: the blanks between tokens go, every string is kept as
    written (its escapes too: ``\\u000F`` stays, as evtx writes it)."""
    return _LAYOUT.sub(r"\1", text)


def joined_attributes(node: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """A record written with separate attributes (``"Provider_attributes": {...}``, beside
    ``"Provider"``) in the usual form (``"Provider": {"#attributes": {...}}``; an element with
    text and attributes: ``{"#attributes": ..., "#text": ...}``)."""
    if depth > 4:  # Event/System/Provider: attributes are never deeper
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.endswith(_SEPARATE) and len(key) > len(_SEPARATE) and isinstance(value, dict):
            continue
        out[key] = joined_attributes(value, depth + 1) if isinstance(value, dict) else value
    for key, value in node.items():
        if not (key.endswith(_SEPARATE) and len(key) > len(_SEPARATE) and isinstance(value, dict)):
            continue
        element = key[: -len(_SEPARATE)]
        own = out.get(element)
        if isinstance(own, dict):
            out[element] = {"#attributes": value, **own}
        elif own is None:
            out[element] = {"#attributes": value}
        else:
            out[element] = {"#attributes": value, "#text": own}
    return out
