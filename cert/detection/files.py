"""Files scanned by a file scanner plug-in (``cert.core.contracts.file_scanners``; YARA): the
record of each scan, and a watched folder (each file once, by path, size and mtime).

A match becomes an ECS file event in the event store (the evidence) and one alert per rule and
file. A scan that times out or cannot read its file goes to the dead-letter store; nothing raises.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from cert.core.contracts import Event, FileScanner, Hit, ScanReport, file_scanners
from cert.core.errors import InvalidInput
from cert.detection import alerts
from cert.detection import overrides as rules
from cert.runtime.platform import Platform
from cert.storage.models import Alert, DeadLetter
from cert.storage.models.indicators import FileScan

SCANNER = "yara"  # the file scanner plug-in the folder watch and case uploads use


@dataclass
class ScanOutcome:
    result: ScanReport
    event_id: str | None = None
    alerts_new: int = 0
    alert_ids: list[int] = field(default_factory=list)


def scanner_for(p: Platform) -> FileScanner:
    """The file scanner with its current rules (build one per pass: edited rules are picked up)."""
    return file_scanners.get(SCANNER)(p.settings)


def max_bytes(p: Platform) -> int:
    return p.settings.yara_max_file_mb * 1024 * 1024


def record(p: Platform, result: ScanReport, scanner: FileScanner, origin: str, mtime_ns: int = 0,
           fields: dict[str, Any] | None = None) -> ScanOutcome:
    """Store the scan: its row, its event and alerts when a rule matched, a dead letter on error."""
    outcome = ScanOutcome(result)
    hits: list[Hit] = []
    evidence: list[Event] = []
    if result.matches:
        ev = scanner.file_event(result, f"{scanner.name}.scan", fields)
        p.events.write([ev])
        outcome.event_id = str(ev["event"]["id"])
        hits, evidence = scanner.hits_for(result, ev, origin), [ev]
    overrides = rules.current_overrides(p.db)
    with p.db.session() as s:
        s.add(FileScan(origin=origin[:40], path=result.target[:1024], size=result.size, mtime_ns=mtime_ns,
                       sha256=result.sha256, matches=[m.as_dict() for m in result.matches],
                       error=result.error[:500], rules_hash=scanner.rules_hash))
        if result.error:
            s.add(DeadLetter(source=result.target[:500], parser=scanner.name, position=origin[:60],
                             reason=result.error[:500], raw=_head(Path(result.target))))
        if hits:
            raised = alerts.raise_alerts(s, hits, overrides, events=evidence,
                                         suppression_minutes=p.settings.alert_suppression_minutes)
            hits, outcome.alerts_new = raised.hits, raised.new
        if hits:
            q = select(Alert.id).where(Alert.group_key == hits[0].group_key,
                                       Alert.rule_id.in_([h.rule_id for h in hits]))
            outcome.alert_ids = list(s.scalars(q))
    return outcome


def _head(path: Path, n: int = 4096) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


class FolderWatcher:
    """Polls a folder; scans each regular file once per (path, size, mtime), across restarts."""

    def __init__(self, p: Platform, folder: Path, settle_seconds: float = 2.0,
                 fields: dict[str, Any] | None = None) -> None:
        if not folder.is_dir():
            raise InvalidInput(f"{folder} is not a folder")
        self.p, self.folder, self.settle, self.fields = p, folder.resolve(), settle_seconds, fields or {}
        with p.db.session() as s:
            q = select(FileScan.path, FileScan.size, FileScan.mtime_ns).where(
                FileScan.origin == "watch", FileScan.path.startswith(str(self.folder)))
            self.seen: set[tuple[str, int, int]] = {(str(a), int(b), int(c)) for a, b, c in s.execute(q)}

    def _candidates(self) -> Iterator[tuple[Path, os.stat_result]]:
        now = time.time()
        for path in sorted(self.folder.rglob("*")):
            try:
                if path.is_symlink() or not path.is_file():
                    continue
                st = path.stat()
            except OSError:
                continue
            if now - st.st_mtime >= self.settle:
                yield path, st

    def poll(self) -> list[ScanOutcome]:
        scanner = scanner_for(self.p)  # an edited rule file is picked up here
        out = []
        for path, st in self._candidates():
            key = (str(path), st.st_size, st.st_mtime_ns)
            if key in self.seen:
                continue
            result = scanner.scan_file(path, max_bytes=max_bytes(self.p), size=st.st_size)
            out.append(record(self.p, result, scanner, "watch", st.st_mtime_ns, self.fields))
            self.seen.add(key)
        return out
