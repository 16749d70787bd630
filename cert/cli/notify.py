"""``cert notify …``: send the due notifications, aggregate alerts into notifications, escalate
incidents not acknowledged in time. Each runs once, or with ``--loop`` every ``--every`` seconds."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cert.runtime.platform import Platform


def _repeat(args: argparse.Namespace, once: Callable[[], str]) -> int:
    while True:
        print(once(), flush=True)
        if not args.loop:
            return 0
        try:
            time.sleep(args.every)
        except KeyboardInterrupt:
            return 0


def cmd_deliver(p: Platform, args: argparse.Namespace) -> int:
    from cert.notify.delivery import deliver_due

    if not p.settings.smtp_host:
        print("no SMTP relay configured (smtp_host): messages stay queued")
        return 1

    def once() -> str:
        r = deliver_due(p)
        return f"notifications: {r.sent} sent, {r.failed} failed (retried later), {r.dead} dead"

    return _repeat(args, once)


def cmd_aggregate(p: Platform, args: argparse.Namespace) -> int:
    from cert.notify.aggregate import notify_alerts

    def once() -> str:
        with p.db.session() as s:
            return f"aggregated notifications queued: {len(notify_alerts(s, p, 'cli:notify'))}"

    return _repeat(args, once)


def cmd_escalate(p: Platform, args: argparse.Namespace) -> int:
    from cert.notify.incidents import escalate

    def once() -> str:
        with p.db.session() as s:
            return f"escalations queued: {len(escalate(s, p))}"

    return _repeat(args, once)


def cmd_run(p: Platform, args: argparse.Namespace) -> int:
    """Each pass: queue the escalations and the aggregated alerts that are due, then send what is
    due (the service that keeps notifications moving)."""
    from cert.notify.aggregate import notify_alerts
    from cert.notify.delivery import deliver_due
    from cert.notify.incidents import escalate

    def once() -> str:
        with p.db.session() as s:
            escalated, aggregated = len(escalate(s, p)), len(notify_alerts(s, p, "cli:notify"))
        if not p.settings.smtp_host:
            return f"escalations queued: {escalated}; aggregated: {aggregated}; no SMTP relay (smtp_host)"
        r = deliver_due(p)
        return (f"escalations queued: {escalated}; aggregated: {aggregated}; "
                f"{r.sent} sent, {r.failed} failed (retried later), {r.dead} dead")

    return _repeat(args, once)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    notify = sub.add_parser("notify", help="notifications to the constituency: deliver, aggregate, escalate")
    nsub = notify.add_subparsers(dest="notify_command", required=True)
    for name, func, helptext in (
            ("deliver", cmd_deliver, "send the queued notifications that are due over SMTP"),
            ("aggregate", cmd_aggregate, "queue one message per organisation and kind of recent alerts"),
            ("escalate", cmd_escalate, "escalate the incidents not acknowledged in time"),
            ("run", cmd_run, "escalate, aggregate, then deliver, at each pass (the notify service)")):
        sp = nsub.add_parser(name, help=helptext)
        sp.add_argument("--loop", action="store_true", help="keep running")
        sp.add_argument("--every", type=float, default=30.0, help="seconds between two passes with --loop")
        sp.set_defaults(func=func)
