"""Bulk ingestion over HTTP: a request body of lines, parsed and stored like ``cert ingest``.

The body is split into lines (LF or CR LF); each line goes through the named parser (``ecs``
for events already in ECS) and the same pipeline as files: dead letters with their reasons,
deterministic event ids, the spool when the event store is down. The source of the events is
``api://<token name>``; the organisation of an event is the constituency's, else the token's,
never the one the event claims.

Event ids (``cert.core.ecs.event_id``): the body plays the part of a file. Its identity is a
hash of the whole body and a line's position is its line number, so a client re-sending a body
(a retry after a timeout) stores nothing twice, while identical lines of one body, or of two
bodies, are distinct events. Sending the very same body twice is read as a retry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from cert.constituency.directory import Organization
from cert.core.errors import InvalidInput
from cert.core.parser import parsers
from cert.pipeline.ingestor import Ingestor
from cert.runtime.platform import Platform

MAX_ERRORS = 100  # per-line errors listed in the answer (all are in the dead-letter store)


@dataclass
class BulkResult:
    parser: str
    source: str
    lines: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    spooled: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())

    @property
    def accepted(self) -> int:
        """Lines whose event is stored now, was already stored, or waits in the spool."""
        return self.stored + self.duplicates + self.spooled

    def as_dict(self) -> dict[str, Any]:
        return {"parser": self.parser, "source": self.source, "lines": self.lines, "accepted": self.accepted,
                "stored": self.stored, "duplicates": self.duplicates, "spooled": self.spooled,
                "skipped": self.skipped, "dead_lettered": self.dead_lettered, "dead_letters": self.dead_letters,
                "errors": self.errors}


def split_lines(body: bytes) -> list[tuple[int, str]]:
    """(line number, text) of a request body; undecodable bytes are kept (surrogate-escaped)."""
    text = body.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [(n, line.removesuffix("\r")) for n, line in enumerate(lines, 1)]


def ingest_body(platform: Platform, parser: str, body: bytes, source: str,
                organization: Organization | None = None) -> BulkResult:
    """Ingest a body; ``organization`` (the sending token's) is given to events that have no
    address of the constituency."""
    if parser not in parsers:
        parsers.get(parser)  # raises NotFound, naming the known parsers
    lines = split_lines(body)
    if not any(line.strip() for _, line in lines):
        raise InvalidInput("empty body: send one line (or one JSON event) per line")
    identity = hashlib.blake2b(body, digest_size=12).hexdigest()
    summary = Ingestor(platform, parser, organization=organization).ingest(lines, source=source, identity=identity)
    result = BulkResult(parser, source, summary.read, summary.ingested, summary.duplicates, summary.skipped,
                        summary.spooled, dict(summary.dead_letters))
    for position, reason in summary.errors[:MAX_ERRORS]:
        number = position.rsplit(" ", 1)[-1]
        result.errors.append({"line": int(number) if number.isdigit() else position, "reason": reason})
    return result
