"""Windows event log files (``.evtx``), read with the ``evtx`` package (Rust, omerbenamram/evtx).

``read`` extracts each record as the JSON rendering of its XML (``{"Event": {"System": ...,
"EventData": ...}}``, attributes under ``#attributes``); that text is the raw record: the input of
``parse``, ``event.original`` and the seed of ``event.id``. A corrupt chunk or record, a file
that is not EVTX, or a truncated last chunk becomes a dead letter with the reader's reason; the
chunks are parsed in a child process, so that one the library loops on costs only that chunk
(``_evtx_chunks``).
The normalised output is described in ``_windows_ecs``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import evtx

from cert.core.ecs import Event, put
from cert.core.parser import ParseError, Parser, Unreadable, parsers
from ingest.parsers._evtx_chunks import CHUNK, HEADER, Refused, read_chunks
from ingest.parsers._windows_ecs import normalise
from ingest.parsers._windows_fields import (
    LEVELS,
    guid,
    keyword_mask,
    keyword_names,
    loads,
    number,
    text,
    timestamp,
)


def read_evtx(path: str, stall_seconds: float | None = None) -> Iterator[tuple[int, str] | Unreadable]:
    """(EventRecordID, JSON text) of each record of an EVTX file ('-': stdin), in file order. The
    chunks are parsed in a child process (``_evtx_chunks``): a chunk that stalls the ``evtx``
    library costs that chunk (a dead letter), never the ingest."""
    spooled = None
    try:
        if path == "-":  # the child reads a file: stdin is kept in a temporary one
            with tempfile.NamedTemporaryFile(prefix="vigie-stdin-", suffix=".evtx", delete=False) as spooled:
                shutil.copyfileobj(sys.stdin.buffer, spooled)
            path = spooled.name
        try:
            size = os.path.getsize(path)
            evtx.PyEvtxParser(path, 1)  # the file header: what is no event log is refused at once
        except (OSError, RuntimeError, ValueError) as exc:
            yield Unreadable(0, f"not a readable EVTX file: {exc}")
            return
        last = 0
        for item in read_chunks(path, max(0, size - HEADER) // CHUNK, stall_seconds):
            if isinstance(item, Refused):
                yield Unreadable(last + 1, f"corrupt EVTX data after record {last}: {item}")
                continue
            last = item[0]
            yield item
        tail = (size - HEADER) % CHUNK if size > HEADER else 0
        if tail:
            yield Unreadable(last + 1, f"truncated EVTX file: the last chunk has {tail} of {CHUNK} bytes, "
                                       f"its records (after record {last}) are lost")
    finally:
        if spooled is not None:
            os.unlink(spooled.name)


@parsers.register
class WindowsEvtxParser(Parser):
    name = "windows.evtx"
    dataset = "windows.eventlog"
    module = "windows"
    unit = "record"
    extensions = (".evtx",)

    def read(self, path: str) -> Iterator[tuple[int, str] | Unreadable]:
        return read_evtx(path)

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        event = loads(line).get("Event")
        if not isinstance(event, dict):
            raise ParseError("no Event element: not an EVTX record rendered as JSON")
        return from_evtx_json(event)


def _attr(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        attrs = node.get("#attributes")
        if isinstance(attrs, dict):
            return attrs.get(name)
    return None


def _value(node: Any) -> Any:
    """An element's text: the node itself, or its '#text' when it also has attributes."""
    return node.get("#text") if isinstance(node, dict) else node


def event_data(node: Any) -> dict[str, str]:
    """EventData as Name -> string; unnamed Data elements become param1, param2..."""
    if not isinstance(node, dict):
        return {}
    out: dict[str, str] = {}
    params: list[Any] = []
    for key, value in node.items():
        if key == "#attributes":
            continue
        if key == "Data" and isinstance(value, (dict, list)):
            inner = _value(value)
            params.extend(inner if isinstance(inner, list) else [inner] if inner is not None else [])
        elif key == "Binary" and value is None:
            continue
        else:
            out[key] = text(value)
    for i, value in enumerate(params, 1):
        out[f"param{i}"] = text(value)
    return out


def user_data(node: Any) -> dict[str, str] | None:
    """UserData's single child element, flattened: its fields, and its name as ``xml_name``."""
    if not isinstance(node, dict) or not node:
        return None
    name, body = next(iter(node.items()))
    out = {"xml_name": str(name)}
    if isinstance(body, dict):
        out.update((k, text(v)) for k, v in body.items() if k != "#attributes")
    elif body is not None:
        out["value"] = text(body)
    return out


def from_evtx_json(event: dict[str, Any]) -> Event:
    system = event.get("System")
    if not isinstance(system, dict):
        raise ParseError("no System element")
    code = number(_value(system.get("EventID")))
    if code is None:
        raise ParseError(f"no readable EventID ({system.get('EventID')!r})")
    ts = timestamp(_attr(system.get("TimeCreated"), "SystemTime"))
    provider = system.get("Provider")
    winlog: dict[str, Any] = {"event_id": code}
    for key, value in (("channel", system.get("Channel")), ("provider_name", _attr(provider, "Name")),
                       ("provider_guid", guid(_attr(provider, "Guid"))),
                       ("computer_name", system.get("Computer"))):
        if isinstance(value, str) and value:
            winlog[key] = value  # noqa: PERF403 - per event: merging in a dict comprehension is twice as slow
    correlation = system.get("Correlation")
    for key, attr in (("activity_id", "ActivityID"), ("related_activity_id", "RelatedActivityID")):
        if (activity := guid(_attr(correlation, attr))) is not None:
            winlog[key] = activity
    record_id = number(system.get("EventRecordID"))
    if record_id is not None:
        winlog["record_id"] = record_id
    execution = system.get("Execution")
    pid, tid = number(_attr(execution, "ProcessID")), number(_attr(execution, "ThreadID"))
    if pid is not None:
        winlog["process"] = {"pid": pid, "thread": {"id": tid}} if tid is not None else {"pid": pid}
    sid = _attr(system.get("Security"), "UserID")
    if isinstance(sid, str) and sid:
        winlog["user"] = {"identifier": sid}
    version = number(system.get("Version"))
    if version is not None:
        winlog["version"] = version
    mask = keyword_mask(system.get("Keywords"))
    if mask is not None and (names := keyword_names(mask)):
        winlog["keywords"] = names
    data = event_data(event.get("EventData"))
    if data:
        winlog["event_data"] = data
    ud = user_data(event.get("UserData"))
    if ud:
        winlog["user_data"] = ud
    ev = normalise(ts, winlog)
    level = number(system.get("Level"))
    if level is not None and level in LEVELS:
        put(ev, "log.level", LEVELS[level])
    return ev
