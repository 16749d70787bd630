"""``cert ingest``: one-shot files with a progress bar (resumed from their checkpoints), stdin,
or ``--follow`` (tail -F of every file, one thread each, until interrupted).

Exit status: 0 done; 1 with ``--strict`` when lines were dead-lettered, or when following
stopped on an error; 2 on a clear error (``VigieError``: no such file, the spool is full...);
75 (EX_TEMPFAIL) when the event store was unreachable and events wait in the spool: they are
safe on disk and sent by the next ``cert ingest``.
"""

from __future__ import annotations

import argparse
import gc
import glob
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from cert.cli.parser_options import parser_options
from cert.core.errors import InvalidInput, StoreUnavailable, VigieError
from cert.pipeline.ingestor import Ingestor, IngestSummary
from cert.runtime.platform import Platform

EX_TEMPFAIL = 75


class LineRateColumn(ProgressColumn):
    """Lines per second since the start (the bytes rate is TransferSpeedColumn)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        lines = int(task.fields.get("lines", 0))
        if elapsed <= 0 or not lines:
            return Text("- lines/s", style="progress.data.speed")
        return Text(f"{lines / elapsed:,.0f} lines/s", style="progress.data.speed")


def progress_bar(enabled: bool) -> Progress:
    """The bar drawn on stderr: bytes done, percentage, lines/s, bytes/s, ETA. Disabled (nothing
    drawn) when stderr is not a terminal, so logs and pipes stay clean."""
    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), LineRateColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                    transient=True, disable=not enabled)


def expand(patterns: list[str], allow_empty: bool = False, extensions: tuple[str, ...] = ()) -> list[str]:
    """The files the arguments name, in order, each once: a plain path as given (a missing one
    is the ingestor's error), ``-`` (stdin); a directory, its regular files at every depth (those
    ending in one of ``extensions`` when there are any), sorted; a glob, expanded here (containers
    have no shell) with ``**`` matching any depth, a directory it matches read as above. A
    directory or pattern that yields no file is an error, unless ``allow_empty`` (when following,
    files may appear later)."""
    out: dict[str, None] = {}
    for pat in patterns:
        if pat == "-" or (not glob.has_magic(pat) and not os.path.isdir(pat)):
            out[pat] = None
            continue
        found: list[str] = []
        for match in [pat] if not glob.has_magic(pat) else sorted(glob.glob(pat, recursive=True)):
            if os.path.isdir(match):
                found.extend(_files_under(match, extensions))
            elif os.path.isfile(match):
                found.append(match)
        if not found and not allow_empty:
            wanted = f" ({', '.join(extensions)})" if extensions and not glob.has_magic(pat) else ""
            raise InvalidInput(f"no file to read{wanted} in {pat!r}" if os.path.isdir(pat)
                               else f"no file matches {pat!r}")
        out.update(dict.fromkeys(found))
    return list(out)


def _files_under(directory: str, extensions: tuple[str, ...]) -> list[str]:
    """The regular files under ``directory`` at every depth, sorted by path, those ending in one of
    ``extensions`` (any case) when there are any. Symbolic links to directories are not followed."""
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if (not extensions or name.lower().endswith(extensions)) and os.path.isfile(path):
                found.append(path)
    return sorted(found)


def tune_gc() -> None:
    """Batches keep thousands of fresh dicts alive, and with the default thresholds Python's
    cycle collector rescans them again and again: ~30 % of the pipeline's CPU (bench/ingest).
    Events hold no reference cycles, so collect less often; and leave out of every collection
    the objects of the start-up (modules, parsers, rules)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)


def run_ingest(p: Platform, args: argparse.Namespace) -> int:
    tune_gc()
    ingestor = Ingestor(p, args.parser, static_fields=_fields(args.field or []), on_batch=_detector(p, args.detect),
                        options=parser_options(args))
    unit = ingestor.parser.unit
    if args.follow:
        if unit != "line":
            raise InvalidInput(f"parser {args.parser} reads whole files ({unit}s), it cannot --follow")
        if "-" in args.paths:
            raise InvalidInput("--follow needs files; stdin ('-') is read once, without --follow")
        return _follow(ingestor, args.paths)
    paths = expand(args.paths, extensions=ingestor.parser.extensions)
    status = spooled = 0
    for path in paths:
        summary = _ingest_one(ingestor, path, sys.stderr.isatty())
        spooled += summary.spooled
        status = status or (1 if summary.dead_lettered and args.strict else 0)
    return _finish(ingestor, spooled) or status


def _fields(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for kv in pairs:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--field {kv!r}: expected ECS.FIELD=VALUE")
        out[key] = value
    return out


def _detector(p: Platform, enabled: bool) -> Callable[[list[Any]], None] | None:
    if not enabled:
        return None
    from cert.detection.run import alerts_for_batch, build_detectors

    engines = build_detectors(p.settings)

    def on_batch(events: list[Any]) -> None:
        alerts_for_batch(p, engines, events)

    return on_batch


def _ingest_one(ingestor: Ingestor, path: str, tty: bool) -> IngestSummary:
    unit = ingestor.parser.unit
    resumed = ""
    with progress_bar(tty) as bar:
        if path != "-" and ingestor.checkpointed() and not path.endswith(".gz"):
            reader = ingestor.open_file(path)
            total: int | None = os.stat(reader.path).st_size
            start = reader.start_offset
            if start:
                resumed = f" (resumed at {unit} {reader.position.line + 1}, byte {start:,})"
            if reader.rotated_from:
                resumed = f" (first finished the rotated {reader.rotated_from})"
            source, lines = reader.path, reader
        else:
            source = path if path == "-" else os.path.abspath(path)
            total, start = None, 0
            lines = ingestor.parser.read(path)  # type: ignore[assignment]
        task = bar.add_task(Path(path).name, total=total, completed=start, lines=0)
        done = [0]

        def advance(nbytes: int, nlines: int) -> None:
            done[0] += nlines
            bar.update(task, advance=nbytes, lines=done[0])

        summary = ingestor.ingest(lines, source=source, progress=advance)
    _print_summary(path, unit, summary, resumed)
    return summary


def _print_summary(path: str, unit: str, summary: IngestSummary, resumed: str = "") -> None:
    spooled = f", {summary.spooled} spooled (store unavailable)" if summary.spooled else ""
    print(f"{path}: {summary.read} {unit}s read{resumed}, {summary.ingested} events ingested, "
          f"{summary.duplicates} already stored, {summary.skipped} skipped, "
          f"{summary.dead_lettered} dead-lettered{spooled}", flush=True)
    for reason, n in summary.dead_letters.most_common():
        print(f"  dead letter x{n}: {reason}")


def _finish(ingestor: Ingestor, spooled: int) -> int:
    """Send what waits in the spool; EX_TEMPFAIL, loudly, when events of this run still wait."""
    if not ingestor.spool.pending():
        return 0
    why = "another process is replaying it"
    try:
        replayed = ingestor.drain_spool()
        if replayed.replayed:
            print(f"spool: {replayed.replayed} events sent to the event store", flush=True)
    except StoreUnavailable as exc:
        why = f"the event store is unavailable ({exc})"
    pending = ingestor.spool.pending()
    if not pending:
        return 0
    print(f"warning: {why}; {pending} batch(es), {ingestor.spool.size():,} bytes, wait in the spool "
          f"{ingestor.spool.directory}. They are safe on disk and sent by the next `cert ingest`.",
          file=sys.stderr, flush=True)
    return EX_TEMPFAIL if spooled else 0


RESCAN_SECONDS = 5.0


def _follow(ingestor: Ingestor, patterns: list[str]) -> int:
    """Tail every file the patterns match (surviving rotation, resuming from checkpoints), one
    thread each, until interrupted (Ctrl-C or SIGTERM); the patterns are expanded again every few
    seconds, so files created later are followed too. An error in one thread stops them all, loudly."""
    stopping = threading.Event()
    errors: list[str] = []

    def tail(path: str) -> None:
        try:
            summary = ingestor.ingest_file(path, follow=True, stop=stopping.is_set)
        except VigieError as exc:
            errors.append(f"{path}: {exc}")
            stopping.set()
            return
        except Exception as exc:
            errors.append(f"{path}: unexpected {type(exc).__name__}: {exc}")
            stopping.set()
            raise
        _print_summary(path, "line", summary)

    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    threads: dict[str, threading.Thread] = {}

    def start_new() -> None:
        for path in expand(patterns, allow_empty=True, extensions=ingestor.parser.extensions):
            if path not in threads:
                threads[path] = threading.Thread(target=tail, args=(path,), daemon=True, name=f"follow {path}")
                threads[path].start()

    start_new()
    print(f"following {len(threads)} file(s) of {' '.join(patterns)}; Ctrl-C to stop", flush=True)
    next_scan = time.monotonic() + RESCAN_SECONDS
    try:
        while not stopping.is_set():
            time.sleep(0.5)
            if time.monotonic() >= next_scan:
                start_new()
                next_scan = time.monotonic() + RESCAN_SECONDS
    except KeyboardInterrupt:
        pass
    finally:
        stopping.set()
        for t in threads.values():
            t.join(timeout=10)
        signal.signal(signal.SIGTERM, previous)
    for message in errors:
        print(f"error: {message}", file=sys.stderr, flush=True)
    return 2 if errors else 0
