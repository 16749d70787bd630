"""Ingest: the answer of a bulk ingest and the health of the sources."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from web.api_spec import ApiModel


class LineError(ApiModel):
    line: int | str = Field(description="The line number in the body (or where, when not a line).")
    reason: str


class IngestResult(ApiModel):
    parser: str
    source: str
    lines: int
    accepted: int = Field(description="Stored now, already stored, or waiting in the spool.")
    stored: int
    duplicates: int
    spooled: int
    skipped: int
    dead_lettered: int
    dead_letters: dict[str, int] = Field(description="Dead-lettered lines by reason.")
    errors: list[LineError] = Field(description="The first per-line errors.")


class DeadLetterReason(ApiModel):
    reason: str
    count: int
    last_at: datetime | None


class SourceHealthOut(ApiModel):
    source: str
    parser: str
    status: str = Field(description="ok, errors, spooling or silent.")
    lines: int
    events: int
    duplicates: int
    skipped: int
    dead_letters: int
    spooled: int
    rate_5m: float = Field(description="Events stored per second over 5 minutes.")
    rate_1h: float
    dead_letters_1h: int
    newest_event_at: datetime | None
    last_ingest_at: datetime | None
    event_lag_seconds: float | None
    ingest_lag_seconds: float | None
    file_offset: int | None
    backlog_bytes: int | None
    dead_letter_reasons: list[DeadLetterReason]


class SpoolOut(ApiModel):
    batches: int
    bytes: int
    limit: int


class IngestHealth(ApiModel):
    sources: list[SourceHealthOut]
    spool: SpoolOut | None = Field(description="The spool of the embedded mode.")
