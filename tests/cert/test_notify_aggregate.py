"""Alerts aggregated per organisation, as mailgen does: the alerts of one rule on one ministry
within the interval reach its focal point as one message with one ticket and a CSV attachment
whose cells a spreadsheet will not run as formulas; the same finding is not sent again within
the repeat interval, a new one is; an alert above the recipient's ceiling stays."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mail_support import start_smtp
from support import INTERIEUR, JUSTICE

from cert.notify import deliver_due, notify_alerts
from cert.runtime.platform import Platform
from cert.storage.models import Alert

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def alert(platform: Platform, source_ip: str, *, organization: str = INTERIEUR, rule: str = "ssh-brute-force",
          seen: datetime = T0, tlp: str = "clear") -> None:
    with platform.db.session() as s:
        s.add(Alert(rule_id=rule, rule_title="Force brute SSH", detector="sigma", severity="high",
                    source_ip=source_ip, organization=organization, first_seen=seen - timedelta(minutes=5),
                    last_seen=seen, count=12, tlp=tlp, created_at=seen))


def aggregate(platform: Platform, now: datetime) -> list[tuple[str, str]]:
    with platform.db.session() as s:
        return [(r.recipient_email, r.ticket) for r in notify_alerts(s, platform, now=now)]


def test_one_message_per_organisation_and_kind_with_a_safe_csv_and_a_repeat_interval(platform: Platform) -> None:
    server = start_smtp()
    try:
        platform.settings = replace(platform.settings, smtp_host="127.0.0.1", smtp_port=server.port,
                                    notify_aggregate_minutes=60, notify_repeat_hours=24)
        alert(platform, "203.0.113.7")
        alert(platform, "=HYPERLINK(\"http://evil.example\")")  # a value an attacker chose
        alert(platform, "198.51.100.9", tlp="amber+strict")  # above the AMBER ceiling: stays
        alert(platform, "192.0.2.1", seen=T0 - timedelta(hours=3))  # outside the interval
        alert(platform, "203.0.113.8", organization=JUSTICE)
        queued = aggregate(platform, T0 + timedelta(minutes=1))
        assert sorted(e for e, _ in queued) == ["pf-cyber@interieur.gouv.example", "pf-cyber@justice.gouv.example"]
        assert deliver_due(platform, now=T0 + timedelta(minutes=1)).sent == 2
        (mail,) = [r.message for r in server.handler.received if r.recipients == ["pf-cyber@interieur.gouv.example"]]
        ticket = dict(queued)["pf-cyber@interieur.gouv.example"]
        assert str(mail["Subject"]) == f"[TLP:CLEAR] [{ticket}] 2 constat(s) « Force brute SSH » concernant {INTERIEUR}"
        (attachment,) = list(mail.iter_attachments())
        assert attachment.get_content_type() == "text/csv"
        rows = list(csv.DictReader(io.StringIO(attachment.get_content())))
        assert sorted(r["source_ip"] for r in rows) == ["'=HYPERLINK(\"http://evil.example\")", "203.0.113.7"]
        assert "198.51.100.9" not in attachment.get_content() and "192.0.2.1" not in attachment.get_content()

        # an hour later the same sources again, and a new one: only the new one is sent
        later = T0 + timedelta(hours=1, minutes=30)
        alert(platform, "203.0.113.7", seen=later)
        alert(platform, "203.0.113.99", seen=later)
        (again,) = aggregate(platform, later + timedelta(minutes=1))
        assert again[1] != ticket
        deliver_due(platform, now=later + timedelta(minutes=1))
        newest = server.handler.received[-1].message
        (attachment,) = list(newest.iter_attachments())
        assert [r["source_ip"] for r in csv.DictReader(io.StringIO(attachment.get_content()))] == ["203.0.113.99"]

        # after the repeat interval the finding is reported again
        alert(platform, "203.0.113.7", seen=T0 + timedelta(hours=26))
        assert [e for e, _ in aggregate(platform, T0 + timedelta(hours=26, minutes=1))] == [
            "pf-cyber@interieur.gouv.example"]
    finally:
        server.controller.stop()
