"""``cert listen`` (network listeners: syslog, NetFlow/IPFIX) and ``cert token`` (API tokens)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from cert.accounts.tokens import DEFAULT_LIFETIME, SCOPES
from cert.cli.parser_options import add_parser_options, parser_options
from cert.core.errors import NotFound
from cert.runtime.platform import Platform


def add_commands(sub: Any) -> None:
    """Add the ``listen`` and ``token`` sub-commands to the ``cert`` argument parser."""
    ls = sub.add_parser("listen", help="receive logs over the network (syslog, netflow) into the event store")
    ls.add_argument("kind", help="listener: syslog (UDP, TCP, TLS) or netflow (NetFlow v5/v9, IPFIX over UDP)")
    ls.add_argument("--udp", action="append", default=[], metavar="HOST:PORT", help="listen on UDP (repeatable)")
    ls.add_argument("--tcp", action="append", default=[], metavar="HOST:PORT", help="listen on TCP (repeatable)")
    ls.add_argument("--tls", action="append", default=[], metavar="HOST:PORT",
                    help="listen on TCP with TLS (RFC 5425; needs --tls-cert and --tls-key)")
    ls.add_argument("--tls-cert", type=Path, help="PEM certificate chain for --tls")
    ls.add_argument("--tls-key", type=Path, help="PEM private key for --tls")
    ls.add_argument("--parser", help="parser of the messages (default: syslog for syslog, netflow for netflow)")
    ls.add_argument("--batch-size", type=int, default=2000, help="store every N messages (default 2000)")
    ls.add_argument("--flush-seconds", type=float, default=1.0, help="and at least every S seconds (default 1)")
    ls.add_argument("--max-message-bytes", type=int, default=64 * 1024, help="longer messages are dead-lettered")
    ls.add_argument("--detect", action="store_true", help="run the detectors on each stored batch (streaming)")
    add_parser_options(ls)
    ls.add_argument("--duration", type=float, default=0, help="stop after S seconds (default: run until stopped)")
    ls.set_defaults(func=cmd_listen)

    tok = sub.add_parser("token", help="API tokens for the REST API (create, revoke, list)")
    tsub = tok.add_subparsers(dest="token_command", required=True)
    create = tsub.add_parser("create", help="create a token; its secret is printed once")
    create.add_argument("name")
    create.add_argument("--owner", default="", help="who answers for the token (default: the name)")
    create.add_argument("--scope", default="ingest", metavar="SCOPES",
                        help=f"comma-separated, some of {','.join(SCOPES)} (default: ingest)")
    create.add_argument("--expires", default=DEFAULT_LIFETIME, metavar="WHEN",
                        help=f"90d, 12h, 26w, a date YYYY-MM-DD, or never (default: {DEFAULT_LIFETIME})")
    create.add_argument("--organization", default=None, metavar="ORG",
                        help="constituency organisation (id or name) the token acts for; the events sent with "
                             "it belong to it when none of their addresses is in the constituency")
    create.add_argument("--partner", default=None, metavar="PARTNER",
                        help="partner CERT (its id) whose credential this is: it reads that partner's MISP feed "
                             "and TAXII collections, and nothing else (scope share)")
    create.set_defaults(func=cmd_token_create)
    revoke = tsub.add_parser("revoke", help="revoke a token (at once, for good)")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_token_revoke)
    tsub.add_parser("list", help="list the tokens (never their secrets)").set_defaults(func=cmd_token_list)


def cmd_listen(p: Platform, args: argparse.Namespace) -> int:
    from cert.pipeline.listeners import Endpoint, ListenerConfig, listeners

    config = ListenerConfig(
        udp=tuple(Endpoint.parse(a) for a in args.udp), tcp=tuple(Endpoint.parse(a) for a in args.tcp),
        tls=tuple(Endpoint.parse(a) for a in args.tls), tls_cert=args.tls_cert, tls_key=args.tls_key,
        parser=args.parser, batch_size=args.batch_size, flush_seconds=args.flush_seconds,
        max_message_bytes=args.max_message_bytes, parser_options=parser_options(args))
    listener = listeners.get(args.kind)(p, config, on_batch=_detector(p) if args.detect else None)
    done = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        done.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
    addresses = listener.start()
    print(f"{args.kind} listener on {', '.join(addresses)}; Ctrl-C to stop", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        done.wait(args.duration or None)
    stats = listener.stop()
    print(f"{args.kind}: {stats.line()}", flush=True)
    for reason, n in stats.dead_letters.most_common():
        print(f"  dead letter x{n}: {reason}")
    return 0


def _detector(p: Platform) -> Callable[[list[Any]], None]:
    from cert.detection.run import alerts_for_batch, build_detectors

    engines = build_detectors(p.settings)

    def on_batch(events: list[Any]) -> None:
        alerts_for_batch(p, engines, events)

    return on_batch


def cmd_token_create(p: Platform, args: argparse.Namespace) -> int:
    from cert.accounts.tokens import create_token

    with p.db.session() as s:
        org = p.constituency.find(args.organization) if args.organization else None
        partner = p.constituency.partner(args.partner) if args.partner else None
        if args.partner and partner is None:
            raise NotFound(f"no partner named {args.partner!r}")
        scopes = "share" if partner is not None and args.scope == "ingest" else args.scope
        token, secret = create_token(s, args.name, args.owner or args.name, actor="cli", scopes=scopes,
                                     organization=org, lifetime=args.expires, partner=partner)
        name, scopes, expires = token.name, ",".join(token.scope_list), token.expires_at
    until = f"expires {expires:%Y-%m-%d %H:%M} UTC" if expires else "never expires"
    whose = f", organisation {org.name}" if org else f", partner {partner.name}" if partner else ""
    print(f"Created API token {name} (scopes {scopes}{whose}; {until}). "
          "Its secret, shown only now:")
    print(secret)
    print("Send it as: Authorization: Bearer <secret>")
    return 0


def cmd_token_revoke(p: Platform, args: argparse.Namespace) -> int:
    from cert.accounts.tokens import revoke_token

    with p.db.session() as s:
        token = revoke_token(s, args.name, actor="cli")
        name = token.name
    print(f"Revoked API token {name}")
    return 0


def _when(moment: datetime | None, never: str = "never") -> str:
    return moment.strftime("%Y-%m-%dT%H:%M") if moment else never


def cmd_token_list(p: Platform, args: argparse.Namespace) -> int:
    from cert.accounts.tokens import list_tokens, status

    with p.db.session() as s:
        for t in list_tokens(s):
            used = _when(t.last_used_at) + (f" from {t.last_used_from}" if t.last_used_from else "")
            print(f"{t.name:24s} {status(t):8s} scopes={','.join(t.scope_list)} owner={t.owner} "
                  f"organization={t.organization or '-'} created={t.created_at:%Y-%m-%d} "
                  f"expires={_when(t.expires_at)} used={used}")
    return 0
