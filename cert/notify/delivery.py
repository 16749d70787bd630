"""Delivery: the due messages of the queue sent over SMTP (``smtplib``), STARTTLS and login when
configured. Each message is marked ``sending`` and committed before it is sent, then ``sent`` or
``failed``/``dead`` with the relay's answer; the password is never logged."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select

from cert.core.config import Settings
from cert.core.errors import ConfigError
from cert.notify.mime import SigningError, build
from cert.notify.queue import record_failure, record_sent
from cert.runtime.platform import Platform
from cert.storage.models import Notification

log = logging.getLogger(__name__)
#: a message left ``sending`` this long (its sender died) is sent again
STUCK = timedelta(minutes=15)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0


def _send(settings: Settings, sender: str, recipient: str, data: bytes, context: ssl.SSLContext | None) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout) as smtp:
        smtp.ehlo()
        if settings.smtp_starttls:
            smtp.starttls(context=context or ssl.create_default_context())
            smtp.ehlo()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.sendmail(sender, [recipient], data)


def deliver_due(platform: Platform, *, now: datetime | None = None, limit: int = 100,
                tls_context: ssl.SSLContext | None = None) -> DeliveryReport:
    """Send the queued and failed messages whose time has come; what happened to them.
    ``tls_context`` checks the relay's certificate (the system's authorities by default)."""
    settings = platform.settings
    report = DeliveryReport()
    if not settings.smtp_host:
        return report
    when = now or datetime.now(UTC)
    with platform.db.session() as s:
        ids = list(s.scalars(select(Notification.id).where(
            or_(Notification.state.in_(("queued", "failed")) & (Notification.next_attempt_at <= when),
                (Notification.state == "sending") & (Notification.next_attempt_at <= when - STUCK)))
            .order_by(Notification.next_attempt_at, Notification.id).limit(limit)))
    for notification_id in ids:
        with platform.db.session() as s:  # claimed and committed before the relay is called
            row = s.get(Notification, notification_id)
            if row is None or row.state not in ("queued", "failed", "sending"):
                continue
            row.state = "sending"
        with platform.db.session() as s:
            row = s.get_one(Notification, notification_id)
            try:
                message_id, data = build(row, settings)
                _send(settings, settings.smtp_from, row.recipient_email, data, tls_context)
            except (OSError, smtplib.SMTPException, SigningError, ConfigError) as exc:
                record_failure(row, settings, _describe(exc), when)
                if row.state == "dead":
                    report.dead += 1
                else:
                    report.failed += 1
                log.warning("notification %s to %s not sent (attempt %s, %s): %s", row.id, row.recipient_email,
                            row.attempts, row.state, row.last_error)
                continue
            record_sent(row, message_id, when)
            report.sent += 1
    return report


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{addr}: {code} {msg.decode('utf-8', 'replace')}"
                         for addr, (code, msg) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        return f"{exc.smtp_code} {error.decode('utf-8', 'replace') if isinstance(error, bytes) else error}"
    return f"{type(exc).__name__}: {exc}"
