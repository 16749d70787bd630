"""The SMTP receiver of the e-mail intake (``cert intake smtp``), on aiosmtpd.

It accepts mail only for the CERT's own domains or addresses (``intake_smtp_domains``): any other
recipient is refused (550, no relaying). Messages over ``intake_smtp_max_bytes`` are refused
(552) before they are stored. STARTTLS is offered with the configured certificate and key, and
required before MAIL when ``intake_smtp_require_tls``. Each accepted message goes through
``cert.incidents.mail_intake.receive_mail``; one it cannot read is a dead letter with its reason
and is accepted (the sender's server would only send it again). When even the dead letter cannot
be stored (the database is down) the answer is 451 and the sender's server retries later."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy.exc import SQLAlchemyError

from cert.core.config import Settings
from cert.core.errors import N_, InvalidInput
from cert.incidents.mail_intake import Envelope, Receipt, dead_letter, receive_mail
from cert.incidents.mail_parse import Unreadable, normal_address
from cert.incidents.tickets import case_ticket, report_ticket
from cert.runtime.platform import Platform

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 100


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    @classmethod
    def parse(cls, value: str) -> Listen:
        host, sep, port = value.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidInput(N_("Expected HOST:PORT to listen on, not %(value)s."), value=value[:100])
        return cls(host.strip("[]"), int(port))


def accepts(domains: tuple[str, ...], address: str) -> bool:
    """Whether a recipient is the CERT's: its domain is one of ``domains``, or the whole address is."""
    address = normal_address(address).lower()
    if not address:
        return False
    domain = address.rpartition("@")[2]
    wanted = {d.strip().lower().rstrip(".") for d in domains if d.strip()}
    return address in wanted or domain in wanted


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    cert, key = settings.intake_smtp_tls_cert_file, settings.intake_smtp_tls_key_file
    if cert is None or key is None:
        if settings.intake_smtp_require_tls:
            raise InvalidInput(N_("intake_smtp_require_tls needs intake_smtp_tls_cert_file and "
                                  "intake_smtp_tls_key_file."))
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(Path(cert), Path(key))
    return context


def _answer(receipt: Receipt) -> str:
    if receipt.case_id is not None:
        return f"250 OK threaded into {case_ticket(receipt.case_id)}"
    number = report_ticket(receipt.report_id or 0)
    if receipt.outcome == "duplicate":
        return f"250 OK already received as {number}"
    return f"250 OK {'threaded into' if receipt.outcome == 'reply' else 'received as'} {number}"


class IntakeHandler:
    """aiosmtpd handler: recipients checked, each message received (or dead-lettered)."""

    def __init__(self, p: Platform) -> None:
        self.platform = p
        self.domains = p.settings.intake_smtp_domains

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if not accepts(self.domains, address):
            return "550 5.7.1 Relaying denied: this server accepts mail for the CERT only"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        env = Envelope(str(envelope.mail_from or ""), tuple(envelope.rcpt_tos), str(peer))
        return await asyncio.get_running_loop().run_in_executor(None, self.receive, bytes(raw), env)

    def receive(self, raw: bytes, envelope: Envelope) -> str:
        try:
            return _answer(receive_mail(self.platform, raw, envelope))
        except Unreadable as exc:
            reason = str(exc)
        except SQLAlchemyError as exc:
            log.error("could not record a message from %s: %s", envelope.mail_from, exc)
            return "451 4.3.0 Temporary failure, try again later"
        except Exception as exc:  # whatever a hostile message does, it is kept, never lost
            log.exception("message from %s could not be read", envelope.mail_from)
            reason = f"the message could not be read: {type(exc).__name__}: {exc}"
        try:
            dead_letter(self.platform, raw, reason, envelope)
        except SQLAlchemyError as exc:
            log.error("could not store a dead letter from %s: %s", envelope.mail_from, exc)
            return "451 4.3.0 Temporary failure, try again later"
        return "250 OK kept for review"


def controller(p: Platform, listen: Listen) -> Controller:
    """The receiver, not yet started (``start()``, ``stop()``)."""
    settings = p.settings
    if not settings.intake_smtp_domains:
        raise InvalidInput(N_("intake_smtp_domains is empty: name the domains or addresses of the CERT to "
                              "accept mail for."))
    return Controller(IntakeHandler(p), hostname=listen.host, port=listen.port,
                      data_size_limit=settings.intake_smtp_max_bytes, enable_SMTPUTF8=True,
                      tls_context=tls_context(settings), require_starttls=settings.intake_smtp_require_tls,
                      ident="Vigie intake", auth_exclude_mechanism=("LOGIN", "PLAIN"))
