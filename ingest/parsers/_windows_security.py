"""ECS mapping of the Security channel, after Winlogbeat 8's security module
(x-pack/winlogbeat/module/security/ingest/security.yml): categorisation per event id, users
(subject, target, effective), logon type and failure status, process, source address, groups.

Unlike Winlogbeat, nothing is removed from or added to ``winlog.event_data``: Sigma rules match
on the original EventData names."""

from __future__ import annotations

from typing import Any

from cert.core.ecs import Event, add_related, put
from ingest.parsers._windows_fields import (
    ip,
    number,
    opt_text,
    set_categories,
    set_process,
    set_text,
    set_user,
)

_AUTH, _IAM, _CONF, _PROC = ("authentication",), ("iam",), ("configuration",), ("process",)
_IAM_CONF = ("iam", "configuration")
# event id -> (event.category, event.type, event.action), from security.yml.
EVENTS: dict[int, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    1100: (_PROC, ("end",), "logging-service-shutdown"),
    1102: (_IAM, ("admin", "change"), "audit-log-cleared"),
    1104: (_IAM, ("admin",), "logging-full"),
    1105: (_IAM, ("admin",), "auditlog-archieved"),
    1108: (_IAM, ("admin",), "logging-processing-error"),
    4616: (_CONF, ("change",), "system-time-changed"),
    4624: (_AUTH, ("start",), "logged-in"),
    4625: (_AUTH, ("start",), "logon-failed"),
    4634: (_AUTH, ("end",), "logged-out"),
    4647: (_AUTH, ("end",), "logged-out"),
    4648: (_AUTH, ("start",), "logged-in-explicit"),
    4657: (("registry", "configuration"), ("change",), "registry-value-modified"),
    4670: (_IAM_CONF, ("admin", "change"), "permissions-changed"),
    4672: (_IAM, ("admin",), "logged-in-special"),
    4673: (_IAM, ("admin",), "privileged-service-called"),
    4674: (_IAM, ("admin",), "privileged-operation"),
    4688: (_PROC, ("start",), "created-process"),
    4689: (_PROC, ("end",), "exited-process"),
    4697: (_IAM_CONF, ("admin", "change"), "service-installed"),
    4698: (_IAM_CONF, ("creation", "admin"), "scheduled-task-created"),
    4699: (_IAM_CONF, ("deletion", "admin"), "scheduled-task-deleted"),
    4700: (_IAM_CONF, ("change", "admin"), "scheduled-task-enabled"),
    4701: (_IAM_CONF, ("change", "admin"), "scheduled-task-disabled"),
    4702: (_IAM_CONF, ("change", "admin"), "scheduled-task-updated"),
    4719: (_IAM_CONF, ("admin", "change"), "changed-audit-config"),
    4720: (_IAM, ("user", "creation"), "added-user-account"),
    4722: (_IAM, ("user", "change"), "enabled-user-account"),
    4723: (_IAM, ("user", "change"), "changed-password"),
    4724: (_IAM, ("user", "change"), "reset-password"),
    4725: (_IAM, ("user", "deletion"), "disabled-user-account"),
    4726: (_IAM, ("user", "deletion"), "deleted-user-account"),
    4727: (_IAM, ("group", "creation"), "added-group-account"),
    4728: (_IAM, ("group", "change"), "added-member-to-group"),
    4729: (_IAM, ("group", "change"), "removed-member-from-group"),
    4730: (_IAM, ("group", "deletion"), "deleted-group-account"),
    4731: (_IAM, ("group", "creation"), "added-group-account"),
    4732: (_IAM, ("group", "change"), "added-member-to-group"),
    4733: (_IAM, ("group", "change"), "removed-member-from-group"),
    4734: (_IAM, ("group", "deletion"), "deleted-group-account"),
    4735: (_IAM, ("group", "change"), "modified-group-account"),
    4737: (_IAM, ("group", "change"), "modified-group-account"),
    4738: (_IAM, ("user", "change"), "modified-user-account"),
    4740: (_IAM, ("user", "change"), "locked-out-user-account"),
    4741: (_IAM, ("creation", "admin"), "added-computer-account"),
    4742: (_IAM, ("change", "admin"), "changed-computer-account"),
    4743: (_IAM, ("deletion", "admin"), "deleted-computer-account"),
    4754: (_IAM, ("group", "creation"), "added-group-account"),
    4755: (_IAM, ("group", "change"), "modified-group-account"),
    4756: (_IAM, ("group", "change"), "added-member-to-group"),
    4757: (_IAM, ("group", "change"), "removed-member-from-group"),
    4758: (_IAM, ("group", "deletion"), "deleted-group-account"),
    4767: (_IAM, ("user", "change"), "unlocked-user-account"),
    4768: (_AUTH, ("start",), "kerberos-authentication-ticket-requested"),
    4769: (_AUTH, ("start",), "kerberos-service-ticket-requested"),
    4770: (_AUTH, ("start",), "kerberos-service-ticket-renewed"),
    4771: (_AUTH, ("start",), "kerberos-preauth-failed"),
    4776: (_AUTH, ("start",), "credential-validated"),
    4778: (("authentication", "session"), ("start",), "session-reconnected"),
    4779: (("authentication", "session"), ("end",), "session-disconnected"),
    4781: (_IAM, ("user", "change"), "renamed-user-account"),
    4798: (_IAM, ("user", "info"), "group-membership-enumerated"),
    4799: (_IAM, ("group", "info"), "user-member-enumerated"),
    4964: (_IAM, ("admin", "group"), "logged-in-special"),
    5024: (_PROC, ("start",), "windows-firewall-service-started"),
    5025: (_PROC, ("end",), "windows-firewall-service-stopped"),
}

LOGON_TYPES = {"2": "Interactive", "3": "Network", "4": "Batch", "5": "Service", "7": "Unlock",
               "8": "NetworkCleartext", "9": "NewCredentials", "10": "RemoteInteractive",
               "11": "CachedInteractive"}

# NTSTATUS of failed logons (4625, 4776), as security.yml describes them.
FAILURE_STATUS = {
    "0xc000005e": "There are currently no logon servers available to service the logon request.",
    "0xc0000064": "User logon with misspelled or bad user account",
    "0xc000006a": "User logon with misspelled or bad password",
    "0xc000006d": "This is either due to a bad username or authentication information",
    "0xc000006e": "Unknown user name or bad password.",
    "0xc000006f": "User logon outside authorized hours",
    "0xc0000070": "User logon from unauthorized workstation",
    "0xc0000071": "User logon with expired password",
    "0xc0000072": "User logon to account disabled by administrator",
    "0xc00000dc": "Indicates the Sam Server was in the wrong state to perform the desired operation.",
    "0xc0000133": "Clocks between DC and other computer too far out of sync",
    "0xc000015b": "The user has not been granted the requested logon type (aka logon right) at this machine",
    "0xc000018c": "The logon request failed because the trust relationship between the primary domain "
                  "and the trusted domain failed.",
    "0xc0000192": "An attempt was made to logon, but the Netlogon service was not started.",
    "0xc0000193": "User logon with expired account",
    "0xc0000224": "User is required to change password at next logon",
    "0xc0000225": "Evidently a bug in Windows and not a risk",
    "0xc0000234": "User logon with account locked",
    "0xc00002ee": "Failure Reason: An Error occurred during Logon",
    "0xc0000413": "Logon Failure: The machine you are logging onto is protected by an authentication "
                  "firewall. The specified account is not allowed to authenticate to the machine.",
    "0xc0000371": "The local account store does not contain secret material for the specified account",
    "0x0": "Status OK.",
}

# Which users an event names, and where they go (the lists of security.yml's scripts).
TARGET_USER = frozenset({4624, 4625, 4634, 4647, 4648, 4768, 4769, 4770, 4771, 4776, 4964})
SUBJECT_USER = frozenset({
    4657, 4670, 4672, 4673, 4674, 4688, 4689, 4697, 4698, 4699, 4700, 4701, 4702, 4706, 4707, 4713,
    4716, 4717, 4718, 4719, 4720, 4722, 4723, 4724, 4725, 4726, 4727, 4728, 4729, 4730, 4731, 4732,
    4733, 4734, 4735, 4737, 4738, 4739, 4740, 4741, 4742, 4743, 4744, 4745, 4746, 4747, 4748, 4749,
    4750, 4751, 4752, 4753, 4754, 4755, 4756, 4757, 4758, 4759, 4760, 4761, 4762, 4763, 4764, 4767,
    4781, 4798, 4799, 4817, 4904, 4905, 4907, 4912, 4648})
TARGET_TO_TARGET = frozenset({4670, 4720, 4722, 4723, 4724, 4725, 4726, 4738, 4740, 4767, 4798, 4817, 4907})
TARGET_TO_EFFECTIVE = frozenset({4648, 4688})
GROUP_EVENTS = frozenset({4727, 4728, 4729, 4730, 4731, 4732, 4733, 4734, 4735, 4737, 4744, 4745, 4746,
                          4747, 4748, 4749, 4750, 4751, 4752, 4753, 4754, 4755, 4756, 4757, 4758, 4759,
                          4760, 4761, 4762, 4763, 4764, 4799})
AUTH_FIELDS = frozenset({
    1100, 1102, 1104, 1105, 1108, 4624, 4648, 4625, 4670, 4673, 4674, 4689, 4697, 4719, 4720, 4722,
    4723, 4724, 4725, 4726, 4727, 4728, 4729, 4730, 4731, 4732, 4733, 4734, 4735, 4737, 4738, 4740,
    4741, 4742, 4743, 4744, 4745, 4746, 4747, 4748, 4749, 4750, 4751, 4752, 4753, 4754, 4755, 4756,
    4757, 4758, 4759, 4760, 4761, 4762, 4763, 4764, 4767, 4768, 4769, 4770, 4771, 4798, 4799, 4817,
    4904, 4905, 4907, 4912})
LOGOFF = frozenset({4634, 4647, 4964})


def map_security(ev: Event, winlog: dict[str, Any], ed: dict[str, str], code: int) -> None:
    spec = EVENTS.get(code)
    if spec is not None:
        set_categories(ev, *spec)
    g = ed.get
    if code in TARGET_USER:
        set_user(ev, "user", g("TargetUserSid") or g("TargetSid"), g("TargetUserName"), g("TargetDomainName"))
    if code in SUBJECT_USER:
        set_user(ev, "user", g("SubjectUserSid"), g("SubjectUserName"), g("SubjectDomainName"))
    if code in TARGET_TO_TARGET:
        set_user(ev, "user.target", g("TargetSid"), g("TargetUserName"), g("TargetDomainName"))
    if code in TARGET_TO_EFFECTIVE:
        set_user(ev, "user.effective", g("TargetUserSid"), g("TargetUserName"), g("TargetDomainName"))
    if code == 1102:
        ud = winlog.get("user_data") or {}
        set_user(ev, "user", ud.get("SubjectUserSid"), ud.get("SubjectUserName"), ud.get("SubjectDomainName"))
        set_text(ev, "winlog.logon.id", ud.get("SubjectLogonId"))
    if code in (4624, 4648):
        add_related(ev, "user", opt_text(g("SubjectUserName")))
    logon_id = g("SubjectLogonId") or (g("TargetLogonId") if code in LOGOFF else None)
    set_text(ev, "winlog.logon.id", logon_id)
    logon_type = LOGON_TYPES.get(g("LogonType") or "")
    if logon_type is not None:
        put(ev, "winlog.logon.type", logon_type)
    if code in (4625, 4776):
        for field, key in (("status", "Status"), ("sub_status", "SubStatus")):
            desc = FAILURE_STATUS.get((g(key) or "").lower())
            if desc is not None:
                put(ev, f"winlog.logon.failure.{field}", desc)
    if code in AUTH_FIELDS:
        _auth_fields(ev, ed)
    if code == 4688:
        set_process(ev, "process", g("NewProcessName"), g("CommandLine"), g("NewProcessId"))
        set_process(ev, "process.parent", g("ParentProcessName"), None, g("ProcessId"))
    elif code in (4778, 4779):
        set_user(ev, "user", None, g("AccountName"), g("AccountDomain"))
        address = g("ClientAddress")
        set_text(ev, "source.ip", "127.0.0.1" if address == "LOCAL" else ip(address))
        set_text(ev, "source.domain", g("ClientName"))
        set_text(ev, "winlog.logon.id", g("LogonID"))
    elif code == 4776:
        set_text(ev, "source.domain", g("Workstation"))
    if code in GROUP_EVENTS:
        _group(ev, ed)
    set_text(ev, "service.name", g("ServiceName"))


def _auth_fields(ev: Event, ed: dict[str, str]) -> None:
    g = ed.get
    set_process(ev, "process", g("ProcessName"), None, g("ProcessId"))
    set_text(ev, "source.ip", ip(g("IpAddress")))
    port = number(g("IpPort"))
    if port is not None and 0 <= port <= 65535:
        put(ev, "source.port", port)
    set_text(ev, "source.domain", g("WorkstationName"))
    add_related(ev, "ip", ip(g("ClientAddress")))


def _group(ev: Event, ed: dict[str, str]) -> None:
    g = ed.get
    set_text(ev, "group.id", g("TargetSid") or g("TargetUserSid"))
    set_text(ev, "group.name", g("TargetUserName"))
    domain = opt_text(g("TargetDomainName"))
    if domain is not None:
        put(ev, "group.domain", domain.replace("DC=", "").replace("dc=", ""))
    member = opt_text(g("MemberName"))
    if member is not None:
        parts = member.split(",")
        name = parts[0].replace("CN=", "").replace("cn=", "")
        put(ev, "user.target.name", name)
        add_related(ev, "user", name)
        if len(parts) >= 4:
            put(ev, "user.target.domain", parts[3].replace("DC=", "").replace("dc=", ""))
    set_text(ev, "user.target.id", g("MemberSid"))
