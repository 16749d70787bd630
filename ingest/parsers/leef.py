"""IBM QRadar Log Event Extended Format (LEEF) 1.0 and 2.0, with or without a syslog header.

``LEEF:1.0|Vendor|Product|Version|EventID|key=value<TAB>key=value...`` and
``LEEF:2.0|Vendor|Product|Version|EventID|DelimiterCharacter|key=value<delim>...`` where the
delimiter is one character or its hex code (``x09``, ``0x5E``, ``\\x7c``); when a 2.0 record omits it,
the delimiter is a tab (IBM Security QRadar "Log Event Extended Format (LEEF)" guide). A value
holding the delimiter is joined back to the value before it.

ECS: ``observer.vendor/product/version`` and ``event.code`` from the header, the predefined
attributes (``src``, ``dst``, ``srcPort``, ``usrName``, ``sev``, ``devTime`` with
``devTimeFormat``, ``proto``, ``srcBytes``, ``srcPostNAT``, ``policy``, ``url``...) to their ECS
fields, the reporting device (``dvc``, ``dvchost``, ``dvcmac``, the keys some producers borrow from
CEF) to ``observer.*``, a rule id (``ruleId``) to ``rule.id``, ``network.community_id`` when the
five-tuple is known, and every attribute as text under ``leef.attributes.<key>``.
"""

from __future__ import annotations

import re
from datetime import tzinfo

from cert.core.ecs import Event, add_related, put
from cert.core.parser import ParseError, Parser, parsers
from ingest.parsers._appliance import categorize, extensions, header_of, unescape_header
from ingest.parsers._devtime import device_time, java_time, zone, zoneless
from ingest.parsers._fields import (
    put_address,
    put_event,
    put_ip,
    put_port,
    put_transport,
    put_url,
    timestamp,
    to_int,
)
from ingest.parsers._flow import put_community_id

_FIELD = r"((?:[^|\\]|\\.)*)\|"
HEADER = re.compile(r"LEEF: ?(?P<version>\d{1,2}(?:\.\d{1,2})?)\|" + _FIELD * 4 + r"(?P<rest>.*)$", re.S)
_DELIMITER = re.compile(r"(?:(?:0?[xX]|\\[xX])(?P<hex>[0-9A-Fa-f]{1,4})|(?P<char>[^|=]))\|")
_KEY = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,128}$")

ADDRESSES = {"src": "source", "dst": "destination"}
PORTS = {"srcPort": "source.port", "dstPort": "destination.port", "srcPostNATPort": "source.nat.port",
         "dstPostNATPort": "destination.nat.port"}
NAT = {"srcPostNAT": "source.nat.ip", "dstPostNAT": "destination.nat.ip"}
NUMBERS = {"srcBytes": "source.bytes", "dstBytes": "destination.bytes", "totalBytes": "network.bytes",
           "srcPackets": "source.packets", "dstPackets": "destination.packets", "totalPackets": "network.packets"}
TEXT = {"srcMAC": "source.mac", "dstMAC": "destination.mac", "policy": "rule.name", "reason": "event.reason",
        "identHostName": "host.hostname"}


def delimiter(version: str, rest: str) -> tuple[str, str]:
    """(delimiter, attributes) from what follows the event id."""
    if not version.startswith("1"):
        m = _DELIMITER.match(rest)
        if m is not None:
            if m["hex"]:
                return chr(int(m["hex"], 16)), rest[m.end():]
            return m["char"], rest[m.end():]
        if rest.startswith("|"):  # an empty delimiter field
            return "\t", rest[1:]
    return "\t", rest


def attributes(text: str, delim: str) -> dict[str, str]:
    text = text.strip("\r\n")
    if delim == "\t" and "\t" not in text and text.count("=") > 1:
        return extensions(text)  # producers that "tab-separate" with spaces
    out: dict[str, str] = {}
    last: str | None = None
    for part in text.split(delim) if delim else [text]:
        key, eq, value = part.partition("=")
        key = key.strip()
        if eq and _KEY.match(key):
            out[key] = value
            last = key
        elif last is not None:  # the delimiter was inside the previous value
            out[last] = f"{out[last]}{delim}{part}"
        elif part.strip():
            raise ParseError(f"LEEF attributes: {part[:60]!r} is not key=value")
    return out


@parsers.register
class LeefParser(Parser):
    name = "leef"
    dataset = "leef.log"
    module = "leef"

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        ev, text = header_of(line, "LEEF:", self.options.zone)
        m = HEADER.match(text)
        if m is None:
            raise ParseError("not a LEEF record (LEEF:Version|Vendor|Product|Version|EventID|...)")
        vendor, product, version, event_id = (unescape_header(m[i]) for i in range(2, 6))
        delim, rest = delimiter(m["version"], m["rest"])
        attrs = attributes(rest, delim)
        ev["leef"] = {"version": m["version"], "event_id": event_id,
                      "device": {"vendor": vendor, "product": product, "version": version}}
        ev.setdefault("observer", {}).update(vendor=vendor, product=product, version=version)
        put_event(ev, kind="event", code=event_id)
        put(ev, "message", attrs.get("msg") or attrs.get("message") or f"{product} {event_id}".strip())
        self._ecs(ev, attrs)
        self._time(ev, attrs)
        categorize(ev, attrs.get("action") or attrs.get("act"), f"{event_id} {attrs.get('cat', '')}")
        put(ev, "leef.attributes", {k.replace(".", "_"): v for k, v in attrs.items()})
        if "@timestamp" not in ev:
            raise ParseError("no time: neither a syslog header nor devTime")
        return ev

    @staticmethod
    def _ecs(ev: Event, attrs: dict[str, str]) -> None:
        for key, side in ADDRESSES.items():
            put_address(ev, side, attrs.get(key))
        for key, field in PORTS.items():
            put_port(ev, field, attrs.get(key))
        for key, field in NAT.items():
            put_ip(ev, field, attrs.get(key))
        for key, field in NUMBERS.items():
            number = to_int(attrs.get(key))
            if number is not None:
                put(ev, field, number)
        for key, field in TEXT.items():
            if attrs.get(key):
                put(ev, field, attrs[key])
        put_transport(ev, attrs.get("proto"))
        # the reporting device, when the producer names it with CEF's keys: the observer
        put_ip(ev, "observer.ip", attrs.get("dvc"))
        if attrs.get("dvchost"):
            put(ev, "observer.hostname", attrs["dvchost"])
        if attrs.get("dvcmac"):
            put(ev, "observer.mac", attrs["dvcmac"].replace(":", "-").upper())
        for key in ("ruleId", "ruleID", "rule_id"):
            if attrs.get(key):
                put(ev, "rule.id", attrs[key])
        user = attrs.get("usrName") or attrs.get("accountName")
        if user:
            put(ev, "user.name", user)
            add_related(ev, "user", user)
        action = attrs.get("action") or attrs.get("act")
        if action:
            put(ev, "event.action", action)
        sev = to_int(attrs.get("sev"))
        if sev is not None:
            put(ev, "event.severity", min(sev, 10))
        if attrs.get("url"):
            put_url(ev, attrs["url"])
        add_related(ev, "ip", ev.get("source", {}).get("nat", {}).get("ip"),
                    ev.get("destination", {}).get("nat", {}).get("ip"))
        put_community_id(ev)

    def _time(self, ev: Event, attrs: dict[str, str]) -> None:
        raw = attrs.get("devTime")
        if not raw:
            return
        tz: tzinfo | None = None
        if attrs.get("devTimeZone"):
            try:
                tz = zone(attrs["devTimeZone"])
            except ParseError:
                tz = None
        java = attrs.get("devTimeFormat")
        if tz is None and self.options.zone is not None:  # the source's time zone setting
            tz = self.options.zone
            if zoneless(raw, java):
                put(ev, "event.timezone", self.options.timezone)
        try:
            dt = java_time(raw, java, tz) if java else device_time(raw, tz)
        except ParseError as exc:
            raise ParseError(f"devTime: {exc}") from exc
        put(ev, "@timestamp", timestamp(dt))
