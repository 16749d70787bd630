"""Zeek logs in JSON (the harness: one record per line needs no header) and TSV (a stream with its
header), plain and gzip; the brimdata WRCCDC sample logs in both formats, and Zeek's own test
baselines (whose masked timestamps must be refused, not guessed)."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from harness import ParserCase

from cert.core.ecs import get
from cert.core.lines import read_lines
from cert.core.parser import ParseError, Parser, Unreadable, parsers
from cert.pipeline.ingestor import finalize
from ingest.parsers._flow import community_id
from ingest.parsers._x509_name import dn_fields

CONN_JSON = (
    '{"ts":1521911721.255387,"uid":"CXWv6p3arKYeMETxOg","id.orig_h":"192.168.1.102","id.orig_p":68,'
    '"id.resp_h":"192.168.1.1","id.resp_p":67,"proto":"udp","service":"dhcp","duration":0.163820,"orig_bytes":301,'
    '"resp_bytes":300,"conn_state":"SF","local_orig":true,"local_resp":true,"missed_bytes":0,"history":"Dd",'
    '"orig_pkts":1,"orig_ip_bytes":329,"resp_pkts":1,"resp_ip_bytes":328,"tunnel_parents":[]}'
)
DNS_JSON = (
    '{"_path":"dns","_write_ts":"2018-03-24T17:15:20.866586Z","ts":"2018-03-24T17:15:20.865716Z",'
    '"uid":"CqKst53mF3det3eDV9","id.orig_h":"10.47.1.100","id.orig_p":41772,"id.resp_h":"10.0.0.100",'
    '"id.resp_p":53,"proto":"udp","trans_id":36329,"rtt":0.0008699893951416016,"query":"ise.wrccdc.org",'
    '"qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR",'
    '"AA":false,"TC":false,"RD":true,"RA":true,"Z":0,"answers":["ise.wrccdc.cpp.edu","134.71.3.16"],'
    '"TTLs":[2230.0,41830.0],"rejected":false}'
)
HTTP_JSON = (
    '{"_path":"http","ts":1700000000.5,"uid":"CHhAvVGS1DHFjwGM9","id.orig_h":"192.0.2.10","id.orig_p":51800,'
    '"id.resp_h":"198.51.100.80","id.resp_p":80,"trans_depth":1,"method":"GET","host":"etat-civil.example.gov",'
    '"uri":"/recherche?q=%27%20OR%201=1--","version":"1.1","user_agent":"sqlmap/1.8","request_body_len":0,'
    '"response_body_len":1234,"status_code":500,"status_msg":"Internal Server Error","tags":[],'
    '"username":"guest","password":"hunter2","resp_fuids":["FakNcS1Jfe01uljb3"],"resp_mime_types":["text/html"]}'
)
SSL_JSON = (
    '{"_path":"ssl","ts":1700000001.0,"uid":"C0oPaB143MafKdsHTl","id.orig_h":"10.164.94.120","id.orig_p":42545,'
    '"id.resp_h":"10.47.8.200","id.resp_p":443,"version":"TLSv12","cipher":"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",'
    '"curve":"x25519","server_name":"intranet.example.gov","resumed":false,"established":true,'
    '"subject":"CN=intranet.example.gov,OU=DSI\\\\, Bureau 3,O=Ministere,L=Paris,C=FR",'
    '"issuer":"CN=GTS CA 1O1,O=Google Trust Services,C=US",'
    '"ssl_history":"CsxknGIi","cert_chain_fps":["b2dafbcdbc75210672f137f27ce882ccb799887631655d4f11191d5a678e44fe"],'
    '"client_cert_chain_fps":[],"validation_status":"unable to get local issuer certificate",'
    '"ja3":"e7eca2baf4458d095b7f45da28c16c34"}'
)
FILES_JSON = (
    '{"_path":"files","ts":1700000002.25,"fuid":"FakNcS1Jfe01uljb3","uid":"CHhAvVGS1DHFjwGM9",'
    '"id.orig_h":"192.0.2.10","id.orig_p":51800,"id.resp_h":"198.51.100.80","id.resp_p":80,"source":"HTTP",'
    '"depth":0,"analyzers":["MD5","SHA1"],"mime_type":"application/x-dosexec","filename":"setup.exe",'
    '"duration":0.01,"is_orig":false,"seen_bytes":68,"total_bytes":68,"missing_bytes":0,"overflow_bytes":0,'
    '"timedout":false,"md5":"44d88612fea8a8f36de82e1278abb02f","sha1":"3395856ce81f2b7382dee72602f798b642f14140"}'
)
NOTICE_JSON = (
    '{"_path":"notice","ts":"2018-03-24T17:15:20.629574Z","uid":"CmC9kY1X0u9nP78KZc","id.orig_h":"10.164.94.120",'
    '"id.orig_p":39611,"id.resp_h":"10.47.3.200","id.resp_p":443,"fuid":"FGP2jt4dhD3bYZ923k","proto":"tcp",'
    '"note":"SSL::Invalid_Server_Cert","msg":"SSL certificate validation failed with (unable to get local issuer '
    'certificate)","src":"10.164.94.120","dst":"10.47.3.200","p":443,"actions":["Notice::ACTION_LOG"],'
    '"email_dest":[],"suppress_for":3600.0}'
)
SCAN_NOTICE_JSON = (
    '{"ts":1700000003.0,"note":"Scan::Port_Scan","msg":"203.0.113.7 scanned at least 15 unique ports of host '
    '192.0.2.10 in 0m2s","sub":"remote","src":"203.0.113.7","dst":"192.0.2.10","actions":["Notice::ACTION_LOG"],'
    '"suppress_for":3600.0,"dropped":false}'
)
WEIRD_JSON = (
    '{"_path":"weird","ts":"2018-03-24T17:15:20.600843Z","uid":"CsPzgh4tp5lHBTnsrf","id.orig_h":"10.47.1.152",'
    '"id.orig_p":49562,"id.resp_h":"23.217.103.245","id.resp_p":80,"name":"TCP_ack_underflow_or_misorder",'
    '"addl":"extra","notice":false,"peer":"zeek","source":"TCP"}'
)
SSH_JSON = (
    '{"_path":"ssh","ts":1700000004.0,"uid":"ClEkJM2Vm5giqnMf4h","id.orig_h":"203.0.113.7","id.orig_p":40184,'
    '"id.resp_h":"192.0.2.22","id.resp_p":22,"version":2,"auth_success":false,"auth_attempts":6,'
    '"client":"SSH-2.0-libssh2_1.4.3","server":"SSH-2.0-OpenSSH_8.9p1"}'
)

TSV_HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t{path}\n"
    "#open\t2026-11-21-10-00-00\n#fields\t{fields}\n#types\t{types}\n"
)


def tsv(path: str, fields: str, types: str, *rows: str) -> list[str]:
    return (TSV_HEADER.format(path=path, fields=fields, types=types) + "\n".join(rows)).splitlines()


def run(lines: list[str], source: str = "") -> list[dict[str, Any]]:
    parser = parsers.get("zeek")().for_source(source)
    return [e for e in (parser.parse(line) for line in lines) if e is not None]


class TestZeekJson(ParserCase):
    parser_name = "zeek"
    samples = [
        (CONN_JSON, {
            "@timestamp": "2018-03-24T17:15:21.255Z",
            "event.dataset": "zeek.connection",
            "event.category": ["network"],
            "event.type": ["connection", "start", "end"],
            "event.duration": 163820000,
            "source.ip": "192.168.1.102",
            "source.port": 68,
            "destination.ip": "192.168.1.1",
            "destination.port": 67,
            # IP bytes (orig_ip_bytes/resp_ip_bytes), as Filebeat's zeek connection fileset maps them
            "source.bytes": 329,
            "destination.bytes": 328,
            "network.bytes": 657,
            "source.packets": 1,
            "network.packets": 2,
            "network.transport": "udp",
            "network.protocol": "dhcp",
            "network.direction": "internal",
            "zeek.session_id": "CXWv6p3arKYeMETxOg",
            "zeek.connection.conn_state": "SF",
            "zeek.connection.history": "Dd",
            "zeek.connection.orig_bytes": 301,  # payload bytes stay Zeek's
            "zeek.connection.orig_ip_bytes": None,
        }),
        (DNS_JSON, {
            "@timestamp": "2018-03-24T17:15:20.865Z",
            "event.dataset": "zeek.dns",
            "network.protocol": "dns",
            "network.community_id": "1:FS00L2fMzIV/thJ9PBRr3jABG1g=",  # the reference implementation's value,
            "dns.id": 36329,
            "dns.type": "answer",
            "dns.question.name": "ise.wrccdc.org",
            "dns.question.type": "A",
            "dns.question.class": "IN",  # Zeek's C_INTERNET, as Filebeat's zeek dns fileset writes it
            "dns.response_code": "NOERROR",
            "dns.header_flags": ["RD", "RA"],
            "dns.answers": [{"data": "ise.wrccdc.cpp.edu", "ttl": 2230}, {"data": "134.71.3.16", "ttl": 41830}],
            "dns.resolved_ip": ["134.71.3.16"],
            "event.outcome": "success",
            "zeek.dns.query": "ise.wrccdc.org",
            "zeek.dns._write_ts": None,
        }),
        (HTTP_JSON, {
            "event.dataset": "zeek.http",
            "event.category": ["network", "web"],
            "event.outcome": "failure",
            "http.request.method": "GET",
            "http.response.status_code": 500,
            "http.response.body.bytes": 1234,
            "http.version": "1.1",
            "url.domain": "etat-civil.example.gov",
            "url.original": "/recherche?q=%27%20OR%201=1--",
            "url.path": "/recherche",
            "url.query": "q=%27%20OR%201=1--",
            "url.username": "guest",
            "user.name": "guest",
            "event.action": "get",  # Filebeat: the method, lower case
            "network.transport": "tcp",
            "network.community_id": community_id("tcp", "192.0.2.10", "198.51.100.80", 51800, 80),
            "user_agent.original": "sqlmap/1.8",
            "zeek.http.password": None,
            "zeek.http.resp_mime_types": ["text/html"],
        }),
        (SSL_JSON, {
            "event.dataset": "zeek.ssl",
            "network.protocol": "tls",
            "tls.version": "1.2",
            "tls.version_protocol": "tls",
            "tls.cipher": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "tls.client.server_name": "intranet.example.gov",
            "tls.client.ja3": "e7eca2baf4458d095b7f45da28c16c34",
            "tls.established": True,
            "tls.server.hash.sha256": "B2DAFBCDBC75210672F137F27CE882CCB799887631655D4F11191D5A678E44FE",
            "tls.server.subject": "CN=intranet.example.gov,OU=DSI\\, Bureau 3,O=Ministere,L=Paris,C=FR",
            "tls.server.x509.subject.common_name": ["intranet.example.gov"],
            "tls.server.x509.subject.organizational_unit": ["DSI, Bureau 3"],
            "tls.server.x509.subject.organization": ["Ministere"],
            "tls.server.x509.subject.locality": ["Paris"],
            "tls.server.x509.subject.country": ["FR"],
            "tls.server.x509.issuer.common_name": ["GTS CA 1O1"],
            "tls.server.x509.issuer.organization": ["Google Trust Services"],
            "tls.server.x509.issuer.country": ["US"],
            "tls.client.x509": None,
            "network.transport": "tcp",
            "network.community_id": community_id("tcp", "10.164.94.120", "10.47.8.200", 42545, 443),
            "zeek.ssl.validation_status": "unable to get local issuer certificate",
        }),
        (FILES_JSON, {
            "event.dataset": "zeek.files",
            "event.category": ["file"],
            "file.name": "setup.exe",
            "file.mime_type": "application/x-dosexec",
            "file.size": 68,
            "file.hash.md5": "44d88612fea8a8f36de82e1278abb02f",
            "zeek.files.fuid": "FakNcS1Jfe01uljb3",
        }),
        (NOTICE_JSON, {
            "event.kind": "alert",
            "event.category": ["intrusion_detection"],
            "event.dataset": "zeek.notice",
            "rule.name": "SSL::Invalid_Server_Cert",
            "rule.description": "SSL certificate validation failed with (unable to get local issuer certificate)",
            "source.ip": "10.164.94.120",
            "destination.port": 443,
        }),
        (SCAN_NOTICE_JSON, {
            "event.dataset": "zeek.notice",  # no _path: recognised by its fields
            "event.kind": "alert",
            "event.type": ["info", "allowed"],
            "rule.name": "Scan::Port_Scan",
            "source.ip": "203.0.113.7",
            "destination.ip": "192.0.2.10",
        }),
        (WEIRD_JSON, {
            "event.dataset": "zeek.weird",
            "event.kind": "alert",
            "rule.name": "TCP_ack_underflow_or_misorder",
            "zeek.weird.additional_info": "extra",
            "zeek.weird.addl": None,
        }),
        (SSH_JSON, {"event.dataset": "zeek.ssh", "network.protocol": "ssh", "zeek.ssh.auth_attempts": 6,
                    "zeek.ssh.auth_success": False, "source.ip": "203.0.113.7"}),
    ]
    malformed = [
        "{not json",
        "[1, 2]",
        '{"_path":"conn","uid":"C1"}',
        '{"_path":"conn","ts":"yesterday"}',
        '{"_path":"conn","ts":true}',
        "1521911720.865716\tCqKst53mF3det3eDV9\t10.47.1.100",  # TSV without its header
    ]


def test_conn_counts_of_zero_are_kept() -> None:
    # a connection attempt nobody answered (conn_state S0): Zeek logs 0 for the responder's counts
    # and leaves the payload byte counts unset (docs.zeek.org, conn.log)
    [event] = run(['{"_path":"conn","ts":1700000005.0,"uid":"C1","id.orig_h":"192.0.2.10","id.orig_p":40000,'
                   '"id.resp_h":"198.51.100.9","id.resp_p":445,"proto":"tcp","conn_state":"S0","local_orig":true,'
                   '"local_resp":false,"history":"S","orig_pkts":1,"orig_ip_bytes":60,"resp_pkts":0,'
                   '"resp_ip_bytes":0}'])
    assert get(event, "destination.bytes") == 0 and get(event, "destination.packets") == 0
    assert get(event, "source.bytes") == 60 and get(event, "network.bytes") == 60
    [silent] = run(['{"_path":"conn","ts":1700000005.0,"uid":"C2","id.orig_h":"192.0.2.10","id.orig_p":40001,'
                    '"id.resp_h":"198.51.100.9","id.resp_p":445,"proto":"tcp","conn_state":"OTH","orig_pkts":0,'
                    '"orig_ip_bytes":0,"resp_pkts":0,"resp_ip_bytes":0}'])
    assert get(silent, "network.bytes") == 0 and get(silent, "network.packets") == 0


def test_dns_classes_take_their_rfc_mnemonics() -> None:
    base = ('{"_path":"dns","ts":1700000006.0,"uid":"C3","id.orig_h":"192.0.2.10","id.orig_p":5353,'
            '"id.resp_h":"192.0.2.53","id.resp_p":53,"proto":"udp","query":"version.bind","qclass_name":"%s"}')
    assert [get(e, "dns.question.class") for e in run([base % "C_CHAOS", base % "C_ANY", base % "qclass-7"])] == [
        "CH", "ANY", "qclass-7"]


def test_ssl_distinguished_names_follow_rfc_4514() -> None:
    assert dn_fields("CN=a\\2Cb,O=x\\+y+OU=u1+OU=u2,C=FR") == {
        "common_name": ["a,b"], "organization": ["x+y"], "organizational_unit": ["u1", "u2"], "country": ["FR"]}
    assert dn_fields('CN=\\"quoted\\",L=S\\C3\\A3o Paulo') == {"common_name": ['"quoted"'], "locality": ["São Paulo"]}
    assert dn_fields("CN=x, O=y") == {}  # not RFC 4514 (a space after the comma): nothing guessed
    assert dn_fields("no name here") == {}
    first = dn_fields("CN=one")
    first["common_name"].append("changed")
    assert dn_fields("CN=one") == {"common_name": ["one"]}
    # the client side of mutual TLS, and a DTLS record (UDP)
    [event] = run(['{"_path":"ssl","ts":1700000007.0,"uid":"C4","id.orig_h":"192.0.2.10","id.orig_p":5000,'
                   '"id.resp_h":"198.51.100.4","id.resp_p":4433,"version":"DTLSv12",'
                   '"client_subject":"CN=agent-42,O=Ministere","client_issuer":"CN=Internal CA"}'])
    assert get(event, "tls.client.x509.subject.common_name") == ["agent-42"]
    assert get(event, "tls.client.x509.issuer.common_name") == ["Internal CA"]
    assert get(event, "network.transport") == "udp"
    assert get(event, "tls.version_protocol") == "dtls"


DNS_FIELDS = "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tqtype_name\tanswers\tTTLs\tAA"
DNS_TYPES = "time\tstring\taddr\tport\taddr\tport\tenum\tstring\tstring\tvector[string]\tvector[interval]\tbool"


def test_tsv_values_follow_zeek_types_unset_empty_sets_and_escapes() -> None:
    lines = tsv("dns", DNS_FIELDS, DNS_TYPES,
                "1521911720.865716\tC1\t10.47.1.100\t41772\t10.0.0.100\t53\tudp\tise.wrccdc.org\tA\t"
                "ise.wrccdc.cpp.edu,134.71.3.16\t2230.000000,41830.000000\tF",
                "1521911721.000000\tC2\t10.47.1.100\t41773\t10.0.0.100\t53\tudp\tweird\\x09name\\x2c.org\t-\t"
                "(empty)\t(empty)\t-",
                "1521911722.5\tC3\tfe80::1\t5353\tff02::fb\t5353\tudp\t(empty)\tA\ta\\x2cb,c\t-,1.5\tT")
    first, second, third = run(lines)
    assert get(first, "dns.question.name") == "ise.wrccdc.org"
    assert get(first, "dns.resolved_ip") == ["134.71.3.16"]
    assert get(first, "zeek.dns.TTLs") == [2230.0, 41830.0]
    assert get(first, "zeek.dns.AA") is False
    assert get(first, "source.port") == 41772
    assert get(second, "dns.question.name") == "weird\tname,.org"  # \xHH escapes decoded
    assert get(second, "dns.question.type") is None and get(second, "zeek.dns.AA") is None  # '-': unset
    assert get(second, "zeek.dns.answers") == [] and get(second, "dns.type") == "query"  # (empty) set
    assert get(third, "@timestamp") == "2018-03-24T17:15:22.500Z"
    assert get(third, "zeek.dns.query") == ""  # (empty) string
    assert get(third, "zeek.dns.answers") == ["a,b", "c"]  # set separator inside an element stays
    assert get(third, "zeek.dns.TTLs") == [None, 1.5]
    assert get(third, "source.ip") == "fe80::1"


def test_tsv_header_is_per_source_and_a_new_header_replaces_the_old() -> None:
    parser = parsers.get("zeek")()
    dns = parser.for_source("/var/log/zeek/dns.log")
    conn = parser.for_source("/var/log/zeek/conn.log")
    for line in tsv("dns", DNS_FIELDS, DNS_TYPES):
        dns.parse(line)
    row = "1521911720.865716\tC1\t10.47.1.100\t41772\t10.0.0.100\t53\tudp\tise.wrccdc.org\tA\t-\t-\tF"
    assert get(dns.parse(row), "dns.question.name") == "ise.wrccdc.org"
    with pytest.raises(ParseError, match="header"):
        conn.parse(row)  # another source: its own (absent) header
    # A rotated log concatenated after the first: a new #separator starts a new header.
    for line in tsv("weird", "ts\tuid\tname", "time\tstring\tstring"):
        dns.parse(line)
    event = dns.parse("1521911730.000001\tC9\tbad_HTTP_request")
    assert get(event, "event.dataset") == "zeek.weird" and get(event, "rule.name") == "bad_HTTP_request"
    with pytest.raises(ParseError, match="3 fields"):
        dns.parse(row)


def test_tsv_with_another_separator_and_a_broken_header() -> None:
    lines = ["#separator |", "#set_separator|;", "#empty_field|EMPTY", "#unset_field|NONE", "#path|ssh",
             "#fields|ts|id.orig_h|id.orig_p|status|tags", "#types|time|addr|port|string|set[string]",
             "1700000000.000001|1.2.3.4|1234|fa\\x7c\\x7cure|a;b", "1700000000.000002|1.2.3.4|1234|NONE|EMPTY"]
    first, second = run(lines)
    assert get(first, "zeek.ssh.status") == "fa||ure" and get(first, "zeek.ssh.tags") == ["a", "b"]
    assert get(second, "zeek.ssh.status") is None and get(second, "zeek.ssh.tags") == []
    parser = parsers.get("zeek")().for_source("")
    parser.parse("#fields\tts\tuid")
    with pytest.raises(ParseError, match="#types has 3"):
        parser.parse("#types\ttime\tstring\tstring")
    with pytest.raises(ParseError, match="header"):
        parser.parse("1700000000.0\tC1")
    with pytest.raises(ParseError, match="separator"):
        parser.parse("#separator ")
    with pytest.raises(ParseError, match=r"'count'|not a Zeek count"):
        run(tsv("conn", "ts\torig_bytes", "time\tcount", "1700000000.0\tlots"))


def test_log_type_from_the_file_name_for_plain_json() -> None:
    line = '{"ts":1700000000.0,"uid":"C1","id.orig_h":"192.0.2.1","id.orig_p":1,"id.resp_h":"192.0.2.2",' \
           '"id.resp_p":3389,"proto":"tcp","cookie":"admin"}'
    assert get(run([line], "/data/zeek/rdp.12:00:00-13:00:00.log.gz")[0], "event.dataset") == "zeek.rdp"
    assert get(run([line], "/data/zeek/rdp.json")[0], "zeek.rdp.cookie") == "admin"
    assert get(run([line], "-")[0], "event.dataset") == "zeek.unknown"


def test_gzip_logs_are_read_transparently_and_a_truncated_one_is_reported(tmp_path: Path) -> None:
    lines = tsv("weird", "ts\tuid\tname", "time\tstring\tstring",
                *(f"17000000{i:02d}.000001\tC{i}\tbad_TCP_checksum" for i in range(50)))
    good = tmp_path / "weird.log.gz"
    good.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    items = list(read_lines(str(good)))
    assert [text for _, text in items] == lines  # type: ignore[misc]
    assert len(run([text for _, text in items], str(good))) == 50  # type: ignore[misc]
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(good.read_bytes()[:-30])
    items = list(read_lines(str(cut)))
    assert isinstance(items[-1], Unreadable) and "gzip" in items[-1].reason
    assert 0 < len(items) - 1 <= len(lines)
    plain = tmp_path / "weird.log"
    plain.write_text("\n".join(lines) + "\n")
    assert [text for _, text in read_lines(str(plain))] == lines  # type: ignore[misc]


CORPUS_LOGS = ("dns", "ssl", "notice", "weird", "x509", "rdp", "smtp", "ntlm", "loaded_scripts")


def _zeek_events(path: Path, limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    parser: Parser = parsers.get("zeek")().for_source(str(path))
    events, skipped = [], 0
    for _, line in read_lines(str(path)):  # type: ignore[misc]
        event = parser.parse(line)
        if event is None:
            skipped += 1
        else:
            events.append(event)
            if limit is not None and len(events) >= limit:
                break
    return events, skipped


def test_every_record_of_the_brimdata_tsv_logs_parses(corpora: Path) -> None:
    root = corpora / "zeek" / "brimdata-zed-sample-data" / "zeek-default"
    datasets: Counter[str] = Counter()
    for path in sorted(root.glob("*.log.gz")):
        events, _ = _zeek_events(path)  # a ParseError fails the test
        datasets.update(get(e, "event.dataset") for e in events)
    assert len(datasets) == 31 and "zeek.loaded_scripts" not in datasets
    assert datasets["zeek.dns"] == 53615 and datasets["zeek.ssl"] == 49474 and datasets["zeek.weird"] == 24202


def test_brimdata_tsv_and_json_logs_agree(corpora: Path) -> None:
    root = corpora / "zeek" / "brimdata-zed-sample-data"
    for log in CORPUS_LOGS:
        tsv_events, tsv_skipped = _zeek_events(root / "zeek-default" / f"{log}.log.gz", limit=3000)
        json_events, _ = _zeek_events(root / "zeek-json" / f"{log}.json.gz", limit=3000)
        assert len(tsv_events) == len(json_events), log
        if log == "loaded_scripts":  # a list of Zeek's own scripts, no time: skipped, not events
            assert tsv_events == [] and tsv_skipped > 500
            continue
        assert tsv_events, log
        for a, b in zip(tsv_events, json_events, strict=True):
            for field in ("@timestamp", "event.dataset", "event.kind", "source.ip", "destination.port",
                          "network.community_id", "zeek.session_id", "dns.question.name", "dns.resolved_ip",
                          "rule.name", "tls.version", "tls.cipher"):
                assert get(a, field) == get(b, field), (log, field, get(a, field), get(b, field))
        if log == "dns":
            assert Counter(get(e, "dns.question.type") for e in tsv_events)["A"] > 500
        if log == "notice":
            assert {get(e, "event.kind") for e in tsv_events} == {"alert"}
            assert "SSL::Invalid_Server_Cert" in {get(e, "rule.name") for e in tsv_events}
            first = finalize(tsv_events[0], parsers.get("zeek")(), "raw", "notice.log")
            assert get(first, "related.ip") == ["10.164.94.120", "10.47.3.200"]


MASK = "XXXXXXXXXX.XXXXXX"


def test_zeek_baselines_parse_once_unmasked_and_masked_times_are_refused(corpora: Path) -> None:
    root = corpora / "zeek" / "zeek-btest-baselines"
    counts: Counter[str] = Counter()
    for path in sorted(root.glob("*/*.log")):
        text = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
        types = next((line for line in text if line.startswith("#types")), "")
        if "time" not in types:
            continue  # zeek-cut output (no header), or a synthetic log without any time column
        masked = parsers.get("zeek")().for_source(str(path))
        unmasked = parsers.get("zeek")().for_source(str(path))
        for line in text:
            if line.startswith("#"):
                masked.parse(line)
                unmasked.parse(line)
                continue
            event = unmasked.parse(line.replace(MASK, "1700000000.123456"))
            if event is not None:
                counts[get(event, "event.dataset")] += 1
            if re.match(r"^(XXXXXXXXXX\.XXXXXX)", line):
                with pytest.raises(ParseError, match="masked"):
                    masked.parse(line)
    assert counts["zeek.connection"] > 600 and counts["zeek.http"] > 150
    assert counts["zeek.dns"] > 50 and counts["zeek.ssh"] > 50 and counts["zeek.notice"] > 20


def test_ingesting_gzip_tsv_and_json_notices_stores_the_same_alerts(corpora: Path, platform: Any) -> None:
    from cert.core.event_store import EventQuery
    from cert.pipeline.ingestor import Ingestor

    root = corpora / "zeek" / "brimdata-zed-sample-data"
    ingestor = Ingestor(platform, "zeek")
    for path in (root / "zeek-default" / "notice.log.gz", root / "zeek-json" / "notice.json.gz"):
        summary = ingestor.ingest(ingestor.parser.read(str(path)), source=str(path))
        assert (summary.ingested, summary.dead_lettered) == (207, 0), summary
    platform.events.refresh()
    query = EventQuery(terms={"event.dataset": ["zeek.notice"], "rule.name": ["SSL::Invalid_Server_Cert"]},
                       limit=1000)
    stored = platform.events.search(query)
    assert len(stored) == 2 * len([e for e in stored if get(e, "log.file.path", "").endswith(".log.gz")])
    assert {get(e, "event.kind") for e in stored} == {"alert"}


def test_undecodable_bytes_become_replacement_characters_not_errors() -> None:
    # read_lines keeps undecodable bytes as lone surrogates; an event must still be storable as UTF-8.
    lines = tsv("http", "ts\tuid\thost\turi", "time\tstring\tstring\tstring",
                "1700000000.0\tC1\tbad\udcffhost.example\t/\\xff\\xfe")
    (event,) = run(lines)
    assert get(event, "url.domain") == "bad\ufffdhost.example"
    assert get(event, "url.original") == "/\ufffd\ufffd"
    event["url"]["original"].encode("utf-8")


def test_a_reader_resuming_mid_file_still_has_the_header(tmp_path: Path) -> None:
    lines = tsv("weird", "ts\tuid\tname", "time\tstring\tstring",
                *(f"17000000{i:02d}.000001\tC{i}\tbad_TCP_checksum" for i in range(5)))
    for path in (tmp_path / "weird.log", tmp_path / "weird.log.gz"):
        data = ("\n".join(lines) + "\n").encode()
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
        parser = parsers.get("zeek")().for_source(str(path))
        event = parser.parse(lines[-1])  # as after a checkpoint: the header lines are not read again
        assert get(event, "rule.name") == "bad_TCP_checksum" and get(event, "zeek.session_id") == "C4"
