"""``cert intake smtp``: the SMTP receiver of incident reports sent by e-mail."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from types import FrameType
from typing import Any

from cert.runtime.platform import Platform


def register(sub: Any) -> None:
    intake = sub.add_parser("intake", help="receive incident reports from outside")
    isub = intake.add_subparsers(dest="intake_command", required=True)
    smtp = isub.add_parser("smtp", help="run the SMTP receiver: each message becomes an incident report, "
                                        "or a reply threaded into one (docs/intake.md)")
    smtp.add_argument("--listen", default=None, metavar="HOST:PORT",
                      help="address to listen on (default: the intake_smtp_listen setting)")
    smtp.add_argument("--duration", type=float, default=0, help="stop after S seconds (default: run until stopped)")
    smtp.set_defaults(func=cmd_smtp)


def cmd_smtp(p: Platform, args: argparse.Namespace) -> int:
    from cert.incidents.smtp_intake import Listen, controller

    if not args.verbose:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: a line per connection otherwise
    listen = Listen.parse(args.listen or p.settings.intake_smtp_listen)
    server = controller(p, listen)
    done = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        done.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
    server.start()
    print(f"SMTP intake on {listen.host}:{listen.port} for {', '.join(p.settings.intake_smtp_domains)}; "
          "Ctrl-C to stop", flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            done.wait(args.duration or None)
    finally:
        server.stop()
    return 0
