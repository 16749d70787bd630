"""Suricata EVE JSON (``eve.json``, one record per line): alert, flow, netflow, dns, http, tls,
fileinfo, anomaly, and every other event type with the common fields.

ECS mapping follows Filebeat's / Elastic Agent's ``suricata.eve`` pipeline: the five-tuple,
``network.*`` (with the Community ID), ``event.kind`` ``alert`` for alerts, ``rule.*`` and
``event.severity`` from the signature (which also stays in ``suricata.eve.alert.signature``,
``signature_id`` and ``category``, the fields Filebeat's dashboards use), ``http.*``/``url.*``
(an absolute-form request target split into scheme, domain, port, path, query and extension),
``dns.*``, ``tls.*``, ``file.*``, flow counters to ``source``/``destination``
``bytes``/``packets``. What has no ECS field stays under ``suricata.eve.*`` with Suricata's own
names; the raw line is kept in ``event.original``. Built with plain dict access (no regex for the
usual records): this parser runs at sensor rates.

When the optional native module ``vigie_native`` (``native/``, Rust) is installed, the Ingestor's
fast path (``Parser.fast_path``) gives, for the usual lines, the same event as ``parse`` followed by
``_finalize``, about three times faster (parse and normalise alone; what that buys a whole
``cert ingest`` is in docs/decisions/0006-native-module.md); it declines anything unusual, which
this Python parser then takes (it stays the reference). ``VIGIE_NATIVE=0`` in the environment turns the native path off.
"""

from __future__ import annotations

import os
import re
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import orjson

from cert.core.ecs import Event
from cert.core.parser import FastPath, ParseError, Parser, parsers
from cert.pipeline.ingestor import ECS_VERSION
from ingest.parsers._flow import cached_community_id, community_id, utc_iso

try:
    from vigie_native import eve_finalized as _native_eve
except ImportError:  # optional: the Python parser alone gives the same events
    _native_eve = None

Obj = dict[str, Any]

# event_type -> (event.category, event.type, network.protocol)
_KINDS: dict[str, tuple[list[str], list[str], str | None]] = {
    "alert": (["network", "intrusion_detection"], [], None),
    "anomaly": (["network"], ["info"], None),
    "flow": (["network"], ["connection"], None),
    "netflow": (["network"], ["connection"], None),
    "dns": (["network"], ["protocol"], "dns"),
    "http": (["network", "web"], ["access", "protocol"], "http"),
    "http2": (["network", "web"], ["access", "protocol"], "http"),
    "tls": (["network"], ["protocol"], "tls"),
    "fileinfo": (["network", "file"], ["info"], None),
    "ftp": (["network"], ["protocol"], "ftp"),
    "ftp_data": (["network"], ["protocol"], "ftp"),
    "smtp": (["network"], ["protocol"], "smtp"),
    "ssh": (["network"], ["protocol"], "ssh"),
    "smb": (["network"], ["protocol"], "smb"),
    "krb5": (["network"], ["protocol"], "krb5"),
    "rdp": (["network"], ["protocol"], "rdp"),
    "dhcp": (["network"], ["protocol"], "dhcp"),
    "snmp": (["network"], ["protocol"], "snmp"),
    "quic": (["network"], ["protocol"], "quic"),
}
_NOT_PROTOCOLS = {"failed", "template", "template-rust", "unknown"}
_X509_KEYS = {"CN": "common_name", "O": "organization", "OU": "organizational_unit", "C": "country",
              "ST": "state_or_province", "L": "locality"}
_IP_RRTYPES = {"A", "AAAA"}
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def _int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@parsers.register
class SuricataEveParser(Parser):
    name = "suricata.eve"
    dataset = "suricata.eve"
    module = "suricata"

    def __init__(self) -> None:
        self._fast: FastPath | None = None
        if _native_eve is not None and os.environ.get("VIGIE_NATIVE", "1") != "0":
            self._fast = partial(_native_eve, self.dataset, self.module, ECS_VERSION, parser=self.name)

    @property
    def fast_path(self) -> FastPath | None:
        """The native parse+finalize (``vigie_native``) when installed and not turned off."""
        return self._fast

    def parse(self, line: str) -> Event | None:
        if not line or line.isspace():
            return None
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"not a JSON line: {exc}") from None
        if type(rec) is not dict:
            raise ParseError("an EVE record is a JSON object")
        etype = rec.pop("event_type", None)
        if not isinstance(etype, str) or not etype:
            raise ParseError("no event_type: not a Suricata EVE record")
        etype = etype.lower()
        ev: Event = {"@timestamp": utc_iso(rec.pop("timestamp", None))}
        category, types, protocol = _KINDS.get(etype, (["network"], [], None))
        event: Obj = {"kind": "alert" if etype == "alert" else "metric" if etype == "stats" else "event",
                      "category": list(category)}
        if types:
            event["type"] = list(types)
        ev["event"] = event
        network: Obj = {}
        ev["network"] = network
        self._endpoints(rec, ev, network)
        app = rec.get("app_proto")
        if protocol:
            network["protocol"] = protocol
        elif isinstance(app, str) and app.lower() not in _NOT_PROTOCOLS:
            network["protocol"] = "ftp" if app.lower() == "ftp-data" else app.lower()
        else:
            app = None
        if app is not None:
            del rec["app_proto"]
        for key in _SECTIONS.keys() & rec.keys():
            section = rec[key]
            if type(section) is dict and not _SECTIONS[key](section, ev, etype):
                del rec[key]
        if not network:
            del ev["network"]
        flow_id = rec.get("flow_id")
        if flow_id is not None:
            rec["flow_id"] = str(flow_id)
        rec["event_type"] = etype
        ev["suricata"] = {"eve": rec}
        return ev

    @staticmethod
    def _endpoints(rec: Obj, ev: Event, network: Obj) -> None:
        # Values of the wrong type stay under suricata.eve, where an analyst can see them.
        sip, dip = rec.get("src_ip"), rec.get("dest_ip")
        sport, dport = rec.get("src_port"), rec.get("dest_port")
        source: Obj = {}
        dest: Obj = {}
        if isinstance(sip, str) and sip:
            source["ip"] = sip
            del rec["src_ip"]
        if isinstance(dip, str) and dip:
            dest["ip"] = dip
            del rec["dest_ip"]
        if type(sport) is int:
            source["port"] = sport
            del rec["src_port"]
        if type(dport) is int:
            dest["port"] = dport
            del rec["dest_port"]
        proto = rec.pop("proto", None)
        transport = proto.lower() if isinstance(proto, str) and proto else None
        if transport is not None:
            network["transport"] = transport
        cid = rec.pop("community_id", None)
        if not isinstance(cid, str) and transport is not None:
            if transport in ("icmp", "ipv6-icmp"):
                cid = community_id(transport, sip, dip, rec.get("icmp_type"), rec.get("icmp_code"))
            else:
                cid = cached_community_id(transport, sip, dip, sport, dport)
        if isinstance(cid, str):
            network["community_id"] = cid
        ether = rec.get("ether")
        if type(ether) is dict:
            for key, side in (("src_mac", source), ("dest_mac", dest)):
                mac = ether.get(key)
                if isinstance(mac, str):
                    side["mac"] = mac.replace(":", "-").upper()
                    del ether[key]
            if not ether:
                del rec["ether"]
        iface = rec.get("in_iface")
        if isinstance(iface, str):
            del rec["in_iface"]
            ev["observer"] = {"ingress": {"interface": {"name": iface}}}
        if source:
            ev["source"] = source
        if dest:
            ev["destination"] = dest


def _sub(ev: Event, key: str) -> Obj:
    node: Obj | None = ev.get(key)
    if node is None:
        node = ev[key] = {}
    return node


def _alert(alert: Obj, ev: Event, etype: str) -> Obj:
    rule: Obj = {}
    sid = alert.get("signature_id")  # kept under suricata.eve.alert too, as Filebeat does
    if sid is not None:
        rule["id"] = str(sid)
    name = _str(alert.get("signature"))
    if name:
        rule["name"] = name
    category = _str(alert.get("category"))
    if category:
        rule["category"] = category
    if rule:
        ev["rule"] = rule
    severity = _int(alert.pop("severity", None))
    if severity is not None:
        ev["event"]["severity"] = severity
    action = alert.get("action")
    if etype == "alert" and isinstance(action, str):
        del alert["action"]
        ev["event"].setdefault("type", []).append("denied" if action == "blocked" else action)
    meta = alert.get("metadata")
    if type(meta) is dict:
        threat: Obj = {}
        for key, path in (("mitre_tactic_id", ("tactic", "id")), ("mitre_tactic_name", ("tactic", "name")),
                          ("mitre_technique_id", ("technique", "id")),
                          ("mitre_technique_name", ("technique", "name"))):
            value = meta.get(key)
            if isinstance(value, list) and value:
                threat.setdefault(path[0], {})[path[1]] = value
        if threat:
            threat["framework"] = "MITRE ATT&CK"
            ev["threat"] = threat
    return alert


_FLOW_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("bytes_toserver", "source", "bytes"), ("bytes_toclient", "destination", "bytes"),
    ("pkts_toserver", "source", "packets"), ("pkts_toclient", "destination", "packets"))
_NETFLOW_COUNTERS: tuple[tuple[str, str, str], ...] = (("bytes", "source", "bytes"), ("pkts", "source", "packets"))


def _flow(flow: Obj, ev: Event, etype: str) -> Obj:
    counters = _NETFLOW_COUNTERS if etype == "netflow" else _FLOW_COUNTERS
    total = {"bytes": 0, "packets": 0}
    for key, side, field in counters:
        value = flow.get(key)
        if type(value) is int:
            del flow[key]
            _sub(ev, side)[field] = value
            total[field] += value
    network = ev["network"]
    for field, value in total.items():
        if value:
            network[field] = value
    event = ev["event"]
    for key in ("start", "end"):
        value = flow.pop(key, None)
        if value is not None:
            try:
                event[key] = utc_iso(value)
            except ParseError:
                flow[key] = value
    if etype == "flow":
        state = flow.get("state")
        if state == "new":
            event["type"].append("start")
        elif state == "closed":
            event["type"].append("end")
    return flow


def _http(http: Obj, ev: Event, etype: str) -> Obj:
    ev["network"].setdefault("protocol", "http")
    request: Obj = {}
    response: Obj = {}
    out: Obj = {"request": request, "response": response}
    method = _str(http.pop("http_method", None))
    if method:
        request["method"] = method
    referrer = _str(http.pop("http_refer", None))
    if referrer:
        request["referrer"] = referrer
    status = _int(http.get("status"))
    if status is not None:
        del http["status"]
        response["status_code"] = status
        if etype == "http":
            ev["event"]["outcome"] = "failure" if status >= 400 else "success"
    length = _int(http.get("length"))
    if length is not None:
        del http["length"]
        response["body"] = {"bytes": length}
    mime = _str(http.pop("http_content_type", None))
    if mime:
        response["mime_type"] = mime
    version = _str(http.pop("protocol", None))
    if version:
        out["version"] = version.removeprefix("HTTP/")
    out = {k: v for k, v in out.items() if v}
    if out:
        ev["http"] = out
    agent = _str(http.pop("http_user_agent", None))
    if agent:
        ev["user_agent"] = {"original": agent}
    url: Obj = {}
    host = _str(http.pop("hostname", None))
    if host:
        url["domain"] = host
        _sub(ev, "destination")["domain"] = host
    original = _str(http.pop("url", None))
    if original:
        url["original"] = original
        if original.startswith("/"):
            path, _, fragment = original.partition("#")
            path, _, query = path.partition("?")
            url["path"] = path
            if query:
                url["query"] = query
            if fragment:
                url["fragment"] = fragment
            extension = _extension(path)
            if extension:
                url["extension"] = extension
        else:
            _other_form_url(original, url)
    if url:
        ev["url"] = url
    return http


def _other_form_url(original: str, url: Obj) -> None:
    """The parts of a request target that is not a path: the absolute form of proxy requests
    (``http://host:8080/path/file.php?x=1``, RFC 9112 3.2.2); the authority (``CONNECT``) and
    asterisk (``OPTIONS *``) forms have no path and are kept as ``url.original`` only."""
    if _ABSOLUTE.match(original) is None:
        return
    try:
        split = urlsplit(original)
        port = split.port
    except ValueError:  # a bad port or a malformed IPv6 literal: the original only
        return
    url["scheme"] = split.scheme.lower()
    if split.hostname:
        url.setdefault("domain", split.hostname)
    if port is not None:
        url["port"] = port
    path = split.path or "/"
    url["path"] = path
    if split.query:
        url["query"] = split.query
    if split.fragment:
        url["fragment"] = split.fragment
    extension = _extension(path)
    if extension:
        url["extension"] = extension


def _extension(path: str) -> str | None:
    """``url.extension``: what follows the last dot of the last path segment, lower case."""
    last = path.rsplit("/", 1)[-1]
    return last.rsplit(".", 1)[-1].lower()[:16] if "." in last else None


def _dns(dns: Obj, ev: Event, etype: str) -> Obj:
    ev["network"].setdefault("protocol", "dns")
    out: Obj = {}
    if type(dns.get("id")) is int:
        out["id"] = dns.pop("id")
    kind = dns.get("type")
    if isinstance(kind, str):
        out["type"] = {"request": "query", "response": "answer"}.get(kind, kind)
    rcode = _str(dns.pop("rcode", None))
    if rcode:
        out["response_code"] = rcode
    question: Obj = {}
    queries = dns.get("queries")
    first = queries[0] if isinstance(queries, list) and queries and type(queries[0]) is dict else dns
    if first is dns and out.get("type") == "answer" and dns.get("version") is None:
        first = {}  # EVE v1: an answer record names the answer, not the question
    name, rrtype = _str(first.get("rrname")), _str(first.get("rrtype"))
    if name:
        question["name"] = name
    if rrtype:
        question["type"] = rrtype
    if question:
        out["question"] = question
        if first is dns:
            dns.pop("rrname", None)
            dns.pop("rrtype", None)
        elif isinstance(queries, list) and len(queries) == 1:
            del dns["queries"]
    flags = [f.upper() for f in ("aa", "tc", "rd", "ra") if dns.pop(f, None) is True]
    if flags:
        out["header_flags"] = flags
    answers: list[Obj] = []
    resolved: list[str] = []
    raw = dns.get("answers")
    if dns.get("version") is None and out.get("type") == "answer" and "rdata" in dns:
        raw = [{k: dns.pop(k) for k in ("rrname", "rrtype", "ttl", "rdata") if k in dns}]
    elif isinstance(raw, list):
        del dns["answers"]
    if isinstance(raw, list):
        for ans in raw:
            if type(ans) is not dict:
                continue
            item = {k: ans[s] for s, k in (("rrname", "name"), ("rrtype", "type"), ("ttl", "ttl"),
                                            ("rdata", "data")) if s in ans}
            answers.append(item)
            if ans.get("rrtype") in _IP_RRTYPES and isinstance(ans.get("rdata"), str):
                resolved.append(ans["rdata"])
    grouped = dns.get("grouped")
    if not answers and type(grouped) is dict:
        for rrtype_, values in grouped.items():
            if isinstance(values, list) and rrtype_ in _IP_RRTYPES:
                resolved.extend(v for v in values if isinstance(v, str))
    if answers:
        out["answers"] = answers
    if resolved:
        out["resolved_ip"] = resolved
        related = ev.setdefault("related", {}).setdefault("ip", [])
        related.extend(ip for ip in resolved if ip not in related)
    ev["dns"] = out
    return dns


def _dn(text: str) -> Obj:
    """``C=US, O=Example\\, Inc., CN=www.example.org`` -> ECS x509 name fields (lists)."""
    out: Obj = {}
    for part in text.replace("\\,", "\x00").split(", "):
        key, sep, value = part.partition("=")
        field = _X509_KEYS.get(key.strip())
        if sep and field:
            out.setdefault(field, []).append(value.replace("\x00", ","))
    return out


def _tls(tls: Obj, ev: Event, etype: str) -> Obj:
    ev["network"].setdefault("protocol", "tls")
    server: Obj = {}
    client: Obj = {}
    x509: Obj = {}
    out: Obj = {}
    version = _str(tls.get("version"))
    if version and version != "UNDETERMINED":
        proto, _, number = version.replace("v", " ", 1).partition(" ")
        number = number.strip()
        if proto in ("TLS", "SSL") and number:
            del tls["version"]
            out["version_protocol"] = proto.lower()
            out["version"] = number if "." in number else f"{number}.0"
    subject = _str(tls.pop("subject", None))
    if subject:
        server["subject"] = subject
        x509["subject"] = _dn(subject)
    issuer = _str(tls.pop("issuerdn", None))
    if issuer:
        server["issuer"] = issuer
        x509["issuer"] = _dn(issuer)
    serial = _str(tls.pop("serial", None))
    if serial:
        x509["serial_number"] = serial.replace(":", "")
    for key, field in (("notbefore", "not_before"), ("notafter", "not_after")):
        value = tls.get(key)
        if isinstance(value, str):
            try:
                server[field] = x509[field] = utc_iso(value if "." in value else value + ".000")
                del tls[key]
            except ParseError:
                pass
    fingerprint = _str(tls.pop("fingerprint", None))
    if fingerprint:
        sha1 = fingerprint.replace(":", "").upper()
        server["hash"] = {"sha1": sha1}
        ev.setdefault("related", {}).setdefault("hash", []).append(sha1)
    sni = _str(tls.pop("sni", None))
    if sni:
        sni = sni.removesuffix(".")
        client["server_name"] = sni
        _sub(ev, "destination")["domain"] = sni
    for key, side, field in (("ja3", client, "ja3"), ("ja3s", server, "ja3s")):
        value = tls.get(key)
        if type(value) is dict and isinstance(value.get("hash"), str):
            side[field] = value.pop("hash")
            if not value:
                del tls[key]
    resumed = tls.pop("session_resumed", None)
    if isinstance(resumed, bool):
        out["resumed"] = resumed
    for key, field in (("certificate", "certificate"), ("chain", "certificate_chain")):
        value = tls.pop(key, None)
        if value:
            server[field] = value
    if x509:
        server["x509"] = x509
    if server:
        out["server"] = server
    if client:
        out["client"] = client
    ev["tls"] = out
    return tls


def _fileinfo(info: Obj, ev: Event, etype: str) -> Obj:
    file: Obj = {}
    name = _str(info.pop("filename", None))
    if name:
        file["path"] = name
        file["name"] = name.rsplit("/", 1)[-1]
        if "." in file["name"]:
            file["extension"] = file["name"].rsplit(".", 1)[-1].lower()[:16]
    size = _int(info.get("size"))
    if size is not None:
        del info["size"]
        file["size"] = size
    hashes: Obj = {}
    for algo in ("md5", "sha1", "sha256"):
        value = _str(info.pop(algo, None))
        if value:
            hashes[algo] = value
    if hashes:
        file["hash"] = hashes
        related = ev.setdefault("related", {}).setdefault("hash", [])
        related.extend(hashes.values())
    mime = _str(info.get("mimetype"))
    if mime:
        file["mime_type"] = mime
    if file:
        ev["file"] = file
    return info


def _anomaly(anomaly: Obj, ev: Event, etype: str) -> Obj:
    action = _str(anomaly.get("event"))
    if action:
        ev["event"]["action"] = action
    return anomaly


# The sections mapped to ECS; each mapper removes what it mapped and returns what is left.
_SECTIONS = {"alert": _alert, "flow": _flow, "netflow": _flow, "http": _http, "dns": _dns, "tls": _tls,
             "fileinfo": _fileinfo, "anomaly": _anomaly}
