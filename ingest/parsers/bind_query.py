"""ISC BIND 9 query log (the ``queries`` logging category), as named writes it to a file channel
or to syslog:

    21-Nov-2026 10:00:00.123 queries: info: client @0x7f3a2c0b1d60 192.0.2.1#53221 (www.example.com):
        view internal: query: www.example.com IN A +E(0)K (198.51.100.53)

(one line). The timestamp is ``print-time yes`` (``dd-Mmm-yyyy hh:mm:ss.mmm``, local time, read as
UTC like every zone-less time in Vigie), ``iso8601`` or ``iso8601-utc``; ``queries: info:`` appears
with ``print-category``/``print-severity``; the ``@0x...`` client object handle since BIND 9.11;
the view name when views are configured; an ``[ECS ...]`` client subnet at the end since 9.11.
The flags after the type: ``+``/``-`` recursion desired, ``S`` signed (TSIG/SIG0), ``E(n)`` EDNS
version n, ``T`` TCP, ``D`` DNSSEC OK, ``C`` checking disabled, ``V`` valid server cookie,
``K`` a cookie. The address in parentheses is the server address that received the query.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime

from cert.core.ecs import Event, format_ts
from cert.core.parser import ParseError, Parser, parsers
from ingest.parsers._flow import clean_text as _clean
from ingest.parsers._syslog import split_header

_MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}
_STAMP = re.compile(
    r"^(?:(?P<day>\d{2})-(?P<mon>[A-Z][a-z]{2})-(?P<year>\d{4}) (?P<clock>\d{2}:\d{2}:\d{2})(?:\.(?P<ms>\d{3}))?"
    r"|(?P<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})?)) (?P<rest>.*)$"
)
_QUERY = re.compile(
    r"^(?:(?P<category>queries): )?(?:(?P<severity>info|notice|warning|debug(?: \d+)?|dynamic): )?"
    r"client (?:@(?P<handle>0x[0-9a-fA-F]+) )?(?P<client>[0-9A-Fa-f.:]+(?:%\w+)?)#(?P<port>\d{1,5})"
    r"(?: \((?P<name>[^()\s]*)\))?: (?:view (?P<view>[^:\s]+): )?"
    r"query: (?P<qname>\S+) (?P<qclass>[A-Z0-9]+) (?P<qtype>[A-Z0-9-]+) (?P<flags>[+-][A-Z()0-9]*)"
    r" \((?P<server>[0-9A-Fa-f.:]+(?:%\w+)?)\)(?: \[ECS (?P<ecs>[^\]]+)\])?\s*$"
)
_FLAG_NAMES = {"D": "DO", "C": "CD"}


def _timestamp(m: re.Match[str]) -> str:
    try:
        if m["iso"]:
            return format_ts(datetime.fromisoformat(m["iso"].replace("Z", "+00:00")))
        month = _MONTHS.get(m["mon"])
        if month is None:
            raise ValueError(f"unknown month {m['mon']!r}")
        h, mi, s = (int(x) for x in m["clock"].split(":"))
        ts = datetime(int(m["year"]), month, int(m["day"]), h, mi, s, int(m["ms"] or 0) * 1000)
    except ValueError as exc:
        raise ParseError(f"bad BIND timestamp: {exc}") from None
    return format_ts(ts)


@parsers.register
class BindQueryParser(Parser):
    name = "bind.query"
    dataset = "bind.query"
    module = "bind"

    def parse(self, line: str) -> Event | None:
        if not line or line.isspace():
            return None
        if not line.isascii():
            line = _clean(line)
        stamp = _STAMP.match(line)
        if stamp is not None:
            ts, message = _timestamp(stamp), stamp["rest"]
            host = None
        else:
            try:
                head = split_header(line)
            except ParseError:
                raise ParseError("not a BIND query log line (no BIND or syslog timestamp)") from None
            ts, message, host = head["timestamp"], head["msg"], head.get("host")
        m = _QUERY.match(message)
        if m is None:
            raise ParseError("not a BIND query log line (expected 'client ADDR#PORT ...: query: NAME CLASS TYPE "
                             "FLAGS (SERVER)')")
        port = int(m["port"])
        if port > 65535:
            raise ParseError(f"client port {port} out of range")
        for side in ("client", "server"):
            try:
                ipaddress.ip_address(m[side].split("%", 1)[0])
            except ValueError:
                raise ParseError(f"{side} address {m[side]!r} is not an IP address") from None
        flags = m["flags"]
        header_flags = ["RD"] if flags[0] == "+" else []
        header_flags += [_FLAG_NAMES[f] for f in flags if f in _FLAG_NAMES]
        bind: dict[str, object] = {"flags": flags}
        edns = re.search(r"E\((\d+)\)", flags)
        if edns:
            bind["edns_version"] = int(edns[1])
        if "S" in flags:
            bind["signed"] = True
        if "K" in flags or "V" in flags:
            bind["cookie"] = "valid" if "V" in flags else "present"
        if m["view"]:
            bind["view"] = m["view"]
        if m["ecs"]:
            bind["client_subnet"] = m["ecs"]
        question = {"name": m["qname"], "class": m["qclass"], "type": m["qtype"]}
        ev: Event = {
            "@timestamp": ts,
            "event": {"kind": "event", "category": ["network"], "type": ["protocol"], "action": "dns-query"},
            "source": {"ip": m["client"], "port": port},
            "destination": {"ip": m["server"]},
            "network": {"protocol": "dns", "transport": "tcp" if "T" in flags else "udp"},
            "dns": {"type": "query", "question": question},
            "bind": {"query": bind},
        }
        if m["qname"].rstrip("."):
            ev["related"] = {"hosts": [m["qname"].rstrip(".")]}
        if header_flags:
            ev["dns"]["header_flags"] = header_flags
        if host:
            ev["host"] = {"name": host}
        return ev
