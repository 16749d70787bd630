"""``cert constituency …``: the contact database as CSV files. ``export FILE`` writes the
organisations (``--contacts``: the contacts); ``import FILE`` reads either (told by its header),
checked whole first: a file with a bad row is refused, each bad row named, nothing changed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cert.core.errors import InvalidInput

if TYPE_CHECKING:
    from cert.runtime.platform import Platform


def cmd_export(p: Platform, args: argparse.Namespace) -> int:
    from cert.constituency import csv_files

    p.constituency  # noqa: B018 - the first read seeds an empty database
    with p.db.session() as s:
        text = csv_files.export_contacts(s) if args.contacts else csv_files.export_organizations(s)
    Path(args.file).write_text(text, encoding="utf-8", newline="")
    print(f"{args.file} written")
    return 0


def cmd_import(p: Platform, args: argparse.Namespace) -> int:
    from cert.constituency import csv_files

    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{args.file}: {exc}") from exc
    p.constituency  # noqa: B018 - the first read seeds an empty database
    try:
        with p.db.session() as s:
            summary = csv_files.import_csv(s, text, f"cli:{args.actor}")
    except csv_files.ImportRefused as exc:
        for number, problem in exc.problems:
            print(f"{args.file}: row {number}: {problem}", file=sys.stderr)
        raise
    print(f"{args.file}: {summary.rows} {summary.kind} row(s) imported for {len(summary.organizations)} "
          "organisation(s)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    co = sub.add_parser("constituency", help="the contact database as CSV (export, import)")
    csub = co.add_subparsers(dest="constituency_command", required=True)
    ex = csub.add_parser("export", help="write the organisations (or, with --contacts, the contacts) as CSV")
    ex.add_argument("file")
    ex.add_argument("--contacts", action="store_true", help="the contacts instead of the organisations")
    ex.set_defaults(func=cmd_export)
    im = csub.add_parser("import", help="import an organisations or a contacts CSV file (refused whole if a row "
                                        "is bad)")
    im.add_argument("file")
    im.add_argument("--actor", default="admin", help="who imports (recorded as cli:NAME)")
    im.set_defaults(func=cmd_import)
