"""A small, known set of incidents and alerts whose metrics are worked out by hand (the expected
figures are in tests/cert/test_metrics.py), for SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from cert.storage.models import Alert, Case

#: the moment the figures are computed at, and the 30 days up to it
NOW = datetime(2024, 3, 31, 12, 0, tzinfo=UTC)
BASE = datetime(2024, 3, 20, 10, 0, tzinfo=UTC)
INTERIEUR, DGPN, JUSTICE = "Ministère de l'Intérieur", "Direction générale de la Police nationale", \
    "Ministère de la Justice"
M, H = timedelta(minutes=1), timedelta(hours=1)


def _case(title: str, severity: str, organization: str | None, created: datetime, *, status: str = "open",
          rsit: str = "", detected: timedelta | None = None, ack: timedelta | None = None,
          contained: timedelta | None = None, closed: timedelta | None = None,
          attack: list[str] | None = None) -> Case:
    return Case(title=title, severity=severity, organization=organization, created_by="test", created_at=created,
                status=status, rsit_class=rsit, attack=attack or [],
                detected_at=None if detected is None else created - detected,
                acknowledged_at=None if ack is None else created + ack,
                contained_at=None if contained is None else created + contained,
                closed_at=None if closed is None else created + closed)


def incidents() -> list[Case]:
    return [
        # 1 critical: every clock met (targets 15 min, 4 h, 24 h)
        _case("one", "critical", INTERIEUR, BASE, status="closed", rsit="intrusions:system-compromise",
              detected=30 * M, ack=10 * M, contained=3 * H, closed=20 * H, attack=["attack.t1110.001"]),
        # 2 critical: acknowledged and contained late, still not closed 11 days on
        _case("two", "critical", DGPN, BASE, status="contained", rsit="intrusions:application-compromise",
              detected=90 * M, ack=20 * M, contained=5 * H, attack=["attack.T1110", "attack.initial_access"]),
        # 3 high (60 min, 8 h, 72 h): acknowledged, closed after 2 h without a containment
        _case("three", "high", INTERIEUR, BASE + 24 * H, status="closed", rsit="malicious-code",
              ack=30 * M, closed=2 * H),
        # 4 high, opened half an hour ago: every clock running
        _case("four", "high", JUSTICE, NOW - 30 * M, attack=["attack.t1059.001"]),
        # 5 low, opened before the period, closed inside it
        _case("five", "low", INTERIEUR, datetime(2024, 2, 1, 9, 0, tzinfo=UTC), status="closed",
              ack=H, closed=datetime(2024, 3, 5, 9, 0, tzinfo=UTC) - datetime(2024, 2, 1, 9, 0, tzinfo=UTC)),
        # 6 medium (4 h, 24 h, 7 d), of no organisation: acknowledged late, containment and resolution overdue
        _case("six", "medium", None, BASE + 48 * H, ack=5 * H),
        # 7 high: met but for its resolution (80 h)
        _case("seven", "high", INTERIEUR, BASE + 72 * H, status="closed", rsit="intrusions",
              detected=10 * M, ack=45 * M, contained=H, closed=80 * H),
    ]


def _alert(rule_id: str, title: str, severity: str, organization: str | None, created: datetime,
           attack: list[str]) -> Alert:
    return Alert(rule_id=rule_id, rule_title=title, detector="sigma", severity=severity, organization=organization,
                 attack=attack, first_seen=created, last_seen=created, created_at=created)


def alerts() -> list[Alert]:
    brute = ["attack.credential_access", "attack.t1110.001"]
    day = datetime(2024, 3, 30, 8, 0, tzinfo=UTC)
    return [
        *(_alert("r-brute", "Brute force", "high", INTERIEUR, day + i * H, brute) for i in range(3)),
        _alert("r-brute", "Brute force", "high", DGPN, NOW - 2 * H, brute),
        _alert("r-scan", "Port scan", "low", INTERIEUR, day - 24 * H, ["attack.discovery", "attack.t1046"]),
        _alert("r-scan", "Port scan", "low", INTERIEUR, day - 23 * H, ["attack.discovery", "attack.t1046"]),
        _alert("r-ps", "Encoded PowerShell", "critical", JUSTICE, NOW - 2 * H, ["attack.t1059.001"]),
        # before the period: counted nowhere
        _alert("r-old", "Old rule", "medium", INTERIEUR, datetime(2024, 2, 1, tzinfo=UTC), ["attack.t1005"]),
    ]


def seed(s: Session, now: datetime = NOW) -> None:
    """The data set, every moment moved by ``now - NOW`` (the figures at ``now`` are those at NOW)."""
    shift = now - NOW
    rows: list[Case | Alert] = [*incidents(), *alerts()]
    for row in rows:
        for name in ("created_at", "detected_at", "acknowledged_at", "contained_at", "closed_at", "first_seen",
                     "last_seen"):
            value = getattr(row, name, None)
            if isinstance(value, datetime):
                setattr(row, name, value + shift)
    s.add_all(rows)
    s.flush()
