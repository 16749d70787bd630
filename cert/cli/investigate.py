"""``cert investigate``: a responder's forensic run over files and folders of logs, in one command.

Each file is read by its parser (``--parser``, or chosen from the file: ``.evtx`` is
``windows.evtx``; JSON of Windows events is ``windows.json``, Winlogbeat's JSON
``windows.winlogbeat``, NXLog's ``windows.nxlog``), its events are stored in an embedded store in
a data directory of their own (a temporary one, deleted at the end, unless one is named), the
detectors run over them, and the alerts are printed as a table and written as CSV or JSON.

``run_investigation`` is the whole run as a function (the benchmark times it); ``register`` adds
the command to ``cert``."""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cert.cli.ingest import expand, progress_bar, tune_gc
from cert.core.config import Settings
from cert.core.errors import InvalidInput
from cert.core.parser import parsers
from cert.runtime.platform import Platform

WINDOWS_JSON = "windows.json"
#: the parser of each file ending that names its format
BY_EXTENSION = {".evtx": "windows.evtx"}
#: the files of a folder read when no parser is named: those whose format can be told
AUTO_EXTENSIONS = (".evtx", ".json", ".jsonl", ".ndjson")
SNIFF_BYTES = 16_384
LEVELS = ("critical", "high", "medium", "low", "informational")


@dataclass(frozen=True)
class Source:
    path: str
    parser: str


@dataclass
class SourceResult:
    path: str
    parser: str
    read: int
    ingested: int
    duplicates: int
    dead_lettered: int


@dataclass(frozen=True)
class AlertRow:
    """One alert as the run reports it: a rule that fired, on one host (or other group)."""

    rule_id: str
    title: str
    level: str
    count: int
    first_seen: datetime
    last_seen: datetime
    host: str
    user: str
    source_ip: str
    detector: str
    attack: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["first_seen"], out["last_seen"] = self.first_seen.isoformat(), self.last_seen.isoformat()
        out["attack"] = list(self.attack)
        return out


@dataclass
class Investigation:
    """What a forensic run read, found, and how long it took."""

    sources: list[SourceResult] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)
    events: int = 0
    rules: int = 0
    data_dir: Path | None = None  # kept (named or ``keep``); None when it was deleted
    seconds_ingest: float = 0.0
    seconds_detect: float = 0.0

    @property
    def dead_lettered(self) -> int:
        return sum(r.dead_lettered for r in self.sources)


def _sniff(path: str) -> str | None:
    """The parser of a file of JSON Windows events, told from its first bytes; None otherwise."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    except OSError:
        return None
    if not head.startswith(("{", "[")):
        return None
    if '"winlog"' in head:
        return "windows.winlogbeat"
    if '"SourceName"' in head and '"EventTime"' in head:
        return "windows.nxlog"
    if '"EventID"' in head and ('"System"' in head or '"Channel"' in head):
        return WINDOWS_JSON
    return None


def parser_for(path: str) -> str | None:
    """The parser of a file, from its name or its first bytes; None when it cannot be told."""
    by_name = BY_EXTENSION.get(Path(path).suffix.lower())
    return by_name or _sniff(path)


def plan(paths: Sequence[str], parser: str | None = None,
         skipped: list[tuple[str, str]] | None = None) -> list[Source]:
    """The files to read and the parser of each. With ``parser``, every file the arguments name
    (a folder: its files the parser reads); without, the files whose format can be told (a
    folder: those ending in ``AUTO_EXTENSIONS``). A file named as such whose parser is unknown, or
    not installed, is an InvalidInput naming it, before anything is read; one found in a folder
    is left out, with the reason, in ``skipped``."""
    if "-" in paths:
        raise InvalidInput("cert investigate reads files and folders, not stdin ('-')")
    if parser is not None:
        extensions = parsers.get(parser).extensions
        return [Source(p, parser) for p in expand(list(paths), extensions=extensions)]
    named = {p for p in paths if not os.path.isdir(p)}
    out: list[Source] = []
    unknown: list[str] = []
    missing: list[str] = []
    for path in expand(list(paths), extensions=AUTO_EXTENSIONS):
        if not os.path.isfile(path):
            raise InvalidInput(f"no such file: {path}")
        name = parser_for(path)
        if name is not None and name in parsers:
            out.append(Source(path, name))
        elif path not in named and skipped is not None:
            skipped.append((path, "format not recognised" if name is None else f"needs the {name} parser"))
        else:
            (unknown if name is None else missing).append(path)
    if unknown:
        raise InvalidInput(f"cannot tell the format of {_some(unknown)}: name its parser with --parser")
    if missing:
        raise InvalidInput(f"{_some(missing)} hold Windows events as JSON, but no {WINDOWS_JSON} parser is "
                           f"installed: name another parser with --parser")
    return out


def _some(paths: list[str]) -> str:
    return ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def investigation_settings(base: Settings, data_dir: Path, rules: Sequence[str] = ()) -> Settings:
    """``base`` on an embedded store in ``data_dir`` (never the configured servers), with the
    Sigma rules of ``rules`` instead of the configured ``sigma_paths`` when given."""
    for r in rules:
        if not Path(r).expanduser().exists():
            raise InvalidInput(f"--rules {r}: no such file or directory")
    settings = replace(base, data_dir=data_dir, database_url="", elasticsearch_url="", redis_url="")
    return replace(settings, sigma_paths=tuple(rules)) if rules else settings


def run_investigation(paths: Sequence[str], *, base: Settings, parser: str | None = None,
                      rules: Sequence[str] = (), data_dir: Path | None = None, keep: bool = False,
                      streaming: bool = False, progress: bool = False,
                      report: Callable[[SourceResult], None] | None = None,
                      skipped: list[tuple[str, str]] | None = None) -> Investigation:
    """Read ``paths`` (files, folders, globs), detect over their events, and return what was found.
    The events go to ``data_dir`` (kept), else to a temporary directory deleted at the end unless
    ``keep``. ``streaming``: detect on each batch as it is stored, instead of one detection run
    over everything once stored. ``report`` is called after each file; ``skipped`` receives the
    files of folders left out, with the reason."""
    skipped = skipped if skipped is not None else []
    sources = plan(paths, parser, skipped)
    if not sources:
        raise InvalidInput("no file to read" + (f": {_some([p for p, _ in skipped])} left out" if skipped else ""))
    tune_gc()
    settings = investigation_settings(base, data_dir or Path(), rules)
    where = data_dir or Path(tempfile.mkdtemp(prefix="vigie-investigate-"))
    p = Platform(replace(settings, data_dir=where))
    result = Investigation(data_dir=where if (data_dir or keep) else None)
    try:
        p.upgrade()
        _ingest_and_detect(p, sources, result, streaming, progress, report)
        result.alerts = alert_rows(p)
    finally:
        p.close()
        if result.data_dir is None:
            shutil.rmtree(where, ignore_errors=True)
    return result


def _ingest_and_detect(p: Platform, sources: list[Source], result: Investigation, streaming: bool,
                       progress: bool, report: Callable[[SourceResult], None] | None) -> None:
    from cert.detection.run import alerts_for_batch, build_detectors, run_detection, sigma_rule_count
    from cert.pipeline.ingestor import Ingestor

    started = time.monotonic()
    engines = build_detectors(p.settings)
    result.rules = sigma_rule_count(engines)

    def detect(events: list[Any]) -> None:
        alerts_for_batch(p, engines, events)

    on_batch = detect if streaming else None
    ingestors: dict[str, Ingestor] = {}
    sizes = {s.path: os.stat(s.path).st_size for s in sources}
    with progress_bar(progress) as bar:
        task = bar.add_task("reading", total=sum(sizes.values()), lines=0)
        lines = [0]

        def advance(_nbytes: int, nlines: int) -> None:
            lines[0] += nlines
            bar.update(task, lines=lines[0])

        for source in sources:
            ingestor = ingestors.get(source.parser)
            if ingestor is None:
                ingestor = ingestors[source.parser] = Ingestor(p, source.parser, on_batch=on_batch)
            bar.update(task, description=Path(source.path).name[:40])
            summary = ingestor.ingest_file(source.path, progress=advance)
            bar.update(task, advance=sizes[source.path])
            done = SourceResult(source.path, source.parser, summary.read, summary.ingested, summary.duplicates,
                                summary.dead_lettered)
            result.sources.append(done)
            if report is not None:
                report(done)
    p.events.refresh()
    result.events = p.events.count()
    detected = time.monotonic()
    if not streaming:
        run_detection(p, engines=engines)
    result.seconds_ingest = detected - started
    result.seconds_detect = time.monotonic() - detected


def alert_rows(p: Platform) -> list[AlertRow]:
    """Every alert of the platform, the most severe first, then in the order they began."""
    from cert.detection.triage import SEVERITY_RANK, AlertFilter, count, search

    with p.db.session() as s:
        found = search(s, AlertFilter(), limit=max(1, count(s, AlertFilter())))
        rows = [AlertRow(a.rule_id, a.rule_title, a.severity, a.count, _aware(a.first_seen), _aware(a.last_seen),
                         _entity(a.entities, "host.name"), _entity(a.entities, "user.name"), a.source_ip or "",
                         a.detector, tuple(a.attack or ())) for a in found]
    return sorted(rows, key=lambda r: (-SEVERITY_RANK.get(r.level, 0), r.first_seen, r.title, r.host))


def _entity(entities: dict[str, Any], name: str) -> str:
    value = entities.get(name)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _aware(dt: datetime) -> datetime:
    from datetime import UTC

    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


CSV_COLUMNS = ("level", "title", "rule_id", "count", "first_seen", "last_seen", "host", "user", "source_ip",
               "detector", "attack")


def write_csv(rows: Sequence[AlertRow], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(CSV_COLUMNS)
        for r in rows:
            d = r.as_dict()
            out.writerow([" ".join(d[c]) if c == "attack" else d[c] for c in CSV_COLUMNS])


def as_json(result: Investigation) -> dict[str, Any]:
    return {
        "files": [asdict(s) for s in result.sources],
        "events": result.events,
        "rules": result.rules,
        "dead_lettered": result.dead_lettered,
        "alerts": [r.as_dict() for r in result.alerts],
        "data_dir": str(result.data_dir) if result.data_dir else None,
    }


def print_table(rows: Sequence[AlertRow]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} alert(s)", title_justify="left")
    for name, justify in (("Level", "left"), ("Rule", "left"), ("Count", "right"), ("First seen (UTC)", "left"),
                          ("Last seen (UTC)", "left"), ("Host", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    style = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}
    for r in rows:
        table.add_row(r.level, r.title, str(r.count), _utc(r.first_seen), _utc(r.last_seen), r.host,
                      style=style.get(r.level))
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def _utc(dt: datetime) -> str:
    from datetime import UTC

    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def cmd_investigate(p: Platform, args: argparse.Namespace) -> int:
    for target in (args.csv, args.json):
        if target and not Path(target).parent.exists():
            raise InvalidInput(f"{target}: no such directory")
    if args.investigation_dir and Path(args.investigation_dir).is_file():
        raise InvalidInput(f"--data-dir {args.investigation_dir} is a file")

    def report(r: SourceResult) -> None:
        dead = f", {r.dead_lettered} dead-lettered" if r.dead_lettered else ""
        print(f"{r.path}: {r.ingested} events ({r.parser}){dead}", file=sys.stderr, flush=True)

    skipped: list[tuple[str, str]] = []
    result = run_investigation(args.paths, base=p.settings, parser=args.parser, rules=args.rules or (),
                               data_dir=Path(args.investigation_dir) if args.investigation_dir else None,
                               keep=args.keep, streaming=args.streaming, progress=sys.stderr.isatty(),
                               report=report if args.verbose_files else None, skipped=skipped)
    for path, reason in skipped:
        print(f"warning: {path} left out: {reason} (name a parser with --parser)", file=sys.stderr)
    if args.csv:
        write_csv(result.alerts, Path(args.csv))
    if args.json:
        Path(args.json).write_text(json.dumps(as_json(result), indent=1, ensure_ascii=False) + "\n",
                                   encoding="utf-8")
    print_table(result.alerts)
    kept = f"; events and alerts kept in {result.data_dir}" if result.data_dir else ""
    print(f"{len(result.sources)} file(s), {result.events} events ({result.dead_lettered} dead-lettered), "
          f"{result.rules} Sigma rules: {len(result.alerts)} alert(s) in "
          f"{result.seconds_ingest + result.seconds_detect:.1f} s{kept}", file=sys.stderr)
    return 1 if args.fail_on_alert and result.alerts else 0


EPILOG = """\
Formats: .evtx files are read as Windows event logs; JSON files of Windows events (evtx_dump's
JSON, Winlogbeat, NXLog) are recognised from their content; anything else needs --parser.
A folder is read at every depth (with --parser, the files that parser reads); globs such as
'case/**/*.evtx' match at every depth.

Rules: the configured Sigma rules (rules/sigma and sigma_paths); --rules DIR (repeatable) reads
that rule tree instead of sigma_paths (Vigie's own rules/sigma stay loaded).

Exit status: 0 when the run completed, whether alerts were found or not (as Chainsaw and
Hayabusa do); with --fail-on-alert, 1 when at least one alert was found; 2 on an error (no such
file, unknown format, unknown parser, unreadable rules)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    iv = sub.add_parser("investigate", help="forensic run: read log files and folders, detect, print the alerts",
                        description="Read log files and folders into a private embedded store, run the "
                                    "detectors over them and print the alerts as a table.",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    iv.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs (e.g. 'case/**/*.evtx')")
    iv.add_argument("--parser", help="parser of every file (default: chosen from each file)")
    iv.add_argument("--rules", action="append", metavar="DIR", help="Sigma rule tree instead of sigma_paths "
                                                                    "(repeatable)")
    iv.add_argument("--csv", metavar="FILE", help="also write the alerts as CSV")
    iv.add_argument("--json", metavar="FILE", help="also write the run and its alerts as one JSON document")
    iv.add_argument("--data-dir", dest="investigation_dir", metavar="DIR",
                    help="keep the events and alerts in DIR (default: a temporary directory, deleted at the end)")
    iv.add_argument("--keep", action="store_true", help="keep the temporary directory and print its path")
    iv.add_argument("--streaming", action="store_true",
                    help="detect on each batch as it is stored instead of once at the end")
    iv.add_argument("--fail-on-alert", action="store_true", help="exit 1 when at least one alert was found")
    iv.add_argument("--files", dest="verbose_files", action="store_true", help="print a line per file read")
    iv.set_defaults(func=cmd_investigate)
