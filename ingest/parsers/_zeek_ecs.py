"""Zeek records (field name -> typed value, as Zeek's JSON writer gives them and as the TSV reader
rebuilds them) to ECS, the way Filebeat's ``zeek`` module maps them.

Every log gets the connection fields (``source``/``destination``, ``network.transport``, the
Community ID, ``zeek.session_id``); conn, dns, http, ssl, files, notice and weird get their ECS
sections (http and ssl, whose logs have no ``proto``, are TCP, or UDP for DTLS; the ssl subject
and issuer distinguished names are split into ``tls.server.x509.*`` / ``tls.client.x509.*``;
conn's ``source``/``destination`` ``bytes`` are IP bytes, as ECS and Filebeat count them). Zeek's
own fields stay under ``zeek.<log>.*`` with Zeek's names (``conn`` is
``zeek.connection``, as in Filebeat and in pySigma's ``ecs_zeek_beats`` pipeline), except the
five-tuple, the timestamp and the counters moved to ECS, and HTTP passwords, which are not
indexed (the raw line in ``event.original`` still has them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cert.core.ecs import Event
from cert.core.parser import ParseError
from ingest.parsers._flow import cached_community_id, is_ip, utc_iso
from ingest.parsers._x509_name import dn_fields

Obj = dict[str, Any]

# Moved to ECS by every mapper; everything else is kept under zeek.<log>.
_CORE = frozenset(("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "_path",
                   "_write_ts", "community_id"))
_PROTOCOLS = {"dns": "dns", "http": "http", "ssl": "tls", "ssh": "ssh", "ftp": "ftp", "smtp": "smtp",
              "rdp": "rdp", "smb_files": "smb", "smb_mapping": "smb", "kerberos": "kerberos", "ntlm": "ntlm",
              "dce_rpc": "dce_rpc", "snmp": "snmp", "ntp": "ntp", "dhcp": "dhcp", "sip": "sip",
              "modbus": "modbus", "mysql": "mysql", "radius": "radius", "rfb": "rfb", "syslog": "syslog",
              "irc": "irc", "ldap": "ldap", "ldap_search": "ldap", "quic": "quic", "socks": "socks"}
# conn_state -> event.type (Filebeat's table).
_CONN_TYPES = {"S0": ["connection", "start"], "S1": ["connection", "start"], "SF": ["connection", "start", "end"],
               "REJ": ["connection", "start", "denied"]}
_MINUTE_CACHE: dict[int, str] = {}
# Zeek's DNS class names (base/protocols/dns/consts.zeek) -> the RFC 1035 mnemonics ECS and Filebeat use.
_DNS_CLASSES = {"C_INTERNET": "IN", "C_CSNET": "CS", "C_CHAOS": "CH", "C_HESIOD": "HS", "C_NONE": "NONE",
                "C_ANY": "ANY"}
# Logs of TCP-only analysers, which have no proto field: their transport (Filebeat's module sets it too).
_TCP_LOGS = frozenset(("http", "ssl"))
# Logs whose Filebeat fileset, and so event.dataset (zeek.<fileset>), has another name.
_FILESETS = {"conn": "connection"}


def epoch_ms_iso(value: Any) -> str:
    """``@timestamp`` of a Zeek ``time`` (seconds since the epoch, a float)."""
    if type(value) not in (float, int):
        if isinstance(value, str):
            return utc_iso(value)  # JSON logs written with JSON::TS_ISO8601
        raise ParseError("no ts (timestamp)" if value is None else f"ts is not a time: {str(value)[:40]!r}")
    try:
        ms = math.floor(value * 1000)
    except (OverflowError, ValueError):
        raise ParseError(f"ts {value!r} is not a time") from None
    minute, rest = divmod(ms, 60_000)
    prefix = _MINUTE_CACHE.get(minute)
    if prefix is None:
        try:
            prefix = datetime.fromtimestamp(minute * 60, UTC).isoformat()[:16]  # %Y: "26" for the year 26
        except (OverflowError, OSError, ValueError):
            raise ParseError(f"ts {value!r} is out of range") from None
        if len(_MINUTE_CACHE) > 4096:
            _MINUTE_CACHE.clear()
        _MINUTE_CACHE[minute] = prefix
    return f"{prefix}:{rest // 1000:02d}.{rest % 1000:03d}Z"


def _sub(ev: Event, key: str) -> Obj:
    node: Obj | None = ev.get(key)
    if node is None:
        node = ev[key] = {}
    return node


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# The stores hold 64-bit numbers: a sum of two Zeek counts, or a duration in nanoseconds, may not fit.
_U64 = 1 << 64
_MAX_SECONDS = (1 << 63) / 1_000_000_000


def _n(value: Any) -> int | None:
    return value if type(value) is int else None


def _related(ev: Event, kind: str, values: list[Any]) -> None:
    bucket = _sub(ev, "related").setdefault(kind, [])
    bucket.extend(v for v in values if isinstance(v, str) and v and v not in bucket)


def _conn(rec: Obj, ev: Event, keep: Obj) -> None:
    event, network = ev["event"], ev["network"]
    event["type"] = list(_CONN_TYPES.get(str(rec.get("conn_state")), ["connection", "info"]))
    duration = rec.get("duration")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool) and 0 <= duration < _MAX_SECONDS:
        event["duration"] = round(duration * 1_000_000_000)
        keep.pop("duration", None)
    # IP-level counts, as ECS defines source/destination bytes (Filebeat maps the same fields);
    # the payload counts (orig_bytes, resp_bytes) stay under zeek.connection. 0 is a count.
    totals: dict[str, int | None] = {"bytes": None, "packets": None}
    for key, side, field in (("orig_ip_bytes", "source", "bytes"), ("resp_ip_bytes", "destination", "bytes"),
                             ("orig_pkts", "source", "packets"), ("resp_pkts", "destination", "packets")):
        value = _n(rec.get(key))
        if value is not None:
            _sub(ev, side)[field] = value
            totals[field] = (totals[field] or 0) + value
            keep.pop(key, None)
    for field, total in totals.items():
        if total is not None and 0 <= total < _U64:  # two 64-bit counts may add up beyond what a store holds
            network[field] = total
    service = _s(rec.get("service"))
    if service:
        network["protocol"] = service.split(",", 1)[0]
    lo, lr = rec.get("local_orig"), rec.get("local_resp")
    if isinstance(lo, bool) and isinstance(lr, bool):
        network["direction"] = ("internal" if lr else "outbound") if lo else ("inbound" if lr else "external")
    for key, side in (("orig_l2_addr", "source"), ("resp_l2_addr", "destination")):
        mac = _s(rec.get(key))
        if mac:
            _sub(ev, side)["mac"] = mac.replace(":", "-").upper()


def _dns(rec: Obj, ev: Event, keep: Obj) -> None:
    ev["event"]["type"] = ["connection", "protocol", "info"]
    dns: Obj = {}
    trans_id = _n(rec.get("trans_id"))
    if trans_id is not None:
        dns["id"] = trans_id
    question = {f: rec[k] for k, f in (("query", "name"), ("qtype_name", "type")) if _s(rec.get(k))}
    qclass = _s(rec.get("qclass_name"))
    if qclass:
        question["class"] = _DNS_CLASSES.get(qclass, qclass)
    if question:
        dns["question"] = question
    rcode = _s(rec.get("rcode_name"))
    if rcode:
        dns["response_code"] = rcode
        ev["event"]["outcome"] = "success" if rcode == "NOERROR" else "failure"
    flags = [f for f in ("AA", "TC", "RD", "RA") if rec.get(f) is True]
    if flags:
        dns["header_flags"] = flags
    answers = rec.get("answers")
    if isinstance(answers, list) and answers:
        ttls = rec.get("TTLs")
        ttls = ttls if isinstance(ttls, list) and len(ttls) == len(answers) else [None] * len(answers)
        dns["answers"] = [{"data": a, "ttl": round(t)} if type(t) in (int, float) else {"data": a}
                          for a, t in zip(answers, ttls, strict=True)]
        resolved = [a for a in answers if isinstance(a, str) and is_ip(a)]
        if resolved:
            dns["resolved_ip"] = resolved
            _related(ev, "ip", resolved)
        dns["type"] = "answer"
    else:
        dns["type"] = "query"
    rtt = rec.get("rtt")
    if isinstance(rtt, (int, float)) and not isinstance(rtt, bool) and 0 <= rtt < _MAX_SECONDS:
        ev["event"]["duration"] = round(rtt * 1_000_000_000)
    ev["dns"] = dns


def _http(rec: Obj, ev: Event, keep: Obj) -> None:
    event = ev["event"]
    event["category"] = ["network", "web"]
    event["type"] = ["connection", "protocol"]
    http: Obj = {}
    request: Obj = {}
    response: Obj = {}
    method = _s(rec.get("method"))
    if method:
        request["method"] = method
    referrer = _s(rec.get("referrer"))
    if referrer:
        request["referrer"] = referrer
    for key, part in (("request_body_len", request), ("response_body_len", response)):
        size = _n(rec.get(key))
        if size is not None:
            part["body"] = {"bytes": size}
    status = _n(rec.get("status_code"))
    if status is not None:
        response["status_code"] = status
        event["outcome"] = "failure" if status >= 400 else "success"
    if method:
        event["action"] = method.lower()  # Filebeat: the method, lower case
    version = _s(rec.get("version"))
    if version:
        http["version"] = version
    if request:
        http["request"] = request
    if response:
        http["response"] = response
    if http:
        ev["http"] = http
    agent = _s(rec.get("user_agent"))
    if agent:
        ev["user_agent"] = {"original": agent}
    url: Obj = {}
    host = _s(rec.get("host"))
    if host:
        url["domain"] = host
        _sub(ev, "destination")["domain"] = host
    uri = _s(rec.get("uri"))
    if uri:
        url["original"] = uri
        path, _, query = uri.partition("?")
        url["path"] = path
        if query:
            url["query"] = query
    user = _s(rec.get("username"))
    if user:
        url["username"] = user
        ev["user"] = {"name": user}
        _related(ev, "user", [user])
    if url:
        ev["url"] = url
    keep.pop("password", None)


def _ssl(rec: Obj, ev: Event, keep: Obj) -> None:
    ev["event"]["type"] = ["connection", "protocol"]
    tls: Obj = {}
    server: Obj = {}
    client: Obj = {}
    version = _s(rec.get("version"))
    if version:
        proto, _, number = version.partition("v")
        if proto in ("TLS", "SSL", "DTLS") and number.isdigit():
            tls["version_protocol"] = proto.lower()
            tls["version"] = f"{number[0]}.{number[1:] or '0'}"
    for key, field in (("cipher", "cipher"), ("curve", "curve"), ("next_protocol", "next_protocol")):
        value = _s(rec.get(key))
        if value:
            tls[field] = value
    for key, field in (("resumed", "resumed"), ("established", "established")):
        value = rec.get(key)
        if isinstance(value, bool):
            tls[field] = value
    for key, side, field in (("subject", server, "subject"), ("issuer", server, "issuer"),
                             ("client_subject", client, "subject"), ("client_issuer", client, "issuer"),
                             ("ja3", client, "ja3"), ("ja3s", server, "ja3s")):
        value = _s(rec.get(key))
        if value:
            side[field] = value
            if field in ("subject", "issuer"):
                names = dn_fields(value)
                if names:
                    _sub(side, "x509")[field] = names
    sni = _s(rec.get("server_name"))
    if sni:
        client["server_name"] = sni
        _sub(ev, "destination")["domain"] = sni
    chain = rec.get("cert_chain_fps")
    if isinstance(chain, list) and chain and _s(chain[0]):
        server["hash"] = {"sha256": chain[0].upper()}
        _related(ev, "hash", [chain[0].upper()])
    if server:
        tls["server"] = server
    if client:
        tls["client"] = client
    if tls:
        ev["tls"] = tls


def _files(rec: Obj, ev: Event, keep: Obj) -> None:
    event = ev["event"]
    event["category"] = ["file"]
    event["type"] = ["info"]
    file: Obj = {}
    for key, field in (("mime_type", "mime_type"), ("filename", "name")):
        value = _s(rec.get(key))
        if value:
            file[field] = value
    size = _n(rec.get("total_bytes"))
    if size is not None:
        file["size"] = size
    hashes = {algo: rec[algo] for algo in ("md5", "sha1", "sha256") if _s(rec.get(algo))}
    if hashes:
        file["hash"] = hashes
        _related(ev, "hash", list(hashes.values()))
    if file:
        ev["file"] = file
    for key in ("tx_hosts", "rx_hosts"):
        hosts = rec.get(key)
        if isinstance(hosts, list):
            _related(ev, "ip", hosts)


def _notice(rec: Obj, ev: Event, keep: Obj) -> None:
    event = ev["event"]
    event["kind"] = "alert"
    event["category"] = ["intrusion_detection"]
    event["type"] = ["info"]
    dropped = rec.get("dropped")
    if isinstance(dropped, bool):
        event["type"].append("denied" if dropped else "allowed")
    rule: Obj = {}
    note = _s(rec.get("note"))
    if note:
        rule["name"] = note
    msg = _s(rec.get("msg"))
    if msg:
        rule["description"] = msg
        ev["message"] = msg
    if rule:
        ev["rule"] = rule
    for key, side in (("src", "source"), ("dst", "destination")):
        ip = _s(rec.get(key))
        if ip and "ip" not in ev.get(side, {}):
            _sub(ev, side)["ip"] = ip
    port = _n(rec.get("p"))
    if port is not None and "port" not in ev.get("destination", {}):
        _sub(ev, "destination")["port"] = port
    mime = _s(rec.get("file_mime_type"))
    if mime:
        ev["file"] = {"mime_type": mime}


def _weird(rec: Obj, ev: Event, keep: Obj) -> None:
    event = ev["event"]
    event["kind"] = "alert"
    event["type"] = ["info"]
    name = _s(rec.get("name"))
    if name:
        ev["rule"] = {"name": name}
    addl = keep.pop("addl", None)
    if addl is not None:
        keep["additional_info"] = addl


_MAPPERS: dict[str, Callable[[Obj, Event, Obj], None]] = {
    "conn": _conn, "dns": _dns, "http": _http, "ssl": _ssl, "files": _files, "notice": _notice, "weird": _weird,
}


def to_ecs(path: str, rec: Obj) -> Event:
    """The ECS event of one Zeek record of log ``path`` (conn, dns, ...)."""
    ev: Event = {"@timestamp": epoch_ms_iso(rec.get("ts")),
                 "event": {"kind": "event", "category": ["network"], "dataset": f"zeek.{_FILESETS.get(path, path)}"}}
    network: Obj = {}
    ev["network"] = network
    source: Obj = {}
    dest: Obj = {}
    sip, dip = _s(rec.get("id.orig_h")), _s(rec.get("id.resp_h"))
    sport, dport = _n(rec.get("id.orig_p")), _n(rec.get("id.resp_p"))
    if sip:
        source["ip"] = sip
    if sport is not None:
        source["port"] = sport
    if dip:
        dest["ip"] = dip
    if dport is not None:
        dest["port"] = dport
    if source:
        ev["source"] = source
    if dest:
        ev["destination"] = dest
    transport = _s(rec.get("proto"))
    if transport:
        network["transport"] = transport
        cid = _s(rec.get("community_id")) or cached_community_id(transport, sip, dip, sport, dport)
        if cid:
            network["community_id"] = cid
    elif path in _TCP_LOGS:
        transport = "udp" if str(rec.get("version", "")).startswith("DTLS") else "tcp"
        network["transport"] = transport
        cid = cached_community_id(transport, sip, dip, sport, dport)
        if cid:
            network["community_id"] = cid
    protocol = _PROTOCOLS.get(path)
    if protocol:
        network["protocol"] = protocol
    keep = {k: v for k, v in rec.items() if k not in _CORE}
    uid = _s(rec.get("uid"))
    zeek: Obj = {}
    if uid:
        zeek["session_id"] = uid
    mapper = _MAPPERS.get(path)
    if mapper is not None:
        mapper(rec, ev, keep)
    if not network:
        del ev["network"]
    if keep:
        zeek["connection" if path == "conn" else path] = _nest(keep)
    ev["zeek"] = zeek
    return ev


def _nest(flat: Obj) -> Obj:
    """Zeek's dotted record fields (``remote_location.city``) as nested objects."""
    out: Obj = {}
    for key, value in flat.items():
        if "." not in key:
            if not isinstance(out.get(key), dict):
                out[key] = value
            continue
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return out
