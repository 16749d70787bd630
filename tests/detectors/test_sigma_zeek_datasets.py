"""Sigma rules for Zeek (pySigma's ``ecs_zeek_beats`` pipeline) select Filebeat's datasets, which
are those of Vigie's Zeek events: ``conn`` rules select ``zeek.connection``, the others
``zeek.<service>``. The events are the Zeek parser's, finalized as the Ingestor does."""

from __future__ import annotations

from pathlib import Path

from sigma_testkit import Both, load_text

from cert.core.ecs import Event
from cert.core.parser import parsers
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import finalize

load_plugins(["ingest.parsers"])

# conn.log and dns.log records as Zeek's JSON writer writes them (docs.zeek.org, conn.log, dns.log)
CONN = ('{"_path":"conn","ts":1521911721.255387,"uid":"CXWv6p3arKYeMETxOg","id.orig_h":"192.168.1.102",'
        '"id.orig_p":49152,"id.resp_h":"203.0.113.9","id.resp_p":4444,"proto":"tcp","duration":0.5,'
        '"orig_bytes":301,"resp_bytes":300,"conn_state":"S0","history":"S","orig_pkts":1,"orig_ip_bytes":60,'
        '"resp_pkts":0,"resp_ip_bytes":0}')
DNS = ('{"_path":"dns","ts":1700000000.25,"uid":"CqKst53mF3det3eDV9","id.orig_h":"10.47.1.100","id.orig_p":41772,'
       '"id.resp_h":"10.0.0.100","id.resp_p":53,"proto":"udp","trans_id":36329,"query":"evil.example",'
       '"qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR"}')


def zeek_event(line: str) -> Event:
    parser = parsers.get("zeek")()
    event = parser.parse(line)
    assert event is not None
    return finalize(event, parser, line, "/var/log/zeek/current.log")


def rule(service: str, detection: str) -> str:
    return (f"title: zeek {service}\nid: 0f1e2d3c-0000-4000-8000-0000000000{len(service):02d}\nstatus: test\n"
            f"logsource:\n  product: zeek\n  service: {service}\nlevel: medium\n"
            f"detection:\n{detection}\n  condition: selection\n")


def test_a_conn_rule_matches_zeek_conn_events(tmp_path: Path) -> None:
    both = Both(load_text(tmp_path, rule("conn", "  selection:\n    conn_state: S0")))
    assert both.hit(zeek_event(CONN))
    assert not both.hit(zeek_event(DNS))


def test_a_dns_rule_still_selects_zeek_dns(tmp_path: Path) -> None:
    both = Both(load_text(tmp_path, rule("dns", "  selection:\n    query: evil.example")))
    assert both.hit(zeek_event(DNS))
    assert not both.hit(zeek_event(CONN))


def test_a_conn_rule_matches_conn_events_as_filebeat_writes_them(tmp_path: Path) -> None:
    """An event of Filebeat's Zeek module (brought in by the ECS JSON parser): dataset zeek.connection."""
    both = Both(load_text(tmp_path, rule("conn", "  selection:\n    conn_state: S0")))
    filebeat = {"@timestamp": "2018-03-24T17:15:21.255Z", "event": {"dataset": "zeek.connection", "module": "zeek"},
                "zeek": {"connection": {"state": "S0", "conn_state": "S0"}}}
    assert both.hit(filebeat)
    assert not both.hit({**filebeat, "event": {"dataset": "zeek.conn", "module": "zeek"}})
