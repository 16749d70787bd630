"""Signed acknowledgement links: a token bound to one incident and one organisation, signed with
the application's secret, valid for ``notify_ack_link_days``. Whoever holds the link (the message
went to the organisation's contacts) may acknowledge for that organisation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from cert.core.config import Settings
from cert.core.errors import N_, InvalidInput

SALT = "vigie-notify-ack"


@dataclass(frozen=True)
class AckClaim:
    case_id: int
    organization: str


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.effective_secret_key(), salt=SALT)


def ack_token(settings: Settings, case_id: int, organization: str) -> str:
    return _serializer(settings).dumps({"c": case_id, "o": organization})


def ack_url(settings: Settings, case_id: int, organization: str) -> str:
    return f"{settings.notify_public_url.rstrip('/')}/ack/{ack_token(settings, case_id, organization)}"


def link_expiry(settings: Settings, now: datetime) -> datetime:
    return now + timedelta(days=settings.notify_ack_link_days)


def read_ack_token(settings: Settings, token: str, now: datetime | None = None) -> AckClaim:
    """The incident and organisation a link's token names; InvalidInput when it is forged,
    damaged or expired."""
    serializer = _serializer(settings)
    max_age = settings.notify_ack_link_days * 86400
    try:
        if now is None:
            data = serializer.loads(token, max_age=max_age)
        else:
            data, signed_at = serializer.loads(token, max_age=None, return_timestamp=True)
            if (now - signed_at).total_seconds() > max_age:
                raise InvalidInput(N_("This acknowledgement link has expired."))
    except SignatureExpired:
        raise InvalidInput(N_("This acknowledgement link has expired.")) from None
    except BadData:
        raise InvalidInput(N_("This acknowledgement link is not valid.")) from None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int) or not isinstance(data.get("o"), str):
        raise InvalidInput(N_("This acknowledgement link is not valid."))
    return AckClaim(int(data["c"]), str(data["o"]))
