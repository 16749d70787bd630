"""Web attacks from the shell: ``cert ingest`` of an Apache access log then ``cert detect`` raise
alerts that name the engine and rule that fired, with the request's source address; the citizens'
requests of the same log raise none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import needs_crs

from cert.cli import main

pytestmark = needs_crs

# Combined log format (Apache's mod_log_config documentation); the attack forms are those of the
# OWASP testing guide and the CRS regression tests used in tests/detectors/test_waf.py.
LINES = [
    '192.0.2.10 - - [11/Mar/2025:10:00:00 +0000] "GET /etat-civil/recherche?q=select+committee+report HTTP/1.1" '
    '200 512 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"',
    '192.0.2.11 - - [11/Mar/2025:10:00:01 +0000] "GET /visas/liste?tri=order+by+date HTTP/1.1" 200 812 "-" '
    '"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"',
    '203.0.113.66 - - [11/Mar/2025:10:00:02 +0000] "GET /casier/dossier?id=1%27%20OR%20%271%27=%271 HTTP/1.1" '
    '200 90 "-" "Mozilla/5.0"',
    '203.0.113.77 - - [11/Mar/2025:10:00:03 +0000] "GET /cgi-bin/status HTTP/1.1" 200 90 "-" '
    '"() { :; }; /bin/bash -c \'cat /etc/passwd\'"',
]


def test_ingest_then_detect_raises_named_web_attack_alerts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    log = tmp_path / "access.log"
    log.write_text("\n".join(LINES) + "\n")
    assert main(["--data-dir", data, "init"]) == 0
    assert main(["--data-dir", data, "ingest", "--parser", "apache.access", str(log)]) == 0
    assert main(["--data-dir", data, "detect", "--since", "2025-03-11", "--until", "2025-03-12"]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "alerts", "--json", "--limit", "100"]) == 0
    alerts = json.loads(capsys.readouterr().out)["alerts"]
    waf = [a for a in alerts if a["detector"] == "web_attacks"]
    assert {a["source_ip"] for a in waf} == {"203.0.113.66", "203.0.113.77"}, alerts
    assert not {"192.0.2.10", "192.0.2.11"} & {a["source_ip"] for a in alerts}
    assert all(a["rule_id"].startswith(("crs-", "vigie-waf-")) and "CRS" in a["title"] for a in waf), waf
