"""Suricata EVE records of every common ``event_type``, one unique line at a time.

The corpora hold real EVE records of one type only: the 548 alerts of suricata-sample-data (ET
Open signatures on WRCCDC and honeypot captures). The ``alert`` lines written here are those
alerts. Every other type (flow, netflow, dns query and answer in the version 2 format, http,
tls, fileinfo, anomaly, ssh, smtp, stats) is **generated**, following the record layout documented
in Suricata's "EVE JSON Format" (docs.suricata.io, output/eve/eve-json-format), on the addresses of
those real alerts; the values they carry are taken from other real material of the corpora where
there is some (URL paths, user agents and status codes of the Apache sample; domain names of the
legitimate part of the DGA list), and made up otherwise (hashes, certificate serials, counters).

Each line is unique (a ``flow_id`` and a timestamp per line, source ports shifted per copy), so
deterministic event ids never merge two lines, and the Community ID cache sees as many flows as a
sensor would. Timestamps follow one steady clock (``STEP`` apart) from ``START``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

Rec = dict[str, Any]

SURICATA = Path("suricata") / "frankhassanabad-suricata-sample-data"
APACHE = Path("web") / "elastic-examples" / "apache_logs"
DGA = Path("anomaly") / "dga" / "dga_domains.csv.gz"
START = datetime(2026, 1, 5, tzinfo=UTC)
STEP = timedelta(milliseconds=1)
#: the record types of one round, in the proportions of a sensor that logs every protocol
ROUND = ("flow", "dns-query", "dns-answer", "http", "flow", "tls", "dns-query", "dns-answer", "netflow", "alert",
         "flow", "http", "fileinfo", "tls", "anomaly", "flow", "ssh", "smtp", "dns-answer", "alert")
#: a stats record every this many lines (Suricata writes one every 8 s by default)
STATS_EVERY = 1000
TYPES = tuple(sorted({t.split("-")[0] for t in ROUND} | {"stats"}))


def _eve_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


class Material:
    """The real material the records are built from, read once from the corpora."""

    def __init__(self, corpora: Path) -> None:
        self.alerts: list[Rec] = []
        for path in sorted((corpora / SURICATA).rglob("*.eve.jsonl")):
            self.alerts.extend(orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip())
        if not self.alerts:
            raise FileNotFoundError(f"no EVE alerts under {corpora / SURICATA}")
        self.requests: list[tuple[str, str, int, int, str]] = []  # method, path, status, length, user agent
        for line in (corpora / APACHE).read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split('"')
            if len(parts) < 6:
                continue
            request, status_size, agent = parts[1].split(" "), parts[2].split(), parts[5]
            if len(request) != 3 or len(status_size) != 2 or not status_size[0].isdigit():
                continue
            size = int(status_size[1]) if status_size[1].isdigit() else 0
            self.requests.append((request[0], request[1], int(status_size[0]), size, agent))
        with gzip.open(corpora / DGA, "rt", encoding="utf-8") as fh:
            legit = [row["domain"] for row in csv.DictReader(io.StringIO(fh.read())) if row["label"] == "legit"]
        self.domains = legit[:: max(1, len(legit) // 20000)]


def records(material: Material) -> Iterator[Rec]:
    """EVE records, without end; the n-th is unique and of type ``ROUND[n % len(ROUND)]`` (or
    ``stats`` on every ``STATS_EVERY``-th line)."""
    alerts, n = material.alerts, 0
    while True:
        at = START + n * STEP
        base = alerts[(n // len(ROUND)) % len(alerts)]
        copy = n // (len(ROUND) * len(alerts))
        if n % STATS_EVERY == 0:
            yield _stats(n, at)
        else:
            kind = ROUND[n % len(ROUND)]
            rec = _common(base, n, copy, at)
            _BUILDERS[kind](rec, base, material, n, at)
            yield rec
        n += 1


def _common(base: Rec, n: int, copy: int, at: datetime) -> Rec:
    sport, dport, proto = base.get("src_port"), base.get("dest_port"), base.get("proto")
    return {"timestamp": _eve_time(at), "flow_id": 1_000_000_000_000 + n, "in_iface": "eth0",
            "event_type": "", "src_ip": base["src_ip"],
            "src_port": 1024 + ((sport if isinstance(sport, int) else 0) + copy * 7919 + n % 97) % 64000,
            "dest_ip": base["dest_ip"], "dest_port": dport if isinstance(dport, int) else 80,
            "proto": proto if proto in ("TCP", "UDP") else "TCP"}


def _pick(items: list[Any], n: int) -> Any:
    return items[(n * 7) % len(items)]


def _digest(n: int, algorithm: str) -> str:
    return hashlib.new(algorithm, n.to_bytes(8, "big")).hexdigest()


def _alert(rec: Rec, base: Rec, m: Material, n: int, at: datetime) -> None:
    for key, value in base.items():
        if key not in rec and key not in ("pcap_cnt", "flow"):
            rec[key] = value
    rec["event_type"] = "alert"
    if not isinstance(base.get("src_port"), int):  # ICMP: no ports
        del rec["src_port"], rec["dest_port"]
        rec["proto"] = base.get("proto")
    flow = dict(base.get("flow") or {})
    flow["start"] = _eve_time(at - timedelta(seconds=1))
    rec["flow"] = flow


def _flow(rec: Rec, base: Rec, m: Material, n: int, at: datetime) -> None:
    rec["event_type"] = "flow"
    tcp = rec["proto"] == "TCP"
    rec["app_proto"] = _APP_PROTOS.get(rec["dest_port"], "failed")
    rec["flow"] = {"pkts_toserver": 3 + n % 40, "pkts_toclient": 2 + n % 35, "bytes_toserver": 180 + n % 9000,
                   "bytes_toclient": 120 + n % 60000, "start": _eve_time(at - timedelta(seconds=30)),
                   "end": _eve_time(at - timedelta(seconds=1)), "age": 29, "state": "closed" if tcp else "new",
                   "reason": "timeout", "alerted": n % 50 == 0}
    if tcp:
        rec["tcp"] = {"tcp_flags": "1b", "tcp_flags_ts": "1b", "tcp_flags_tc": "1b", "syn": True, "fin": True,
                      "psh": True, "ack": True, "state": "closed"}


_APP_PROTOS = {80: "http", 443: "tls", 22: "ssh", 25: "smtp", 53: "dns", 445: "smb"}


def _netflow(rec: Rec, base: Rec, m: Material, n: int, at: datetime) -> None:
    rec["event_type"] = "netflow"
    rec["netflow"] = {"pkts": 1 + n % 40, "bytes": 60 + n % 9000, "start": _eve_time(at - timedelta(seconds=20)),
                      "end": _eve_time(at - timedelta(seconds=2)), "age": 18, "min_ttl": 62, "max_ttl": 64}


def _udp(rec: Rec, port: int) -> None:
    rec["proto"], rec["dest_port"] = "UDP", port


def _tcp(rec: Rec, port: int) -> None:
    rec["proto"], rec["dest_port"] = "TCP", port


def _dns_query(rec: Rec, base: Rec, m: Material, n: int, at: datetime) -> None:
    _udp(rec, 53)
    rec["event_type"] = "dns"
    rec["dns"] = {"type": "query", "id": n % 65536, "rrname": _pick(m.domains, n), "rrtype": "A" if n % 4 else "AAAA",
                  "tx_id": 0, "opcode": 0}


def _dns_answer(rec: Rec, base: Rec, m: Material, n: int, at: datetime) -> None:
    _udp(rec, 53)
    name, v6 = _pick(m.domains, n), n % 4 == 0
    data = f"2001:db8::{n % 65536:x}" if v6 else f"198.51.{n // 256 % 256}.{n % 256}"
    rrtype = "AAAA" if v6 else "A"
    answers = [{"rrname": name, "rrtype": "CNAME", "ttl": 300, "rdata": f"edge.{name}"},
               {"rrname": f"edge.{name}", "rrtype": rrtype, "ttl": 60, "rdata": data}]
    rec["event_type"] = "dns"
    rec["dns"] = {"version": 2, "type": "answer", "id": n % 65536, "flags": "8180", "qr": True, "rd": True,
                  "ra": True, "opcode": 0, "rrname": name, "rrtype": rrtype, "rcode": "NOERROR",
                  "answers": answers, "grouped": {"CNAME": [f"edge.{name}"], rrtype: [data]}}


def _http(rec: Rec, base: Rec, m: Material, n: int, at: datetime) -> None:
    _tcp(rec, 80)
    method, path, status, length, agent = _pick(m.requests, n)
    rec["event_type"], rec["tx_id"], rec["app_proto"] = "http", n % 4, "http"
    rec["http"] = {"hostname": _pick(m.domains, n), "url": path, "http_user_agent": agent,
                   "http_content_type": "text/html", "http_method": method, "protocol": "HTTP/1.1",
                   "status": status, "length": length}


def _tls(rec: Rec, base: Rec, m: Material, n: int, at: datetime) -> None:
    _tcp(rec, 443)
    name = _pick(m.domains, n)
    serial = _digest(n, "md5")[:18].upper()
    rec["event_type"], rec["app_proto"] = "tls", "tls"
    rec["tls"] = {"subject": f"CN={name}", "issuerdn": "C=US, O=Let's Encrypt, CN=R3",
                  "serial": ":".join(serial[i:i + 2] for i in range(0, 18, 2)),
                  "fingerprint": ":".join(_digest(n, "sha1")[i:i + 2] for i in range(0, 40, 2)),
                  "sni": name, "version": "TLS 1.2" if n % 2 else "TLS 1.3",
                  "notbefore": "2025-12-01T00:00:00", "notafter": "2026-03-01T00:00:00",
                  "ja3": {"hash": _digest(n % 500, "md5"), "string": "771,4865-4866-4867,0-23-65281-10-11,29-23-24,0"},
                  "ja3s": {"hash": _digest(n % 50 + 1000, "md5"), "string": "771,4865,43-51"}}


def _fileinfo(rec: Rec, base: Rec, m: Material, n: int, at: datetime) -> None:
    _tcp(rec, 80)
    method, path, status, length, agent = _pick(m.requests, n)
    rec["event_type"], rec["app_proto"] = "fileinfo", "http"
    rec["http"] = {"hostname": _pick(m.domains, n), "url": path, "http_user_agent": agent,
                   "http_method": method, "protocol": "HTTP/1.1", "status": status, "length": length}
    rec["fileinfo"] = {"filename": path, "magic": "data", "gaps": False, "state": "CLOSED",
                       "md5": _digest(n, "md5"), "sha1": _digest(n, "sha1"), "sha256": _digest(n, "sha256"),
                       "stored": False, "size": length, "tx_id": n % 4}


_ANOMALIES = (("decode", "decoder.ipv4.trunc_pkt", None), ("stream", "stream.pkt_invalid_timestamp", None),
              ("applayer", "APPLAYER_DETECT_PROTOCOL_ONLY_ONE_DIRECTION", "request"))


def _anomaly(rec: Rec, base: Rec, m: Material, n: int, at: datetime) -> None:
    kind, event, layer = _ANOMALIES[n % len(_ANOMALIES)]
    rec["event_type"] = "anomaly"
    rec["anomaly"] = {"type": kind, "event": event, **({"layer": layer, "code": 2} if layer else {})}


def _ssh(rec: Rec, base: Rec, m: Material, n: int, at: datetime) -> None:
    _tcp(rec, 22)
    rec["event_type"], rec["app_proto"] = "ssh", "ssh"
    rec["ssh"] = {"client": {"proto_version": "2.0", "software_version": f"OpenSSH_{7 + n % 3}.{n % 10}"},
                  "server": {"proto_version": "2.0", "software_version": "OpenSSH_8.9p1"}}


def _smtp(rec: Rec, base: Rec, m: Material, n: int, at: datetime) -> None:
    _tcp(rec, 25)
    sender, rcpt = _pick(m.domains, n), _pick(m.domains, n + 1)
    rec["event_type"], rec["app_proto"], rec["tx_id"] = "smtp", "smtp", 0
    rec["smtp"] = {"helo": f"mail.{sender}", "mail_from": f"<news{n % 100}@{sender}>", "rcpt_to": [f"<cert@{rcpt}>"]}
    rec["email"] = {"status": "PARSE_DONE", "from": f"news{n % 100}@{sender}", "to": [f"cert@{rcpt}"],
                    "subject": f"Newsletter {n % 1000}"}


def _stats(n: int, at: datetime) -> Rec:
    k = n // STATS_EVERY + 1
    return {"timestamp": _eve_time(at), "event_type": "stats", "stats": {
        "uptime": 8 * k,
        "capture": {"kernel_packets": 1200 * k, "kernel_drops": k // 10, "errors": 0},
        "decoder": {"pkts": 1200 * k, "bytes": 900_000 * k, "ipv4": 1150 * k, "ipv6": 50 * k, "ethernet": 1200 * k,
                    "tcp": 900 * k, "udp": 290 * k, "icmpv4": 10 * k, "avg_pkt_size": 750, "max_pkt_size": 1514},
        "flow": {"tcp": 90 * k, "udp": 40 * k, "icmpv4": k, "memuse": 7_000_000},
        "detect": {"engines": [{"id": 0, "last_reload": "2026-01-05T00:00:00.000000+0000", "rules_loaded": 43000,
                                "rules_failed": 0}], "alert": k},
        "app_layer": {"flow": {"http": 20 * k, "tls": 30 * k, "dns_udp": 40 * k, "ssh": k, "smtp": k}},
    }}


_BUILDERS = {"alert": _alert, "flow": _flow, "netflow": _netflow, "dns-query": _dns_query, "dns-answer": _dns_answer,
             "http": _http, "tls": _tls, "fileinfo": _fileinfo, "anomaly": _anomaly, "ssh": _ssh, "smtp": _smtp}


def eve_lines(corpora: Path) -> Iterator[bytes]:
    """The records as EVE lines (compact JSON and a newline, as Suricata writes them)."""
    for rec in records(Material(corpora)):
        yield orjson.dumps(rec) + b"\n"
