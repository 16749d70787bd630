"""Files that came with an incident report (an e-mail's attachments, the public form's upload):
stored under DATA_DIR/reports/<id>/ (never under the web root) with a safe name, hashed (SHA-256)
as they are written, their content type read from their first bytes."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.incidents.attachments import _store_upload, safe_name
from cert.storage.models import IncidentReport, ReportAttachment


def report_folder(data_dir: Path, report_id: int) -> Path:
    return data_dir / "reports" / str(report_id)


def store_report_file(s: Session, data_dir: Path, report: IncidentReport, filename: str, stream: IO[bytes],
                      limit: int, message_id: int | None = None) -> ReportAttachment:
    """Store a file of a report and record it; InvalidInput when it is empty or over ``limit`` bytes."""
    name = safe_name(filename)
    stored = _store_upload(report_folder(data_dir, report.id), name, stream, limit)
    row = ReportAttachment(report_id=report.id, message_id=message_id, name=name, stored_name=stored.path.name,
                           size=stored.size, sha256=stored.sha256, content_type=stored.content_type)
    s.add(row)
    s.flush()
    return row


def report_files(s: Session, report_id: int) -> list[ReportAttachment]:
    """The files of a report, oldest first."""
    q = select(ReportAttachment).where(ReportAttachment.report_id == report_id).order_by(ReportAttachment.id)
    return list(s.scalars(q))
