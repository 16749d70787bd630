from datetime import datetime
from pathlib import Path

from harness import ParserCase
from tests_paths import fail2ban, fail2ban_time

from cert.core.ecs import get
from cert.core.parser import ParseError


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
    ]
    malformed = [
        "garbage",
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
