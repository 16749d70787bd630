"""YARA scanning: rules from ``rules/yara`` compiled once (cached by content hash), scans of bytes
and files with a timeout, and the ECS event and hits a match becomes.

A rule file that does not compile is rejected with its reason (file and line, from YARA) and the
others still load. A scan that times out or cannot read its file returns a result with ``error``
set: callers report it (dead letter, timeline note), nothing raises.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yara

from cert.core.contracts import SEVERITIES, FileMatch, Hit, ScanReport, hit_for_events
from cert.core.ecs import Event, event_id, format_ts, put

RULE_SUFFIXES = (".yar", ".yara")
MAX_STRINGS = 20  # string instances kept per rule match
PREVIEW = 64  # bytes of matched data shown


@dataclass(frozen=True)
class RuleSet:
    rules: yara.Rules
    hash: str
    files: tuple[str, ...]
    names: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...] = ()

    def __len__(self) -> int:
        return len(self.names)


_compiled: dict[str, RuleSet] = {}
_lock = threading.Lock()


def load_rules(rules_dir: Path) -> RuleSet:
    """Compile every ``*.yar``/``*.yara`` under ``rules_dir`` (namespace: the file's relative
    path); the result is cached by the hash of the files' names and contents."""
    files = sorted(p for p in rules_dir.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file()) \
        if rules_dir.exists() else []
    sources: dict[str, tuple[str, str]] = {}
    digest = hashlib.sha256()
    for path in files:
        rel = path.relative_to(rules_dir).as_posix()
        text = path.read_bytes().decode("utf-8", "replace")
        digest.update(rel.encode() + b"\0" + text.encode() + b"\0")
        sources[rel.rsplit(".", 1)[0].replace("/", ".")] = (str(path), text)
    key = digest.hexdigest()
    with _lock:
        cached = _compiled.get(key)
        if cached is not None:
            return cached
        good: dict[str, str] = {}
        rejected: list[tuple[str, str]] = []
        for namespace, (path_text, text) in sources.items():
            try:
                yara.compile(source=text, includes=False)
                good[namespace] = text
            except yara.SyntaxError as exc:
                rejected.append((path_text, str(exc)))
        rules = yara.compile(sources=good or {"empty": ""}, includes=False)
        names = tuple(str(r.identifier) for r in rules)
        ruleset = RuleSet(rules, key, tuple(p for p, _ in sources.values()), names, tuple(rejected))
        _compiled[key] = ruleset
        return ruleset


def _preview(data: bytes) -> str:
    """Matched bytes as text: printable ASCII kept, the rest as \\xNN."""
    shown = "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02x}" for b in data[:PREVIEW])
    return shown + ("…" if len(data) > PREVIEW else "")


def _severity(meta: dict[str, Any]) -> str:
    sev = str(meta.get("severity", "high")).lower()
    return sev if sev in SEVERITIES else "high"


def _matches(raw: list[Any]) -> list[FileMatch]:
    out = []
    for m in raw:
        strings: list[dict[str, Any]] = []
        for s in m.strings:
            for inst in s.instances:
                if len(strings) >= MAX_STRINGS:
                    break
                strings.append({"id": s.identifier, "offset": inst.offset, "length": inst.matched_length,
                                "data": _preview(inst.matched_data)})
        meta = {str(k): v for k, v in m.meta.items() if isinstance(v, str | int | bool)}
        rule_id = f"yara:{m.namespace}.{m.rule}"[:100]
        out.append(FileMatch(m.rule, m.namespace, rule_id, _severity(meta), tuple(m.tags), meta, tuple(strings)))
    return out


def scan_bytes(ruleset: RuleSet, data: bytes | str, target: str, timeout: int) -> ScanReport:
    """Scan a buffer (a ``str`` is scanned as its UTF-8 bytes)."""
    size = len(data)
    try:
        raw = ruleset.rules.match(data=data, timeout=timeout if timeout >= 1 else 1)
    except yara.TimeoutError:
        return ScanReport(target, size, error=f"timeout: YARA scan longer than {timeout} s")
    except yara.Error as exc:
        return ScanReport(target, size, error=f"YARA error: {exc}")
    return ScanReport(target, size, _matches(raw) if raw else [])


def file_hashes(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def scan_file(ruleset: RuleSet, path: Path, timeout: int, max_bytes: int | None = None,
              hash_always: bool = False, size: int | None = None) -> ScanReport:
    """Scan a file (memory-mapped by YARA). ``size`` when the caller stat'ed the file already;
    hashes are computed when a rule matched (they name the evidence), or with ``hash_always``."""
    target = str(path)
    if size is None and max_bytes is not None:
        try:
            size = path.stat().st_size
        except OSError as exc:
            return ScanReport(target, 0, error=f"cannot read: {exc.strerror or exc}")
    if max_bytes is not None and size is not None and size > max_bytes:
        return ScanReport(target, size, error=f"too large: {size} bytes (limit {max_bytes})")
    try:
        raw = ruleset.rules.match(filepath=target, timeout=timeout if timeout >= 1 else 1)
    except yara.TimeoutError:
        result = ScanReport(target, size or 0, error=f"timeout: YARA scan longer than {timeout} s")
    except yara.Error as exc:
        return ScanReport(target, size or 0, error=f"YARA error: {exc}")
    else:
        result = ScanReport(target, size or 0, _matches(raw) if raw else [])
    if result.matches or hash_always or result.timed_out:
        try:
            result.size = path.stat().st_size if size is None else size
            result.sha256, result.md5 = file_hashes(path)
        except OSError as exc:
            result.error = result.error or f"cannot read: {exc.strerror or exc}"
    return result


def file_event(result: ScanReport, dataset: str, rules_hash: str, fields: dict[str, Any] | None = None) -> Event:
    """The ECS event recording a file scan (the evidence of the alerts its matches raise)."""
    now = format_ts(datetime.now(UTC))
    ev: Event = {"@timestamp": now}
    name = Path(result.target).name
    put(ev, "event.id", event_id(dataset, f"{result.target}|{result.sha256}|{result.size}|{rules_hash}"))
    put(ev, "event.kind", "alert" if result.matches else "event")
    put(ev, "event.category", ["file", "malware"] if result.matches else ["file"])
    put(ev, "event.type", ["info"])
    put(ev, "event.dataset", dataset)
    put(ev, "event.module", "yara")
    put(ev, "event.ingested", now)
    put(ev, "event.outcome", "failure" if result.error else "success")
    put(ev, "file.path", result.target)
    put(ev, "file.name", name)
    put(ev, "file.size", result.size)
    if result.sha256:
        put(ev, "file.hash.sha256", result.sha256)
        put(ev, "file.hash.md5", result.md5)
        put(ev, "related.hash", [result.sha256, result.md5])
    put(ev, "rule.name", [m.rule for m in result.matches])
    # meta values as text: rule authors mix types for one key (score = 80 / "80"), and a search
    # engine maps a field once
    put(ev, "yara.matches", [{**m.as_dict(), "meta": {k: str(v) for k, v in m.meta.items()}} for m in result.matches])
    if result.error:
        put(ev, "error.message", result.error)
    put(ev, "message", f"YARA scan of {name}: " + (", ".join(m.rule for m in result.matches) or "no match"))
    for k, v in (fields or {}).items():
        put(ev, k, v)
    return ev


def hits_for_scan(result: ScanReport, ev: Event, group: str) -> list[Hit]:
    """One hit per matching rule; the group key ties it to the file (``group``: origin)."""
    hits = []
    for m in result.matches:
        title = str(m.meta.get("description") or m.rule)
        hit = hit_for_events([ev], rule_id=m.rule_id, title=f"YARA {m.rule}: {title}"[:300], severity=m.severity,
                             detector="yara", group_key=f"{group}|sha256:{result.sha256}"[:300])
        detail = {**m.as_dict(), "file": {"path": result.target, "size": result.size, "sha256": result.sha256}}
        hits.append(replace(hit, entities={**hit.entities, "yara": detail}))
    return hits
