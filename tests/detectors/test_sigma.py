"""The Sigma engine on our own rules and on hand-made rules covering the value forms it evaluates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from cert.core.config import Settings
from cert.core.ecs import event_id, format_ts, put
from cert.core.registry import load_plugins
from detectors.sigma.detector import SigmaDetector

load_plugins(["detectors"])


def auth_event(i: int, outcome: str, ip: str, second: int) -> dict:
    ev: dict = {"@timestamp": f"2026-11-20T08:00:{second:02d}.000Z"}
    put(ev, "event.id", event_id("t", f"{i}{ip}{second}{outcome}"))
    put(ev, "event.dataset", "system.auth")
    put(ev, "event.action", "ssh_login")
    put(ev, "event.outcome", outcome)
    put(ev, "source.ip", ip)
    return ev


def web_event(i: int, query: str, path: str = "/p") -> dict:
    ev: dict = {"@timestamp": f"2026-11-20T09:00:{i:02d}.000Z", "event": {"category": ["web"], "id": f"w{i}"}}
    put(ev, "url.query", query)
    put(ev, "url.path", path)
    put(ev, "source.ip", "198.51.100.77")
    return ev


def test_our_rules_all_load(settings: Settings) -> None:
    det = SigmaDetector(settings)
    assert det.rejected == []
    assert len(det.rules) >= 5 and len(det.correlations) >= 1


def test_brute_force_is_one_correlation_per_source_and_continues(settings: Settings) -> None:
    det = SigmaDetector(settings)
    attacker = [auth_event(i, "failure", "203.0.113.66", i) for i in range(8)]
    noise = [auth_event(100 + i, "failure", "10.10.1.22", 30 + i * 10) for i in range(3)]
    hits = det.detect(sorted(attacker + noise, key=lambda e: e["@timestamp"]))
    bf = [h for h in hits if h.title.startswith("SSH Brute Force")]
    assert {h.group_key for h in bf} == {"source.ip=203.0.113.66"}
    assert sum(len(h.event_ids) for h in bf) == 8  # 5 to fire, then every further failure joins
    assert bf[0].severity == "high" and "attack.t1110.001" in bf[0].attack
    # the base rule does not alert on its own (generate: false by default in Sigma 2 correlations)
    assert not [h for h in hits if h.title == "SSH Authentication Failure"]


def test_correlation_respects_the_timespan(settings: Settings) -> None:
    det = SigmaDetector(settings)
    spaced = []
    for i in range(6):
        ev = auth_event(i, "failure", "203.0.113.9", 0)
        ev["@timestamp"] = format_ts(datetime(2026, 11, 20, 8, i * 2, tzinfo=UTC))
        spaced.append(ev)
    assert not [h for h in det.detect(spaced) if "Brute" in h.title]  # 6 failures over 10 minutes


def test_external_login_rule_uses_cidr_filter(settings: Settings) -> None:
    det = SigmaDetector(settings)
    hits = det.detect([auth_event(1, "success", "10.10.1.15", 1), auth_event(2, "success", "203.0.113.66", 2)])
    ext = [h for h in hits if h.title.startswith("Successful SSH Login")]
    assert [h.entities["source.ip"] for h in ext] == ["203.0.113.66"]


def test_web_rules_match_decoded_payloads_case_insensitively(settings: Settings) -> None:
    det = SigmaDetector(settings)
    events = [web_event(1, "ref=1' UNION SELECT password FROM agents--"), web_event(2, "q=<SCRIPT>alert(1)</script>"),
              web_event(3, "q=extrait de naissance"), web_event(4, "", path="/static/../../etc/passwd")]
    titles = {h.title for h in det.detect(events)}
    assert titles == {"SQL Injection Attempt on a Web Portal", "Cross-Site Scripting Attempt on a Web Portal",
                      "Path Traversal Attempt on a Web Portal"}


RULE = """
title: Modifier test
id: 11111111-2222-3333-4444-555555555555
logsource: {{category: webserver}}
detection:
  sel:
{sel}
  condition: {cond}
level: low
"""


def run_rule(tmp_path: Path, sel: str, events: list[dict], cond: str = "sel") -> list[str]:
    rules = tmp_path / "r" / "sigma"
    rules.mkdir(parents=True, exist_ok=True)
    (rules / "t.yml").write_text(RULE.format(sel=sel, cond=cond))
    det = SigmaDetector(replace(Settings(), rules_dir=tmp_path / "r"))
    assert det.rejected == [], det.rejected
    return sorted(eid for h in det.detect(events) for eid in h.event_ids)


def test_value_modifiers(tmp_path: Path) -> None:
    evs = [web_event(1, "a=Admin"), web_event(2, "a=admin&b=2"), web_event(3, "x=1")]
    evs[0]["http"] = {"response": {"status_code": 500}}
    evs[1]["http"] = {"response": {"status_code": 404}}
    assert run_rule(tmp_path, "    cs-uri-query|startswith: 'a=ad'", evs) == ["w1", "w2"]
    assert run_rule(tmp_path, "    cs-uri-query|endswith: '=2'", evs) == ["w2"]
    assert run_rule(tmp_path, "    cs-uri-query|cased: 'a=Admin'", evs) == ["w1"]
    assert run_rule(tmp_path, "    cs-uri-query|re: '^a=[A-Z]'", evs) == ["w1"]
    assert run_rule(tmp_path, "    cs-uri-query|re|i: '^a=[A-Z]'", evs) == ["w1", "w2"]
    assert run_rule(tmp_path, "    cs-uri-query|contains|all: ['admin', 'b=']", evs) == ["w2"]
    assert run_rule(tmp_path, "    sc-status|gte: 500", evs) == ["w1"]
    assert run_rule(tmp_path, "    c-ip|cidr: '198.51.100.0/24'", evs) == ["w1", "w2", "w3"]
    assert run_rule(tmp_path, "    cs-uri-query: 'a=adm?n'", evs) == ["w1"]
    assert run_rule(tmp_path, "    sc-status|exists: false", evs) == ["w3"]
    assert run_rule(tmp_path, "    cs-uri-query: 'x=1'\n  other:\n    cs-uri-query|contains: admin",
                    evs, cond="sel or other") == ["w1", "w2", "w3"]
    assert run_rule(tmp_path, "    cs-uri-query|contains: 'a'\n  other:\n    sc-status: 404", evs,
                    cond="sel and not 1 of oth*") == ["w1"]
