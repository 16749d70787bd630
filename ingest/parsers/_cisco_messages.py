"""The ECS fields of the Cisco messages a CERT looks for, read from their text (the formats of
Cisco's "ASA Series Syslog Messages" guide and of the IOS system message guides), named as
Elastic's Filebeat ``cisco`` module names them (``cisco.asa.*``, ``cisco.ios.*``, ``source.*``,
``destination.*``, ``user.name``...). A message not listed keeps the common fields only."""

from __future__ import annotations

import re
from collections.abc import Callable

from cert.core.ecs import Event, add_related, put
from ingest.parsers._fields import put_event, put_ip, put_port, put_transport

# interface:address/port, the ASA's way of naming an endpoint ("outside:203.0.113.7/51515")
_END = r"(?P<{0}_if>[^\s:/]+):(?P<{0}_ip>[0-9A-Fa-f.:]+?)/(?P<{0}_port>\d+)"
_SRC, _DST = _END.format("src"), _END.format("dst")


def _firewall(ev: Event) -> str:
    """The namespace of a firewall's fields: ``ftd`` for FTD, ``asa`` for the ASA (and PIX, FWSM)."""
    return "ftd" if ev.get("observer", {}).get("product") == "FTD" else "asa"


def _endpoints(ev: Event, m: re.Match[str], vendor: str | None = None) -> None:
    vendor = vendor or _firewall(ev)
    for side, key in (("source", "src"), ("destination", "dst")):
        groups = m.groupdict()
        if groups.get(f"{key}_ip"):
            put_ip(ev, f"{side}.ip", groups[f"{key}_ip"])
            put(ev, f"{side}.address", groups[f"{key}_ip"])
        if groups.get(f"{key}_port"):
            put_port(ev, f"{side}.port", groups[f"{key}_port"])
        if groups.get(f"{key}_if"):
            put(ev, f"cisco.{vendor}.{side}_interface", groups[f"{key}_if"])


def _network(ev: Event, transport: str | None, *types: str, action: str, outcome: str | None = None) -> None:
    put_transport(ev, transport)
    put_event(ev, category=["network"], type=["connection", *types], action=action)
    if outcome:
        put_event(ev, outcome=outcome)


def _user(ev: Event, name: str | None) -> None:
    if name:
        put(ev, "user.name", name)
        add_related(ev, "user", name)


# ---- ASA / FTD -----------------------------------------------------------------------------------
_DENY_ACL = re.compile(r"Deny (?P<proto>\S+) src " + _SRC + r"(?: \([^)]*\))? dst " + _DST +
                       r".*? by access-group \"(?P<acl>[^\"]+)\"")
_DENY_NO_CONN = re.compile(r"Deny (?P<proto>TCP|UDP) \(no connection\) from (?P<src_ip>[0-9A-Fa-f.:]+)/"
                           r"(?P<src_port>\d+) to (?P<dst_ip>[0-9A-Fa-f.:]+)/(?P<dst_port>\d+).*?on interface "
                           r"(?P<src_if>\S+)")
_DENY_INBOUND = re.compile(r"(?:Deny inbound (?P<proto>\S+) from|Inbound (?P<proto2>TCP) connection denied from) "
                           r"(?P<src_ip>[0-9A-Fa-f.:]+)/(?P<src_port>\d+) to (?P<dst_ip>[0-9A-Fa-f.:]+)/"
                           r"(?P<dst_port>\d+).*?on interface (?P<src_if>[^\s.]+)")
_ACL_HIT = re.compile(r"access-list (?P<acl>\S+) (?P<verdict>permitted|denied|est-allowed) (?P<proto>\S+) "
                      r"(?P<src_if>[^/\s]+)/(?P<src_ip>[0-9A-Fa-f.:]+)\((?P<src_port>\d+)\) -> "
                      r"(?P<dst_if>[^/\s]+)/(?P<dst_ip>[0-9A-Fa-f.:]+)\((?P<dst_port>\d+)\)")
_BUILT = re.compile(r"Built (?P<dir>inbound|outbound) (?P<proto>TCP|UDP|SCTP) connection (?P<id>\d+) for "
                    + _SRC + r" \([^)]*\)(?: \([^)]*\))? to " + _DST)
_TEARDOWN = re.compile(r"Teardown (?P<proto>TCP|UDP|SCTP) connection (?P<id>\d+) for " + _SRC +
                       r"(?: \([^)]*\))? to " + _DST + r"(?: \([^)]*\))? duration (?P<duration>\d+:\d\d:\d\d)"
                       r"(?: bytes (?P<bytes>\d+))?(?: (?P<reason>.+?))?$")
_AAA = re.compile(r"AAA user (?P<what>authentication|authorization) (?P<result>Successful|Rejected)"
                  r"(?: : reason = (?P<reason>[^:]+?))?(?: : server = (?P<server>[0-9A-Fa-f.:]+?))?"
                  r"(?: : local database)? : user = (?P<user>[^:]+?)(?:\s*: user IP = (?P<ip>[0-9A-Fa-f.:]+))?\s*$")
_COMMAND = re.compile(r"User '(?P<user>[^']*)'(?:, running '(?P<app>[^']*)' from IP (?P<ip>[0-9A-Fa-f.:]+),)? "
                      r"executed (?:the '(?P<cmd>.*)' command\.?|cmd: ?(?P<cmd2>.*)|'(?P<cmd3>.*)')$")
_LOGIN = re.compile(r"Login (?P<result>permitted|denied) from (?P<src_ip>[0-9A-Fa-f.:]+)/(?P<src_port>\d+) to "
                    r"(?P<dst_if>[^:\s]+):(?P<dst_ip>[0-9A-Fa-f.:]+)/(?P<service>\S+) for user \"(?P<user>[^\"]*)\"")
_LOGOUT = re.compile(r"User logged out: Uname: (?P<user>\S+)")
_PRIV = re.compile(r"User priv level changed: Uname: (?P<user>\S+) From: (?P<old>\d+) To: (?P<new>\d+)")


def _asa_deny(ev: Event, text: str) -> None:
    for pattern in (_DENY_ACL, _DENY_NO_CONN, _DENY_INBOUND):
        m = pattern.search(text)
        if m:
            _endpoints(ev, m)
            if m.groupdict().get("acl"):
                put(ev, f"cisco.{_firewall(ev)}.rule_name", m["acl"])
            proto = m.groupdict().get("proto") or m.groupdict().get("proto2")
            _network(ev, proto, "denied", action="firewall-rule", outcome="failure")
            return


def _verdict(ev: Event, m: re.Match[str]) -> None:
    """An access list's permit or deny of the packet ``m`` describes (its ``proto`` and ``verdict``)."""
    denied = m["verdict"] == "denied"
    _network(ev, m["proto"], "denied" if denied else "allowed", action="firewall-rule",
             outcome="failure" if denied else "success")


def _asa_acl_hit(ev: Event, text: str) -> None:
    m = _ACL_HIT.search(text)
    if m:
        _endpoints(ev, m)
        put(ev, f"cisco.{_firewall(ev)}.rule_name", m["acl"])
        _verdict(ev, m)


def _asa_built(ev: Event, text: str) -> None:
    m = _BUILT.search(text)
    if m:
        _endpoints(ev, m)
        put(ev, f"cisco.{_firewall(ev)}.connection_id", m["id"])
        put(ev, "network.direction", "inbound" if m["dir"] == "inbound" else "outbound")
        _network(ev, m["proto"], "start", "allowed", action="flow-creation", outcome="success")


def _asa_teardown(ev: Event, text: str) -> None:
    m = _TEARDOWN.search(text)
    if m:
        _endpoints(ev, m)
        put(ev, f"cisco.{_firewall(ev)}.connection_id", m["id"])
        h, mi, s = (int(x) for x in m["duration"].split(":"))
        put(ev, "event.duration", (h * 3600 + mi * 60 + s) * 1_000_000_000)
        if m["bytes"] and len(m["bytes"]) <= 18:
            put(ev, "network.bytes", int(m["bytes"]))
        if m["reason"]:
            put(ev, "event.reason", m["reason"].strip())
        _network(ev, m["proto"], "end", action="flow-expiration")


def _asa_aaa(ev: Event, text: str) -> None:
    m = _AAA.search(text)
    if m:
        _user(ev, m["user"].strip())
        put_ip(ev, "source.ip", m["ip"])
        put_ip(ev, "server.ip", m["server"])
        if m["reason"]:
            put(ev, "event.reason", m["reason"].strip())
        ok = m["result"] == "Successful"
        put_event(ev, category=["authentication"], type=["info" if m["what"] == "authentication" else "access"],
                  action=f"{m['what']}-{'success' if ok else 'failure'}", outcome="success" if ok else "failure")


def _asa_command(ev: Event, text: str) -> None:
    m = _COMMAND.search(text)
    if m:
        _user(ev, m["user"])
        put_ip(ev, "source.ip", m["ip"])
        command = m["cmd"] if m["cmd"] is not None else m["cmd2"] if m["cmd2"] is not None else m["cmd3"]
        put(ev, f"cisco.{_firewall(ev)}.command_line", command)
        put_event(ev, category=["configuration"], type=["info"], action="command-executed", dataset="cisco.aaa")


def _asa_login(ev: Event, text: str) -> None:
    m = _LOGIN.search(text)
    if m:
        _user(ev, m["user"])
        put_ip(ev, "source.ip", m["src_ip"])
        put_port(ev, "source.port", m["src_port"])
        put_ip(ev, "destination.ip", m["dst_ip"])
        put(ev, f"cisco.{_firewall(ev)}.destination_interface", m["dst_if"])
        ok = m["result"] == "permitted"
        put_event(ev, category=["authentication"], type=["start" if ok else "info"],
                  action="logon-success" if ok else "logon-failed", outcome="success" if ok else "failure")


def _asa_logout(ev: Event, text: str) -> None:
    m = _LOGOUT.search(text)
    if m:
        _user(ev, m["user"])
        put_event(ev, category=["authentication"], type=["end"], action="logged-out")


def _asa_privilege(ev: Event, text: str) -> None:
    m = _PRIV.search(text)
    if m:
        _user(ev, m["user"])
        put(ev, f"cisco.{_firewall(ev)}.privilege.old", m["old"])
        put(ev, f"cisco.{_firewall(ev)}.privilege.new", m["new"])
        put_event(ev, category=["iam"], type=["change"], action="privilege-changed")


Reader = Callable[[Event, str], None]
ASA: dict[str, Reader] = {
    "106001": _asa_deny, "106006": _asa_deny, "106007": _asa_deny, "106015": _asa_deny, "106023": _asa_deny,
    "106100": _asa_acl_hit,
    "302013": _asa_built, "302015": _asa_built,
    "302014": _asa_teardown, "302016": _asa_teardown,
    "113004": _asa_aaa, "113005": _asa_aaa, "113012": _asa_aaa, "113015": _asa_aaa,
    "111008": _asa_command, "111009": _asa_command, "111010": _asa_command,
    "605004": _asa_login, "605005": _asa_login,
    "611103": _asa_logout,
    "502103": _asa_privilege,
}

# ---- IOS -----------------------------------------------------------------------------------------
_CONFIG_I = re.compile(r"Configured from (?P<source>\S+) by (?P<who>\S+)(?: on (?P<line>\S+))?"
                       r"(?: \((?P<ip>[0-9A-Fa-f.:]+)\))?")
_LOGGEDCMD = re.compile(r"User:(?P<user>\S*)\s+logged command:(?P<cmd>.*)$")
_SEC_LOGIN = re.compile(r"\[user: (?P<user>[^\]]*)\] \[Source: (?P<ip>[^\]]*)\] \[localport: (?P<port>\d+)\]"
                        r"(?: \[Reason: (?P<reason>[^\]]*)\])?")
_ACCESS_LOG = re.compile(r"list (?P<acl>\S+) (?P<verdict>permitted|denied) (?:(?P<proto>[a-z0-9]+) )?"
                         r"(?P<src_ip>[0-9A-Fa-f.:]+)(?:\((?P<src_port>\d+)\))?(?: \([^)]*\))?"
                         r"(?: -> (?P<dst_ip>[0-9A-Fa-f.:]+)(?:\((?P<dst_port>\d+)\))?)?")
_BADAUTH = re.compile(r"(?:Invalid|No) MD5 digest from (?P<src_ip>[0-9A-Fa-f.:]+?)[(:](?P<src_port>\d+)\)?"
                      r"(?: to (?P<dst_ip>[0-9A-Fa-f.:]+?)[(:](?P<dst_port>\d+)\)?)?")


def _ios_config(ev: Event, text: str) -> None:
    m = _CONFIG_I.search(text)
    if m:
        if m["line"]:  # "by admin on vty0": a user on a line; "by vty2": the line only
            _user(ev, m["who"])
        put_ip(ev, "source.ip", m["ip"])
        put_event(ev, category=["configuration"], type=["change"], action="configuration-change")


def _ios_command(ev: Event, text: str) -> None:
    m = _LOGGEDCMD.search(text)
    if m:
        _user(ev, m["user"] or None)
        put(ev, "cisco.ios.command_line", m["cmd"])
        put_event(ev, category=["configuration"], type=["info"], action="command-executed", dataset="cisco.aaa")


def _ios_login(ev: Event, text: str, ok: bool) -> None:
    m = _SEC_LOGIN.search(text)
    if m:
        _user(ev, m["user"])
        put_ip(ev, "source.ip", m["ip"])
        put_port(ev, "destination.port", m["port"])
        if m["reason"]:
            put(ev, "event.reason", m["reason"])
    put_event(ev, category=["authentication"], type=["start" if ok else "info"],
              action="logon-success" if ok else "logon-failed", outcome="success" if ok else "failure")


def _ios_access(ev: Event, text: str) -> None:
    m = _ACCESS_LOG.search(text)
    if m:
        _endpoints(ev, m, "ios")
        put(ev, "cisco.ios.access_list", m["acl"])
        _verdict(ev, m)


def _ios_badauth(ev: Event, text: str) -> None:
    m = _BADAUTH.search(text)
    if m:
        _endpoints(ev, m, "ios")
        put_transport(ev, "tcp")
        put_event(ev, category=["network", "authentication"], type=["connection", "denied"],
                  action="tcp-md5-authentication-failure", outcome="failure")


IOS: dict[str, Reader] = {
    "CONFIG_I": _ios_config,
    "CFGLOG_LOGGEDCMD": _ios_command,
    "LOGIN_SUCCESS": lambda ev, text: _ios_login(ev, text, True),
    "LOGIN_FAILED": lambda ev, text: _ios_login(ev, text, False),
    "IPACCESSLOGP": _ios_access, "IPACCESSLOGDP": _ios_access, "IPACCESSLOGS": _ios_access,
    "IPACCESSLOGNP": _ios_access, "IPACCESSLOGRP": _ios_access,
    "BADAUTH": _ios_badauth,
}
