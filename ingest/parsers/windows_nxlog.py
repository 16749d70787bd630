"""NXLog JSON of Windows event logs: ``im_msvistalog`` records written with ``to_json()``, one per
line. NXLog flattens each record: its own fields (EventTime, Hostname, EventID, SourceName,
Channel, RecordNumber...; see https://docs.nxlog.co/refman/current/im/msvistalog.html) and the
EventData fields side by side at the top level. Every key that is not an NXLog field is taken
as EventData, so ``winlog.event_data`` holds the same names as the EVTX record.

Known limits of the format: NXLog field names are case-insensitive, so an EventData field named
like an NXLog field (Sysmon's ``EventType``, 7045's ``AccountName``, a string ``ProcessID``)
overwrites it; those are taken back as EventData (an ``EventType`` outside NXLog's values, the
``AccountName`` of the events listed in ``SHADOWED``, a string ``ProcessID``/``ThreadID``); other
collisions lose the EventData value (one in 10,000 records of the attack corpus). NXLog does
not mark which fields came from UserData: they land in ``winlog.event_data``. ``EventTime`` without a UTC
offset (NXLog's default format is local time) is read as UTC: set NXLog's ``DateFormat`` to an
ISO 8601 format with the offset to avoid the shift.
"""

from __future__ import annotations

from typing import Any

from cert.core.ecs import Event, put
from cert.core.parser import ParseError, Parser, parsers
from ingest.parsers._windows_ecs import normalise
from ingest.parsers._windows_fields import (
    guid,
    keyword_mask,
    keyword_names,
    loads,
    number,
    opt_text,
    text,
    timestamp,
)

NXLOG_FIELDS = frozenset({
    "AccountName", "AccountType", "ActivityID", "Category", "Channel", "Domain", "ERROR_EVT_UNRESOLVED",
    "EventID", "EventReceivedTime", "EventTime", "EventType", "EventXML", "ExecutionProcessID",
    "ExecutionThreadID", "Hostname", "Keywords", "Level", "LevelValue", "Message", "Opcode", "OpcodeValue",
    "ProcessID", "ProviderGuid", "RecordNumber", "RelatedActivityID", "Severity", "SeverityValue",
    "SourceModuleName", "SourceModuleType", "SourceName", "Task", "TaskValue", "ThreadID", "UserID",
    "Version",
})
EVENT_TYPES = frozenset({"AUDIT_SUCCESS", "AUDIT_FAILURE", "CRITICAL", "ERROR", "WARNING", "INFO", "VERBOSE"})
# Events whose EventData has a field named like an NXLog field: NXLog's field then holds the
# EventData value (it is set last), so it is taken as EventData.
SHADOWED: dict[tuple[str, int], frozenset[str]] = {
    ("system", 7045): frozenset({"AccountName"}),
    ("security", 4778): frozenset({"AccountName"}),
    ("security", 4779): frozenset({"AccountName"}),
    ("security", 4825): frozenset({"AccountName"}),
}
SEVERITIES = {"CRITICAL": "critical", "ERROR": "error", "WARNING": "warning", "INFO": "information",
              "DEBUG": "verbose"}


@parsers.register
class NxlogWindowsParser(Parser):
    name = "windows.nxlog"
    dataset = "windows.eventlog"
    module = "windows"

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        doc = loads(line)
        code = number(doc.get("EventID"))
        if code is None:
            raise ParseError(f"no readable EventID ({doc.get('EventID')!r}): not an NXLog im_msvistalog record")
        ts = timestamp(doc.get("EventTime"))
        winlog: dict[str, Any] = {"event_id": code}
        for key, field in (("channel", "Channel"), ("provider_name", "SourceName"),
                           ("computer_name", "Hostname"), ("task", "Category"), ("opcode", "Opcode")):
            value = opt_text(doc.get(field))
            if value is not None:
                winlog[key] = value
        for key, field in (("provider_guid", "ProviderGuid"), ("activity_id", "ActivityID"),
                           ("related_activity_id", "RelatedActivityID")):
            if (value := guid(doc.get(field))) is not None:
                winlog[key] = value
        for key, field in (("record_id", "RecordNumber"), ("version", "Version")):
            n = number(doc.get(field))
            if n is not None:
                winlog[key] = n
        pid = _first_int(doc.get("ExecutionProcessID"), doc.get("ProcessID"))
        tid = _first_int(doc.get("ExecutionThreadID"), doc.get("ThreadID"))
        if pid is not None:
            winlog["process"] = {"pid": pid, "thread": {"id": tid}} if tid is not None else {"pid": pid}
        channel = doc.get("Channel")
        shadowed = SHADOWED.get((channel.lower(), code), frozenset()) if isinstance(channel, str) else frozenset()
        user = {k: v for k, f in (("identifier", "UserID"), ("name", "AccountName"), ("domain", "Domain"),
                                  ("type", "AccountType")) if f not in shadowed and (v := opt_text(doc.get(f)))}
        if user:
            winlog["user"] = user
        keywords = _keywords(doc.get("Keywords"), doc.get("EventType"))
        if keywords:
            winlog["keywords"] = keywords
        data = {k: text(v) for k, v in doc.items() if k not in NXLOG_FIELDS or k in shadowed}
        for key in ("ProcessID", "ThreadID"):
            if isinstance(doc.get(key), str):
                data[key] = doc[key]
        event_type = doc.get("EventType")
        if isinstance(event_type, str) and event_type not in EVENT_TYPES:
            data["EventType"] = event_type
        if data:
            winlog["event_data"] = data
        ev = normalise(ts, winlog)
        message = doc.get("Message")
        if isinstance(message, str) and message:
            ev["message"] = message
        severity = SEVERITIES.get(str(doc.get("Severity", "")).upper())
        if severity is not None:
            put(ev, "log.level", severity)
        return ev


def _first_int(*values: Any) -> int | None:
    """The first NXLog integer field (an EventData field of the same name is a string)."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _keywords(keywords: Any, event_type: Any) -> list[str]:
    mask = keyword_mask(keywords)
    names = keyword_names(mask) if mask is not None else []
    if not names and event_type == "AUDIT_SUCCESS":
        names = ["Audit Success"]
    elif not names and event_type == "AUDIT_FAILURE":
        names = ["Audit Failure"]
    return names
