"""Helpers for events in the Elastic Common Schema (ECS): nested dicts with dotted field names."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]

MISSING = object()


_PATHS: dict[str, tuple[tuple[str, ...], str]] = {}  # "a.b.c" -> (("a", "b"), "c"): parsers call put() per field


def _split(path: str) -> tuple[tuple[str, ...], str]:
    try:
        return _PATHS[path]
    except KeyError:
        parts = path.split(".")
        split = (tuple(parts[:-1]), parts[-1])
        if len(_PATHS) < 10_000:  # field names come from code and schemas; bounded all the same
            _PATHS[path] = split
        return split


def get(event: Event, path: str, default: Any = None) -> Any:
    """Value at a dotted ECS path (``source.ip``); also accepts flat dotted keys."""
    if path in event:
        return event[path]
    head, last = _split(path)
    cur: Any = event
    for part in head:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return default
    if isinstance(cur, dict) and last in cur:
        return cur[last]
    return default


def put(event: Event, path: str, value: Any) -> None:
    """Set a dotted path, creating the intermediate objects."""
    head, last = _split(path)
    cur = event
    for part in head:
        nxt = cur.get(part)
        if nxt.__class__ is not dict and not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[last] = value


def add_related(event: Event, kind: str, *values: Any) -> None:
    """Append to ``related.ip`` / ``related.user`` / ``related.hosts`` without duplicates."""
    vals = [str(v) for v in values if v not in (None, "", "-")]
    if not vals:
        return
    related = event.setdefault("related", {})
    bucket: list[str] = related.setdefault(kind, [])
    for v in vals:
        if v not in bucket:
            bucket.append(v)


def flatten(event: Event, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, leaf value) pairs; lists are leaves."""
    for key, value in event.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, path + ".")
        else:
            yield path, value


def event_id(dataset: str, original: str | bytes, source: str = "", identity: str = "", position: int = 0) -> str:
    """Deterministic id of one record: a hash of the dataset, the source (a file's path, ``-``
    for stdin, ``tcp://peer`` for a listener), the identity of what was read there (a file's
    ``cert.core.lines.record_identity``, a listener run's token; empty for a source read
    whole), the record's position in it (a line's byte offset, a line or record number, a
    message's sequence number) and the raw text. The same record read again from the same place
    gets the same id, so a replay never duplicates; two identical lines at two places are two
    events (decision 0007)."""
    raw = original.encode("utf-8", "surrogateescape") if isinstance(original, str) else original
    h = hashlib.blake2b(digest_size=16)
    h.update(b"%s\x00%s\x00%s\x00%d\x00" % (dataset.encode(), source.encode("utf-8", "surrogateescape"),
                                             identity.encode(), position))
    h.update(raw)
    return h.hexdigest()


def now_iso() -> str:
    return format_ts(datetime.now(UTC))


def format_ts(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ts(text: str) -> datetime:
    """Parse an ISO 8601 timestamp as written in ``@timestamp``."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def ips(events: Iterable[Event]) -> list[str]:
    seen: dict[str, None] = {}
    for ev in events:
        for ip in get(ev, "related.ip", []) or []:
            seen.setdefault(ip, None)
    return list(seen)
