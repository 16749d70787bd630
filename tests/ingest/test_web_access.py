from pathlib import Path

from harness import ParserCase

from cert.ecs import get


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
    ]
    malformed = ["garbage", '1.2.3.4 - - [99/Foo/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1']


def test_every_line_of_the_elastic_apache_sample_parses(corpora: Path) -> None:
    parser = TestWebAccess().parser
    lines = (corpora / "web" / "elastic-examples" / "apache_logs").read_text().splitlines()
    events = [parser.parse(line) for line in lines]
    assert len(events) == 10_000
    assert all(get(e, "source.ip") and get(e, "http.request.method") for e in events)
    statuses = {get(e, "http.response.status_code") for e in events}
    assert {200, 304, 404} <= statuses
