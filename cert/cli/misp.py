"""``cert misp …``: pull partners' and public MISP feeds into the indicator store, and where each stands."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cert.runtime.platform import Platform
    from cert.sharing.misp_pull import PullResult


def print_result(r: PullResult) -> None:
    if r.error:
        print(f"{r.source}: failed ({r.error}); {r.fetched} event(s) stored before the failure, "
              f"the next pull asks again for the others")
        return
    if r.not_modified:
        print(f"{r.source}: manifest unchanged (304), nothing fetched")
        return
    rep = r.report
    detail = (f"{rep.inserted} new, {rep.updated} updated, {rep.unchanged} unchanged, {len(rep.errors)} rejected"
              if rep else "nothing new")
    print(f"{r.source}: {r.listed} event(s) listed, {r.fetched} fetched, {r.removed} removed; "
          f"{r.indicators} indicators ({detail}); {r.sightings} sighting(s)")
    for err in r.errors[:20]:
        print(f"  skipped {err}")
    for err in (rep.errors if rep else [])[:20]:
        print(f"  rejected {err}")


def cmd_misp_pull(p: Platform, args: argparse.Namespace) -> int:
    from cert.sharing.misp_pull import StateFile, due, pull, pull_all

    if not args.loop:
        results = pull_all(p.db, p.settings, args.source)
        for r in results:
            print_result(r)
        return 0 if all(r.ok for r in results) else 1
    print(f"polling the MISP feeds at their poll_minutes, checking every {args.every} s; Ctrl-C to stop", flush=True)
    state = StateFile(p.settings.data_dir)
    try:
        while True:
            for src in due(p.settings):
                if args.source in (None, src.name):
                    print_result(pull(p.db, state, src))
            time.sleep(args.every)
    except KeyboardInterrupt:
        return 0


def cmd_misp_status(p: Platform, args: argparse.Namespace) -> int:
    from cert.sharing.misp_pull import StateFile, sources

    states = StateFile(p.settings.data_dir).load()
    configured = sources(p.settings)
    if not configured:
        print("no MISP feed configured (misp_feeds)")
    for src in configured:
        st = states.get(src.name)
        enabled = "" if src.enabled else " (disabled)"
        print(f"{src.name}{enabled}: {src.url} every {src.poll_minutes} min, untagged events {src.tlp.label}")
        if st is None or st.url != src.url:
            print("  never pulled")
            continue
        print(f"  events known: {len(st.events)}; ETag {st.etag or '-'}; Last-Modified {st.last_modified or '-'}")
        print(f"  last attempt: {st.last_attempt or '-'}   last success: {st.last_success or 'never'}")
        print(f"  events fetched: {st.events_total}, indicators stored: {st.indicators_total}, "
              f"sightings: {st.sightings_total}")
        if st.last_error:
            print(f"  last error: {st.last_error}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mp = sub.add_parser("misp", help="partners' and public MISP feeds (misp_feeds)")
    msub = mp.add_subparsers(dest="misp_command", required=True)
    pl = msub.add_parser("pull", help="fetch the events that changed since the last pull into the indicator store")
    pl.add_argument("--source", help="only this feed (its name in misp_feeds)")
    pl.add_argument("--loop", action="store_true", help="keep polling each feed at its poll_minutes")
    pl.add_argument("--every", type=float, default=30.0, help="with --loop: how often to look for due feeds (s)")
    pl.set_defaults(func=cmd_misp_pull)
    msub.add_parser("status", help="each feed's events, last success and last error").set_defaults(
        func=cmd_misp_status)
