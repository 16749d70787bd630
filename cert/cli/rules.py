"""``cert rules …`` and ``cert hunt``: what the detectors loaded, rule settings from the shell, and
scheduled hunts over the event store."""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cert.core.errors import InvalidInput

if TYPE_CHECKING:
    from cert.runtime.platform import Platform


def cmd_rules_list(p: Platform, args: argparse.Namespace) -> int:
    from cert.detection.overrides import current_overrides
    from cert.detection.run import build_detectors

    overrides = current_overrides(p.db)
    for engine in build_detectors(p.settings):
        engine.configure(overrides)
        info = engine.summary()
        rejected = info.pop("rejected", [])
        info.pop("roots", None)
        info.pop("routes", None)
        print(f"{engine.name}: " + ", ".join(f"{k} {v}" for k, v in info.items()) + f", rejected {len(rejected)}")
        for source, title, reason in rejected:
            print(f"  rejected {source} {title!r}: {reason}")
    return 0


def cmd_rules_check(p: Platform, args: argparse.Namespace) -> int:
    """Load a rule tree (default: the configured ones) and report loaded / active / unsupported."""
    from cert.detection.overrides import current_overrides
    from cert.detection.run import build_detectors

    settings = p.settings
    root: Path | None = None
    if args.path:
        root = Path(args.path).expanduser().resolve()
        if not root.exists():
            raise InvalidInput(f"{root} does not exist")
        if root != (settings.rules_dir / "sigma").resolve():  # our own rules are always loaded
            settings = replace(settings, sigma_paths=(str(root),))
    started = time.monotonic()
    status = 0
    overrides = current_overrides(p.db)
    for engine in build_detectors(settings):
        engine.configure(overrides)
        info = engine.summary()
        roots: list[dict[str, Any]] = info.get("roots", [])
        if not roots:
            continue
        shown: set[Path] = set()
        for r in roots:
            where = Path(r["path"]).resolve()
            if (root is not None and where != root) or where in shown:
                continue
            shown.add(where)
            loaded, active = r["loaded"], r["active"]
            share = 100.0 * active / loaded if loaded else 0.0
            print(f"{engine.name} {r['path']}: {r['files']} files, {loaded} rules loaded, {active} active "
                  f"({share:.1f}%), {r['disabled']} disabled by analysts, {len(r['rejected'])} unsupported")
            groups: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
            for item in r["rejected"]:
                groups[item[2].split(":", 1)[0]].append(item)
            for reason, items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
                print(f"  {len(items):5d}  {reason}")
                for source, title, full in items[: args.show]:
                    print(f"         - {title or Path(source).name} ({Path(source).name}): {full}")
            if loaded and share < args.min_active:
                status = 1
        by_logsource = Counter(info.get("routes", {}))
        if by_logsource and args.routes:
            print("  active rules by event source:")
            for route, n in by_logsource.most_common():
                print(f"  {n:5d}  {route}")
    print(f"(checked in {time.monotonic() - started:.1f} s)")
    return status


def _rule_change(p: Platform, args: argparse.Namespace) -> int:
    from cert.detection import overrides as rules

    actor = f"cli:{args.actor}"
    with p.db.session() as s:
        if args.rules_command in ("enable", "disable"):
            rules.set_enabled(s, args.rule_id, args.rules_command == "enable", actor, args.comment)
        elif args.rules_command == "severity":
            rules.set_severity(s, args.rule_id, None if args.level == "default" else args.level, actor, args.comment)
    print(f"rule {args.rule_id}: {args.rules_command} recorded")
    return 0


def cmd_hunt(p: Platform, args: argparse.Namespace) -> int:
    from cert.detection.hunts import gaps, parse_duration, recent_runs, run_hunts

    if args.status:
        with p.db.session() as s:
            for run in recent_runs(s, limit=20):
                print(f"#{run.id} {run.window_start:%Y-%m-%d %H:%M:%S} -> {run.window_end:%H:%M:%S} {run.status}: "
                      f"{run.hits} hits, {run.alerts_new} new alerts {run.error[:200]}")
            holes = gaps(s)
        for start, end in holes:
            print(f"gap: {start:%Y-%m-%d %H:%M:%S} -> {end:%Y-%m-%d %H:%M:%S} not hunted (--rerun-gaps)")
        return 1 if holes else 0
    every = parse_duration(args.every)
    lookback = parse_duration(args.lookback)
    while True:
        for res in run_hunts(p, lookback=lookback, rerun_gaps=args.rerun_gaps):
            print(f"hunt {res.window_start:%Y-%m-%d %H:%M:%S} -> {res.window_end:%H:%M:%S}: {res.status}, "
                  f"{res.events} events, {res.hits} hits, {res.alerts_new} new alerts"
                  f"{(' - ' + res.error) if res.error else ''}")
        if not args.loop:
            return 0
        time.sleep(every.total_seconds())


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ru = sub.add_parser("rules", help="detection rules: loaded, check a tree, enable/disable, severity")
    rsub = ru.add_subparsers(dest="rules_command")
    ru.set_defaults(func=cmd_rules_list)
    ck = rsub.add_parser("check", help="load a rule tree and report loaded / active / unsupported (grouped)")
    ck.add_argument("path", nargs="?", help="rule directory (default: rules/sigma and sigma_paths)")
    ck.add_argument("--show", type=int, default=3, help="examples listed per reason (default 3)")
    ck.add_argument("--routes", action="store_true", help="also count active rules per event source")
    ck.add_argument("--min-active", type=float, default=0.0, help="exit 1 when fewer %% of rules are active")
    ck.set_defaults(func=cmd_rules_check)
    for name, helptext in (("enable", "enable a rule"), ("disable", "disable a rule")):
        sp = rsub.add_parser(name, help=helptext)
        sp.add_argument("rule_id")
        sp.add_argument("--comment", default="")
        sp.add_argument("--actor", default="admin", help="who asks (recorded as cli:NAME)")
        sp.set_defaults(func=_rule_change)
    sv = rsub.add_parser("severity", help="override a rule's severity ('default' restores it)")
    sv.add_argument("rule_id")
    sv.add_argument("level", choices=("informational", "low", "medium", "high", "critical", "default"))
    sv.add_argument("--comment", default="")
    sv.add_argument("--actor", default="admin")
    sv.set_defaults(func=_rule_change)

    hu = sub.add_parser("hunt", help="scheduled hunts: run the rules as queries against Elasticsearch")
    hu.add_argument("--lookback", default="9m", help="window looked back at each run (default 9m)")
    hu.add_argument("--every", default="5m", help="interval between runs with --loop (default 5m)")
    hu.add_argument("--loop", action="store_true", help="keep running every --every")
    hu.add_argument("--rerun-gaps", action="store_true", help="first re-run windows no run covered")
    hu.add_argument("--status", action="store_true", help="list the recent runs and the gaps (exit 1 if any)")
    hu.set_defaults(func=cmd_hunt)
