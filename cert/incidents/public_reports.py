"""Reports filed with the public form (/report), by citizens and ministries with no account.

Each client address may file ``intake_form_per_hour`` reports an hour (every submission counts,
valid or not); the count is kept in the database, in the login throttle's table under the key
``report:<address>``, so every web worker sees the same. A report from the form has no
organisation: the address its author gives is not checked, and an analyst decides whose it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cert.accounts import clock
from cert.core.config import Settings
from cert.incidents.report_files import store_report_file
from cert.incidents.reports import receive_report
from cert.storage.models import IncidentReport, LoginThrottle, ReportAttachment

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class PublicReport:
    """What the form's author wrote (already validated by the form)."""

    subject: str
    description: str
    name: str = ""
    email: str = ""
    organization: str = ""


def _key(remote_addr: str) -> str:
    return "report:" + (remote_addr or "unknown")[:100]


def allowed(s: Session, remote_addr: str, per_hour: int) -> datetime | None:
    """Count a submission from this address; None when it may go on, else when it may again."""
    now = clock.now()
    key = _key(remote_addr)
    row = s.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_start=now)
        try:
            with s.begin_nested():
                s.add(row)
        except IntegrityError:  # another worker counted first
            found = s.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
            assert found is not None
            row = found
    if now - clock.aware(row.window_start) >= WINDOW:
        row.failures, row.window_start = 0, now
    if row.failures >= per_hour:
        return clock.aware(row.window_start) + WINDOW
    row.failures += 1
    s.execute(delete(LoginThrottle).where(LoginThrottle.key.like("report:%"),
                                          LoginThrottle.window_start < now - WINDOW, LoginThrottle.key != key)
              .execution_options(synchronize_session=False))
    return None


def reporter_of(report: PublicReport) -> str:
    name, email, organization = (" ".join(v.split()) for v in (report.name, report.email, report.organization))
    who = f"{name} <{email}>" if name and email else name or email
    return f"{who} ({organization})" if organization and who else who or organization


def file_report(s: Session, settings: Settings, report: PublicReport, remote_addr: str,
                upload: tuple[str, IO[bytes]] | None = None) -> tuple[IncidentReport, ReportAttachment | None]:
    """The report (source ``web-form``) and its file, if one was given (InvalidInput when empty or
    over ``intake_form_max_file_mb``)."""
    filed = receive_report(s, "web-form", report.subject, report.description, reporter_of(report), None,
                           "public-form", remote_addr)
    stored = None
    if upload is not None:
        name, stream = upload
        stored = store_report_file(s, settings.data_dir, filed, name, stream,
                                   settings.intake_form_max_file_mb * 1024 * 1024)
    return filed, stored
