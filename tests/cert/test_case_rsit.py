"""The first RSIT class of a case comes from the rule's ATT&CK tags, however the rule spells them
(Sigma uses hyphens: ``attack.credential-access``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from support import HAS_CRS

from cert.incidents.cases import rsit_for
from cert.runtime.platform import Platform
from cert.storage.models import Alert

RULES = Path(__file__).resolve().parents[2] / "rules" / "sigma"


def sigma_tags() -> dict[str, list[str]]:
    """title -> tags of every rule shipped in rules/sigma."""
    found: dict[str, list[str]] = {}
    for path in sorted(RULES.rglob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("tags"):
                found[f"{path.name}: {doc.get('title')}"] = [str(t) for t in doc["tags"]]
    return found


def alert(tags: list[str]) -> Alert:
    return Alert(attack=tags)


def test_shipped_rules_with_an_access_tactic_get_a_class() -> None:
    rules = sigma_tags()
    tactic = {"attack.credential-access", "attack.initial-access"}
    tagged = {title: tags for title, tags in rules.items() if tactic & set(tags)}
    assert len(tagged) >= 10  # the shipped rules do use the hyphenated tactic names
    unclassified = [title for title, tags in tagged.items() if not rsit_for(alert(tags))]
    assert unclassified == []


@pytest.mark.parametrize(("tags", "rsit"), [
    (["attack.credential-access"], "intrusion-attempts:login-attempts"),
    (["attack.credential_access"], "intrusion-attempts:login-attempts"),
    (["ATTACK.Credential-Access"], "intrusion-attempts:login-attempts"),
    (["attack.initial-access", "attack.t1189"], "intrusion-attempts:exploit-known-vuln"),
    (["attack.initial_access"], "intrusion-attempts:exploit-known-vuln"),
    (["attack.t1110.001"], "intrusion-attempts:login-attempts"),
    (["attack.initial-access", "attack.t1078"], "intrusions:unprivileged-account-compromise"),
    (["attack.discovery"], "information-gathering:scanner"),
    (["attack.exfiltration", "attack.t1048"], ""),
    (["attack.t11"], ""),
    ([], ""),
])
def test_tags_are_read_in_any_spelling(tags: list[str], rsit: str) -> None:
    assert rsit_for(alert(tags)) == rsit


def test_every_demo_alert_gets_a_class(demo: tuple[Platform, dict[str, str]]) -> None:
    with demo[0].db.session() as s:
        alerts = list(s.scalars(select(Alert)))
        classes = {a.rule_title: rsit_for(a) for a in alerts}
    assert len(classes) == (10 if HAS_CRS else 5)  # 5 of Vigie's Sigma rules, 5 of the web attack detector (CRS)
    assert all(classes.values()), classes
    if HAS_CRS:
        scanner = "ModSecurity OWASP CRS 3.3.4 913100: Found User-Agent associated with security scanner"
        assert classes[scanner] == "information-gathering:scanner"
    assert classes["SSH Brute Force Against a Government Server"] == "intrusion-attempts:login-attempts"
    assert classes["Cross-Site Scripting Attempt on a Web Portal"] == "intrusion-attempts:exploit-known-vuln"
