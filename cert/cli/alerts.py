"""``cert alerts``: the triage queue from the shell, with the console's filters (``cert.detection.
triage``), as a table or one JSON document; and the time arguments of ``cert alerts`` and
``cert detect`` (ISO 8601, or a duration back from now such as ``24h`` or ``7d``)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cert.core.errors import InvalidInput

if TYPE_CHECKING:
    from cert.runtime.platform import Platform
    from cert.storage.models import Alert


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A point in time: ISO 8601 (a date, or a date and time; UTC when no offset is given), or a
    duration back from ``now`` (``30m``, ``24h``, ``7d``)."""
    from cert.detection.hunts import parse_duration

    raw = text.strip()
    if raw[-1:] in ("s", "m", "h", "d") and raw[:-1].strip().isdigit():
        return (now or datetime.now(UTC)) - parse_duration(raw)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{text!r} is neither a date and time (ISO 8601, e.g. 2024-05-01T08:00:00Z) "
                           f"nor a duration back from now (e.g. 24h, 7d)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat()


def as_dict(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id, "rule_id": a.rule_id, "title": a.rule_title, "severity": a.severity, "status": a.status,
        "detector": a.detector, "count": a.count, "raised": _iso(a.created_at), "first_seen": _iso(a.first_seen),
        "last_seen": _iso(a.last_seen), "source_ip": a.source_ip, "organization": a.organization,
        "host": a.entities.get("host.name"), "user": a.entities.get("user.name"), "assignee": a.assignee,
        "case_id": a.case_id, "tlp": a.tlp, "attack": list(a.attack or ()), "event_ids": list(a.event_ids or ()),
    }


def cmd_alerts(p: Platform, args: argparse.Namespace) -> int:
    from cert.detection.triage import AlertFilter, count, search

    if args.limit < 1:
        raise InvalidInput("--limit must be at least 1")
    query: dict[str, list[str]] = {"status": args.status or [], "severity": args.severity or [],
                                   "organization": [args.organization or ""], "rule": [args.rule or ""],
                                   "source": [args.source or ""], "q": [args.search or ""], "sort": [args.sort]}
    now = datetime.now(UTC)
    if args.since:
        query["from"] = [parse_when(args.since, now).isoformat()]
    if args.until:
        query["to"] = [parse_when(args.until, now).isoformat()]
    f = AlertFilter.from_args(query)
    with p.db.session() as s:
        found = [as_dict(a) for a in search(s, f, limit=args.limit)]
        total = count(s, f)
    if args.json:
        json.dump({"total": total, "shown": len(found), "alerts": found}, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    _table(found, total)
    return 0


def _table(rows: list[dict[str, Any]], total: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} of {total} alert(s)", title_justify="left")
    for name in ("#", "Raised (UTC)", "Severity", "Status", "Rule", "Count", "Last seen (UTC)", "Source", "Host",
                 "Organisation"):
        table.add_column(name, justify="right" if name in ("#", "Count") else "left")
    for r in rows:
        table.add_row(str(r["id"]), _short(r["raised"]), r["severity"], r["status"], r["title"], str(r["count"]),
                      _short(r["last_seen"]), r["source_ip"] or "", str(r["host"] or ""), r["organization"] or "")
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def _short(iso: str | None) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if iso else ""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cert.detection.triage import SEVERITIES, SORTS, STATUSES

    al = sub.add_parser("alerts", help="list alerts (the triage queue), with filters; a table or --json",
                        description="List the alerts the filters select, the most recently raised first. "
                                    "Times: ISO 8601 (UTC unless an offset is given) or a duration back "
                                    "from now (30m, 24h, 7d).")
    al.add_argument("--status", action="append", choices=STATUSES, help="status (repeatable)")
    al.add_argument("--severity", action="append", choices=SEVERITIES, help="severity (repeatable)")
    al.add_argument("--rule", help="rule id")
    al.add_argument("--organization", help="organisation name")
    al.add_argument("--source", help="source address or network (CIDR)")
    al.add_argument("--since", help="raised at or after this time")
    al.add_argument("--until", help="raised at or before this time")
    al.add_argument("--search", "-q", help="text in the rule's title or id, the source, the organisation "
                                           "or the entities")
    al.add_argument("--sort", default="-raised", choices=[*SORTS, *(f"-{s}" for s in SORTS)],
                    help="order, e.g. --sort=-count ('-' first: descending; default -raised)")
    al.add_argument("--limit", type=int, default=50, help="at most this many alerts (default 50)")
    al.add_argument("--json", action="store_true", help="one JSON document: total, shown, alerts")
    al.set_defaults(func=cmd_alerts)
