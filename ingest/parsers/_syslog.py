"""Shared syslog header reading (RFC 3164 and the ISO 8601 form written by rsyslog/journald)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from cert.ecs import format_ts
from cert.ingestion import ParseError

HEADER = re.compile(
    r"^(?:<(?P<pri>\d{1,3})>)?"
    r"(?:(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    r"|(?P<bsd>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d))"
    r" (?P<host>\S+) (?P<prog>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)$"
)
MONTHS = {m: i for i, m in enumerate(("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec").split(), 1)}


def bsd_timestamp(text: str, now: datetime | None = None) -> datetime:
    """RFC 3164 has no year: take the current one, or last year if that would be in the future."""
    now = now or datetime.now(UTC)
    mon, day, clock = text.split()
    if mon not in MONTHS:
        raise ParseError(f"bad month {mon!r}")
    h, m, s = (int(x) for x in clock.split(":"))
    try:
        ts = datetime(now.year, MONTHS[mon], int(day), h, m, s, tzinfo=UTC)
    except ValueError as exc:
        raise ParseError(f"bad timestamp {text!r}: {exc}") from exc
    if (ts - now).days >= 1:
        ts = ts.replace(year=now.year - 1)
    return ts


def split_header(line: str) -> dict[str, str]:
    m = HEADER.match(line)
    if m is None:
        raise ParseError("not a syslog line (no timestamp, host and program header)")
    parts = {k: v for k, v in m.groupdict().items() if v is not None}
    if "iso" in parts:
        try:
            ts = datetime.fromisoformat(parts["iso"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise ParseError(f"bad timestamp {parts['iso']!r}") from exc
        parts["timestamp"] = format_ts(ts)
    else:
        parts["timestamp"] = format_ts(bsd_timestamp(parts["bsd"]))
    return parts
