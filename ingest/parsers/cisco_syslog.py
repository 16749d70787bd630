"""Cisco syslog: IOS / IOS XE routers and switches, and ASA / FTD firewalls, in one parser because
one collector usually receives both (a network's syslog server, a folder of exported logs): each
line says by its message tag which it is, ``%FACILITY[-SUB]-SEVERITY-MNEMONIC`` (IOS:
``%SYS-5-CONFIG_I``) or ``%ASA-SEVERITY-ID`` (``%ASA-6-302013``, FTD ``%FTD-6-430003``).

Before the tag, any of (the forms ``service timestamps`` / ``logging timestamp`` give):
a syslog priority ``<189>``, a relay's syslog header (``Mar  2 10:00:01 rtr-core-01``), the
device's sequence number (``001041:``), its host name (``logging origin-id``), its timestamp with
or without year, milliseconds and time zone, ``*`` (clock not set) or ``.`` (clock not in sync) in
front. The device's own timestamp (the last one) is ``@timestamp``; a time without a zone is UTC,
without a year the current year. A line without any timestamp (``service timestamps uptime``) is
a parse error: its time cannot be known.

ECS as Filebeat's ``cisco`` module maps it: ``event.code`` the mnemonic (IOS) or the message id
(ASA), ``event.severity`` and ``log.level`` from the severity, ``cisco.ios.facility`` /
``cisco.ios.sequence``, ``cisco.asa.message_id``, ``observer.vendor/product/type/hostname``,
``message`` the text after the tag (the line is ``event.original``), and the fields of the
messages listed in ``_cisco_messages`` (connections, ACL denies, logins, AAA, commands).

Datasets: ``cisco.ios``, ``cisco.asa``, ``cisco.ftd``; the commands a user ran (IOS
``PARSER-5-CFGLOG_LOGGEDCMD``, ASA 111008/111009/111010) are ``cisco.aaa``: the AAA command
accounting SigmaHQ's ``product: cisco, service: aaa`` rules are written for.
"""

from __future__ import annotations

import re

from cert.core.ecs import Event, put
from cert.core.parser import ParseError, Parser, parsers
from ingest.parsers._cisco_messages import ASA, IOS
from ingest.parsers._devtime import device_time
from ingest.parsers._fields import normalize_ip, put_event, timestamp
from ingest.parsers._syslog import SEVERITIES

_TAG = re.compile(r"%(?P<facility>[A-Z][A-Z0-9_]*(?:-[A-Z][A-Z0-9_]*)*)-(?P<severity>[0-7])-"
                  r"(?P<mnemonic>[A-Z0-9][A-Z0-9_]*)(?::\s?|\s|$)")
_PRI = re.compile(r"\s*<(?P<pri>\d{1,3})>")
_TIME = re.compile(r"(?<!\w)(?P<clock>[*.]?)"
                   r"(?P<ts>[A-Z][a-z]{2} {1,2}\d{1,2}(?: \d{4})? \d\d:\d\d:\d\d(?:\.\d{1,6})?"
                   r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?)"
                   r"(?: (?P<zone>[A-Za-z][A-Za-z0-9+/_-]{0,31})(?=:))?")
_TOKEN = re.compile(r"[^\s:]+")
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,252}")
FIREWALLS = {"ASA": ("asa", "ASA"), "FTD": ("ftd", "FTD"), "FWSM": ("asa", "FWSM"), "PIX": ("asa", "PIX")}
MAX_PREFIX = 512
MAX_MESSAGE = 4096  # Cisco's messages are shorter; the readers' patterns stay linear below this


@parsers.register
class CiscoSyslogParser(Parser):
    name = "cisco.syslog"
    dataset = "cisco.ios"
    module = "cisco"

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        tag = _TAG.search(line, 0, MAX_PREFIX + 64)
        if tag is None or tag.start() > MAX_PREFIX:
            raise ParseError("no Cisco message tag (%FACILITY-SEVERITY-MNEMONIC or %ASA-SEVERITY-ID)")
        ev: Event = {}
        sequence, clock = _prefix(ev, line[:tag.start()])
        severity = int(tag["severity"])
        facility, mnemonic = tag["facility"], tag["mnemonic"]
        text = line[tag.end():].strip()
        ev["message"] = text
        put(ev, "log.level", SEVERITIES[severity])
        firewall = FIREWALLS.get(facility) if mnemonic.isdigit() else None
        if firewall is not None:
            kind, product = firewall
            put_event(ev, kind="event", module="cisco", dataset=f"cisco.{kind}", code=mnemonic, severity=severity)
            put(ev, f"cisco.{kind}.message_id", mnemonic)
            ev.setdefault("observer", {}).update(vendor="Cisco", product=product, type="firewall")
            reader = ASA.get(mnemonic)
        else:
            put_event(ev, kind="event", module="cisco", dataset="cisco.ios", code=mnemonic, severity=severity)
            put(ev, "cisco.ios.facility", facility)
            ev.setdefault("observer", {}).update(vendor="Cisco", product="IOS", type="router")
            reader = IOS.get(mnemonic)
        vendor = "ios" if firewall is None else firewall[0]
        if sequence is not None:
            put(ev, f"cisco.{vendor}.sequence", sequence)
        if clock:
            put(ev, f"cisco.{vendor}.clock", "not set" if clock == "*" else "not synchronised")
        if reader is not None and len(text) <= MAX_MESSAGE:  # longer: no Cisco message, kept unread
            reader(ev, text)
        return ev


def _prefix(ev: Event, prefix: str) -> tuple[str | None, str]:
    """@timestamp, observer.hostname and the syslog priority from the text before the tag; the
    sequence number and the clock mark ('*', '.' or '')."""
    m = _PRI.match(prefix)
    if m:
        pri = int(m["pri"])
        if pri > 191:
            raise ParseError(f"syslog priority out of range: <{pri}>")
        put(ev, "log.syslog.priority", pri)
        put(ev, "log.syslog.facility.code", pri // 8)
        put(ev, "log.syslog.severity.code", pri % 8)
        prefix = prefix[m.end():]
    times = list(_TIME.finditer(prefix))
    if not times:
        raise ParseError(f"no timestamp before the Cisco message tag: {prefix.strip()[:80]!r}")
    device = times[-1]
    try:
        when = device_time(device["ts"] + (f" {device['zone']}" if device["zone"] else ""))
    except ParseError as exc:
        raise ParseError(f"unreadable Cisco timestamp {device.group().strip()!r}: {exc}") from None
    ev["@timestamp"] = timestamp(when)
    rest = " ".join(prefix[a:b] for a, b in _gaps(prefix, times))
    sequence = host = None
    for token in _TOKEN.findall(rest):
        if token.isdigit() and sequence is None:
            sequence = token
        elif host is None and _HOST.fullmatch(token) and not token.isdigit():
            host = token
    if host is not None:
        put(ev, "observer.hostname", host)
        ip = normalize_ip(host)
        if ip is not None:
            put(ev, "observer.ip", ip)
    return sequence, device["clock"]


def _gaps(text: str, matches: list[re.Match[str]]) -> list[tuple[int, int]]:
    """The spans of ``text`` around the matches."""
    spans, start = [], 0
    for m in matches:
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return spans
