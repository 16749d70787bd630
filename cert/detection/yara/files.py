"""Files scanned with YARA: a watched folder (each file once, by path, size and mtime) and files
uploaded to a case (stored under DATA_DIR/cases/<id>/, the result on the case timeline).

A match becomes an ECS file event in the event store (the evidence) and one alert per rule and
file. A scan that times out or cannot read its file goes to the dead-letter store (and, for a
case, to its timeline); nothing raises.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import select

from cert.core.contracts import Event, Hit
from cert.core.errors import InvalidInput
from cert.detection import alerts
from cert.detection import overrides as rules
from cert.detection.yara.scan import RuleSet, ScanResult, file_event, hits_for_scan, load_rules, scan_file
from cert.incidents.cases import add_observable, add_timeline, get_case
from cert.storage import audit
from cert.storage.models import Alert, DeadLetter
from cert.storage.models.indicators import FileScan

if TYPE_CHECKING:
    from cert.runtime.platform import Platform

DATASET = "yara.scan"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ScanOutcome:
    result: ScanResult
    event_id: str | None = None
    alerts_new: int = 0
    alert_ids: list[int] = field(default_factory=list)


def rules_for(p: Platform) -> RuleSet:
    return load_rules(p.settings.rules_dir / "yara")


def max_bytes(p: Platform) -> int:
    return p.settings.yara_max_file_mb * 1024 * 1024


def record(p: Platform, result: ScanResult, ruleset: RuleSet, origin: str, mtime_ns: int = 0,
           fields: dict[str, Any] | None = None) -> ScanOutcome:
    """Store the scan: its row, its event and alerts when a rule matched, a dead letter on error."""
    outcome = ScanOutcome(result)
    hits: list[Hit] = []
    evidence: list[Event] = []
    if result.matches:
        ev = file_event(result, DATASET, ruleset.hash, fields)
        p.events.write([ev])
        outcome.event_id = str(ev["event"]["id"])
        hits, evidence = hits_for_scan(result, ev, origin), [ev]
    overrides = rules.current_overrides(p.db)
    with p.db.session() as s:
        s.add(FileScan(origin=origin[:40], path=result.target[:1024], size=result.size, mtime_ns=mtime_ns,
                       sha256=result.sha256, matches=[m.as_dict() for m in result.matches],
                       error=result.error[:500], rules_hash=ruleset.hash))
        if result.error:
            s.add(DeadLetter(source=result.target[:500], parser="yara", position=origin[:60],
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
        ruleset = rules_for(self.p)  # cached by content: an edited rule file is picked up here
        out = []
        for path, st in self._candidates():
            key = (str(path), st.st_size, st.st_mtime_ns)
            if key in self.seen:
                continue
            result = scan_file(ruleset, path, self.p.settings.yara_timeout_seconds, max_bytes(self.p), size=st.st_size)
            out.append(record(self.p, result, ruleset, "watch", st.st_mtime_ns, self.fields))
            self.seen.add(key)
        return out


def safe_name(name: str) -> str:
    """A file name safe to store: last path component, letters, digits, ``._-`` only."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip("._")[:100]
    return base or "upload"


def _store_upload(folder: Path, name: str, stream: IO[bytes], limit: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = folder / f"{stamp}-{name}"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{stamp}-{n}-{name}"
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(f"the file is larger than {limit // (1024 * 1024)} MB")
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise InvalidInput("the file is empty")
    return target


def upload_to_case(p: Platform, case_id: int, filename: str, stream: IO[bytes], actor: str,
                   remote_addr: str = "") -> ScanOutcome:
    """Store a file uploaded to a case, scan it, and put the result on the case's timeline;
    matches become alerts linked to the case."""
    with p.db.session() as s:
        organization = get_case(s, case_id).organization  # NotFound before anything is written
    name = safe_name(filename)
    target = _store_upload(p.settings.data_dir / "cases" / str(case_id), name, stream, max_bytes(p))
    ruleset = rules_for(p)
    result = scan_file(ruleset, target, p.settings.yara_timeout_seconds, hash_always=True)
    fields: dict[str, Any] = {"file.name": name}
    if organization:
        fields["organization.name"] = organization  # the alert names the ministry of the case
    outcome = record(p, result, ruleset, f"case:{case_id}", fields=fields)
    rules = [m.rule for m in result.matches]
    summary = (f"YARA scan failed: {result.error}" if result.error
               else f"YARA: {', '.join(rules)}" if rules else "YARA: no rule matched")
    with p.db.session() as s:
        case = get_case(s, case_id)
        add_timeline(s, case, actor, "file", f"File {name} uploaded ({result.size} bytes, SHA-256 {result.sha256}). "
                     f"{summary}", {"file": target.name, "sha256": result.sha256, "size": result.size,
                                    "matches": [m.as_dict() for m in result.matches], "error": result.error,
                                    "alert_ids": outcome.alert_ids})
        if result.sha256:
            add_observable(s, case, "sha256", result.sha256, ioc=bool(rules), comment=f"uploaded file {name}")
        for alert in s.scalars(select(Alert).where(Alert.id.in_(outcome.alert_ids))):
            if alert.case_id is None:
                alert.case_id = case.id
                alert.status = "promoted" if alert.status == "new" else alert.status
        audit.record(s, actor, "case.upload", "case", case_id, remote_addr, file=name, size=result.size,
                     sha256=result.sha256, yara=rules, error=result.error)
    return outcome
