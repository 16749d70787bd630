from datetime import datetime
from pathlib import Path

from harness import ParserCase
from tests_paths import fail2ban, fail2ban_time

from cert.core.ecs import get
from cert.core.parser import ParseError, ParserOptions, parsers
from cert.core.registry import load_plugins
from ingest.parsers.web_access import WebAccessParser


class TestWebAccess(ParserCase):
    parser_name = "web.access"
    samples = [
        (
            '83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png '
            'HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh)"',
            {
                "@timestamp": "2015-05-17T10:05:03.000Z",
                "source.ip": "83.149.9.216",
                "http.request.method": "GET",
                "http.response.status_code": 200,
                "http.response.body.bytes": 203023,
                "url.extension": "png",
                "user_agent.original": "Mozilla/5.0 (Macintosh)",
                "event.outcome": "success",
            },
        ),
        (
            '198.51.100.77 - - [20/Nov/2026:08:31:02 +0000] "GET /recherche?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E '
            'HTTP/1.1" 403 150 "-" "sqlmap/1.8"',
            {
                "url.query": "q=<script>alert(document.cookie)</script>",
                "url.path": "/recherche",
                "url.original": "/recherche?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E",
                "event.outcome": "failure",
            },
        ),
        (
            '10.0.0.1 - alice [01/Jan/2026:00:00:00 +0100] "POST /login HTTP/1.0" 302 -',
            {"user.name": "alice", "@timestamp": "2025-12-31T23:00:00.000Z", "http.response.status_code": 302},
        ),
        (  # Apache vhost_combined: %v:%p first
            'etat-civil.gouv.example:443 192.0.2.27 - - [20/Nov/2026:07:55:29 +0000] "GET /actes/naissance HTTP/1.1" '
            '200 36413 "https://etat-civil.gouv.example/" "Mozilla/5.0"',
            {"destination.domain": "etat-civil.gouv.example", "destination.port": 443, "source.ip": "192.0.2.27",
             "url.path": "/actes/naissance", "http.response.status_code": 200},
        ),
        (  # nginx "$host $remote_addr ..." with the trailing "$http_x_forwarded_for"
            'www.sitename.com 2001:db8::7 - - [18/Aug/2024:21:08:39 +0100] "GET /filename.jpg HTTP/1.1" 403 332 "-" '
            '"TrackBack/1.02" "-"',
            {"destination.domain": "www.sitename.com", "source.ip": "2001:db8::7", "@timestamp": "2024-08-18T20:08:39.000Z",
             "event.outcome": "failure"},
        ),
        (  # a client host name (HostnameLookups On) and a time without offset
            'crawler.example.net - user1 [27/Jun/2013:11:55:44] "GET /knocking/ HTTP/1.1" 200 266',
            {"source.domain": "crawler.example.net", "source.ip": None, "@timestamp": "2013-06-27T11:55:44.000Z"},
        ),
        (  # four fields before the time: the first is the client, not a virtual host
            '10.11.12.13 - - - [11/Jan/2021:10:13:05 +0000] "GET /etat-civil HTTP/1.1" 200 512',
            {"source.ip": "10.11.12.13", "destination.domain": None, "url.path": "/etat-civil"},
        ),
        (  # an access line forwarded through syslog (Apache's ErrorLog/CustomLog "|logger -t apache")
            'Jan 11 10:13:05 web01 apache: 203.0.113.5 - - [11/Jan/2021:10:13:05 +0000] "GET /?q=1 HTTP/1.1" 200 512 '
            '"-" "curl/8.0"',
            {"source.ip": "203.0.113.5", "url.query": "q=1", "http.request.method": "GET", "host.name": "web01",
             "observer.hostname": "web01", "event.dataset": "apache.access", "event.module": "apache",
             "@timestamp": "2021-01-11T10:13:05.000Z", "user_agent.original": "curl/8.0"},
        ),
        (  # nginx's access_log syslog:server=... (facility local7, tag nginx)
            '<190>Jan 11 10:13:06 web02 nginx: 198.51.100.2 - - [11/Jan/2021:10:13:06 +0000] "POST /login HTTP/1.1" 401 '
            '12 "-" "Mozilla/5.0"',
            {"source.ip": "198.51.100.2", "event.dataset": "nginx.access", "log.syslog.facility.name": "local7",
             "http.response.status_code": 401, "host.name": "web02"},
        ),
        (
            '2021-01-11T10:13:07+00:00 web03 httpd[123]: 192.0.2.9 - - [11/Jan/2021:10:13:07 +0000] "GET / HTTP/1.1" '
            '200 1',
            {"source.ip": "192.0.2.9", "event.dataset": "apache.access", "process.pid": 123, "host.name": "web03"},
        ),
    ]
    malformed = [
        "garbage",
        "Jan 11 10:13:05 web01 apache: not an access line",
        "Jan 11 10:13:05 web01 apache: 1.2.3.4 - - [11/Jan/2021:10:13:05 +0000] GET without quotes",
        '1.2.3.4 - - [99/Foo/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1',
        '1.2.3.4 - - [31/Feb/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1',
        '1.2.3.4 - - [01/Jan/2026:00:00:00 +2500] "GET / HTTP/1.1" 200 1',
    ]


def test_every_line_of_the_elastic_apache_sample_parses(corpora: Path) -> None:
    parser = TestWebAccess().parser
    lines = (corpora / "web" / "elastic-examples" / "apache_logs").read_text().splitlines()
    events = [parser.parse(line) for line in lines]
    assert len(events) == 10_000
    assert all(get(e, "source.ip") and get(e, "http.request.method") for e in events)
    statuses = {get(e, "http.response.status_code") for e in events}
    assert {200, 304, 404} <= statuses


ACCESS_LOGS = ("apache-badbots", "apache-fakegooglebot", "apache-pass", "nginx-bad-request", "nginx-botsearch",
               "traefik-auth")


def test_fail2ban_access_log_samples_give_the_labelled_client_and_time(corpora: Path) -> None:
    """fail2ban labels its web samples with the client address and the time (in Europe/Zurich,
    see tests_paths.fail2ban_time): every access-log line among them (with or without a virtual
    host in front) must give both; the error-log lines mixed in are refused."""
    parser = TestWebAccess().parser
    checked = refused = 0
    for name in ACCESS_LOGS:
        for label, line in fail2ban(corpora, name):
            if "host" not in label or "time" not in label:
                continue
            try:
                event = parser.parse(line)
            except ParseError:
                assert "[error]" in line or " - - - [" in line, line  # nginx error log; a custom LogFormat
                refused += 1
                continue
            assert event is not None
            assert get(event, "source.address") == label["host"], line
            ts = datetime.fromisoformat(event["@timestamp"].replace("Z", "+00:00"))
            assert ts == fail2ban_time(label["time"], zoned=" +" in line or " -0" in line), line
            checked += 1
    assert checked >= 25 and refused <= 6, (checked, refused)


# nginx behind proxies: Filebeat's nginx/access/test/test.log; its pipeline takes the first public
# address of the list as source.ip (else the first) and keeps the list in nginx.access.remote_ip_list.
NGINX_LISTS = [
    ('10.0.0.2, 10.0.0.1, 127.0.0.1 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot HTTP/1.1" 200 571 "-" '
     '"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.12; rv:49.0) Gecko/20100101 Firefox/49.0"',
     "10.0.0.2", ["10.0.0.2", "10.0.0.1", "127.0.0.1"]),
    ('10.0.0.2, 10.0.0.1, 85.181.35.98 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot HTTP/1.1" 200 571 "-" '
     '"Mozilla/5.0"', "85.181.35.98", ["10.0.0.2", "10.0.0.1", "85.181.35.98"]),
    ('"10.5.102.222, 199.96.1.1, 204.246.1.1" 10.2.1.185 - - [22/Jan/2016:13:18:29 +0000] '
     '"GET /assets/xxxx?q=100 HTTP/1.1" 200 25507 "-" "Amazon CloudFront"',
     "199.96.1.1", ["10.5.102.222", "199.96.1.1", "204.246.1.1", "10.2.1.185"]),
    ('2a03:0000:10ff:f00f:0000:0000:0:8000, 10.225.192.17 10.2.2.121 - - [30/Dec/2016:06:47:09 +0000] '
     '"GET /test.html HTTP/1.1" 404 8571 "-" "Mozilla/5.0 (compatible; Facebot 1.0)"',
     "2a03:0:10ff:f00f::8000", ["2a03:0000:10ff:f00f:0000:0000:0:8000", "10.225.192.17", "10.2.2.121"]),
]


def test_nginx_client_lists_give_the_first_public_address() -> None:
    parser = WebAccessParser()
    for line, source, addresses in NGINX_LISTS:
        event = parser.parse(line)
        assert event is not None
        assert get(event, "source.ip") == source, line
        assert get(event, "nginx.access.remote_ip_list") == addresses
        assert get(event, "http.request.method") == "GET"
        assert get(event, "user.name") is None and get(event, "destination.domain") is None


def test_apache_ssl_request_log_lines() -> None:
    # mod_ssl's ssl_request_log: CustomLog ... "%t %h %{SSL_PROTOCOL}x %{SSL_CIPHER}x \"%r\" %b" (Apache's
    # httpd-ssl.conf); fields as Filebeat's apache/access/test/ssl-request.log-expected.json
    line = ('[10/Aug/2018:09:45:56 +0200] 172.30.0.119 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 '
            '"GET /nagiosxi/ajaxhelper.php?cmd=getxicoreajax HTTP/1.1" 1375')
    event = WebAccessParser().parse(line)
    assert event is not None
    assert event["@timestamp"] == "2018-08-10T07:45:56.000Z"
    assert get(event, "source.ip") == "172.30.0.119"
    assert get(event, "tls.version") == "1.2" and get(event, "tls.version_protocol") == "tls"
    assert get(event, "tls.cipher") == "ECDHE-RSA-AES128-GCM-SHA256"
    assert get(event, "http.request.method") == "GET" and get(event, "http.version") == "1.1"
    assert get(event, "url.path") == "/nagiosxi/ajaxhelper.php"
    assert get(event, "http.response.body.bytes") == 1375
    no_size = WebAccessParser().parse('[16/Oct/2019:11:53:47 +0200] 11.19.0.217 TLSv1 AES256-SHA "GET / HTTP/1.1" -')
    assert no_size is not None and get(no_size, "tls.version") == "1.0" and get(no_size, "http.response.body.bytes") is None


def test_a_non_http_request_line_is_kept_in_the_original_only_and_tagged() -> None:
    # a TLS ClientHello sent to a plain-HTTP port, as nginx logs it (\x escapes); Filebeat's nginx
    # pipeline extracts no HTTP field from such a request and keeps it in the original message
    line = '10.0.0.9 - - [12/Apr/2018:09:48:40 +0200] "\\x16\\x03\\x01\\x00\\xa5\\x01\\x00\\x00" 400 157 "-" "-"'
    event = WebAccessParser().parse(line)
    assert event is not None
    assert get(event, "http.request.body.content") is None
    assert get(event, "http.request.method") is None and get(event, "url.original") is None
    assert get(event, "event.original") == line
    assert get(event, "tags") == ["non_http_request"]
    assert get(event, "http.response.status_code") == 400


def test_an_access_time_without_offset_is_in_the_source_time_zone() -> None:
    line = '10.0.0.1 - - [01/Jul/2026:12:00:00] "GET / HTTP/1.1" 200 10'
    utc = WebAccessParser().parse(line)
    assert utc is not None and utc["@timestamp"] == "2026-07-01T12:00:00.000Z" and get(utc, "event.timezone") is None
    parser = WebAccessParser().configure(ParserOptions(timezone="Europe/Paris"))
    local = parser.parse(line)
    assert local is not None and local["@timestamp"] == "2026-07-01T10:00:00.000Z"
    assert get(local, "event.timezone") == "Europe/Paris"
    with_offset = parser.parse('10.0.0.1 - - [01/Jul/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 10')
    assert with_offset is not None and with_offset["@timestamp"] == "2026-07-01T12:00:00.000Z"
    assert get(with_offset, "event.timezone") is None


def test_the_syslog_parser_reads_forwarded_access_lines_as_access_logs() -> None:
    """The same forwarded line through ``syslog``: the access fields and the syslog host; a message
    that merely holds a bracketed date stays an ordinary syslog message."""
    load_plugins(["ingest.parsers"])
    syslog = parsers.get("syslog")()
    ev = syslog.parse('<190>Jan 11 10:13:05 web01 apache: 203.0.113.5 - - [11/Jan/2021:10:13:05 +0000] '
                      '"GET /admin/.env HTTP/1.1" 404 12 "-" "sqlmap/1.7"')
    assert ev is not None
    assert get(ev, "event.category") == ["web"] and get(ev, "url.path") == "/admin/.env"
    assert get(ev, "source.ip") == "203.0.113.5" and get(ev, "host.name") == "web01"
    assert get(ev, "event.dataset") == "apache.access" and get(ev, "http.response.status_code") == 404
    assert get(ev, "user_agent.original") == "sqlmap/1.7" and get(ev, "log.syslog.facility.name") == "local7"
    other = syslog.parse("Jan 11 10:13:05 app01 cron[1]: job [11/Jan/2021:10:13:05 +0000] done")
    assert other is not None and other["message"] == "job [11/Jan/2021:10:13:05 +0000] done"
    assert get(other, "event.category") is None
