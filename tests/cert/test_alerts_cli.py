"""``cert alerts``: the triage queue from the shell, with the console's filters, as a table or one
JSON document; and the times ``cert alerts`` and ``cert detect`` accept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from support import INTERIEUR, JUSTICE
from triage_data import START, Seeded, seed

from cert.cli import main
from cert.cli.alerts import parse_when
from cert.core.errors import InvalidInput
from cert.runtime.platform import Platform


@pytest.fixture
def queue(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> tuple[Platform, Seeded]:
    for key in [k for k in __import__("os").environ if k.startswith("CERT_")]:
        monkeypatch.delenv(key)
    return platform, seed(platform)


def _json(p: Platform, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["--data-dir", str(p.settings.data_dir), "alerts", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_filters_select_what_the_console_selects(queue: tuple[Platform, Seeded],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    p, seeded = queue
    everything = _json(p, capsys, "--limit", "1000")
    assert everything["total"] == everything["shown"] == 305
    ids = [a["id"] for a in everything["alerts"]]  # type: ignore[attr-defined]
    assert ids == sorted(ids, reverse=True)  # the most recently raised first

    two = _json(p, capsys, "--severity", "critical", "--severity", "low", "--limit", "1000")
    assert {a["id"] for a in two["alerts"]} == set(seeded.beacon + seeded.scan)  # type: ignore[attr-defined]

    net = _json(p, capsys, "--source", "198.51.100.0/24", "--rule", "ssh-bruteforce")
    assert net["total"] == 50 and net["shown"] == 50

    limited = _json(p, capsys, "--rule", "web-sqli", "--limit", "5")
    assert (limited["total"], limited["shown"]) == (30, 5)

    text = _json(p, capsys, "--search", "evil.exa")
    beacon = text["alerts"][0]  # type: ignore[index]
    assert text["total"] == 5 and beacon["host"] == "pc-042" and beacon["organization"] is None
    assert datetime.fromisoformat(beacon["raised"]).utcoffset() == timedelta(0)  # ISO 8601 with its zone

    window = _json(p, capsys, "--since", (START + timedelta(minutes=2990)).isoformat(),
                   "--until", "2025-03-12T11:00:00Z", "--limit", "1000")
    assert {a["id"] for a in window["alerts"]} == set(seeded.scan[-1:] + seeded.beacon)  # type: ignore[attr-defined]
    assert _json(p, capsys, "--since", "24h")["total"] == 0  # all raised in 2025

    with p.db.session() as s:
        from cert.storage.models import Alert

        s.get_one(Alert, seeded.sqli[0]).status = "closed"
    closed = _json(p, capsys, "--status", "closed", "--organization", JUSTICE)
    assert [a["id"] for a in closed["alerts"]] == [seeded.sqli[0]]  # type: ignore[attr-defined]
    assert _json(p, capsys, "--status", "closed", "--organization", INTERIEUR)["total"] == 0


def test_table_and_refusals(queue: tuple[Platform, Seeded], capsys: pytest.CaptureFixture[str]) -> None:
    p, _seeded = queue
    data = str(p.settings.data_dir)
    assert main(["--data-dir", data, "alerts", "--severity", "critical"]) == 0
    out = capsys.readouterr().out
    assert "5 of 5 alert(s)" in out and "Beacon to a malware domain" in out and "pc-042" in out
    assert main(["--data-dir", data, "alerts", "--source", "not-an-address"]) == 2
    assert "source address" in capsys.readouterr().err
    assert main(["--data-dir", data, "alerts", "--since", "yesterday"]) == 2
    assert "ISO 8601" in capsys.readouterr().err
    assert main(["--data-dir", data, "detect", "--since", "2025-03-12", "--until", "2025-03-11"]) == 2


def test_times_are_iso_8601_or_a_duration_back_from_now() -> None:
    now = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_when("24h", now) == now - timedelta(hours=24)
    assert parse_when("7d", now) == now - timedelta(days=7)
    assert parse_when("2025-03-01", now) == datetime(2025, 3, 1, tzinfo=UTC)
    assert parse_when("2025-03-01T08:30:00+01:00", now) == datetime(2025, 3, 1, 7, 30, tzinfo=UTC)
    assert parse_when("2025-03-01T08:30:00Z", now) == datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
    for bad in ("0h", "soon", "7 days"):
        with pytest.raises(InvalidInput):
            parse_when(bad, now)
