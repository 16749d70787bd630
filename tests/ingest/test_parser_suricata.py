"""Suricata EVE JSON: the harness on one record of each event type (written after the examples of
Suricata's EVE documentation), the Community ID against the reference implementation's values,
and the real alerts of FrankHassanabad/suricata-sample-data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import ParserCase

from cert.core.ecs import get
from cert.core.parser import ParseError, parsers
from cert.pipeline.ingestor import finalize
from ingest.parsers._flow import community_id, utc_iso

ALERT = (
    '{"timestamp":"2017-04-07T22:24:37.251547+0100","flow_id":586497171462735,"pcap_cnt":53381,'
    '"event_type":"alert","src_ip":"192.168.2.14","src_port":50096,"dest_ip":"209.53.113.5","dest_port":80,'
    '"proto":"TCP","tx_id":4,"alert":{"action":"allowed","gid":1,"signature_id":2018358,"rev":10,'
    '"signature":"ET HUNTING GENERIC SUSPICIOUS POST to Dotted Quad with Fake Browser 1",'
    '"category":"Potentially Bad Traffic","severity":2,"metadata":{"mitre_tactic_id":["TA0011"],'
    '"mitre_tactic_name":["Command_And_Control"]}},"http":{"hostname":"209.53.113.5","url":"/core/?q=1#top",'
    '"http_user_agent":"Mozilla/4.0 (compatible; MSIE 6.0)","http_content_type":"text/html","http_method":"POST",'
    '"protocol":"HTTP/1.1","status":404,"length":151},"app_proto":"http","flow":{"pkts_toserver":4,'
    '"pkts_toclient":3,"bytes_toserver":660,"bytes_toclient":484,"start":"2017-04-07T22:24:37.004567+0100"}}'
)
BLOCKED = (
    '{"timestamp":"2026-11-21T10:00:00.000000+0000","event_type":"alert","src_ip":"203.0.113.9","src_port":4444,'
    '"dest_ip":"192.0.2.10","dest_port":445,"proto":"TCP","alert":{"action":"blocked","gid":1,"signature_id":1,'
    '"rev":1,"signature":"LOCAL SMB exploit attempt","category":"Attempted Administrator Privilege Gain",'
    '"severity":1}}'
)
FLOW = (
    '{"timestamp":"2026-11-21T10:01:00.500000+0000","flow_id":1,"event_type":"flow","src_ip":"192.0.2.10",'
    '"src_port":51724,"dest_ip":"198.51.100.53","dest_port":443,"proto":"TCP","app_proto":"tls",'
    '"flow":{"pkts_toserver":12,"pkts_toclient":10,"bytes_toserver":1500,"bytes_toclient":9000,'
    '"start":"2026-11-21T10:00:58.250000+0000","end":"2026-11-21T10:01:00.250000+0000","age":2,'
    '"state":"closed","reason":"timeout","alerted":false}}'
)
NETFLOW = (
    '{"timestamp":"2026-11-21T10:02:00.000000+0000","event_type":"netflow","src_ip":"10.16.1.11","src_port":53,'
    '"dest_ip":"10.16.1.10","dest_port":44364,"proto":"UDP","app_proto":"dns","netflow":{"pkts":1,"bytes":120,'
    '"start":"2026-11-21T10:01:59.000000+0000","end":"2026-11-21T10:01:59.000000+0000","age":0,"min_ttl":64,'
    '"max_ttl":64}}'
)
DNS_ANSWER = (
    '{"timestamp":"2019-01-03T13:58:51.000013+0100","flow_id":970546939189262,"event_type":"dns",'
    '"src_ip":"10.16.1.11","src_port":53,"dest_ip":"10.16.1.10","dest_port":44364,"proto":"UDP",'
    '"dns":{"version":2,"type":"answer","id":41142,"flags":"8180","qr":true,"rd":true,"ra":true,'
    '"rrname":"www.suricata-ids.org","rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"www.suricata-ids.org",'
    '"rrtype":"CNAME","ttl":3324,"rdata":"suricata-ids.org"},{"rrname":"suricata-ids.org","rrtype":"A","ttl":10,'
    '"rdata":"192.0.78.24"}],"grouped":{"CNAME":["suricata-ids.org"],"A":["192.0.78.24"]}}}'
)
DNS_QUERY_V3 = (
    '{"timestamp":"2026-11-21T10:03:00.000000Z","event_type":"dns","src_ip":"10.16.1.10","src_port":44364,'
    '"dest_ip":"10.16.1.11","dest_port":53,"proto":"UDP","dns":{"version":3,"type":"request","tx_id":0,'
    '"id":41142,"flags":"100","rd":true,"opcode":0,"queries":[{"rrname":"pool.minexmr.com","rrtype":"A"}]}}'
)
DNS_ANSWER_V1 = (
    '{"timestamp":"2016-05-10T08:44:01.234567+0200","event_type":"dns","src_ip":"192.0.2.53","src_port":53,'
    '"dest_ip":"192.0.2.10","dest_port":33445,"proto":"UDP","dns":{"type":"answer","id":16000,"rcode":"NOERROR",'
    '"rrname":"example.org","rrtype":"A","ttl":300,"rdata":"93.184.216.34"}}'
)
TLS = (
    '{"timestamp":"2026-11-21T10:04:00.123456+0000","event_type":"tls","src_ip":"192.0.2.10","src_port":51724,'
    '"dest_ip":"198.51.100.53","dest_port":443,"proto":"TCP","tls":{"subject":"C=US, ST=California, '
    'L=Mountain View, O=Google Inc, CN=*.google.com","issuerdn":"C=US, O=Google Inc, CN=Google Internet Authority G2",'
    '"serial":"0C:00:99:B7:D7:54:C9:F6","fingerprint":"8f:51:12:06:a0:cc:4e:cd:e8:a3:8b:38:f8:87:59:e5:af:95:ca:cd",'
    '"sni":"calendar.google.com.","version":"TLS 1.2","notbefore":"2017-01-04T10:48:43","notafter":'
    '"2017-03-29T10:18:00","ja3":{"hash":"e7eca2baf4458d095b7f45da28c16c34","string":"771,49195,0-10,23,0"},'
    '"ja3s":{"hash":"4192c0a946c5bd9b544b4656d9f624a4","string":"771,49199,65281"}}}'
)
FILEINFO = (
    '{"timestamp":"2026-11-21T10:05:00.000000+0000","event_type":"fileinfo","src_ip":"198.51.100.80","src_port":80,'
    '"dest_ip":"192.0.2.10","dest_port":51800,"proto":"TCP","http":{"hostname":"updates.example.net",'
    '"url":"/dl/setup.exe","http_method":"GET","status":200},"app_proto":"http","fileinfo":{"filename":'
    '"/dl/setup.exe","magic":"PE32 executable (GUI) Intel 80386, for MS Windows","gaps":false,"state":"CLOSED",'
    '"md5":"44d88612fea8a8f36de82e1278abb02f","sha1":"3395856ce81f2b7382dee72602f798b642f14140",'
    '"sha256":"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f","stored":false,"size":68,'
    '"tx_id":0}}'
)
ANOMALY = (
    '{"timestamp":"2026-11-21T10:06:00.000000+0000","event_type":"anomaly","in_iface":"eth1","src_ip":"192.0.2.10",'
    '"dest_ip":"198.51.100.53","proto":"UDP","ether":{"src_mac":"00:1b:21:3c:9d:f8","dest_mac":"00:0c:29:aa:bb:cc"},'
    '"anomaly":{"type":"decode","event":"decoder.ipv4.trunc_pkt"}}'
)
SMTP = (
    '{"timestamp":"2026-11-21T10:07:00.000000+0000","event_type":"smtp","src_ip":"192.0.2.25","src_port":40000,'
    '"dest_ip":"198.51.100.25","dest_port":25,"proto":"TCP","smtp":{"helo":"mail.example.org",'
    '"mail_from":"<a@example.org>","rcpt_to":["<b@example.net>"]}}'
)
# A request through a proxy: the request line holds the absolute form (RFC 9112 3.2.2), which Suricata's
# EVE http logger writes as it came (docs.suricata.io, "Eve JSON Format", event type http).
PROXY_HTTP = (
    '{"timestamp":"2026-11-21T10:09:00.000000+0000","flow_id":2,"event_type":"http","src_ip":"192.0.2.10",'
    '"src_port":51900,"dest_ip":"198.51.100.8","dest_port":3128,"proto":"TCP","tx_id":0,"http":{"hostname":'
    '"www.example.com","url":"http://www.example.com:8080/wp-admin/Upload.PHP?x=1&y=2#frag","http_user_agent":'
    '"curl/8.5.0","http_method":"GET","protocol":"HTTP/1.1","status":200,"length":12}}'
)
CONNECT_HTTP = (
    '{"timestamp":"2026-11-21T10:09:01.000000+0000","event_type":"http","src_ip":"192.0.2.10","src_port":51901,'
    '"dest_ip":"198.51.100.8","dest_port":3128,"proto":"TCP","http":{"hostname":"www.example.com",'
    '"url":"www.example.com:443","http_method":"CONNECT","protocol":"HTTP/1.1","status":200}}'
)
STATS = '{"timestamp":"2026-11-21T10:08:00.000000+0000","event_type":"stats","stats":{"uptime":3600}}'


class TestSuricataEve(ParserCase):
    parser_name = "suricata.eve"
    samples = [
        (ALERT, {
            "@timestamp": "2017-04-07T21:24:37.251Z",
            "event.kind": "alert",
            "event.category": ["network", "intrusion_detection"],
            "event.type": ["allowed"],
            "event.severity": 2,
            "rule.id": "2018358",
            "rule.name": "ET HUNTING GENERIC SUSPICIOUS POST to Dotted Quad with Fake Browser 1",
            "rule.category": "Potentially Bad Traffic",
            "threat.tactic.id": ["TA0011"],
            "source.ip": "192.168.2.14",
            "source.port": 50096,
            "destination.ip": "209.53.113.5",
            "destination.port": 80,
            "network.transport": "tcp",
            "network.protocol": "http",
            "http.request.method": "POST",
            "http.response.status_code": 404,
            "http.response.body.bytes": 151,
            "http.version": "1.1",
            "url.original": "/core/?q=1#top",
            "url.path": "/core/",
            "url.query": "q=1",
            "url.fragment": "top",
            "url.domain": "209.53.113.5",
            "user_agent.original": "Mozilla/4.0 (compatible; MSIE 6.0)",
            "source.bytes": 660,
            "destination.bytes": 484,
            "source.packets": 4,
            "destination.packets": 3,
            "network.bytes": 1144,
            "network.packets": 7,
            "event.start": "2017-04-07T21:24:37.004Z",
            "suricata.eve.flow_id": "586497171462735",
            "suricata.eve.alert.gid": 1,
            "suricata.eve.alert.rev": 10,
            # kept beside rule.*: Filebeat's dashboards and saved searches use these
            "suricata.eve.alert.signature": "ET HUNTING GENERIC SUSPICIOUS POST to Dotted Quad with Fake Browser 1",
            "suricata.eve.alert.signature_id": 2018358,
            "suricata.eve.alert.category": "Potentially Bad Traffic",
            "url.extension": None,
        }),
        (BLOCKED, {"event.type": ["denied"], "event.severity": 1, "rule.id": "1", "suricata.eve.alert.signature_id": 1,
                   "suricata.eve.alert.signature": "LOCAL SMB exploit attempt",
                   "suricata.eve.alert.category": "Attempted Administrator Privilege Gain"}),
        (PROXY_HTTP, {
            "url.original": "http://www.example.com:8080/wp-admin/Upload.PHP?x=1&y=2#frag",
            "url.scheme": "http",
            "url.domain": "www.example.com",
            "url.port": 8080,
            "url.path": "/wp-admin/Upload.PHP",
            "url.query": "x=1&y=2",
            "url.fragment": "frag",
            "url.extension": "php",
        }),
        (CONNECT_HTTP, {"url.original": "www.example.com:443", "url.path": None, "url.domain": "www.example.com",
                        "http.request.method": "CONNECT"}),
        (FLOW, {
            "event.kind": "event",
            "event.type": ["connection", "end"],
            "network.protocol": "tls",
            "network.community_id": "1:W2IQ7N9nYnAQRRfUCIHWtmfVwMo=",
            "source.bytes": 1500,
            "destination.bytes": 9000,
            "network.packets": 22,
            "event.start": "2026-11-21T10:00:58.250Z",
            "event.end": "2026-11-21T10:01:00.250Z",
            "suricata.eve.flow.reason": "timeout",
        }),
        (NETFLOW, {
            "event.type": ["connection"],
            "source.bytes": 120,
            "source.packets": 1,
            "network.transport": "udp",
            "network.community_id": "1:xx0z0wWvtl8HcBiG9tOn2qwY2qQ=",
        }),
        (DNS_ANSWER, {
            "@timestamp": "2019-01-03T12:58:51.000Z",
            "event.category": ["network"],
            "event.type": ["protocol"],
            "network.protocol": "dns",
            "dns.id": 41142,
            "dns.type": "answer",
            "dns.question.name": "www.suricata-ids.org",
            "dns.question.type": "A",
            "dns.response_code": "NOERROR",
            "dns.header_flags": ["RD", "RA"],
            "dns.answers": [
                {"name": "www.suricata-ids.org", "type": "CNAME", "ttl": 3324, "data": "suricata-ids.org"},
                {"name": "suricata-ids.org", "type": "A", "ttl": 10, "data": "192.0.78.24"},
            ],
            "dns.resolved_ip": ["192.0.78.24"],
            "related.ip": ["192.0.78.24"],
        }),
        (DNS_QUERY_V3, {"dns.type": "query", "dns.question.name": "pool.minexmr.com", "dns.question.type": "A",
                        "dns.header_flags": ["RD"]}),
        (DNS_ANSWER_V1, {"dns.type": "answer", "dns.question.name": None, "dns.resolved_ip": ["93.184.216.34"],
                         "dns.answers": [{"name": "example.org", "type": "A", "ttl": 300, "data": "93.184.216.34"}]}),
        (TLS, {
            "network.protocol": "tls",
            "tls.version": "1.2",
            "tls.version_protocol": "tls",
            "tls.client.server_name": "calendar.google.com",
            "destination.domain": "calendar.google.com",
            "tls.client.ja3": "e7eca2baf4458d095b7f45da28c16c34",
            "tls.server.ja3s": "4192c0a946c5bd9b544b4656d9f624a4",
            "tls.server.subject": "C=US, ST=California, L=Mountain View, O=Google Inc, CN=*.google.com",
            "tls.server.x509.subject.common_name": ["*.google.com"],
            "tls.server.x509.issuer.organization": ["Google Inc"],
            "tls.server.x509.serial_number": "0C0099B7D754C9F6",
            "tls.server.hash.sha1": "8F511206A0CC4ECDE8A38B38F88759E5AF95CACD",
            "tls.server.not_after": "2017-03-29T10:18:00.000Z",
            "suricata.eve.tls.ja3.string": "771,49195,0-10,23,0",
        }),
        (FILEINFO, {
            "event.category": ["network", "file"],
            "file.name": "setup.exe",
            "file.path": "/dl/setup.exe",
            "file.extension": "exe",
            "file.size": 68,
            "file.hash.md5": "44d88612fea8a8f36de82e1278abb02f",
            "file.hash.sha256": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
            "related.hash": ["44d88612fea8a8f36de82e1278abb02f", "3395856ce81f2b7382dee72602f798b642f14140",
                             "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"],
            "url.domain": "updates.example.net",
            "url.path": "/dl/setup.exe",
            "url.extension": "exe",
            "suricata.eve.fileinfo.magic": "PE32 executable (GUI) Intel 80386, for MS Windows",
        }),
        (ANOMALY, {"event.kind": "event", "event.action": "decoder.ipv4.trunc_pkt",
                   "suricata.eve.anomaly.type": "decode", "source.mac": "00-1B-21-3C-9D-F8",
                   "destination.mac": "00-0C-29-AA-BB-CC", "observer.ingress.interface.name": "eth1",
                   "suricata.eve.ether": None, "suricata.eve.in_iface": None}),
        (SMTP, {"event.kind": "event", "network.protocol": "smtp", "source.ip": "192.0.2.25",
                "suricata.eve.smtp.helo": "mail.example.org", "suricata.eve.event_type": "smtp"}),
        (STATS, {"event.kind": "metric", "suricata.eve.stats.uptime": 3600}),
    ]
    malformed = [
        "not json at all",
        "[1, 2, 3]",
        '{"timestamp": "2026-11-21T10:00:00.000000+0000", "src_ip": "192.0.2.1"}',
        '{"event_type": "alert", "src_ip": "192.0.2.1"}',
        '{"event_type": "alert", "timestamp": "2026-13-45T10:00:00.000000+0000"}',
        '{"event_type": "alert", "timestamp": 1700000000}',
        '{"event_type": "flow", "timestamp": "2026-11-21T10:00:60.000000+0000"}',
    ]


def test_community_id_matches_the_reference_implementation() -> None:
    # Values computed with the spec's reference implementation (PyPI communityid 1.5).
    assert community_id("tcp", "128.232.110.120", "66.35.250.204", 34855, 80) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    assert community_id("tcp", "198.51.100.53", "192.0.2.10", 443, 51724) == "1:W2IQ7N9nYnAQRRfUCIHWtmfVwMo="
    assert community_id("icmp", "192.0.2.1", "192.0.2.2", 8, 0) == "1:IOfYZQoUwQ3ZLk3+qU6KcSd9W5k="
    assert community_id("icmp", "192.0.2.2", "192.0.2.1", 0, 0) == "1:IOfYZQoUwQ3ZLk3+qU6KcSd9W5k="
    assert community_id("icmp", "192.0.2.1", "192.0.2.2", 3, 1) == "1:pRMyxe723XaSygE9L+z0m7WpPf4="
    assert community_id("ipv6-icmp", "2001:db8::1", "2001:db8::2", 128, 0) == "1:u2vMS3HiWth2lIMKHB1fjELshpQ="
    assert community_id("sctp", "192.0.2.1", "192.0.2.2", 5000, 2905) == "1:0RF9SCXYaLa5mc/crWm2bIQy5JA="
    assert community_id("tcp", "not-an-ip", "192.0.2.2", 1, 2) is None
    assert community_id("gre", "192.0.2.1", "192.0.2.2", 1, 2) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("2018-03-24T14:37:19.037299-0600", "2018-03-24T20:37:19.037Z"),
    ("2018-03-24T23:59:59.999+05:30", "2018-03-24T18:29:59.999Z"),
    ("2019-01-02T06:42:52.658017", "2019-01-02T06:42:52.658Z"),
    ("2018-03-24T14:37:19-0600", "2018-03-24T20:37:19.000Z"),
    ("2026-12-31T23:59:59.9999-0100", "2027-01-01T00:59:59.999Z"),
])
def test_eve_timestamps_become_utc(text: str, expected: str) -> None:
    assert utc_iso(text) == expected


def _eve_records(corpora: Path) -> list[str]:
    files = sorted((corpora / "suricata" / "frankhassanabad-suricata-sample-data").glob("*/*.eve.jsonl"))
    assert len(files) == 4
    return [line for f in files for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_alert_of_the_sample_data_parses_with_its_rule_and_addresses(corpora: Path) -> None:
    parser = parsers.get("suricata.eve")()
    lines = _eve_records(corpora)
    assert len(lines) == 548
    for line in lines:
        original = json.loads(line)
        event = finalize(parser.parse(line) or {}, parser, line, "eve.json")
        assert get(event, "event.kind") == "alert"
        assert get(event, "rule.name") == original["alert"]["signature"]
        assert get(event, "rule.id") == str(original["alert"]["signature_id"])
        assert get(event, "source.ip") == original["src_ip"]
        assert get(event, "destination.ip") == original["dest_ip"]
        assert get(event, "destination.port") == original["dest_port"]
        assert get(event, "event.severity") in (1, 2, 3)
        assert str(get(event, "network.community_id")).startswith("1:")
        assert {original["src_ip"], original["dest_ip"]} <= set(get(event, "related.ip"))


def test_sample_alerts_keep_their_http_and_tls_details(corpora: Path) -> None:
    parser = parsers.get("suricata.eve")()
    events = [parser.parse(line) or {} for line in _eve_records(corpora)]
    http = [e for e in events if get(e, "network.protocol") == "http" and get(e, "url.original")]
    assert len(http) > 100
    assert any(get(e, "url.original") == "/w00tw00t.at.ISC.SANS.DFind:)" for e in http)
    assert any(get(e, "user_agent.original") == "Debian APT-HTTP/1.3 (1.2.29)" for e in http)
    # The honeypot sensor writes its status as a string: still a number in ECS.
    assert {type(get(e, "http.response.status_code")) for e in http if get(e, "http.response.status_code")} == {int}
    tls = [e for e in events if get(e, "tls.server.x509.subject.common_name")]
    assert any(get(e, "tls.server.x509.subject.common_name") == ["*.dropbox.com"] for e in tls)


def test_a_record_with_a_wrong_type_where_an_ip_should_be_is_not_a_crash() -> None:
    parser = parsers.get("suricata.eve")()
    line = ('{"timestamp":"2026-11-21T10:00:00.000000+0000","event_type":"flow","src_ip":["192.0.2.1"],'
            '"src_port":"80","dest_ip":5,"proto":"TCP","flow":{"bytes_toserver":"many"}}')
    event = parser.parse(line) or {}
    assert get(event, "source.ip") is None and get(event, "destination.ip") is None
    assert get(event, "network.community_id") is None
    assert get(event, "suricata.eve.flow.bytes_toserver") == "many"
    assert get(event, "suricata.eve.src_ip") == ["192.0.2.1"] and get(event, "suricata.eve.src_port") == "80"
    with pytest.raises(ParseError, match="event_type"):
        parser.parse('{"timestamp":"2026-11-21T10:00:00Z","event_type":""}')


def test_ingesting_the_sample_alerts_stores_them_all(corpora: Path, platform: object) -> None:
    from cert.core.event_store import EventQuery
    from cert.pipeline.ingestor import Ingestor

    path = corpora / "suricata" / "frankhassanabad-suricata-sample-data" / "wrccdc-2018" / "alerts-only.eve.jsonl"
    ingestor = Ingestor(platform, "suricata.eve")  # type: ignore[arg-type]
    summary = ingestor.ingest(ingestor.parser.read(str(path)), source=str(path))
    assert (summary.ingested, summary.dead_lettered) == (207, 0), summary
    events = platform.events  # type: ignore[attr-defined]
    events.refresh()
    scans = events.search(EventQuery(terms={"rule.name": ["ET SCAN Potential SSH Scan"]}, limit=500))
    assert scans and all(get(e, "destination.port") == 22 for e in scans)
