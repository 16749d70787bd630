"""ECS mapping of PowerShell logs, after Winlogbeat 8's powershell module
(x-pack/winlogbeat/module/powershell/ingest/powershell.yml and powershell_operational.yml):
script blocks (4104), module logging (4103, its ContextInfo), engine and pipeline events of the
classic "Windows PowerShell" log (400, 403, 600, 800, whose details are 'Key=Value' lines)."""

from __future__ import annotations

from typing import Any

from cert.core.ecs import Event, put
from ingest.parsers._windows_fields import (
    opt_text,
    set_file,
    set_number,
    set_process,
    set_text,
    set_user,
    split_account,
)

# Details keys (spaces removed) -> ECS, common to 4103's ContextInfo and the classic log's details.
DETAILS = {
    "HostName": "process.title",
    "HostVersion": "powershell.process.executable_version",
    "EngineVersion": "powershell.engine.version",
    "RunspaceID": "powershell.runspace_id",
    "RunspaceId": "powershell.runspace_id",
    "PipelineID": "powershell.pipeline_id",
    "PipelineId": "powershell.pipeline_id",
    "CommandName": "powershell.command.name",
    "CommandType": "powershell.command.type",
    "CommandPath": "powershell.command.path",
    "CommandLine": "powershell.command.value",
    "ShellID": "powershell.id",
    "NewEngineState": "powershell.engine.new_state",
    "PreviousEngineState": "powershell.engine.previous_state",
}
CLASSIC_TYPES = {400: ("start",), 403: ("end",)}


def details(value: str | None, sep: str) -> dict[str, str]:
    """'Key = value' (4103 ContextInfo, sep '=') or '\\tKey=value' lines, keys without spaces."""
    out: dict[str, str] = {}
    if not value:
        return out
    for line in value.splitlines():
        key, found, val = line.partition(sep)
        if found:
            key = "".join(key.split())
            if key:
                out[key] = val.strip()
    return out


def _apply_details(ev: Event, d: dict[str, str]) -> None:
    for key, path in DETAILS.items():
        set_text(ev, path, d.get(key))
    set_process(ev, "process", None, d.get("HostApplication"), None, d.get("HostID") or d.get("HostId"))
    set_file(ev, d.get("ScriptName"))
    set_number(ev, "event.sequence", d.get("SequenceNumber"))


def map_powershell_operational(ev: Event, winlog: dict[str, Any], ed: dict[str, str], code: int) -> None:
    g = ed.get
    ev["event"]["category"] = ["process"]
    ev["event"]["type"] = ["start"] if code == 4105 else ["end"] if code == 4106 else ["info"]
    set_user(ev, "user", winlog.get("user", {}).get("identifier"))
    if code == 4103:
        ctx = details(g("ContextInfo"), "=")
        _apply_details(ev, ctx)
        domain, name = split_account(ctx.get("User"))
        c_domain, c_name = split_account(ctx.get("ConnectedUser"))
        if c_name is not None:  # a remote session: the connected user acts on the local account
            set_user(ev, "destination.user", None, name, domain)
            set_user(ev, "source.user", None, c_name, c_domain)
            domain, name = c_domain, c_name
        set_user(ev, "user", None, name, domain)
    set_number(ev, "powershell.sequence", g("MessageNumber"))
    set_number(ev, "powershell.total", g("MessageTotal"))
    set_text(ev, "powershell.file.script_block_id", g("ScriptBlockId"))
    text = g("ScriptBlockText")
    if text:
        put(ev, "powershell.file.script_block_text", text)
    set_text(ev, "powershell.runspace_id", g("RunspaceId"))
    set_file(ev, g("Path"))


def map_powershell_classic(ev: Event, winlog: dict[str, Any], ed: dict[str, str], code: int) -> None:
    ev["event"]["category"] = ["process"]
    ev["event"]["type"] = list(CLASSIC_TYPES.get(code, ("info",)))
    for value in ed.values():
        if "HostApplication=" in value or "HostName=" in value:
            d = details(value, "=")
            _apply_details(ev, d)
            domain, name = split_account(d.get("UserId"))
            set_user(ev, "user", None, name, domain)
            break
    set_user(ev, "user", winlog.get("user", {}).get("identifier"))
    user = opt_text(ed.get("UserId"))
    if user is not None and ev.get("user", {}).get("name") is None:
        domain, name = split_account(user)
        set_user(ev, "user", None, name, domain)
