"""The ``cert`` command: init, ingest, detect, serve, worker, demo, users, rules, export."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

from cert.core.config import Settings, load_settings
from cert.core.errors import InvalidInput, VigieError
from cert.runtime.platform import Platform

log = logging.getLogger("cert")


def _platform(args: argparse.Namespace) -> Platform:
    settings = load_settings(args.config)
    if args.data_dir:
        from dataclasses import replace

        settings = replace(settings, data_dir=Path(args.data_dir))
    return Platform(settings)


def cmd_init(p: Platform, args: argparse.Namespace) -> int:
    p.settings.data_dir.mkdir(parents=True, exist_ok=True)
    p.upgrade()
    print(f"Database ready ({p.settings.mode} mode): {p.settings.redacted()['database_url'] or 'embedded SQLite'}")
    from cert.incidents.templates import ensure_defaults

    with p.db.session() as s:
        added = ensure_defaults(s, "cli:init")
    if added:
        print(f"Incident templates added: {', '.join(added)}")
    print(f"Constituency: {len(p.constituency.organizations)} organisation(s)")
    import os

    admin_pw = os.environ.get("CERT_ADMIN_PASSWORD")
    if admin_pw:
        from sqlalchemy import select

        from cert.accounts.users import create_user
        from cert.storage.models import User

        with p.db.session() as s:
            if s.scalar(select(User).where(User.username == "admin")) is None:
                create_user(s, "admin", admin_pw, "admin", "cli:init", min_length=p.settings.password_min_length)
                print("Created user admin (password from CERT_ADMIN_PASSWORD)")
    return 0


def cmd_ingest(p: Platform, args: argparse.Namespace) -> int:
    from cert.cli.ingest import run_ingest  # checkpoints, spool, progress bar, --follow

    return run_ingest(p, args)


def cmd_detect(p: Platform, args: argparse.Namespace) -> int:
    from cert.cli.alerts import parse_when
    from cert.detection.run import run_detection

    rerun = args.all or args.since or args.until
    if rerun and args.every:
        raise InvalidInput("--every repeats the run over new events; --since, --until and --all run once")
    since = parse_when(args.since) if args.since else None
    until = parse_when(args.until) if args.until else None
    if since and until and since >= until:
        raise InvalidInput("--since must be before --until")
    while True:
        r = run_detection(p, workers=args.workers, since=since, until=until, everything=args.all)
        print(f"Detection over {r.events} events: {r.hits} hits, {r.alerts_new} new alerts, "
              f"{r.alerts_updated} updated")
        if not args.every:
            return 0
        time.sleep(args.every)


def request_handler() -> type[Any]:
    """Werkzeug's request handler without the ``Server`` banner naming Werkzeug and Python with
    their versions: the header says ``Vigie`` only."""
    from werkzeug.serving import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def version_string(self) -> str:
            return "Vigie"

    return QuietHandler


def cmd_serve(p: Platform, args: argparse.Namespace, settings: Settings | None = None) -> int:
    settings = settings or p.settings
    create_app = _web_factory(settings)
    app = create_app(settings)
    from cert.response import timer

    timer.start(p)  # changes undone when their expiry passes
    print(f"Vigie console: http://{args.host}:{args.port}/", flush=True)
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False, request_handler=request_handler())
    return 0


def _web_factory(settings: Settings) -> Any:
    module, _, attr = settings.web_app.partition(":")
    return getattr(importlib.import_module(module), attr)


def cmd_worker(p: Platform, args: argparse.Namespace) -> int:
    from cert.response import timer
    from cert.runtime.worker import run_worker

    if not args.burst:
        timer.start(p)  # changes undone when their expiry passes
    run_worker(p.settings, burst=args.burst)
    return 0


def cmd_export(p: Platform, args: argparse.Namespace) -> int:
    from cert.incidents.cases import get_case
    from cert.sharing.targets.misp_feed import export_case

    with p.db.session() as s:
        result = export_case(s, get_case(s, args.case), p.settings, "cli", Path(args.feed) if args.feed else None)
    print(f"MISP event {result.event_uuid}: {result.exported} indicators ({result.withheld} withheld) -> {result.path}")
    return 0


def cmd_demo(p: Platform, args: argparse.Namespace) -> int:
    from cert.demo import ensure_demo_users, ingest_scenario
    from cert.detection.run import run_detection

    cmd_init(p, args)
    creds = ensure_demo_users(p)
    for src, summary in ingest_scenario(p):
        print(f"Ingested {src.path.name}: {summary.ingested} new events, {summary.duplicates} already stored, "
              f"{summary.dead_lettered} dead-lettered")
    r = run_detection(p)
    print(f"Detection: {r.events} events examined, {r.alerts_new} new alerts")
    print()
    print("Demo accounts (also in " + str(p.settings.data_dir / "demo-credentials.txt") + "):")
    for user, pw in creds.items():
        print(f"  {user:12s} {pw}")
    if args.no_serve:
        return 0
    import os
    from dataclasses import replace

    # the demo is served over plain http: a Secure cookie would never come back, unless asked for
    insecure = "CERT_SESSION_COOKIE_SECURE" not in os.environ
    return cmd_serve(p, args, replace(p.settings, session_cookie_secure=False) if insecure else None)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cert", description="Vigie: security operations for national CERTs")
    ap.add_argument("--config", help="TOML configuration file (default: $CERT_CONFIG)")
    ap.add_argument("--data-dir", help="data directory (default: $CERT_DATA_DIR or ./var)")
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create the data directory and migrate the database").set_defaults(func=cmd_init)

    ing = sub.add_parser("ingest", help="ingest log files (or - for stdin)")
    ing.add_argument("--parser", required=True, help="parser name, e.g. linux.auth, web.access")
    ing.add_argument("--field", action="append", metavar="ECS.FIELD=VALUE", help="set a field on every event")
    ing.add_argument("--follow", action="store_true",
                     help="keep reading the files as they grow (like tail -F); with or without it, "
                          "each file resumes from its checkpoint")
    ing.add_argument("--detect", action="store_true", help="run the detectors on each batch (streaming)")
    ing.add_argument("--strict", action="store_true", help="exit 1 when any line was dead-lettered")
    from cert.cli.parser_options import add_parser_options

    add_parser_options(ing)
    ing.add_argument("paths", nargs="+")
    ing.set_defaults(func=cmd_ingest)

    det = sub.add_parser("detect", help="run the detectors over newly ingested events, or again over a time range",
                         description="Run the detectors over the events ingested since the last run. With "
                                     "--since/--until (the events' own time: ISO 8601, or a duration back from "
                                     "now such as 24h or 7d) or --all, also over the stored events of that "
                                     "range, whenever they were ingested; what an alert already reported is "
                                     "not reported again.")
    det.add_argument("--since", help="also re-examine the events from this time on")
    det.add_argument("--until", help="... up to this time (exclusive)")
    det.add_argument("--all", action="store_true", help="re-examine every stored event")
    det.add_argument("--every", type=int, default=0, help="repeat every N seconds")
    det.add_argument("--workers", type=int, default=1, choices=range(1, 65), metavar="N",
                     help="match in N processes (Sigma and indicators; same alerts, one per core)")
    det.set_defaults(func=cmd_detect)

    for name, helptext in (("serve", "serve the console"), ("demo", "set up the demo and serve the console")):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, default=8080)
        if name == "demo":
            sp.add_argument("--no-serve", action="store_true", help="set up only")
        sp.set_defaults(func=cmd_serve if name == "serve" else cmd_demo)

    wk = sub.add_parser("worker", help="run an rq worker for playbook jobs")
    wk.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    wk.set_defaults(func=cmd_worker)

    from cert.cli import users as cli_users  # cert users …, cert useradd

    cli_users.register(sub)

    from cert.cli import rules as cli_rules  # cert rules …, cert hunt

    cli_rules.register(sub)

    from cert.cli import investigate as cli_investigate  # cert investigate

    cli_investigate.register(sub)

    ex = sub.add_parser("export", help="export a case to the MISP feed")
    ex.add_argument("case", type=int)
    ex.add_argument("--feed", help="feed directory (default: DATA_DIR/misp-feed)")
    ex.set_defaults(func=cmd_export)

    from cert.cli import indicators as cli_detection  # cert indicators …, cert yara …

    cli_detection.register(sub)

    from cert.cli import network as network_cli  # cert listen …, cert token …

    network_cli.add_commands(sub)

    from cert.cli import alerts as cli_alerts  # cert alerts

    cli_alerts.register(sub)

    from cert.cli import playbooks as cli_playbooks  # cert playbooks …

    cli_playbooks.register(sub)

    from cert.cli import sharing as cli_sharing  # cert sharing …

    cli_sharing.register(sub)

    from cert.cli import taxii as cli_taxii  # cert taxii …

    cli_taxii.register(sub)

    from cert.cli import misp as cli_misp  # cert misp …

    cli_misp.register(sub)

    from cert.cli import constituency as cli_constituency  # cert constituency …

    cli_constituency.register(sub)

    from cert.cli import intake as cli_intake  # cert intake smtp

    cli_intake.register(sub)

    from cert.cli import notify as cli_notify  # cert notify …

    cli_notify.register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    if not args.verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # one INFO line per request, and a traceback per retry while the store is down (cert says it once)
        logging.getLogger("elastic_transport").setLevel(logging.ERROR)
    try:
        return int(args.func(_platform(args), args))
    except VigieError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
