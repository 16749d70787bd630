"""The ECS fields the Ingestor derives for every parsed event, whatever its parser, as Elastic's
pipelines write them, and the dataset names of Elastic's modules:

* ``dns.question.registered_domain`` / ``subdomain`` / ``top_level_domain`` (and ``url.*``'s)
  from the bundled Public Suffix List: the cases of Filebeat's ``registered_domain`` processor test
  (libbeat/processors/registered_domain/registered_domain_test.go), and through the Ingestor for
  Suricata, Zeek and BIND DNS events (Suricata on its native fast path and off it);
* ``user_agent.name`` / ``version`` / ``os.*`` / ``device.name`` by the uap-core regexes: the
  lines and values of Filebeat's nginx module test (filebeat/module/nginx/access/test/test.log
  and its expected events), Suricata and Zeek HTTP events;
* ``event.dataset`` / ``event.module``: ``nginx.access`` and ``apache.access`` parsers beside
  ``web.access``, Zeek conn as ``zeek.connection`` (Filebeat's fileset name);
* ``labels.vigie_parser``: the parser that read the event, on both EVE paths.
"""

from __future__ import annotations

from typing import Any

import pytest
from harness import ParserCase

from cert.core.ecs import Event, get
from cert.core.event_store import EventQuery
from cert.core.parser import parsers
from cert.enrichment import user_agent
from cert.enrichment.domains import split
from cert.enrichment.fields import enrich
from cert.pipeline.ingestor import Ingestor, finalize
from cert.runtime.platform import Platform

# Filebeat's nginx module test lines (filebeat/module/nginx/access/test/test.log), client lists aside.
NGINX_FIREFOX = ('172.17.0.1 - - [07/Dec/2016:10:05:07 +0000] "GET /ocelot HTTP/1.1" 200 571 "-" '
                 '"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.12; rv:49.0) Gecko/20100101 Firefox/49.0"')
NGINX_CLOUDFRONT = ('199.96.1.1 - - [22/Jan/2016:13:18:29 +0000] "GET /assets/xxxx?q=100 HTTP/1.1" 200 25507 "-" '
                    '"Amazon CloudFront"')
NGINX_FACEBOT = ('2a03:0000:10ff:f00f:0000:0000:0:8000 - - [30/Dec/2016:06:47:09 +0000] "GET /test.html HTTP/1.1" '
                 '404 8571 "-" "Mozilla/5.0 (compatible; Facebot 1.0; '
                 'https://developers.facebook.com/docs/sharing/webmasters/crawler)"')
# EVE records as Suricata's documentation shows them (docs/userguide/output/eve/eve-json-format.rst).
EVE_DNS = ('{"timestamp":"2026-11-21T10:03:00.000000Z","flow_id":1,"event_type":"dns","src_ip":"10.16.1.10",'
           '"src_port":44364,"dest_ip":"10.16.1.11","dest_port":53,"proto":"UDP","dns":{"version":3,'
           '"type":"request","tx_id":0,"id":16000,"flags":"100","rd":true,"queries":[{"rrname":'
           '"www.mail.google.co.uk","rrtype":"A"}]}}')
EVE_DNS_V2 = ('{"timestamp":"2026-11-21T10:03:01.000000Z","flow_id":2,"event_type":"dns","src_ip":"10.16.1.10",'
              '"src_port":44365,"dest_ip":"10.16.1.11","dest_port":53,"proto":"UDP","dns":{"type":"query",'
              '"id":16001,"rrname":"portail.impots.gouv.fr","rrtype":"A","tx_id":0}}')
EVE_HTTP = ('{"timestamp":"2026-11-21T10:04:00.000000Z","flow_id":3,"event_type":"http","src_ip":"192.0.2.10",'
            '"src_port":51800,"dest_ip":"198.51.100.80","dest_port":80,"proto":"TCP","tx_id":0,"http":{'
            '"hostname":"www.service-public.gouv.fr","url":"/particuliers","http_user_agent":'
            '"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0","http_method":"GET",'
            '"protocol":"HTTP/1.1","status":200,"length":512}}')
# Zeek logs as Zeek's JSON writer writes them (docs.zeek.org, dns.log / http.log / conn.log).
ZEEK_DNS = ('{"_path":"dns","ts":1700000000.25,"uid":"CqKst53mF3det3eDV9","id.orig_h":"10.47.1.100",'
            '"id.orig_p":41772,"id.resp_h":"10.0.0.100","id.resp_p":53,"proto":"udp","trans_id":36329,'
            '"query":"_ldap._tcp.dc._msdcs.ministere.example.com","qclass":1,"qclass_name":"C_INTERNET","qtype":33,'
            '"qtype_name":"SRV","rcode":0,"rcode_name":"NOERROR","AA":false,"TC":false,"RD":true,"RA":true,'
            '"Z":0,"rejected":false}')
ZEEK_HTTP = ('{"_path":"http","ts":1700000000.5,"uid":"CHhAvVGS1DHFjwGM9","id.orig_h":"192.0.2.10",'
             '"id.orig_p":51800,"id.resp_h":"198.51.100.80","id.resp_p":80,"trans_depth":1,"method":"GET",'
             '"host":"etat-civil.example.gov","uri":"/","version":"1.1","user_agent":"curl/8.5.0",'
             '"request_body_len":0,"response_body_len":1234,"status_code":200,"status_msg":"OK","tags":[]}')
ZEEK_CONN = ('{"_path":"conn","ts":1521911721.255387,"uid":"CXWv6p3arKYeMETxOg","id.orig_h":"192.168.1.102",'
             '"id.orig_p":68,"id.resp_h":"192.168.1.1","id.resp_p":67,"proto":"udp","service":"dhcp",'
             '"duration":0.163820,"orig_bytes":301,"resp_bytes":300,"conn_state":"SF","missed_bytes":0,'
             '"history":"Dd","orig_pkts":1,"orig_ip_bytes":329,"resp_pkts":1,"resp_ip_bytes":328}')
# BIND 9 query log (ISC's BIND 9 Administrator Reference Manual, "The query Category").
BIND = ("21-Nov-2026 10:00:00.123 queries: info: client @0x7f3a2c0b1d60 192.0.2.1#53221 (WWW.Example.COM.): "
        "query: WWW.Example.COM. IN A +E(0)K (192.0.2.53)")


def ingest(platform: Platform, parser: str, lines: list[str]) -> list[Event]:
    summary = Ingestor(platform, parser).ingest(enumerate(lines, 1), source=f"/var/log/{parser}.log")
    assert summary.ingested == len(lines) and summary.dead_lettered == 0, summary
    platform.events.refresh()
    found = platform.events.search(EventQuery(limit=100))
    return sorted(found, key=lambda e: str(get(e, "@timestamp")))


def fields(event: Event, prefix: str, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: get(event, f"{prefix}.{name}") for name in names}


DOMAIN = ("registered_domain", "subdomain", "top_level_domain")


# -- the Public Suffix List ---------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    # Filebeat's registered_domain processor test cases
    ("www.google.com", ("google.com", "com", "www")),
    ("www.google.co.uk", ("google.co.uk", "co.uk", "www")),
    ("www.mail.google.co.uk", ("google.co.uk", "co.uk", "www.mail")),
    ("google.com", ("google.com", "com", "")),
    ("www.ak.local", ("ak.local", "local", "www")),
    ("www.navy.mil", ("navy.mil", "mil", "www")),
    ("com", None),
    (".", None),
    ("", None),
    ("localhost", None),
    # the private section: a hosting customer's name is its own registered domain
    ("cert.github.io", ("cert.github.io", "github.io", "")),
    # as DNS writes names: any case, a trailing dot
    ("WWW.Example.COM.", ("example.com", "com", "www")),
    # not DNS names
    ("192.0.2.1", None),
    ("2001:db8::1", None),
    ("a..example.com", None),
    ("bad name.example.com", None),
    ("\x00.example.com", None),
    ("x" * 250 + ".com", None),
])
def test_domain_parts_follow_filebeats_registered_domain_processor(name: str, expected: tuple[str, ...] | None) -> None:
    assert split(name) == expected


def test_dns_questions_of_every_parser_get_their_domain_parts(ingest_platform: Platform) -> None:
    eve = ingest(ingest_platform, "suricata.eve", [EVE_DNS, EVE_DNS_V2])
    assert [fields(e, "dns.question", DOMAIN) for e in eve] == [
        {"registered_domain": "google.co.uk", "subdomain": "www.mail", "top_level_domain": "co.uk"},
        # gouv.fr is a public suffix of the list's ICANN section
        {"registered_domain": "impots.gouv.fr", "subdomain": "portail", "top_level_domain": "gouv.fr"},
    ]
    zeek = ingest(ingest_platform, "zeek", [ZEEK_DNS])
    assert fields(next(e for e in zeek if get(e, "event.dataset") == "zeek.dns"), "dns.question", DOMAIN) == {
        "registered_domain": "example.com", "subdomain": "_ldap._tcp.dc._msdcs.ministere", "top_level_domain": "com"}
    bind = ingest(ingest_platform, "bind.query", [BIND])
    event = next(e for e in bind if get(e, "event.dataset") == "bind.query")
    assert fields(event, "dns.question", DOMAIN) == {
        "registered_domain": "example.com", "subdomain": "www", "top_level_domain": "com"}


def test_dns_domain_parts_are_the_same_off_the_native_fast_path(ingest_platform: Platform,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_NATIVE", "0")
    events = ingest(ingest_platform, "suricata.eve", [EVE_DNS])
    assert fields(events[0], "dns.question", DOMAIN) == {
        "registered_domain": "google.co.uk", "subdomain": "www.mail", "top_level_domain": "co.uk"}


def test_url_domains_get_their_parts(ingest_platform: Platform) -> None:
    eve = next(e for e in ingest(ingest_platform, "suricata.eve", [EVE_HTTP]))
    assert fields(eve, "url", DOMAIN) == {
        "registered_domain": "service-public.gouv.fr", "subdomain": "www", "top_level_domain": "gouv.fr"}


def test_derived_fields_already_set_are_kept() -> None:
    event: Event = {"dns": {"question": {"name": "www.example.com", "registered_domain": "given.example"}},
                    "user_agent": {"original": "curl/8.5.0", "name": "given"}}
    enrich(event)
    assert event == {"dns": {"question": {"name": "www.example.com", "registered_domain": "given.example"}},
                     "user_agent": {"original": "curl/8.5.0", "name": "given"}}


@pytest.mark.parametrize("junk", [None, 42, ["a.example.com"], {"x": 1}, ""])
def test_junk_names_and_agents_add_nothing(junk: object) -> None:
    event: Event = {"dns": {"question": {"name": junk}}, "url": {"domain": junk}, "user_agent": {"original": junk}}
    enrich(event)
    assert event == {"dns": {"question": {"name": junk}}, "url": {"domain": junk}, "user_agent": {"original": junk}}


# -- user agents --------------------------------------------------------------------------------

UA = ("name", "version", "os.name", "os.version", "os.full", "device.name")


def test_access_log_user_agents_as_elastics_user_agent_processor(ingest_platform: Platform) -> None:
    """Filebeat's nginx test events give these values (device names aside: uap-core names Macs
    ``Mac`` since those expected files were written)."""
    events = ingest(ingest_platform, "nginx.access", [NGINX_FIREFOX, NGINX_CLOUDFRONT, NGINX_FACEBOT])
    by_agent = {get(e, "user_agent.original"): fields(e, "user_agent", UA) for e in events}
    assert by_agent[NGINX_FIREFOX.rsplit('"', 2)[1]] == {
        "name": "Firefox", "version": "49.0", "os.name": "Mac OS X", "os.version": "10.12",
        "os.full": "Mac OS X 10.12", "device.name": "Mac"}
    assert by_agent["Amazon CloudFront"] == {
        "name": "Other", "version": None, "os.name": None, "os.version": None, "os.full": None, "device.name": "Other"}
    facebot = next(v for k, v in by_agent.items() if "Facebot" in str(k))
    assert facebot == {"name": "Facebot", "version": "1.0", "os.name": None, "os.version": None, "os.full": None,
                       "device.name": "Spider"}


def test_sensor_http_user_agents_are_parsed(ingest_platform: Platform) -> None:
    eve = ingest(ingest_platform, "suricata.eve", [EVE_HTTP])[0]
    assert fields(eve, "user_agent", UA) == {
        "name": "Firefox", "version": "115.0", "os.name": "Linux", "os.version": None, "os.full": None,
        "device.name": "Other"}
    zeek = next(e for e in ingest(ingest_platform, "zeek", [ZEEK_HTTP]) if get(e, "event.dataset") == "zeek.http")
    assert fields(zeek, "user_agent", UA) == {
        "name": "curl", "version": "8.5.0", "os.name": None, "os.version": None, "os.full": None,
        "device.name": "Other"}


def test_an_overlong_user_agent_is_left_unparsed() -> None:
    agent = "Mozilla/5.0 (" + "a; " * 3000 + ")"
    ua: dict[str, Any] = {"original": agent}
    enrich({"user_agent": ua})
    assert ua == {"original": agent}
    short = {"original": "Mozilla/5.0 (" + "a; " * ((user_agent.MAX_LENGTH - 20) // 3) + ")"}
    enrich({"user_agent": short})
    assert short["name"] == "Other"


def test_parsed_user_agents_are_cached_and_events_do_not_share_objects() -> None:
    user_agent.parse.cache_clear()
    first: Event = {"user_agent": {"original": "curl/8.5.0"}}
    second: Event = {"user_agent": {"original": "curl/8.5.0"}}
    enrich(first)
    enrich(second)
    assert user_agent.parse.cache_info().hits == 1
    assert first == second and first["user_agent"]["device"] is not second["user_agent"]["device"]


# -- datasets and the parser's name -------------------------------------------------------------

@pytest.mark.parametrize(("parser", "dataset", "module"), [
    ("nginx.access", "nginx.access", "nginx"),
    ("apache.access", "apache.access", "apache"),
    ("web.access", "web.access", "web"),
])
def test_access_log_datasets_follow_elastics_modules(ingest_platform: Platform, parser: str, dataset: str,
                                                    module: str) -> None:
    event = ingest(ingest_platform, parser, [NGINX_FIREFOX])[0]
    assert (get(event, "event.dataset"), get(event, "event.module")) == (dataset, module)
    assert get(event, "labels.vigie_parser") == parser


def test_the_same_line_gets_a_different_id_per_dataset() -> None:
    ids = {finalize(parsers.get(name)().parse(NGINX_FIREFOX) or {}, parsers.get(name)(), NGINX_FIREFOX, "a.log")
           ["event"]["id"] for name in ("nginx.access", "apache.access", "web.access")}
    assert len(ids) == 3


def test_zeek_conn_is_filebeats_connection_dataset(ingest_platform: Platform) -> None:
    events = ingest(ingest_platform, "zeek", [ZEEK_CONN])
    conn = next(e for e in events if get(e, "source.ip") == "192.168.1.102")
    assert get(conn, "event.dataset") == "zeek.connection"
    assert get(conn, "zeek.connection.conn_state") == "SF"


@pytest.mark.parametrize("native", ["1", "0"])
def test_every_event_names_the_parser_that_read_it(ingest_platform: Platform, monkeypatch: pytest.MonkeyPatch,
                                                  native: str) -> None:
    monkeypatch.setenv("VIGIE_NATIVE", native)
    eve = ingest(ingest_platform, "suricata.eve", [EVE_DNS, EVE_HTTP])
    assert {get(e, "labels.vigie_parser") for e in eve} == {"suricata.eve"}
    zeek = ingest(ingest_platform, "zeek", [ZEEK_CONN])
    assert {get(e, "labels.vigie_parser") for e in zeek} == {"suricata.eve", "zeek"}


def test_static_labels_keep_the_parser_label(ingest_platform: Platform) -> None:
    Ingestor(ingest_platform, "suricata.eve", static_fields={"labels.site": "dakar", "labels.vigie_parser": "x"}
             ).ingest(enumerate([EVE_DNS], 1), source="/var/log/suricata/eve.json")
    ingest_platform.events.refresh()
    [event] = ingest_platform.events.search(EventQuery(limit=10))
    assert event["labels"] == {"site": "dakar", "vigie_parser": "suricata.eve"}


class TestNginxAccess(ParserCase):
    parser_name = "nginx.access"
    samples = [(NGINX_FIREFOX, {"source.ip": "172.17.0.1", "url.original": "/ocelot",
                                "http.response.status_code": 200})]
    malformed = ["not an access log line"]


class TestApacheAccess(ParserCase):
    parser_name = "apache.access"
    # Apache's combined LogFormat (httpd.apache.org/docs/2.4/logs.html)
    samples = [('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
                '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"',
                {"user.name": "frank", "@timestamp": "2000-10-10T20:55:36.000Z", "url.original": "/apache_pb.gif"})]
    malformed = ["[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration"]


def test_nginx_and_apache_parsers_are_the_web_access_parser() -> None:
    web = parsers.get("web.access")
    assert all(issubclass(parsers.get(name), web) and parsers.get(name).parse is web.parse
               for name in ("nginx.access", "apache.access"))

