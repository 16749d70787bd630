"""``cert taxii …``: pull partners' TAXII 2.1 collections into the indicator store, and where each stands."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cert.runtime.platform import Platform
    from cert.sharing.taxii_client import PullResult


def print_result(r: PullResult) -> None:
    after = r.requested_after or "the beginning"
    if not r.ok:
        print(f"{r.source}: failed ({r.error}); {r.objects} objects stored before the failure, "
              f"the next pull resumes from the saved position")
        return
    rep = r.report
    detail = (f"{rep.inserted} new, {rep.updated} updated, {rep.unchanged} unchanged, {len(rep.errors)} rejected"
              if rep else "nothing new")
    print(f"{r.source}: {r.objects} objects added after {after} in {r.pages} page(s); "
          f"{r.indicators} indicators ({detail})")
    for err in (rep.errors if rep else [])[:20]:
        print(f"  rejected {err}")


def cmd_taxii_pull(p: Platform, args: argparse.Namespace) -> int:
    from cert.sharing.taxii_client import StateFile, due, pull, pull_all

    if not args.loop:
        results = pull_all(p.db, p.settings, args.source)
        for r in results:
            print_result(r)
        return 0 if all(r.ok for r in results) else 1
    print(f"polling the TAXII sources at their poll_minutes, checking every {args.every} s; Ctrl-C to stop", flush=True)
    state = StateFile(p.settings.data_dir)
    try:
        while True:
            for src in due(p.settings):
                if args.source in (None, src.name):
                    print_result(pull(p.db, state, src))
            time.sleep(args.every)
    except KeyboardInterrupt:
        return 0


def cmd_taxii_status(p: Platform, args: argparse.Namespace) -> int:
    from cert.sharing.taxii_client import StateFile, sources

    states = StateFile(p.settings.data_dir).load()
    configured = sources(p.settings)
    if not configured:
        print("no TAXII source configured (taxii_sources)")
    for src in configured:
        st = states.get(src.name)
        print(f"{src.name}: {src.collection_url} every {src.poll_minutes} min, unmarked indicators {src.tlp.label}")
        if st is None or (st.url, st.collection) != (src.url, src.collection):
            print("  never pulled")
            continue
        print(f"  position (added after): {st.added_after or 'the beginning'}")
        print(f"  last attempt: {st.last_attempt or '-'}   last success: {st.last_success or 'never'}")
        print(f"  objects fetched: {st.objects_total}, indicators stored: {st.indicators_total}")
        if st.last_error:
            print(f"  last error: {st.last_error}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tx = sub.add_parser("taxii", help="partners' TAXII 2.1 collections (taxii_sources)")
    tsub = tx.add_subparsers(dest="taxii_command", required=True)
    pl = tsub.add_parser("pull", help="fetch what was added since the last pull into the indicator store")
    pl.add_argument("--source", help="only this source (its name in taxii_sources)")
    pl.add_argument("--loop", action="store_true", help="keep polling each source at its poll_minutes")
    pl.add_argument("--every", type=float, default=30.0, help="with --loop: how often to look for due sources (s)")
    pl.set_defaults(func=cmd_taxii_pull)
    tsub.add_parser("status", help="each source's position, last success and last error").set_defaults(
        func=cmd_taxii_status)
