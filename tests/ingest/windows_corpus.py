"""Windows event log corpora (../shared/corpora) for the windows.* parser tests, and renderings of a
normalised event in the other two input formats (Winlogbeat JSON, NXLog JSON), for checking that
the three parsers give the same event."""

from __future__ import annotations

import copy
import json
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

from cert.core.ecs import Event, parse_ts

ATTACK = Path("evtx") / "evtx-to-mitre-attack"
REGRESSION = Path("sigma") / "regression_data"


def attack_files(corpora: Path) -> list[Path]:
    return sorted((corpora / ATTACK).rglob("*.evtx"))


def regression_cases(corpora: Path) -> list[tuple[Path, Path]]:
    """(JSON, EVTX) pairs of SigmaHQ's regression data: the same events in both forms."""
    return [(j, j.with_suffix(".evtx")) for j in sorted((corpora / REGRESSION).rglob("*.json"))
            if j.with_suffix(".evtx").exists()]


def json_documents(text: str) -> list[dict[str, Any]]:
    """The JSON documents of a file that holds one or several, one after the other."""
    decoder, docs, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return docs
        doc, i = decoder.raw_decode(text, i)
        docs.append(doc)


def comparable(ev: Event) -> Event:
    """An event without what depends on the input (id, original, ingestion time, file) or that
    only one format carries."""
    out = copy.deepcopy(ev)
    for key in ("id", "original", "ingested", "created"):
        out["event"].pop(key, None)
    out.pop("log", None)
    out.pop("ecs", None)
    out.pop("message", None)
    out.pop("agent", None)
    out["winlog"].pop("api", None)
    return out


def _raw_winlog(ev: Event) -> dict[str, Any]:
    """The winlog object as a collector writes it (without what the mapping derives)."""
    wl = copy.deepcopy(ev["winlog"])
    wl.pop("logon", None)
    return wl


def as_winlogbeat(ev: Event) -> str:
    """The event as Winlogbeat 8 writes it to a file (modules run later, in Elasticsearch):
    event_id and record_id as strings, keywords, level and provider GUID rendered."""
    wl = _raw_winlog(ev)
    wl["api"] = "wineventlog"
    wl["event_id"] = str(wl["event_id"])
    if "record_id" in wl:
        wl["record_id"] = str(wl["record_id"])
    doc = {"@timestamp": ev["@timestamp"], "agent": {"type": "winlogbeat", "version": "8.11.0"},
           "event": {"code": ev["event"]["code"], "kind": "event", "created": ev["@timestamp"]},
           "log": {"level": ev.get("log", {}).get("level", "information")}, "winlog": wl}
    if "host" in ev:
        doc["host"] = {"name": ev["host"]["name"]}
    return json.dumps(doc)


def as_winlogbeat7(ev: Event, moved: dict[str, str]) -> str:
    """Winlogbeat 7 with its modules' processors: ``moved`` EventData names are gone from
    event_data, their values only in the ECS fields of the event."""
    doc = json.loads(as_winlogbeat(ev))
    data = doc["winlog"].get("event_data", {})
    for name in moved:
        data.pop(name, None)
    for key in ("process", "source", "destination", "file", "dns", "registry", "rule", "user", "powershell"):
        if key in ev:
            doc[key] = copy.deepcopy(ev[key])
    return json.dumps(doc)


_SEVERITY = {"information": "INFO", "warning": "WARNING", "error": "ERROR", "critical": "CRITICAL",
             "verbose": "DEBUG"}
_KEYWORD_BITS = {"Audit Failure": 0x0010000000000000, "Audit Success": 0x0020000000000000,
                 "Classic": 0x0080000000000000}


def as_nxlog(ev: Event) -> str:
    """The event as NXLog's im_msvistalog + to_json() writes it: its own fields, then the
    EventData fields at the top level (overwriting a field of the same name, as NXLog does)."""
    wl = _raw_winlog(ev)
    mask = 0x8000000000000000
    for name in wl.get("keywords", []):
        mask |= _KEYWORD_BITS[name]
    signed = mask - (1 << 64) if mask >= 1 << 63 else mask
    keywords = wl.get("keywords", [])
    event_type = "AUDIT_FAILURE" if "Audit Failure" in keywords else \
        "AUDIT_SUCCESS" if "Audit Success" in keywords else "INFO"
    local = parse_ts(ev["@timestamp"]).astimezone(timezone(timedelta(hours=1)))
    severity = _SEVERITY[ev.get("log", {}).get("level", "information")]
    doc: dict[str, Any] = {
        "EventTime": local.isoformat(timespec="microseconds"), "Hostname": wl.get("computer_name"),
        "Keywords": signed, "EventType": event_type, "SeverityValue": 2, "Severity": severity,
        "EventID": wl["event_id"], "SourceName": wl.get("provider_name"),
        "ProviderGuid": wl.get("provider_guid", "").upper() or None, "Version": wl.get("version"),
        "TaskValue": 0, "OpcodeValue": 0, "RecordNumber": wl.get("record_id"),
        "ExecutionProcessID": wl.get("process", {}).get("pid"),
        "ExecutionThreadID": wl.get("process", {}).get("thread", {}).get("id"),
        "Channel": wl.get("channel"), "UserID": wl.get("user", {}).get("identifier"),
        "ActivityID": wl.get("activity_id", "").upper() or None,
        "RelatedActivityID": wl.get("related_activity_id", "").upper() or None,
    }
    doc = {k: v for k, v in doc.items() if v is not None}
    doc.update(wl.get("event_data", {}))
    doc.update({"EventReceivedTime": local.isoformat(timespec="microseconds"), "SourceModuleName": "eventlog",
                "SourceModuleType": "im_msvistalog"})
    return json.dumps(doc)
