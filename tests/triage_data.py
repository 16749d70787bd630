"""A realistic triage queue: a brute force from 250 addresses on one rule, SQL injections, an IPv6
scan, beacons to a malicious domain, across three organisations, raised over two days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from support import DGPN, INTERIEUR, JUSTICE

from cert.runtime.platform import Platform
from cert.storage.models import Alert

START = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Seeded:
    brute: list[int]  # ssh-bruteforce, high, INTERIEUR, 203.0.113.0/24 (200) and 198.51.100.0/24 (50)
    sqli: list[int]  # web-sqli, medium, JUSTICE, 192.0.2.10-39
    scan: list[int]  # v6-scan, low, DGPN, 2001:db8::1-20
    beacon: list[int]  # malware-beacon, critical, no organisation, no address, evil.example


def _alert(i: int, rule: str, title: str, severity: str, org: str | None, ip: str | None, attack: list[str],
           **extra: object) -> Alert:
    raised = START + timedelta(minutes=10 * i)
    return Alert(rule_id=rule, rule_title=title, detector="sigma", severity=severity, organization=org,
                 source_ip=ip, attack=attack, entities={"source.ip": ip} if ip else {}, event_ids=[],
                 count=1 + i % 7, first_seen=raised - timedelta(minutes=5), last_seen=raised, created_at=raised,
                 **extra)


def seed(platform: Platform) -> Seeded:
    made: dict[str, list[Alert]] = {"brute": [], "sqli": [], "scan": [], "beacon": []}
    i = 0
    with platform.db.session() as s:
        for n in range(250):
            ip = f"203.0.113.{n}" if n < 200 else f"198.51.100.{n - 200}"
            made["brute"].append(_alert(i, "ssh-bruteforce", "SSH brute force", "high", INTERIEUR, ip,
                                        ["attack.credential_access", "attack.t1110.001"]))
            i += 1
        for n in range(30):
            made["sqli"].append(_alert(i, "web-sqli", "SQL injection on a portal", "medium", JUSTICE,
                                       f"192.0.2.{10 + n}", ["attack.initial-access", "attack.t1190"]))
            i += 1
        for n in range(20):
            made["scan"].append(_alert(i, "v6-scan", "Port scan", "low", DGPN, f"2001:db8::{n + 1:x}",
                                       ["attack.reconnaissance"]))
            i += 1
        for _n in range(5):
            alert = _alert(i, "malware-beacon", "Beacon to a malware domain", "critical", None, None,
                           ["attack.command_and_control"])
            alert.entities = {"url.domain": "evil.example", "host.name": "pc-042"}
            made["beacon"].append(alert)
            i += 1
        for group in made.values():
            s.add_all(group)
        s.flush()
        return Seeded(*([a.id for a in made[k]] for k in ("brute", "sqli", "scan", "beacon")))
