"""windows.nxlog: NXLog im_msvistalog records written with to_json(). Samples use the fields NXLog
documents (https://docs.nxlog.co/refman/current/im/msvistalog.html: EventTime, Hostname, Keywords,
EventType, SeverityValue, Severity, EventID, SourceName, ProviderGuid, Version, Task, OpcodeValue,
RecordNumber, ProcessID/ExecutionProcessID, ThreadID, Channel, Domain, AccountName, UserID,
AccountType, Message, Category, Opcode, the EventData fields, EventReceivedTime,
SourceModuleName, SourceModuleType), in both the older (local time, signed Keywords) and the
newer (ISO 8601 time with offset, Execution* ids) shapes."""

from __future__ import annotations

import json
from pathlib import Path

from harness import ParserCase
from windows_corpus import as_nxlog, attack_files, comparable

from cert.core.ecs import get
from cert.core.parser import parsers

LOGON_OLD = json.dumps({
    "EventTime": "2026-11-20 08:02:11", "Hostname": "dc01.interieur.gouv.example",
    "Keywords": -9218868437227405312, "EventType": "AUDIT_FAILURE", "SeverityValue": 4, "Severity": "ERROR",
    "EventID": 4625, "SourceName": "Microsoft-Windows-Security-Auditing",
    "ProviderGuid": "{54849625-5478-4994-A5BA-3E3B0328C30D}", "Version": 0, "Task": 12544, "OpcodeValue": 0,
    "RecordNumber": 93211, "ProcessID": 636, "ThreadID": 5988, "Channel": "Security",
    "Message": "An account failed to log on.", "Category": "Logon", "Opcode": "Info",
    "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectDomainName": "-", "SubjectLogonId": "0x0",
    "TargetUserSid": "S-1-0-0", "TargetUserName": "administrateur", "TargetDomainName": "INTERIEUR",
    "Status": "0xc000006d", "FailureReason": "%%2313", "SubStatus": "0xc000006a", "LogonType": "3",
    "LogonProcessName": "NtLmSsp ", "AuthenticationPackageName": "NTLM", "WorkstationName": "KALI",
    "TransmittedServices": "-", "LmPackageName": "-", "KeyLength": "0", "ProcessId": "0x0", "ProcessName": "-",
    "IpAddress": "196.200.131.7", "IpPort": "51515", "EventReceivedTime": "2026-11-20 08:02:12",
    "SourceModuleName": "eventlog", "SourceModuleType": "im_msvistalog"})
REGISTRY_NEW = json.dumps({
    "EventTime": "2026-11-20T09:05:00.100200+01:00", "Hostname": "pc-042.finances.example",
    "Keywords": "0x8000000000000000", "EventType": "SetValue", "SeverityValue": 2, "Severity": "INFO",
    "EventID": 13, "SourceName": "Microsoft-Windows-Sysmon", "ProviderGuid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}",
    "Version": 2, "TaskValue": 13, "OpcodeValue": 0, "RecordNumber": 5130, "ExecutionProcessID": 2044,
    "ExecutionThreadID": 3120, "Channel": "Microsoft-Windows-Sysmon/Operational", "Domain": "NT AUTHORITY",
    "AccountName": "SYSTEM", "UserID": "S-1-5-18", "AccountType": "User",
    "Category": "Registry value set (rule: RegistryEvent)", "Opcode": "Info", "RuleName": "T1060,RunKey",
    "UtcTime": "2026-11-20 08:05:00.099", "ProcessGuid": "{0197231e-8bff-6926-1308-000000000d00}",
    "ProcessId": "6120", "Image": "C:\\Users\\awa\\AppData\\Local\\Temp\\upd.exe",
    "TargetObject": "HKU\\S-1-5-21-1004336348-1177238915-682003330-1105\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\upd",
    "Details": "C:\\Users\\awa\\AppData\\Local\\Temp\\upd.exe", "User": "FINANCES\\awa",
    "EventReceivedTime": "2026-11-20T09:05:01.000000+01:00", "SourceModuleName": "in",
    "SourceModuleType": "im_msvistalog"})
SERVICE_INSTALL = json.dumps({
    "EventTime": "2026-11-20T08:10:00Z", "Hostname": "srv-etatcivil", "Keywords": "0x8080000000000000",
    "EventType": "INFO", "Severity": "INFO", "EventID": 7045, "SourceName": "Service Control Manager",
    "ProviderGuid": "{555908d1-a6d7-4695-8e1e-26931d2012f4}", "RecordNumber": 3333, "Channel": "System",
    "UserID": "S-1-5-21-1004336348-1177238915-682003330-500", "ServiceName": "PSEXESVC",
    "ImagePath": "%SystemRoot%\\PSEXESVC.exe", "ServiceType": "user mode service", "StartType": "demand start",
    "AccountName": "LocalSystem"})


class TestNxlog(ParserCase):
    parser_name = "windows.nxlog"
    samples = [
        (LOGON_OLD, {
            "@timestamp": "2026-11-20T08:02:11.000Z",
            "winlog.channel": "Security",
            "winlog.event_id": 4625,
            "winlog.record_id": 93211,
            "winlog.process.pid": 636,
            "winlog.keywords": ["Audit Failure"],
            "winlog.task": "Logon",
            "winlog.provider_guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}",
            "winlog.event_data.ProcessId": "0x0",
            "winlog.event_data.IpAddress": "196.200.131.7",
            "winlog.event_data.Status": "0xc000006d",
            "event.outcome": "failure",
            "event.module": "security",
            "source.ip": "196.200.131.7",
            "user.name": "administrateur",
            "host.name": "dc01.interieur.gouv.example",
            "message": "An account failed to log on.",
            "log.level": "error",
        }),
        (REGISTRY_NEW, {
            "@timestamp": "2026-11-20T08:05:00.100Z",
            "winlog.process.pid": 2044,
            "winlog.user.name": "SYSTEM",
            "winlog.event_data.EventType": "SetValue",
            "winlog.event_data.TargetObject": "HKU\\S-1-5-21-1004336348-1177238915-682003330-1105\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\upd",
            "event.module": "sysmon",
            "event.outcome": None,
            "registry.hive": "HKU",
            "registry.value": "upd",
            "registry.data.strings": ["C:\\Users\\awa\\AppData\\Local\\Temp\\upd.exe"],
            "process.executable": "C:\\Users\\awa\\AppData\\Local\\Temp\\upd.exe",
            "rule.name": "T1060,RunKey",
        }),
        (SERVICE_INSTALL, {
            "winlog.event_data.AccountName": "LocalSystem",
            "winlog.event_data.ImagePath": "%SystemRoot%\\PSEXESVC.exe",
            "winlog.user.identifier": "S-1-5-21-1004336348-1177238915-682003330-500",
            "winlog.user.name": None,
            "winlog.keywords": ["Classic"],
            "event.dataset": "windows.system",
            "event.action": "service-installed",
            "service.name": "PSEXESVC",
        }),
    ]
    malformed = [
        "not json",
        '"a string"',
        '{"EventTime": "2026-11-20 08:02:11", "Channel": "Security"}',
        '{"EventID": 4625, "Channel": "Security"}',
        '{"EventID": 4625, "EventTime": "20/11/2026"}',
        '{"EventID": [4625], "EventTime": "2026-11-20 08:02:11"}',
    ]


def test_same_event_as_the_evtx_record(corpora: Path) -> None:
    """Every attack record, flattened as NXLog writes it, gives the event its EVTX gives, except
    where NXLog's format loses information: UserData (flattened like EventData) and EventData
    fields named like NXLog's own (overwritten), which must stay rare."""
    evtx, nxlog = parsers.get("windows.evtx")(), parsers.get("windows.nxlog")()
    compared = lossy = 0
    for path in attack_files(corpora)[1::3]:
        for _, raw in evtx.read(str(path)):
            expected = evtx.parse(raw)
            if get(expected, "winlog.user_data") is not None:
                continue
            got = nxlog.parse(as_nxlog(expected))
            assert got is not None
            compared += 1
            got_c, exp_c = comparable(got), comparable(expected)
            for key in ("task", "opcode"):
                got_c["winlog"].pop(key, None)
            if got_c != exp_c:
                lossy += 1
                assert got_c["winlog"]["event_data"] != exp_c["winlog"].get("event_data"), path
    assert compared > 2000
    assert lossy <= compared // 200, lossy
