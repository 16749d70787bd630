"""ECS mapping of Sysmon (Microsoft-Windows-Sysmon/Operational), after Winlogbeat 8's sysmon
module (x-pack/winlogbeat/module/sysmon/ingest/sysmon.yml): process, parent, hashes, files,
network, DNS, registry, user. ``winlog.event_data`` keeps every original field."""

from __future__ import annotations

import re
from typing import Any

from cert.core.ecs import Event, add_related, put
from ingest.parsers._windows_fields import (
    ip,
    number,
    opt_text,
    set_categories,
    set_file,
    set_number,
    set_process,
    set_text,
    set_user,
    split_account,
)

# event id -> (event.category, event.type, event.action), from sysmon.yml.
EVENTS: dict[int, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    1: (("process",), ("start",), "Process creation"),
    2: (("file",), ("change",), "A process changed a file creation time"),
    3: (("network",), ("start", "connection", "protocol"), "Network connection"),
    4: (("process",), ("change",), "Sysmon service state changed"),
    5: (("process",), ("end",), "Process terminated"),
    6: (("driver",), ("start",), "Driver loaded"),
    7: (("process",), ("change",), "Image loaded"),
    8: (("process",), ("change",), "CreateRemoteThread"),
    9: (("process",), ("access",), "RawAccessRead"),
    10: (("process",), ("access",), "ProcessAccess"),
    11: (("file",), ("creation",), "FileCreate"),
    12: (("configuration", "registry"), ("change",), "RegistryEvent (Object create and delete)"),
    13: (("configuration", "registry"), ("change",), "RegistryEvent (Value Set)"),
    14: (("configuration", "registry"), ("change",), "RegistryEvent (Key and Value Rename)"),
    15: (("file",), ("access",), "FileCreateStreamHash"),
    16: (("configuration",), ("change",), "ServiceConfigurationChange"),
    17: (("file",), ("creation",), "PipeEvent (Pipe Created)"),
    18: (("file",), ("access",), "PipeEvent (Pipe Connected)"),
    19: (("process",), ("info",), "WmiEvent (WmiEventFilter activity detected)"),
    20: (("process",), ("change",), "WmiEvent (WmiEventConsumer activity detected)"),
    21: (("process",), ("access",), "WmiEvent (WmiEventConsumerToFilter activity detected)"),
    22: (("network",), ("connection", "protocol", "info"), "DNSEvent (DNS query)"),
    23: (("file",), ("deletion",), "FileDelete (File Delete archived)"),
    24: ((), ("change",), "ClipboardChange (New content in the clipboard)"),
    25: (("process",), ("change",), "ProcessTampering (Process image change)"),
    26: (("file",), ("deletion",), "FileDeleteDetected (File Delete logged)"),
    27: (("file",), ("creation",), "FileBlockExecutable"),
    28: (("file",), ("deletion",), "FileBlockShredding"),
    29: (("file",), ("creation",), "FileExecutableDetected"),
    255: (("process",), (), "Error"),
}
PROCESS_HASHES = frozenset({1, 23, 24, 25, 26})
FILE_HASHES = frozenset({6, 7, 15, 29})
REGISTRY = frozenset({12, 13, 14})
HIVES = {"HKEY_CLASSES_ROOT": "HKCR", "HKCR": "HKCR", "HKEY_CURRENT_CONFIG": "HKCC", "HKCC": "HKCC",
         "HKEY_CURRENT_USER": "HKCU", "HKCU": "HKCU", "HKEY_DYN_DATA": "HKDD", "HKDD": "HKDD",
         "HKEY_LOCAL_MACHINE": "HKLM", "HKLM": "HKLM", "HKEY_PERFORMANCE_DATA": "HKPD", "HKPD": "HKPD",
         "HKEY_USERS": "HKU", "HKU": "HKU"}
DWORD = re.compile(r"(?i)DWORD \((0x[0-9A-F]{8})\)")
QWORD = re.compile(r"(?i)QWORD \((0x[0-9A-F]{8})-(0x[0-9A-F]{8})\)")


def map_sysmon(ev: Event, winlog: dict[str, Any], ed: dict[str, str], code: int) -> None:
    spec = EVENTS.get(code)
    if spec is not None:
        set_categories(ev, *spec)
        if code in (27, 255):
            ev["event"]["outcome"] = "failure"
    g = ed.get
    set_text(ev, "rule.name", g("RuleName"))
    _hashes(ev, g("Hashes") or g("Hash"), code)
    set_process(ev, "process", g("Image") or g("SourceImage") or g("Destination"), g("CommandLine"),
                g("ProcessId") or g("SourceProcessId"),
                g("ProcessGuid") or g("SourceProcessGuid") or g("SourceProcessGUID"))
    set_number(ev, "process.thread.id", g("SourceThreadId"))
    set_text(ev, "process.working_directory", g("CurrentDirectory"))
    set_process(ev, "process.parent", g("ParentImage"), g("ParentCommandLine"), g("ParentProcessId"),
                g("ParentProcessGuid"))
    pe = "file.pe" if code == 7 else "process.pe"
    set_text(ev, f"{pe}.original_file_name", g("OriginalFileName"))
    set_text(ev, f"{pe}.company", g("Company"))
    set_text(ev, f"{pe}.description", g("Description"))
    set_text(ev, f"{pe}.file_version", g("FileVersion"))
    set_text(ev, f"{pe}.product", g("Product"))
    set_file(ev, g("TargetFilename") or g("Device") or g("ImageLoaded"))
    set_text(ev, "file.name", g("PipeName"))
    set_text(ev, "file.code_signature.subject_name", g("Signature"))
    status = set_text(ev, "file.code_signature.status", g("SignatureStatus"))
    if g("Signed") == "true":
        put(ev, "file.code_signature.signed", True)
    if status == "Valid":
        put(ev, "file.code_signature.valid", True)
    _network(ev, ed, code)
    set_user(ev, "user", winlog.get("user", {}).get("identifier"))
    domain, name = split_account(g("User"))
    set_user(ev, "user", None, name, domain)
    if code in REGISTRY:
        _registry(ev, g("TargetObject"), g("Details"))


def _hashes(ev: Event, value: str | None, code: int) -> None:
    if not value:
        return
    target = "process" if code in PROCESS_HASHES else "file" if code in FILE_HASHES else None
    for pair in value.split(","):
        alg, _, digest = pair.partition("=")
        digest = digest.strip().lower()
        if not digest or not digest.strip("0"):
            continue
        add_related(ev, "hash", digest)
        if target is None:
            continue
        alg = alg.strip().lower()
        put(ev, f"{target}.pe.imphash" if alg == "imphash" else f"{target}.hash.{alg}", digest)


def _network(ev: Event, ed: dict[str, str], code: int) -> None:
    g = ed.get
    set_text(ev, "network.transport", g("Protocol"))
    if code == 22:
        put(ev, "network.protocol", "dns")
    else:
        set_text(ev, "network.protocol", g("DestinationPortName") or g("SourcePortName"))
    for side, prefix in (("source", "Source"), ("destination", "Destination")):
        set_text(ev, f"{side}.ip", ip(g(f"{prefix}Ip")))
        set_text(ev, f"{side}.domain", g(f"{prefix}Hostname"))
        port = number(g(f"{prefix}Port"))
        if port is not None and 0 <= port <= 65535:
            put(ev, f"{side}.port", port)
    initiated = g("Initiated")
    if initiated in ("true", "false"):
        put(ev, "network.direction", "egress" if initiated == "true" else "ingress")
    ipv6 = g("SourceIsIpv6")
    if ipv6 in ("true", "false"):
        put(ev, "network.type", "ipv6" if ipv6 == "true" else "ipv4")
    query = set_text(ev, "dns.question.name", g("QueryName"))
    if query is not None:
        add_related(ev, "hosts", query)
    results = opt_text(g("QueryResults"))
    if results:
        resolved = [a for a in (ip(r.strip()) for r in results.split(";") if not r.strip().startswith("type:")) if a]
        if resolved:
            put(ev, "dns.resolved_ip", resolved)
            add_related(ev, "ip", *resolved)


def _registry(ev: Event, target: str | None, details: str | None) -> None:
    path = opt_text(target)
    if path is None:
        return
    put(ev, "registry.path", path)
    tokens = path.split("\\")
    hive = HIVES.get(tokens[0])
    if hive is not None:
        put(ev, "registry.hive", hive)
        if len(tokens) > 1:
            put(ev, "registry.key", "\\".join(tokens[1:]))
    put(ev, "registry.value", tokens[-1])
    data = opt_text(details)
    if data is None:
        return
    if m := QWORD.fullmatch(data):
        value, kind = str((int(m[1], 16) << 32) + int(m[2], 16)), "SZ_QWORD"
    elif m := DWORD.fullmatch(data):
        value, kind = str(int(m[1], 16)), "SZ_DWORD"
    else:
        value, kind = data, "REG_BINARY" if data == "Binary Data" else "REG_SZ"
    put(ev, "registry.data.strings", [value])
    put(ev, "registry.data.type", kind)
