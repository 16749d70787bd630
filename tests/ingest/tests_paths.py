"""Readers for the labelled corpora in ../shared/corpora."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo


def fail2ban(corpora: Path, name: str) -> list[tuple[dict[str, Any], str]]:
    """(label, line) pairs of a fail2ban sample file: each line after its `# failJSON:` comment."""
    path = corpora / "linux" / "fail2ban-samples" / name
    out: list[tuple[dict[str, Any], str]] = []
    label: dict[str, Any] | None = None
    for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        if line.startswith("# failJSON:"):
            try:
                label = json.loads(line.split(":", 1)[1])
            except json.JSONDecodeError:
                label = None
            continue
        if line.startswith("#") or not line.strip():
            continue
        if label is not None:
            out.append((label, line))
            label = None
    return out


def fail2ban_time(label_time: str, zoned: bool, year: int | None = None) -> datetime:
    """The instant a fail2ban label's ``time`` names. fail2ban's test suite runs with
    TZ=Europe/Zurich: a label is that local time for a line that carries a UTC offset, and the
    line's own clock time (read here as UTC) for a line that does not. ``year`` replaces the
    label's year for lines written without one (RFC 3164)."""
    when = datetime.fromisoformat(label_time)
    when = when.replace(tzinfo=ZoneInfo("Europe/Zurich")).astimezone(UTC) if zoned else when.replace(tzinfo=UTC)
    return when.replace(year=year) if year is not None else when
