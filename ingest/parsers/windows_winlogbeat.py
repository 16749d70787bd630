"""Winlogbeat JSON, one event per line, as Winlogbeat 7 and 8 write it to a file or to Logstash:
``@timestamp`` and ``winlog.*`` (channel, event_id, provider_name, computer_name, record_id,
event_data...), see https://www.elastic.co/guide/en/beats/winlogbeat/current/exported-fields-winlog.html.

The normalised event is rebuilt from ``winlog.*`` alone (``_windows_ecs``), so Winlogbeat output
gives the same event as the EVTX file it came from. Winlogbeat 7 runs its modules' processors in
the agent, and they *move* some EventData fields to ECS (``Image`` to ``process.executable``,
``IpAddress`` to ``source.ip``...): those are put back into ``winlog.event_data`` under their
original names, from the ECS fields, because Sigma rules match on the original names. ``message``,
``agent.*``, ``tags``, ``labels`` and ``event.created`` are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cert.core.ecs import Event, get, put
from cert.core.parser import ParseError, Parser, parsers
from ingest.parsers._windows_ecs import normalise
from ingest.parsers._windows_fields import guid, loads, number, opt_text, text, timestamp
from ingest.parsers._windows_security import AUTH_FIELDS

_SOURCE_PROCESS = frozenset({8, 10})


def _hex(v: Any) -> str | None:
    return hex(v) if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _str(v: Any) -> str | None:
    return text(v) if isinstance(v, str | int) and not isinstance(v, bool) else None


# (channel, event ids or None for all, EventData name, ECS field, formatter): the fields Winlogbeat
# 7's security, sysmon and powershell processors rename out of winlog.event_data.
Restore = tuple[str, frozenset[int] | None, str, str, Callable[[Any], str | None]]
RESTORE: list[Restore] = [
    ("Security", AUTH_FIELDS, "ProcessId", "process.pid", _hex),
    ("Security", AUTH_FIELDS, "ProcessName", "process.executable", _str),
    ("Security", AUTH_FIELDS, "IpAddress", "source.ip", _str),
    ("Security", AUTH_FIELDS, "IpPort", "source.port", _str),
    ("Security", AUTH_FIELDS, "WorkstationName", "source.domain", _str),
    ("Security", frozenset({4688}), "NewProcessId", "process.pid", _hex),
    ("Security", frozenset({4688}), "NewProcessName", "process.executable", _str),
    ("Security", frozenset({4688}), "ParentProcessName", "process.parent.executable", _str),
    ("Security", frozenset({4688}), "ProcessId", "process.parent.pid", _hex),
]
_SYSMON = "Microsoft-Windows-Sysmon/Operational"
_NOT_SOURCE = frozenset(range(1, 256)) - _SOURCE_PROCESS
for _name, _field in (("Image", "process.executable"), ("ProcessGuid", "process.entity_id"),
                      ("ProcessId", "process.pid")):
    RESTORE.append((_SYSMON, _NOT_SOURCE, _name, _field, _str))
for _name, _field in (("SourceImage", "process.executable"), ("SourceProcessId", "process.pid")):
    RESTORE.append((_SYSMON, _SOURCE_PROCESS, _name, _field, _str))
RESTORE += [
    (_SYSMON, frozenset({8}), "SourceProcessGuid", "process.entity_id", _str),
    (_SYSMON, frozenset({10}), "SourceProcessGUID", "process.entity_id", _str),
    (_SYSMON, frozenset({10}), "SourceThreadId", "process.thread.id", _str),
    (_SYSMON, None, "CommandLine", "process.command_line", _str),
    (_SYSMON, None, "CurrentDirectory", "process.working_directory", _str),
    (_SYSMON, None, "ParentProcessGuid", "process.parent.entity_id", _str),
    (_SYSMON, None, "ParentProcessId", "process.parent.pid", _str),
    (_SYSMON, None, "ParentImage", "process.parent.executable", _str),
    (_SYSMON, None, "ParentCommandLine", "process.parent.command_line", _str),
    (_SYSMON, _NOT_SOURCE - {7}, "OriginalFileName", "process.pe.original_file_name", _str),
    (_SYSMON, frozenset({7}), "OriginalFileName", "file.pe.original_file_name", _str),
    (_SYSMON, frozenset({6, 7}), "ImageLoaded", "file.path", _str),
    (_SYSMON, frozenset({9}), "Device", "file.path", _str),
    (_SYSMON, frozenset({2, 11, 15, 23, 26, 27, 28, 29}), "TargetFilename", "file.path", _str),
    (_SYSMON, frozenset({17, 18}), "PipeName", "file.name", _str),
    (_SYSMON, frozenset({3}), "Protocol", "network.transport", _str),
    (_SYSMON, frozenset({3}), "SourceIp", "source.ip", _str),
    (_SYSMON, frozenset({3}), "SourcePort", "source.port", _str),
    (_SYSMON, frozenset({3}), "SourceHostname", "source.domain", _str),
    (_SYSMON, frozenset({3}), "DestinationIp", "destination.ip", _str),
    (_SYSMON, frozenset({3}), "DestinationPort", "destination.port", _str),
    (_SYSMON, frozenset({3}), "DestinationHostname", "destination.domain", _str),
    (_SYSMON, frozenset({22}), "QueryName", "dns.question.name", _str),
    (_SYSMON, frozenset({12, 13, 14}), "TargetObject", "registry.path", _str),
    (_SYSMON, None, "RuleName", "rule.name", _str),
    ("Microsoft-Windows-PowerShell/Operational", frozenset({4104}), "ScriptBlockText",
     "powershell.file.script_block_text", _str),
    ("Microsoft-Windows-PowerShell/Operational", frozenset({4104}), "ScriptBlockId",
     "powershell.file.script_block_id", _str),
    ("Microsoft-Windows-PowerShell/Operational", frozenset({4104}), "Path", "file.path", _str),
]


BY_CHANNEL: dict[str, list[Restore]] = {}
for _r in RESTORE:
    BY_CHANNEL.setdefault(_r[0], []).append(_r)


def restore_event_data(doc: dict[str, Any], channel: str, code: int, data: dict[str, str]) -> None:
    for _, codes, name, field, fmt in BY_CHANNEL.get(channel, ()):
        if name in data or (codes is not None and code not in codes):
            continue
        value = fmt(get(doc, field))
        if value is not None:
            data[name] = value
    if channel == _SYSMON and "User" not in data:
        domain, account = opt_text(get(doc, "user.domain")), opt_text(get(doc, "user.name"))
        if domain and account:
            data["User"] = f"{domain}\\{account}"


def _strings(node: Any) -> dict[str, str]:
    """EventData/UserData values as strings. Winlogbeat itself writes only strings; a value its
    Elasticsearch pipeline turned into a list (read back from an index) becomes compact JSON."""
    if not isinstance(node, dict):
        return {}
    return {str(k): text(v) for k, v in node.items()}


@parsers.register
class WinlogbeatParser(Parser):
    name = "windows.winlogbeat"
    dataset = "windows.eventlog"
    module = "windows"

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        doc = loads(line)
        wl = doc.get("winlog")
        if not isinstance(wl, dict):
            raise ParseError("no winlog object: not a Winlogbeat event")
        code = number(wl.get("event_id"))
        if code is None:
            raise ParseError(f"no readable winlog.event_id ({wl.get('event_id')!r})")
        ts = timestamp(doc.get("@timestamp") or wl.get("time_created"))
        winlog: dict[str, Any] = {"event_id": code}
        for key in ("channel", "provider_name", "computer_name", "opcode", "task", "api"):
            value = opt_text(wl.get(key))
            if value is not None:
                winlog[key] = value
        for key in ("provider_guid", "activity_id", "related_activity_id"):
            if (value := guid(wl.get(key))) is not None:
                winlog[key] = value
        for key in ("record_id", "version"):
            n = number(wl.get(key))
            if n is not None:
                winlog[key] = n
        proc = wl.get("process")
        if isinstance(proc, dict) and (pid := number(proc.get("pid"))) is not None:
            tid = number(get(proc, "thread.id"))
            winlog["process"] = {"pid": pid, "thread": {"id": tid}} if tid is not None else {"pid": pid}
        user = wl.get("user")
        if isinstance(user, dict):
            u = {k: v for k in ("identifier", "name", "domain", "type") if (v := opt_text(user.get(k)))}
            if u:
                winlog["user"] = u
        keywords = wl.get("keywords")
        if isinstance(keywords, list) and keywords:
            winlog["keywords"] = [text(k) for k in keywords]
        data = _strings(wl.get("event_data"))
        restore_event_data(doc, winlog.get("channel", ""), code, data)
        if data:
            winlog["event_data"] = data
        ud = _strings(wl.get("user_data"))
        if ud:
            winlog["user_data"] = ud
        ev = normalise(ts, winlog)
        self._keep(doc, wl, ev)
        return ev

    @staticmethod
    def _keep(doc: dict[str, Any], wl: dict[str, Any], ev: Event) -> None:
        message = doc.get("message")
        if isinstance(message, str) and message:
            ev["message"] = message
        level = opt_text(get(doc, "log.level") or wl.get("level"))
        if level is not None:
            put(ev, "log.level", level.lower())
        created = get(doc, "event.created")
        if isinstance(created, str) and created:
            try:  # noqa: SIM105 - per event: contextlib.suppress is slower than try/except
                put(ev, "event.created", timestamp(created))
            except ParseError:
                pass
        for key in ("agent", "labels"):
            if isinstance(doc.get(key), dict):
                ev[key] = doc[key]
        tags = doc.get("tags")
        if isinstance(tags, list):
            ev["tags"] = [text(t) for t in tags]
