"""IIS access logs in the W3C extended format (``iis.access``).

Lines built from Microsoft's documentation: "W3C Extended Log File Format (IIS 6.0)" (its example
header and line, with ``cs(Referrer)``), the fields IIS 7 to 10 log by default ("Configure Logging
in IIS", the same layout as the lines of Filebeat's iis module tests, elastic/beats
``filebeat/module/iis/access/test``), and the HTTP Server API's W3C field list (``s-sitename``,
``s-computername``, ``cs-version``, ``cs-host``, ``sc-bytes``, ``cs-bytes``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from harness import ParserCase

from cert.core.config import Settings
from cert.core.ecs import get
from cert.core.parser import parsers
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import Ingestor
from cert.runtime.platform import Platform
from cert.storage.events import EventQuery
from detectors.sigma.detector import SigmaDetector

load_plugins(["ingest.parsers", "detectors"])

IIS6_HEADER = [
    "#Software: Microsoft Internet Information Services 6.0",
    "#Version: 1.0",
    "#Date: 2002-05-24 20:18:01",
    "#Fields: date time c-ip cs-username s-ip s-port cs-method cs-uri-stem cs-uri-query sc-status sc-bytes cs-bytes "
    "time-taken cs(User-Agent) cs(Referrer)",
]
IIS6_LINE = ("2002-05-24 20:18:01 172.224.24.114 - 206.73.118.24 80 GET /Default.htm - 200 7930 248 31 "
             "Mozilla/4.0+(compatible;+MSIE+5.01;+Windows+2000+Server) http://64.224.24.114/")
DEFAULT_HEADER = [
    "#Software: Microsoft Internet Information Services 10.0",
    "#Version: 1.0",
    "#Date: 2026-11-21 10:00:00",
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) "
    "sc-status sc-substatus sc-win32-status time-taken",
]
DEFAULT_LINE = ("2026-11-21 10:00:01 10.20.0.5 GET /demarches/casier.aspx id=42&lang=fr 443 - 203.0.113.80 "
                "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64) https://www.service-public.example/ 200 0 0 187")


class TestIIS(ParserCase):
    parser_name = "iis.access"
    samples = [
        (DEFAULT_LINE, {
            "@timestamp": "2026-11-21T10:00:01.000Z", "source.ip": "203.0.113.80", "destination.ip": "10.20.0.5",
            "destination.port": 443, "http.request.method": "GET", "url.path": "/demarches/casier.aspx",
            "url.query": "id=42&lang=fr", "user_agent.original": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
            "http.request.referrer": "https://www.service-public.example/", "http.response.status_code": 200,
            "iis.access.sub_status": 0, "iis.access.win32_status": 0, "event.duration": 187_000_000,
            "event.category": ["web"], "event.type": ["access"], "event.outcome": "success", "user.name": None,
        }),
        ("2026-11-21 10:00:02 10.20.0.5 POST /compte/connexion - 443 agent.martin 198.51.100.7 "
         "curl/8.5.0 - 401 1 2148074254 15", {
             "user.name": "agent.martin", "http.response.status_code": 401, "iis.access.sub_status": 1,
             "iis.access.win32_status": 2148074254, "event.outcome": "failure", "url.query": None,
             "http.request.referrer": None, "user_agent.original": "curl/8.5.0",
         }),
    ]
    malformed = [
        "2026-11-21 10:00:01 10.20.0.5 GET / - 443",  # no #Fields and not the default fields
        "2026-13-21 10:00:01 10.20.0.5 GET / - 443 - 203.0.113.80 UA - 200 0 0 187",
        "2026-11-21 10:00:01 10.20.0.5 GET / - 443 - 203.0.113.80 UA - abc 0 0 187",
        "2026-11-21 10:00:01 10.20.0.5 GET / - 443 - 203.0.113.80 UA - 200 0 0 -5",
        "#Fields: time c-ip",
    ]


def _read(lines: list[str]) -> list[dict]:
    parser = parsers.get("iis.access")().for_source("u_ex261121.log")
    return [ev for ev in (parser.parse(line) for line in lines) if ev is not None]


def test_microsoft_iis6_example_with_its_own_fields() -> None:
    (ev,) = _read([*IIS6_HEADER, IIS6_LINE])
    assert ev["@timestamp"] == "2002-05-24T20:18:01.000Z"
    assert get(ev, "source.ip") == "172.224.24.114" and get(ev, "destination.ip") == "206.73.118.24"
    assert get(ev, "destination.port") == 80 and get(ev, "url.path") == "/Default.htm"
    assert get(ev, "http.response.body.bytes") == 7930 and get(ev, "http.request.body.bytes") == 248
    assert get(ev, "event.duration") == 31_000_000 and get(ev, "user.name") is None
    assert get(ev, "user_agent.original") == "Mozilla/4.0 (compatible; MSIE 5.01; Windows 2000 Server)"
    assert get(ev, "http.request.referrer") == "http://64.224.24.114/"


def test_a_new_fields_directive_replaces_the_header_and_sources_keep_their_own() -> None:
    more = ("#Fields: date time s-sitename s-computername s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username "
            "c-ip cs-version cs(User-Agent) cs(Cookie) cs(Referer) cs-host sc-status sc-substatus sc-win32-status "
            "sc-bytes cs-bytes time-taken")
    line = ("2026-11-21 11:00:00 W3SVC1 PORTAIL01 10.20.0.5 GET /index.aspx - 443 - 192.0.2.44 HTTP/1.1 "
            "Mozilla/5.0+(X11;+Linux+x86_64) ASP.NET_SessionId=abc - etat-civil.gouv.example 200 0 0 5120 410 62")
    first, second = _read([*DEFAULT_HEADER, DEFAULT_LINE, more, line])
    assert get(first, "source.ip") == "203.0.113.80"
    assert get(second, "iis.access.site_name") == "W3SVC1" and get(second, "host.name") == "PORTAIL01"
    assert get(second, "iis.access.server_name") == "PORTAIL01" and get(second, "http.version") == "1.1"
    assert get(second, "destination.domain") == "etat-civil.gouv.example"
    assert get(second, "iis.access.cookie") == "ASP.NET_SessionId=abc" and get(second, "source.ip") == "192.0.2.44"
    shared = parsers.get("iis.access")()
    a, b = shared.for_source("a.log"), shared.for_source("b.log")
    a.parse(IIS6_HEADER[-1])
    assert get(a.parse(IIS6_LINE), "source.ip") == "172.224.24.114"
    assert b.parse(DEFAULT_LINE) is not None  # b never saw a's #Fields: IIS's default fields


def test_iis_file_through_the_ingestor_resumes_with_its_header(tmp_path: Path) -> None:
    log = tmp_path / "u_ex261121.log"
    attack = ("2026-11-21 10:00:03 10.20.0.5 GET /documents/../../windows/win.ini - 443 - 203.0.113.81 "
              "sqlmap/1.7 - 404 0 2 3")
    log.write_text("\r\n".join([*IIS6_HEADER, IIS6_LINE, *DEFAULT_HEADER, DEFAULT_LINE, attack]) + "\r\n",
                   encoding="utf-8")
    p = Platform(replace(Settings(), data_dir=tmp_path / "data", secret_key="iis"))
    try:
        p.db.upgrade()
        summary = Ingestor(p, "iis.access").ingest_file(str(log))
        p.events.refresh()
        stored = p.events.search(EventQuery(limit=100))
    finally:
        p.close()
    assert summary.ingested == 3 and summary.dead_lettered == 0, summary
    assert {get(e, "event.dataset") for e in stored} == {"iis.access"}
    assert {get(e, "event.module") for e in stored} == {"iis"}
    # a reader that starts mid-file (from a checkpoint) still has the fields of the top of the file
    resumed = parsers.get("iis.access")().for_source(str(log))
    assert get(resumed.parse(IIS6_LINE), "destination.ip") == "206.73.118.24"
    # the web rules see IIS lines (event.category web)
    det = SigmaDetector(replace(Settings(), data_dir=tmp_path / "det"))
    ev = _read([*DEFAULT_HEADER, attack])[0]
    ev["event"]["id"] = "iis-1"
    ev["event"]["dataset"] = "iis.access"
    ev["@timestamp"] = datetime(2026, 11, 21, 10, 0, 3, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    assert "Path Traversal Attempt on a Web Portal" in {h.title for h in det.detect([ev])}
