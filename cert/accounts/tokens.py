"""API tokens: create (the secret is shown once), revoke, list, and authenticate a bearer token.

A token is ``vigie_`` + 32 random bytes (URL-safe base64). Only its SHA-256 is stored: a
random 256-bit secret needs no slow hash (nothing to brute-force), and a digest lookup is
constant work per request. A token has one or more scopes (``SCOPES``), an optional
organisation, and an expiry (``DEFAULT_LIFETIME`` unless ``never`` is chosen explicitly). A
partner CERT's token is bound to that partner and holds the ``share`` scope alone: it reads
what the sharing policy lets that partner receive, and none of the internal alerts and cases.
Creating and revoking a token are audited; the secret never reaches the audit trail or the logs.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.constituency.directory import Organization, Partner
from cert.core.errors import N_, InvalidInput, NotFound
from cert.storage import audit
from cert.storage.models.tokens import ApiToken

PREFIX = "vigie_"

#: What each scope allows: the one table of it. Every /api/v1 route declares the scope it needs
#: (``web.api_auth.api_scope``); a token holds one or more scopes and reaches only the routes of
#: those. Scopes do not include one another (a triage token that must also list alerts is given
#: ``read`` as well). A token with an organisation reads, and acts on, only the alerts and cases of
#: that organisation and the ones under it (``cert.accounts.access``); one without, all of them.
SCOPES: dict[str, str] = {
    "read": N_("read alerts, cases and ingest health (GET /api/v1/alerts, /cases, /ingest/health)"),
    "triage": N_("acknowledge alerts, promote an alert to a case; link, reject and reopen incident reports"),
    "write": N_("change cases: notes, status, TLP (raising it; lowering it needs a responder), export"),
    "ingest": N_("send events and incident reports: POST /api/v1/ingest/<parser>, /api/v1/events and "
                  "/api/v1/incident-reports"),
    "admin": N_("administer API tokens and users: list, create, revoke"),
    "share": N_("a partner CERT's credential: read what that partner may receive (its MISP feed, its TAXII "
                "collections) and nothing else"),
}
#: The scope of a partner's token, and the only one it holds (``create_token``).
SHARE_SCOPE = "share"
DEFAULT_SCOPES = ("ingest",)
DEFAULT_LIFETIME = "90d"
MAX_LIFETIME = timedelta(days=5 * 366)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
LIFETIME = re.compile(r"^(\d{1,5})([hdw])$")
TOUCH_EVERY = timedelta(seconds=60)  # last use is written at most this often per token


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes: they are UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def parse_scopes(scopes: str | Iterable[str]) -> tuple[str, ...]:
    """Scope names from ``"ingest,read"`` or a list: known, at least one, sorted, each once."""
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    chosen = {str(item).strip().lower() for item in items} - {""}
    unknown = sorted(chosen - SCOPES.keys())
    if unknown:
        raise InvalidInput(N_("Unknown token scope %(scope)s (expected some of %(known)s)."),
                           scope=", ".join(unknown), known=", ".join(SCOPES))
    if not chosen:
        raise InvalidInput(N_("A token needs at least one scope (%(known)s)."), known=", ".join(SCOPES))
    return tuple(sorted(chosen))


def expiry(lifetime: str, now: datetime | None = None) -> datetime | None:
    """When a token made ``now`` with this lifetime expires: ``90d`` (days), ``12h``, ``26w``, a
    date ``2027-06-30`` (its midnight, UTC), or ``never`` (None)."""
    now = now or datetime.now(UTC)
    text = lifetime.strip().lower()
    if text == "never":
        return None
    m = LIFETIME.match(text)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        at = now + {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
    else:
        try:
            at = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise InvalidInput(N_("An expiry is a duration (90d, 12h, 26w), a date (YYYY-MM-DD) or never, "
                                  "not %(value)r."), value=lifetime[:40]) from None
    if at <= now:
        raise InvalidInput(N_("A token's expiry must be in the future."))
    if at - now > MAX_LIFETIME:
        raise InvalidInput(N_("A token's expiry is at most 5 years away (or never, chosen explicitly)."))
    return at


def status(token: ApiToken, now: datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if token.revoked:
        return "revoked"
    expires = _aware(token.expires_at)
    if expires is not None and expires <= (now or datetime.now(UTC)):
        return "expired"
    return "active"


def create_token(s: Session, name: str, owner: str, actor: str, scopes: str | Iterable[str] = DEFAULT_SCOPES,
                 remote_addr: str = "", organization: Organization | None = None,
                 lifetime: str = DEFAULT_LIFETIME, partner: Partner | None = None) -> tuple[ApiToken, str]:
    """The new token and its secret (to show once; it cannot be recovered). ``organization``: the
    constituency organisation it acts for (its events belong to it when none of their addresses
    is known). ``partner``: the partner CERT it is the credential of (then its only scope is
    ``share``, and it has no organisation). ``lifetime``: see ``expiry``."""
    name, owner = name.strip(), owner.strip()
    if not NAME.match(name):
        raise InvalidInput(N_("A token name is 1 to 80 letters, digits, '.', '_' or '-', starting with a letter "
                              "or digit."))
    if not owner or len(owner) > 80:
        raise InvalidInput(N_("A token needs an owner (1 to 80 characters): who answers for its use."))
    chosen = parse_scopes(scopes)
    if partner is not None and (chosen != (SHARE_SCOPE,) or organization is not None):
        raise InvalidInput(N_("A partner's token holds the %(scope)s scope alone, and no organisation."),
                           scope=SHARE_SCOPE)
    if organization is not None and "admin" in chosen:  # users and tokens are not an organisation's
        raise InvalidInput(N_("A token of an organisation cannot hold the admin scope: administration is the "
                              "CERT's."))
    if partner is None and SHARE_SCOPE in chosen:
        raise InvalidInput(N_("The %(scope)s scope is for a partner CERT's token: name the partner."),
                           scope=SHARE_SCOPE)
    expires_at = expiry(lifetime)
    if s.scalar(select(ApiToken).where(ApiToken.name == name)) is not None:
        raise InvalidInput(N_("A token named %(name)r already exists (names stay taken after revocation)."),
                           name=name)
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, owner=owner, scopes=",".join(chosen), token_hash=digest(secret),
                     created_by=actor[:80], revoked=False, expires_at=expires_at,
                     organization=organization.id if organization else None,
                     partner=partner.id if partner else None)
    s.add(token)
    s.flush()
    audit.record(s, actor, "token.create", "api_token", name, remote_addr, owner=owner, scopes=list(chosen),
                 organization=token.organization, partner=token.partner,
                 expires_at=expires_at.isoformat() if expires_at else None)
    return token, secret


def revoke_token(s: Session, name: str, actor: str, remote_addr: str = "") -> ApiToken:
    token = s.scalar(select(ApiToken).where(ApiToken.name == name.strip()))
    if token is None:
        raise NotFound(N_("No API token named %(name)r."), name=name[:80])
    if not token.revoked:
        token.revoked = True
        token.revoked_at = datetime.now(UTC)
        audit.record(s, actor, "token.revoke", "api_token", token.name, remote_addr, owner=token.owner)
    return token


def list_tokens(s: Session) -> list[ApiToken]:
    return list(s.scalars(select(ApiToken).order_by(ApiToken.revoked, ApiToken.name)))


def authenticate(s: Session, secret: str, remote_addr: str = "", now: datetime | None = None) -> ApiToken | None:
    """The live token with this secret, or None (unknown, malformed, expired or revoked). Its last
    use (time and address) is written at most once per ``TOUCH_EVERY``."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    token = s.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    now = now or datetime.now(UTC)
    if token is None or status(token, now) != "active":
        return None
    last = _aware(token.last_used_at)
    if last is None or now - last >= TOUCH_EVERY:
        token.last_used_at = now
        token.last_used_from = remote_addr[:45] or None
    return token
