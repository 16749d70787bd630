"""``cert playbooks …``: list and check the playbook files, dry-run or run one on an incident, undo
the changes whose expiry has passed, fail the runs that stopped giving signs of life."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from cert.core.errors import InvalidInput

if TYPE_CHECKING:
    from cert.runtime.platform import Platform


def cmd_list(p: Platform, args: argparse.Namespace) -> int:
    from cert.response.playbooks import load_playbooks
    from cert.response.runs import approval_role, is_action

    for book in load_playbooks(p.settings.playbooks_dir).values():
        print(f"{book.id} (version {book.version}, {book.phase}): {book.title_for('en')}")
        for s in book.steps:
            kind = "action" if is_action(s.step) else "step"
            role = approval_role(s)
            print(f"  {s.id}: {s.step} ({kind}{', approved by a ' + role if role else ''})")
    return 0


def cmd_check(p: Platform, args: argparse.Namespace) -> int:
    """Each file checked against the schema and the step registry; exit 1 when one is wrong."""
    from cert.response.playbooks import Playbook

    paths = [Path(x) for x in args.paths] or sorted(Path(p.settings.playbooks_dir).glob("*.y*ml"))
    bad = 0
    for path in paths:
        try:
            book = Playbook.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
            print(f"{path}: ok ({book.id}, version {book.version}, {len(book.steps)} steps)")
        except (OSError, yaml.YAMLError, InvalidInput) as exc:
            bad += 1
            print(f"{path}: {exc}")
    return 1 if bad else 0


def cmd_dry_run(p: Platform, args: argparse.Namespace) -> int:
    from cert.response.runs import plan_playbook

    plan = plan_playbook(p, args.case, args.playbook, f"cli:{args.actor}")
    if args.json:
        print(json.dumps(plan, indent=2, ensure_ascii=False))
        return 0
    print(f"{plan['playbook']} (version {plan['version']}) on incident #{plan['case_id']}, nothing done:")
    for step in plan["steps"]:
        head = f"- {step['id']} ({step['step']})"
        if step.get("approval"):
            head += f", approved by a {step['approval']}"
        for key in ("skip", "refused", "pending"):
            if step.get(key):
                head += f": {key}: {_text(step[key])}"
        print(head)
        for t in step.get("targets", []):
            print(f"    {_text(t)}")
        for e in step.get("excluded", []):
            print(f"    left out {e['value']}: {_text({'message': e['reason'], 'params': e.get('params')})}")
    return 0


def _text(item: dict[str, object]) -> str:
    params = item.get("params") or {}
    try:
        return str(item.get("message", "")) % (params if isinstance(params, dict) else {})
    except (KeyError, ValueError, TypeError):
        return str(item.get("message", ""))


def cmd_run(p: Platform, args: argparse.Namespace) -> int:
    from cert.response.runs import start_run
    from cert.storage.models import PlaybookRun

    run_id = start_run(p, args.case, args.playbook, f"cli:{args.actor}")
    p.jobs.wait(timeout=args.wait)
    with p.db.session() as s:
        run = s.get_one(PlaybookRun, run_id)
        print(f"run {run_id}: {run.status}{': ' + run.error if run.error else ''}")
    return 0


def cmd_expire(p: Platform, args: argparse.Namespace) -> int:
    """Undo the changes whose expiry has passed (``--now``: as if it were then)."""
    from cert.response.runs import expire_due, fail_stuck

    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    undone = expire_due(p, now)
    stuck = fail_stuck(p, now)
    print(f"{len(undone)} change(s) undone, {len(stuck)} stuck run(s) failed")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pb = sub.add_parser("playbooks", help="response playbooks: list, check, dry-run, run, expire")
    psub = pb.add_subparsers(dest="playbooks_command")
    pb.set_defaults(func=cmd_list)
    ck = psub.add_parser("check", help="check playbook files against the schema (default: the playbooks directory)")
    ck.add_argument("paths", nargs="*")
    ck.set_defaults(func=cmd_check)
    for name, helptext, func in (("dry-run", "what each step would do on an incident, nothing done", cmd_dry_run),
                                 ("run", "run a playbook on an incident", cmd_run)):
        sp = psub.add_parser(name, help=helptext)
        sp.add_argument("case", type=int)
        sp.add_argument("playbook")
        sp.add_argument("--actor", default="responder", help="who asks (recorded as cli:NAME)")
        if name == "dry-run":
            sp.add_argument("--json", action="store_true")
        else:
            sp.add_argument("--wait", type=float, default=60.0, help="seconds to wait for an in-process run")
        sp.set_defaults(func=func)
    ex = psub.add_parser("expire", help="undo the changes whose expiry has passed; fail the stuck runs")
    ex.add_argument("--now", help="the time to compare with (ISO 8601; default: now)")
    ex.set_defaults(func=cmd_expire)
