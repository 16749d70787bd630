"""Sigma's Windows taxonomy on our Windows events (``windows.evtx`` / ``windows.winlogbeat``).

Our Windows events keep every ``EventData`` (and ``UserData``) item as ``winlog.event_data.<Name>``
and the ``System`` header as ``winlog.channel``, ``winlog.event_id``, ``winlog.provider_name``,
``winlog.computer_name``... So a Sigma field name maps to ``winlog.event_data.<Name>`` unless it
names a header attribute (Sigma joins tag and attribute with ``_``: ``Provider_Name``).

Routing (which channel and event id a ``logsource`` means) is pySigma's own: the Sysmon pipeline
(generic categories -> Sysmon event ids), the Windows pipeline (services -> channels, PowerShell
categories -> event ids) and the Windows audit pipeline (process creation and registry categories ->
Security 4688/4657 with their field names). A category that both Sysmon and the Security log
describe compiles twice ("sysmon" and "security" variants) and the rule matches either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

from sigma.pipelines.sysmon.sysmon import sysmon_pipeline
from sigma.pipelines.windows.windows import (
    generic_logsource_to_windows_audit_event_mapping,
    windows_audit_pipeline,
    windows_logsource_pipeline,
)
from sigma.processing.conditions import LogsourceCondition, RuleProcessingCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import AddConditionTransformation, FieldFunctionTransformation
from sigma.rule import SigmaLogSource

EVENT_DATA = "winlog.event_data."
# the generic categories pySigma's audit pipeline maps to Security events (its annotation is wrong)
AUDIT_CATEGORIES = frozenset(cast("dict[str, object]", generic_logsource_to_windows_audit_event_mapping))

# Sigma names of System header attributes -> our event fields.
SYSTEM_FIELDS: dict[str | None, str | list[str]] = {
    "EventID": "winlog.event_id",
    "Channel": "winlog.channel",
    "EventLog": "winlog.channel",
    "Provider_Name": "winlog.provider_name",
    "Provider": "winlog.provider_name",
    "Computer": "winlog.computer_name",
    "ComputerName": "winlog.computer_name",
    "EventRecordID": "winlog.record_id",
    "Level": "winlog.level",
    "Keywords": "winlog.keywords",
    "Task": "winlog.task",
    "Opcode": "winlog.opcode",
    "Version": "winlog.version",
    "Execution_ProcessID": "winlog.process.pid",
    "Execution_ThreadID": "winlog.process.thread.id",
    "Security_UserID": "winlog.user.identifier",
    "Provider_Guid": "winlog.provider_guid",
}

# Services pySigma's table does not name; channels from the rules' logsource definitions.
EXTRA_CHANNELS: dict[str, str] = {
    "iis-configuration": "Microsoft-IIS-Configuration/Operational",
    "smbserver-connectivity": "Microsoft-Windows-SMBServer/Connectivity",
    "ldap": "Microsoft-Windows-LDAP-Client/Debug",
    "smbclient-connectivity": "Microsoft-Windows-SmbClient/Connectivity",
}

# Windows categories with no event source we know (ETW-only providers such as Kernel-File).
NO_SOURCE: dict[str, str] = {
    "file_access": "needs the Microsoft-Windows-Kernel-File ETW provider, which no Windows event log records",
    "file_rename": "needs the Microsoft-Windows-Kernel-File ETW provider, which no Windows event log records",
}


# Channels whose events carry UserData (not EventData): WMI-Activity, AppLocker, PrintService.
USER_DATA_SERVICES = ("wmi", "applocker", "printservice-admin", "printservice-operational")
USER_DATA = "winlog.user_data."
# Unnamed <Data> items (classic PowerShell, Application events) are param1, param2... in our events;
# Sigma calls them all ``Data``.
DATA_PARAMS = [EVENT_DATA + "Data"] + [f"{EVENT_DATA}param{i}" for i in range(1, 13)]


# Channels whose EventData names contain spaces (Defender: "Threat Name"): Sigma strips the
# spaces (``ThreatName``), so those fields are looked up under both spellings.
SPACED_SERVICES = ("windefend",)
_WORDS = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def windows_fields(name: str | None, user_data: bool = False, spaced: bool = False) -> str | list[str]:
    """Our event field(s) for a Sigma Windows field name (a list is OR-linked)."""
    if name == "Data":
        return DATA_PARAMS
    single = windows_field(name)
    if not single.startswith(EVENT_DATA):
        return single
    leaf = single[len(EVENT_DATA):]
    out = [single]
    if user_data:
        out.append(USER_DATA + leaf)
    if spaced and (words := _WORDS.sub(" ", leaf)) != leaf:
        out.append(EVENT_DATA + words)
    return out if len(out) > 1 else single


def windows_field(name: str | None) -> str:
    """Our event field for a Sigma Windows field name; dotted names are already event paths."""
    if name is None:
        raise ValueError("keyword detections have no field")
    mapped = SYSTEM_FIELDS.get(name)
    if isinstance(mapped, str):
        return mapped
    return name if "." in name else EVENT_DATA + name


def _field_items(any_product: bool = False) -> list[ProcessingItem]:
    user_data: list[RuleProcessingCondition] = [LogsourceCondition(product="windows", service=s)
                                                for s in USER_DATA_SERVICES]
    spaced: list[RuleProcessingCondition] = [LogsourceCondition(product="windows", service=s)
                                             for s in SPACED_SERVICES]
    return [
        ProcessingItem(
            identifier="vigie_windows_user_data_fields",
            transformation=FieldFunctionTransformation(mapping=SYSTEM_FIELDS, transform_func=_with_user_data),
            rule_conditions=user_data, rule_condition_linking=any,
        ),
        ProcessingItem(
            identifier="vigie_windows_spaced_fields",
            transformation=FieldFunctionTransformation(mapping=SYSTEM_FIELDS, transform_func=_spaced),
            rule_conditions=spaced, rule_condition_linking=any,
        ),
        ProcessingItem(
            identifier="vigie_windows_fields",
            transformation=FieldFunctionTransformation(mapping=SYSTEM_FIELDS, transform_func=_transform),
            rule_conditions=[] if any_product else [LogsourceCondition(product="windows")],
        ),
    ]


def _transform(name: str | None) -> str:
    return windows_fields(name)  # type: ignore[return-value]  # pySigma accepts one-to-many here


def _with_user_data(name: str | None) -> str:
    return windows_fields(name, user_data=True)  # type: ignore[return-value]


def _spaced(name: str | None) -> str:
    return windows_fields(name, spaced=True)  # type: ignore[return-value]


def _extra_channel_items() -> list[ProcessingItem]:
    items = [
        ProcessingItem(
            identifier=f"windows_logsource_{service}",
            transformation=AddConditionTransformation({"Channel": channel}),
            rule_conditions=[LogsourceCondition(product="windows", service=service)],
        )
        for service, channel in EXTRA_CHANNELS.items()
    ]
    return items


def sysmon_variant() -> ProcessingPipeline:
    """Generic categories as Sysmon events (pySigma-pipeline-sysmon), services as channels."""
    sysmon: ProcessingPipeline = sysmon_pipeline()  # a pySigma ``Pipeline`` object, called untyped
    return sysmon + windows_logsource_pipeline() + ProcessingPipeline(
        name="Vigie: Windows extra channels and winlog fields", priority=20,
        items=_extra_channel_items() + _field_items(),
    )


def security_variant() -> ProcessingPipeline:
    """Process creation and registry categories as Security 4688/4657 (pySigma's audit pipeline)."""
    return windows_audit_pipeline() + windows_logsource_pipeline() + ProcessingPipeline(
        name="Vigie: winlog fields", priority=20, items=_field_items(),
    )


def any_channel_variant() -> ProcessingPipeline:
    """``product: windows`` alone (keyword rules), or a product logging to its own Windows channel
    (rpc_firewall): every Windows event, i.e. any channel."""
    any_channel = ProcessingItem(identifier="windows_logsource_any",
                                 transformation=AddConditionTransformation({"Channel": "*"}))
    return ProcessingPipeline(name="Vigie: any Windows channel", priority=20,
                              items=[any_channel, *_field_items(any_product=True)])


PIPELINES: dict[str, Callable[[], ProcessingPipeline]] = {
    "sysmon": sysmon_variant,  # generic categories (and PowerShell ones) as Sysmon / channel events
    "channel": sysmon_variant,  # services: their channel
    "security": security_variant,
    "any": any_channel_variant,
}


def windows_variants(ls: SigmaLogSource) -> list[str]:
    """The variants (keys of PIPELINES) a Windows rule compiles with, or [] if none routes it."""
    if ls.category in NO_SOURCE:
        return []
    if ls.category is None and ls.service is None:
        return ["any"]
    variants = ["sysmon" if ls.category else "channel"]
    if ls.category in AUDIT_CATEGORIES:
        variants.append("security")
    return variants


def no_source_reason(ls: SigmaLogSource) -> str:
    if ls.category in NO_SOURCE:
        return f"windows/{ls.category}: {NO_SOURCE[ls.category]}"
    return f"windows logsource {ls.category or ''}/{ls.service or ''}: no channel known for it"


def was_routed(applied_ids: set[str]) -> bool:
    """Whether a channel condition was added (the rule selects a known Windows log)."""
    return any(i.startswith("windows_logsource_") for i in applied_ids)
