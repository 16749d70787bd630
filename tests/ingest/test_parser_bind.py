"""BIND 9 query logs. No public corpus of them exists; the samples are written in the formats of ISC's
BIND 9 Administrator Reference Manual (logging category ``queries``), across versions and options."""

from __future__ import annotations

from harness import ParserCase

from cert.core.ecs import get
from cert.core.parser import parsers
from cert.pipeline.ingestor import finalize


class TestBindQuery(ParserCase):
    parser_name = "bind.query"
    samples = [
        (  # BIND 9.16+, print-time/print-category/print-severity yes
            "21-Nov-2026 10:00:00.123 queries: info: client @0x7f3a2c0b1d60 192.0.2.1#53221 (www.example.com): "
            "query: www.example.com IN A +E(0)K (198.51.100.53)",
            {
                "@timestamp": "2026-11-21T10:00:00.123Z",
                "event.kind": "event",
                "event.category": ["network"],
                "event.type": ["protocol"],
                "source.ip": "192.0.2.1",
                "source.port": 53221,
                "destination.ip": "198.51.100.53",
                "destination.port": None,  # not in the log; never invented
                "dns.question.name": "www.example.com",
                "dns.question.class": "IN",
                "dns.question.type": "A",
                "dns.type": "query",
                "dns.header_flags": ["RD"],
                "network.protocol": "dns",
                "network.transport": "udp",
                "bind.query.edns_version": 0,
                "bind.query.cookie": "present",
                "related.hosts": ["www.example.com"],
            },
        ),
        (  # views, TCP, DNSSEC OK, checking disabled, signed, no recursion
            "21-Nov-2026 10:00:01.500 client @0x7f3a2c0b1d60 10.1.2.3#41234 (intranet.gouv.example): "
            "view internal: query: intranet.gouv.example IN AAAA -STDC (10.1.0.53)",
            {
                "bind.query.view": "internal",
                "bind.query.signed": True,
                "network.transport": "tcp",
                "dns.header_flags": ["DO", "CD"],
                "dns.question.type": "AAAA",
                "source.ip": "10.1.2.3",
            },
        ),
        (  # BIND 9.9/9.10: no client object handle, no print-category
            "03-Feb-2015 14:22:31.037 client 192.168.10.20#60417 (mail.example.org): query: mail.example.org IN MX "
            "+ (192.168.10.1)",
            {"@timestamp": "2015-02-03T14:22:31.037Z", "dns.question.type": "MX", "dns.header_flags": ["RD"],
             "bind.query.flags": "+"},
        ),
        (  # IPv6 client and server, EDNS client subnet
            "21-Nov-2026 10:00:02.000 queries: info: client @0x7f3a2c0b1d60 2001:db8::1#5353 (example.net): "
            "query: example.net IN TXT +E(0)DV (2001:db8::53) [ECS 203.0.113.0/24/0]",
            {"source.ip": "2001:db8::1", "destination.ip": "2001:db8::53", "bind.query.client_subnet":
             "203.0.113.0/24/0", "bind.query.cookie": "valid", "dns.header_flags": ["RD", "DO"]},
        ),
        (  # print-time iso8601-utc
            "2026-11-21T10:00:03.456Z queries: info: client @0x55d1c 198.51.100.7#1024 (evil.example): query: "
            "evil.example IN ANY -E(0) (192.0.2.53)",
            {"@timestamp": "2026-11-21T10:00:03.456Z", "dns.question.type": "ANY", "source.ip": "198.51.100.7"},
        ),
        (  # through syslog
            "Nov 21 10:00:04 ns1 named[812]: client @0x7f8e80017f40 192.0.2.77#39021 (example.com): query: "
            "example.com IN SOA -E(0)T (192.0.2.53)",
            {"host.name": "ns1", "dns.question.type": "SOA", "network.transport": "tcp", "source.port": 39021},
        ),
        (  # a reverse lookup of the root with a TYPE number
            "21-Nov-2026 10:00:05.000 client @0x1 192.0.2.9#5300 (.): query: . IN TYPE65534 + (192.0.2.53)",
            {"dns.question.name": ".", "dns.question.type": "TYPE65534", "related.hosts": None},
        ),
    ]
    malformed = [
        "21-Nov-2026 10:00:00.123 general: info: zone example.com/IN: loaded serial 2026112101",
        "21-Nov-2026 10:00:00.123 client @0x7f 192.0.2.1#53221 (x): query: x IN A +E(0)K",  # no server
        "21-Nov-2026 10:00:00.123 client 999.0.2.1#53221 (x): query: x IN A + (198.51.100.53)",
        "21-Nov-2026 10:00:00.123 client 192.0.2.1#99999 (x): query: x IN A + (198.51.100.53)",
        "31-Feb-2026 10:00:00.123 client 192.0.2.1#1 (x): query: x IN A + (198.51.100.53)",
        "21-Xyz-2026 10:00:00.123 client 192.0.2.1#1 (x): query: x IN A + (198.51.100.53)",
        "query: www.example.com IN A +",
    ]


def test_finalized_query_events_relate_client_and_server() -> None:
    parser = parsers.get("bind.query")()
    line = ("21-Nov-2026 10:00:00.123 queries: info: client @0x7f3a2c0b1d60 192.0.2.1#53221 (www.example.com): "
            "query: www.example.com IN A +E(0)K (198.51.100.53)")
    event = finalize(parser.parse(line) or {}, parser, line, "/var/log/named/query.log")
    assert get(event, "event.dataset") == "bind.query" and get(event, "event.module") == "bind"
    assert get(event, "related.ip") == ["192.0.2.1", "198.51.100.53"]
    assert get(event, "related.hosts") == ["www.example.com"]
