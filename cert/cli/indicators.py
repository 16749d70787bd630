"""``cert indicators …`` and ``cert yara …``: the indicator store and YARA scans from the shell."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cert.core.errors import InvalidInput
from cert.core.tlp import TLP

if TYPE_CHECKING:
    from cert.runtime.platform import Platform


def cmd_indicators_load(p: Platform, args: argparse.Namespace) -> int:
    from cert.detection.indicators.formats import Defaults, load
    from cert.detection.indicators.store import parse_duration

    if not 0 <= args.confidence <= 100:
        raise InvalidInput("--confidence must be between 0 and 100")
    expires = datetime.now(UTC) + parse_duration(args.expires) if args.expires else None
    defaults = Defaults(tlp=TLP.parse(args.tlp) if args.tlp else None, confidence=args.confidence,
                        expires_at=expires, tags=tuple(args.tag or ()), allow_private=args.allow_private)
    status = 0
    for path in args.paths:
        with p.db.session() as s:
            r = load(s, Path(path), args.source, defaults, args.format)
        print(f"{path}: {r.read} entries read, {r.inserted} new, {r.updated} updated, {r.unchanged} unchanged, "
              f"{r.skipped} not matchable (skipped), {len(r.errors)} rejected")
        for err in r.errors[:50]:
            print(f"  rejected {err}")
        if len(r.errors) > 50:
            print(f"  … and {len(r.errors) - 50} more")
        status = status or (1 if r.errors and args.strict else 0)
    return status


def cmd_indicators_count(p: Platform, args: argparse.Namespace) -> int:
    from cert.detection.indicators.store import count, generation

    with p.db.session() as s:
        rows, gen = count(s), generation(s)
    for source, type_, n in rows:
        print(f"{source:30s} {type_:8s} {n:>10,}")
    print(f"total {sum(n for *_, n in rows):,} indicators (store generation {gen})")
    return 0


def cmd_indicators_list(p: Platform, args: argparse.Namespace) -> int:
    from cert.detection.indicators.store import is_live, listing

    with p.db.session() as s:
        rows = listing(s, args.source, args.type, args.value, args.limit)
    for ind in rows:
        state = "live" if is_live(ind) else ("expired" if ind.to_ids else "context")
        expires = ind.expires_at.date().isoformat() if ind.expires_at else "-"
        print(f"{ind.type:7s} {ind.value[:80]:80s} {ind.source[:24]:24s} TLP:{ind.tlp.upper():12s} "
              f"conf {ind.confidence:3d} {state:8s} exp {expires} {','.join(ind.tags)[:60]}")
    return 0


def cmd_indicators_remove(p: Platform, args: argparse.Namespace) -> int:
    from cert.detection.indicators.store import remove_source

    with p.db.session() as s:
        n = remove_source(s, args.source)
    print(f"removed {n} indicators of {args.source}")
    return 0


def cmd_yara_watch(p: Platform, args: argparse.Namespace) -> int:
    from cert.detection.files import FolderWatcher

    fields = dict(kv.split("=", 1) for kv in args.field or [])
    watcher = FolderWatcher(p, Path(args.folder), settle_seconds=args.settle, fields=fields)
    print(f"watching {watcher.folder} every {args.every} s; Ctrl-C to stop", flush=True)
    try:
        while True:
            for o in watcher.poll():
                r = o.result
                what = r.error or (", ".join(m.rule for m in r.matches) or "no match")
                print(f"{r.target}: {what}" + (f" ({o.alerts_new} new alert(s))" if o.alerts_new else ""), flush=True)
            if args.once:
                return 0
            time.sleep(args.every)
    except KeyboardInterrupt:
        return 0


def cmd_yara_scan(p: Platform, args: argparse.Namespace) -> int:
    from cert.detection.files import max_bytes, scanner_for

    scanner = scanner_for(p)
    for path, reason in scanner.rejected:
        print(f"rejected rule file {path}: {reason}")
    found = 0
    for name in args.paths:
        r = scanner.scan_file(Path(name), max_bytes=max_bytes(p))
        if r.error:
            print(f"{name}: {r.error}")
        for m in r.matches:
            found += 1
            strings = ", ".join(f"{s['id']}@{s['offset']}" for s in m.strings[:5])
            print(f"{name}: {m.rule} [{m.severity}] {m.meta.get('description', '')} ({strings})")
    return 1 if found else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ind = sub.add_parser("indicators", help="the indicator store: load feeds, list, count")
    isub = ind.add_subparsers(dest="indicators_command", required=True)
    ld = isub.add_parser("load", help="load indicators: CSV, plain list, STIX 2.1 bundle, MISP event/feed")
    ld.add_argument("paths", nargs="+", metavar="FILE", help="file, or MISP feed folder")
    ld.add_argument("--source", required=True, help="feed or file name (loading again updates it)")
    ld.add_argument("--tlp", help="TLP of entries without a marking; never lowers the file's (default amber)")
    ld.add_argument("--confidence", type=int, default=50, help="0-100 when the file gives none (default 50)")
    ld.add_argument("--expires", help="validity from now when the file gives none, e.g. 90d, 12h, 2w")
    ld.add_argument("--tag", action="append", help="tag every indicator (repeatable)")
    ld.add_argument("--allow-private", action="store_true", help="accept private and reserved addresses")
    ld.add_argument("--format", choices=("auto", "csv", "list", "json"), default="auto")
    ld.add_argument("--strict", action="store_true", help="exit 1 when any entry was rejected")
    ld.set_defaults(func=cmd_indicators_load)
    isub.add_parser("count", help="indicators per source and type").set_defaults(func=cmd_indicators_count)
    ls = isub.add_parser("list", help="list indicators")
    ls.add_argument("--source")
    ls.add_argument("--type")
    ls.add_argument("--value", help="substring of the value")
    ls.add_argument("--limit", type=int, default=100)
    ls.set_defaults(func=cmd_indicators_list)
    rm = isub.add_parser("remove", help="delete every indicator of a source")
    rm.add_argument("--source", required=True)
    rm.set_defaults(func=cmd_indicators_remove)

    ya = sub.add_parser("yara", help="YARA scans of files")
    ysub = ya.add_subparsers(dest="yara_command", required=True)
    wa = ysub.add_parser("watch", help="scan each new or changed file of a folder; matches become alerts")
    wa.add_argument("folder")
    wa.add_argument("--every", type=float, default=5.0, help="poll interval in seconds")
    wa.add_argument("--settle", type=float, default=2.0, help="skip files modified less than this ago (s)")
    wa.add_argument("--once", action="store_true", help="one pass, then exit")
    wa.add_argument("--field", action="append", metavar="ECS.FIELD=VALUE", help="set a field on the scan events")
    wa.set_defaults(func=cmd_yara_watch)
    sc = ysub.add_parser("scan", help="scan files and print the matches (exit 1 when any matched)")
    sc.add_argument("paths", nargs="+")
    sc.set_defaults(func=cmd_yara_scan)
