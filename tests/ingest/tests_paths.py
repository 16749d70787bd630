"""Readers for the labelled corpora in ../shared/corpora."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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
