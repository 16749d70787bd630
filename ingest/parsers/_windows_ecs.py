"""The normalised Windows event, shared by the ``windows.evtx``, ``windows.winlogbeat`` and
``windows.nxlog`` parsers. Each parser reads its format into the ``winlog`` object below; from
it alone, ``normalise`` derives the ECS fields, so the three inputs give the same event.

The contract:

- ``@timestamp``: the record's TimeCreated/SystemTime, UTC, milliseconds.
- ``winlog.channel``, ``winlog.event_id`` (int), ``winlog.provider_name``,
  ``winlog.provider_guid`` ('{lower-case}'), ``winlog.computer_name``, ``winlog.record_id`` (int),
  ``winlog.process.pid`` / ``winlog.process.thread.id`` (int, the writer of the record),
  ``winlog.user.identifier`` (System/Security/UserID; Winlogbeat and NXLog also give
  ``name``, ``domain``, ``type``), ``winlog.version`` (int), ``winlog.keywords`` (names: "Audit
  Success", "Audit Failure", "Classic"; Winlogbeat gives all its rendered names),
  ``winlog.opcode`` / ``winlog.task`` (names, only when the source renders them).
- ``winlog.event_data.<Name>``: every EventData ``Data`` element by its Name, a string exactly as
  in the log (numbers in decimal, booleans true/false, hex as written); unnamed ones are
  ``param1``, ``param2``...; ``Binary`` as written. Never renamed nor removed, whatever ECS
  field is also derived from it. ``winlog.user_data``: the UserData element's fields, with
  ``xml_name`` its element name (as Winlogbeat does).
- ``event.code`` (str(event id)), ``event.provider``, ``event.kind`` "event", ``event.module``
  (security / sysmon / powershell, as Winlogbeat's modules; windows otherwise),
  ``event.dataset`` (by channel, named after Elastic's Windows data streams: windows.security,
  windows.sysmon_operational, windows.powershell, windows.powershell_operational,
  windows.system, windows.application, windows.windows_defender; windows.eventlog otherwise;
  Winlogbeat 8 itself sets none), ``event.outcome`` from the audit keywords, ``log.level``,
  ``host.name`` (the computer name, also for forwarded events).
- the ECS fields Winlogbeat's ingest pipelines derive for Security, Sysmon and PowerShell (see
  _windows_security, _windows_sysmon, _windows_powershell) and, for System, service installs
  (7045) and log clearing (104).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cert.core.ecs import Event
from ingest.parsers._windows_fields import opt_text, set_categories, set_text, set_user
from ingest.parsers._windows_powershell import map_powershell_classic, map_powershell_operational
from ingest.parsers._windows_security import map_security
from ingest.parsers._windows_sysmon import map_sysmon

Mapper = Callable[[Event, dict[str, Any], dict[str, str], int], None]


def map_system(ev: Event, winlog: dict[str, Any], ed: dict[str, str], code: int) -> None:
    provider = winlog.get("provider_name")
    if code == 7045 and provider == "Service Control Manager":
        set_categories(ev, ("configuration",), ("creation",), "service-installed")
        set_text(ev, "service.name", ed.get("ServiceName"))
        set_text(ev, "service.type", ed.get("ServiceType"))
        set_user(ev, "user", winlog.get("user", {}).get("identifier"))
    elif code == 104 and provider == "Microsoft-Windows-Eventlog":
        set_categories(ev, ("iam",), ("admin", "change"), "log-cleared")
        ud = winlog.get("user_data") or {}
        set_user(ev, "user", None, ud.get("SubjectUserName"), ud.get("SubjectDomainName"))


SECURITY_PROVIDERS = frozenset({"Microsoft-Windows-Security-Auditing", "Microsoft-Windows-Eventlog"})

# lower-case channel -> (event.dataset, event.module, mapper)
CHANNELS: dict[str, tuple[str, str, Mapper | None]] = {
    "security": ("windows.security", "security", map_security),
    "microsoft-windows-sysmon/operational": ("windows.sysmon_operational", "sysmon", map_sysmon),
    "windows powershell": ("windows.powershell", "powershell", map_powershell_classic),
    "microsoft-windows-powershell/operational": ("windows.powershell_operational", "powershell",
                                                 map_powershell_operational),
    "powershellcore/operational": ("windows.powershell_operational", "powershell", map_powershell_operational),
    "system": ("windows.system", "windows", map_system),
    "application": ("windows.application", "windows", None),
    "microsoft-windows-windows defender/operational": ("windows.windows_defender", "windows", None),
}
OTHER = ("windows.eventlog", "windows", None)


def normalise(ts: str, winlog: dict[str, Any]) -> Event:
    """The normalised event of one record: ``ts`` is @timestamp, ``winlog`` the contract above
    (``event_id`` an int; ``event_data`` a dict of strings, possibly empty)."""
    code: int = winlog["event_id"]
    channel = winlog.get("channel")
    dataset, module, mapper = CHANNELS.get(channel.lower(), OTHER) if isinstance(channel, str) else OTHER
    event: dict[str, Any] = {"kind": "event", "code": str(code), "module": module, "dataset": dataset}
    provider = opt_text(winlog.get("provider_name"))
    if provider is not None:
        event["provider"] = provider
    keywords = winlog.get("keywords") or ()
    if "Audit Failure" in keywords:
        event["outcome"] = "failure"
    elif "Audit Success" in keywords:
        event["outcome"] = "success"
    ev: Event = {"@timestamp": ts, "event": event, "winlog": winlog}
    computer = opt_text(winlog.get("computer_name"))
    if computer is not None:
        ev["host"] = {"name": computer}
    if mapper is map_security and provider not in SECURITY_PROVIDERS:
        mapper = None
    if mapper is not None:
        mapper(ev, winlog, winlog.get("event_data") or {}, code)
    return ev
