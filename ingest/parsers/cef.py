"""ArcSight Common Event Format (CEF), with or without a syslog header.

``CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension``
(Micro Focus "ArcSight Common Event Format Version 25", 2017). In the header ``\\|`` and ``\\\\``
are escapes; the extension is ``key=value`` pairs separated by spaces, values may hold spaces, and
``\\=``, ``\\\\``, ``\\n``, ``\\r`` are escapes.

ECS mapping as Elastic's ``decode_cef`` processor and CEF module do: the header gives
``observer.vendor/product/version``, ``event.code`` (signature id), ``event.severity`` and
``message`` (name, then ``msg``); every extension is kept as text under ``cef.extensions.<full
name>`` (``src`` -> ``sourceAddress``...) and the common ones also go to their ECS fields (see
``ECS``). The reporting device (``dvc``, ``dvchost``, ``dvcmac``, ``deviceExternalId``) goes to
``observer.*``: it observed the event, where ``host.*`` would name it as the subject. Custom
strings labelled as a rule (``cs1Label=Rule ID``...) and Forcepoint's unlabelled ``cs1`` go to
``rule.id`` / ``rule.name``; ``network.community_id`` is set when the five-tuple is known. Two
deviations from Elastic: ``cat`` (the device's own category) is not copied to ``event.category``,
whose values ECS fixes, and ``event.category``/``event.type`` come from what the event carries
(addresses -> network, URL -> web, a login name -> authentication; ``act`` -> allowed/denied).

Time: ``rt`` (deviceReceiptTime), else the syslog header's time. A record with neither is refused,
unless its source is configured to take the receive time (``ParserOptions.receive_time``,
``cert ingest --receive-time``): its ``@timestamp`` is then the ingestion time, the same as
``event.ingested``, and it is tagged ``time_from_receipt``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import tzinfo

from cert.core.ecs import Event, add_related, get, put
from cert.core.parser import ParseError, Parser, parsers
from ingest.parsers._appliance import categorize, extensions, header_of, unescape_header
from ingest.parsers._devtime import device_time, zone, zoneless
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
HEADER = re.compile(r"CEF: ?(?P<version>\d{1,3}(?:\.\d{1,3})?)\|" + _FIELD * 6 + r"(?P<ext>.*)$", re.S)
SEVERITY_WORDS = {"unknown": None, "low": 3, "medium": 6, "high": 8, "very-high": 10, "very high": 10}

# short key -> full name (the specification's tables; Elastic's ``cef/keys.go``)
FULL_NAMES = {
    "act": "deviceAction", "app": "applicationProtocol", "art": "agentReceiptTime", "c6a1": "deviceCustomIPv6Address1",
    "c6a2": "deviceCustomIPv6Address2", "c6a3": "deviceCustomIPv6Address3", "c6a4": "deviceCustomIPv6Address4",
    "cat": "deviceEventCategory", "cfp1": "deviceCustomFloatingPoint1", "cfp2": "deviceCustomFloatingPoint2",
    "cfp3": "deviceCustomFloatingPoint3", "cfp4": "deviceCustomFloatingPoint4", "cn1": "deviceCustomNumber1",
    "cn2": "deviceCustomNumber2", "cn3": "deviceCustomNumber3", "cnt": "baseEventCount",
    "cs1": "deviceCustomString1", "cs2": "deviceCustomString2", "cs3": "deviceCustomString3",
    "cs4": "deviceCustomString4", "cs5": "deviceCustomString5", "cs6": "deviceCustomString6",
    "dhost": "destinationHostName", "dlat": "destinationGeoLatitude", "dlong": "destinationGeoLongitude",
    "dmac": "destinationMacAddress", "dntdom": "destinationNtDomain", "dpid": "destinationProcessId",
    "dpriv": "destinationUserPrivileges", "dproc": "destinationProcessName", "dpt": "destinationPort",
    "dst": "destinationAddress", "dtz": "deviceTimeZone", "duid": "destinationUserId", "duser": "destinationUserName",
    "dvc": "deviceAddress", "dvchost": "deviceHostName", "dvcmac": "deviceMacAddress", "dvcpid": "deviceProcessId",
    "end": "endTime", "fname": "fileName", "fsize": "fileSize", "in": "bytesIn", "msg": "message",
    "out": "bytesOut", "outcome": "eventOutcome", "proto": "transportProtocol", "request": "requestUrl",
    "rt": "deviceReceiptTime", "shost": "sourceHostName", "slat": "sourceGeoLatitude", "slong": "sourceGeoLongitude",
    "smac": "sourceMacAddress", "sntdom": "sourceNtDomain", "spid": "sourceProcessId", "spriv": "sourceUserPrivileges",
    "sproc": "sourceProcessName", "spt": "sourcePort", "src": "sourceAddress", "start": "startTime",
    "suid": "sourceUserId", "suser": "sourceUserName", "agt": "agentAddress", "ahost": "agentHostName",
    "aid": "agentId", "amac": "agentMacAddress", "at": "agentType", "atz": "agentTimeZone", "av": "agentVersion",
    "catdt": "categoryDeviceType", "reason": "reason", "type": "type",
}
for _n in range(1, 7):
    FULL_NAMES[f"cs{_n}Label"] = f"deviceCustomString{_n}Label"
for _n in range(1, 4):
    FULL_NAMES[f"cn{_n}Label"] = f"deviceCustomNumber{_n}Label"
for _n in range(1, 5):
    FULL_NAMES[f"cfp{_n}Label"] = f"deviceCustomFloatingPoint{_n}Label"
    FULL_NAMES[f"c6a{_n}Label"] = f"deviceCustomIPv6Address{_n}Label"

# a custom string's label (lower case, letters only) -> the rule field its value goes to ("rule": an id or
# a name, as the value reads)
RULE_LABELS = {"rule": "rule", "ruleid": "rule.id", "ruleuuid": "rule.uuid", "rulename": "rule.name",
               "policyid": "rule.id", "policyname": "rule.name", "policy": "rule.name", "signatureid": "rule.id",
               "rulenumber": "rule.id"}
_RULE_NUMBER = re.compile(r"[0-9][0-9.:_-]*$")
TIME_KEYS = {"deviceReceiptTime": "@timestamp", "startTime": "event.start", "endTime": "event.end",
             "agentReceiptTime": "event.created"}
Setter = Callable[[Event, str, str], None]


def _text(ev: Event, field: str, value: str) -> None:
    put(ev, field, value)


def _port(ev: Event, field: str, value: str) -> None:
    put_port(ev, field, value)


def _long(ev: Event, field: str, value: str) -> None:
    number = to_int(value)
    if number is not None:
        put(ev, field, number)


def _ip(ev: Event, field: str, value: str) -> None:
    put_ip(ev, field, value)


def _address(ev: Event, field: str, value: str) -> None:
    put_address(ev, field, value)


def _lower(ev: Event, field: str, value: str) -> None:
    put(ev, field, value.lower())


def _mac(ev: Event, field: str, value: str) -> None:
    put(ev, field, value.replace(":", "-").upper())


# full name -> (ECS field, setter)
ECS: dict[str, tuple[str, Setter]] = {
    "sourceAddress": ("source", _address), "destinationAddress": ("destination", _address),
    "sourcePort": ("source.port", _port), "destinationPort": ("destination.port", _port),
    "sourceHostName": ("source.domain", _text), "destinationHostName": ("destination.domain", _text),
    "sourceMacAddress": ("source.mac", _text), "destinationMacAddress": ("destination.mac", _text),
    "sourceUserName": ("source.user.name", _text), "destinationUserName": ("destination.user.name", _text),
    "sourceUserId": ("source.user.id", _text), "destinationUserId": ("destination.user.id", _text),
    "sourceTranslatedAddress": ("source.nat.ip", _ip), "destinationTranslatedAddress": ("destination.nat.ip", _ip),
    "sourceTranslatedPort": ("source.nat.port", _port), "destinationTranslatedPort": ("destination.nat.port", _port),
    "deviceAction": ("event.action", _text), "applicationProtocol": ("network.application", _lower),
    "bytesIn": ("source.bytes", _long), "bytesOut": ("destination.bytes", _long),
    "requestMethod": ("http.request.method", _text), "requestClientApplication": ("user_agent.original", _text),
    "requestContext": ("http.request.referrer", _text), "deviceExternalId": ("observer.name", _text),
    "deviceHostName": ("observer.hostname", _text), "deviceAddress": ("observer.ip", _ip),
    "deviceMacAddress": ("observer.mac", _mac),
    "deviceProcessId": ("process.pid", _long), "deviceProcessName": ("process.name", _text),
    "deviceInboundInterface": ("observer.ingress.interface.name", _text),
    "deviceOutboundInterface": ("observer.egress.interface.name", _text),
    "deviceTimeZone": ("event.timezone", _text), "reason": ("event.reason", _text),
    "fileName": ("file.name", _text), "filePath": ("file.path", _text), "fileSize": ("file.size", _long),
    "agentHostName": ("observer.hostname", _text), "agentAddress": ("observer.ip", _ip),
}


def severity(text: str) -> int | None:
    number = to_int(text)
    if number is not None:
        return min(number, 10)
    return SEVERITY_WORDS.get(text.strip().lower())


def times(ev: Event, values: dict[str, str], tz: tzinfo | None, fields: dict[str, str], where: str) -> None:
    """Device times to ECS (normalised to ISO 8601 in ``where`` too); an unreadable device time
    is a ParseError for the timestamp, an ``error.message`` for the others."""
    for name, field in fields.items():
        raw = values.get(name)
        if raw is None:
            continue
        try:
            iso = timestamp(device_time(raw, tz))
        except ParseError as exc:
            if field == "@timestamp":
                raise ParseError(f"{name}: {exc}") from exc
            put(ev, "error.message", f"{name}: {exc}")
            values.pop(name)
            continue
        put(ev, field, iso)
        values[name] = iso
    put(ev, where, values)


@parsers.register
class CefParser(Parser):
    name = "cef"
    dataset = "cef.log"
    module = "cef"

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        ev, text = header_of(line, "CEF:", self.options.zone)
        m = HEADER.match(text)
        if m is None:
            raise ParseError("not a CEF record (CEF:Version|Vendor|Product|Version|Signature ID|Name|Severity|...)")
        vendor, product, version, signature, name, sev = (unescape_header(m[i]) for i in range(2, 8))
        raw = extensions(m["ext"])
        # dotted vendor keys ("ad.vd") would nest in Elasticsearch and can clash with a plain key
        values = {FULL_NAMES.get(k, k).replace(".", "_"): v for k, v in raw.items()}
        ev["cef"] = {"version": m["version"], "name": name, "severity": sev,
                     "device": {"vendor": vendor, "product": product, "version": version, "event_class_id": signature}}
        ev.setdefault("observer", {}).update(vendor=vendor, product=product, version=version)
        put_event(ev, kind="event", code=signature)
        level = severity(sev)
        if level is not None:
            put_event(ev, severity=level)
        msg = values.get("message")
        put(ev, "message", f"{name}: {msg}" if msg and name else msg or name)
        self._ecs(ev, values)
        tz = None
        if values.get("deviceTimeZone"):
            try:
                tz = zone(values["deviceTimeZone"])
            except ParseError:
                tz = None
        if tz is None and self.options.zone is not None:  # the source's time zone setting
            tz = self.options.zone
            if zoneless(values.get("deviceReceiptTime") or "0"):
                put(ev, "event.timezone", self.options.timezone)
        times(ev, values, tz, TIME_KEYS, "cef.extensions")
        categorize(ev, values.get("deviceAction"), f"{name} {values.get('deviceEventCategory', '')}")
        add_related(ev, "user", values.get("sourceUserName"), values.get("destinationUserName"))
        add_related(ev, "ip", ev.get("source", {}).get("nat", {}).get("ip"),
                    ev.get("destination", {}).get("nat", {}).get("ip"))
        if "@timestamp" not in ev and not self.options.receive_time:
            raise ParseError("no time: neither a syslog header nor rt (deviceReceiptTime)")
        return ev

    @staticmethod
    def _ecs(ev: Event, values: dict[str, str]) -> None:
        for key, value in values.items():
            if not value:
                continue
            target = ECS.get(key)
            if target is not None:
                target[1](ev, target[0], value)
        put_transport(ev, values.get("transportProtocol"))
        if values.get("requestUrl"):
            put_url(ev, values["requestUrl"])
        user = values.get("sourceUserName") or values.get("destinationUserName")
        if user:
            put(ev, "user.name", user)
        outcome = (values.get("eventOutcome") or "").strip("/").lower()
        if outcome in ("success", "failure", "unknown"):
            put(ev, "event.outcome", outcome)
        direction = values.get("deviceDirection")
        if direction in ("0", "1"):
            put(ev, "network.direction", "inbound" if direction == "0" else "outbound")
        _rule(ev, values)
        put_community_id(ev)


def _rule(ev: Event, values: dict[str, str]) -> None:
    """``rule.id``/``rule.name`` from the custom strings a vendor labels as its rule; Forcepoint
    NGFW puts the rule id in ``cs1`` unlabelled (Filebeat's CEF module does the same)."""
    for n in range(1, 7):
        value = values.get(f"deviceCustomString{n}")
        label = values.get(f"deviceCustomString{n}Label", "")
        field = RULE_LABELS.get(re.sub(r"[^a-z]", "", label.lower()))
        if field == "rule":  # a plain "Rule": an id when it reads as one (2097152.1), else a name (Allow-Web)
            field = "rule.id" if value and _RULE_NUMBER.match(value) else "rule.name"
        if value and field:
            put(ev, field, value)
    vendor = get(ev, "observer.vendor")
    if (isinstance(vendor, str) and vendor.upper() == "FORCEPOINT" and "deviceCustomString1Label" not in values
            and values.get("deviceCustomString1")):
        put(ev, "rule.id", values["deviceCustomString1"])
