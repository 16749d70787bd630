"""Second factor: TOTP (RFC 6238, through pyotp) and single-use recovery codes.

Enrolment: ``start_enrolment`` makes a secret (kept encrypted, unconfirmed); ``confirm_enrolment``
checks a first code from the user's application and returns ten recovery codes, shown once.
Login: ``verify`` accepts the code of the current 30 s step or of its two neighbours (clock
drift), never a step at or before the last one accepted, so a code cannot be replayed; or an
unused recovery code, which is then spent.

The secret is stored encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from the
console's secret key, the user id as associated data: a copy of the database (a backup, a
replica) does not give the secrets away, and a ciphertext moved to another user does not
decrypt. Changing the secret key makes the stored secrets unreadable: the users then enrol
again after an admin reset. The secret is shown only during enrolment and never logged.

Recovery codes are 16 random base-32 characters (80 bits): only a salted SHA-256 of each is
kept; like the API tokens, a random secret this long needs no slow hash. The user may replace the
whole set with a current code (``regenerate_recovery_codes``): the old codes stop working at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cert.core.config import Settings
from cert.core.errors import N_, Conflict, InvalidInput
from cert.storage import audit
from cert.storage.models import AuditEntry, RecoveryCode, User, UserTotp

ISSUER = "Vigie"
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
RECOVERY_LENGTH = 16
VALID_WINDOW = 1  # steps accepted either side of the current one
MAX_FAILURES = 5  # wrong codes within FAILURE_WINDOW before codes are refused for a while
FAILURE_WINDOW = timedelta(minutes=10)
_KEY_INFO = b"vigie totp secret v1"
_FORMAT = "v1:"

Outcome = Literal["totp", "recovery"]
UNREADABLE = N_("The second factor of this account cannot be read: an administrator must reset it.")


def required_for(settings: Settings, role: str) -> bool:
    """Whether users of ``role`` must log in with a second factor (``totp_required_roles``)."""
    return role in settings.effective_totp_required_roles


class SecretBox:
    """Encrypts and decrypts TOTP secrets with a key derived from the console's secret key."""

    def __init__(self, secret_key: str) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO)
        self._aead = AESGCM(hkdf.derive(secret_key.encode("utf-8")))

    def seal(self, user_id: int, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.encode("ascii"), str(user_id).encode("ascii"))
        return _FORMAT + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, user_id: int, stored: str) -> str:
        if not stored.startswith(_FORMAT):
            raise InvalidInput(UNREADABLE)
        try:
            raw = base64.b64decode(stored[len(_FORMAT):], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], str(user_id).encode("ascii")).decode("ascii")
        except (InvalidTag, ValueError) as exc:
            raise InvalidInput(UNREADABLE) from exc


@dataclass(frozen=True)
class Enrolment:
    """What the user's application needs: the secret (base 32) and the ``otpauth://`` URI of the QR code."""

    secret: str
    uri: str


@dataclass(frozen=True)
class Status:
    enrolled: bool  # confirmed: the second factor is asked at login
    pending: bool  # an enrolment waits for its first code
    recovery_codes_left: int


def _row(s: Session, user: User) -> UserTotp | None:
    return s.get(UserTotp, user.id)


def status(s: Session, user: User) -> Status:
    row = _row(s, user)
    left = len(list(s.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user.id,
                                                            RecoveryCode.used_at.is_(None)))))
    return Status(enrolled=row is not None and row.confirmed_at is not None,
                  pending=row is not None and row.confirmed_at is None, recovery_codes_left=left)


def is_enrolled(s: Session, user: User) -> bool:
    row = _row(s, user)
    return row is not None and row.confirmed_at is not None


def start_enrolment(s: Session, user: User, box: SecretBox, remote_addr: str = "") -> Enrolment:
    """A new secret for ``user`` (replacing an unconfirmed one). Refused when a second factor is
    already confirmed: it must be disabled or reset first."""
    row = _row(s, user)
    if row is not None and row.confirmed_at is not None:
        raise Conflict(N_("A second factor is already active on this account: disable it first."))
    secret = pyotp.random_base32()
    if row is None:
        row = UserTotp(user_id=user.id, secret=box.seal(user.id, secret), last_step=0)
        s.add(row)
    else:
        row.secret, row.last_step = box.seal(user.id, secret), 0
    s.flush()
    audit.record(s, user.username, "totp.enrol", "user", user.id, remote_addr)
    return Enrolment(secret, pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER))


def pending_enrolment(s: Session, user: User, box: SecretBox) -> Enrolment | None:
    """The enrolment waiting for its first code, if any (to show the QR code again)."""
    row = _row(s, user)
    if row is None or row.confirmed_at is not None:
        return None
    secret = box.open(user.id, row.secret)
    return Enrolment(secret, pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER))


TOO_MANY_FAILURES = N_("Too many wrong codes. Wait a few minutes, then try again.")
WRONG_CODE = N_("This code is not valid. Check the clock of your device and type the current code.")


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _check_totp(row: UserTotp, secret: str, code: str, now: float) -> bool:
    """Accept ``code`` for a step near ``now`` later than the last one used; remember that step."""
    digits = _normalise(code)
    if len(digits) != 6 or not digits.isdigit():
        return False
    totp = pyotp.TOTP(secret)
    current = totp.timecode(datetime.fromtimestamp(now, UTC))
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if step > row.last_step and hmac.compare_digest(totp.generate_otp(step), digits):
            row.last_step = step
            return True
    return False


def confirm_enrolment(s: Session, user: User, box: SecretBox, code: str, remote_addr: str = "",
                      now: float | None = None) -> list[str] | None:
    """Activate the pending enrolment with a first valid code: the new recovery codes (to show
    once), or None when the code is wrong (audited; returned, not raised, so the audit entry is
    committed with the caller's transaction)."""
    row = _row(s, user)
    if row is None or row.confirmed_at is not None:
        raise Conflict(N_("There is no enrolment waiting for a code on this account."))
    if not _check_totp(row, box.open(user.id, row.secret), code, time.time() if now is None else now):
        audit.record(s, user.username, "totp.failed", "user", user.id, remote_addr, step="enrolment")
        return None
    row.confirmed_at = datetime.now(UTC)
    codes = _new_recovery_codes(s, user)
    audit.record(s, user.username, "totp.confirm", "user", user.id, remote_addr)
    return codes


def _hash_code(code: str, salt: bytes) -> str:
    return salt.hex() + "$" + hashlib.sha256(salt + _normalise(code).encode("ascii")).hexdigest()


def _new_recovery_codes(s: Session, user: User) -> list[str]:
    s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
        s.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(raw, secrets.token_bytes(16))))
    s.flush()
    return codes


def _use_recovery_code(s: Session, user: User, code: str) -> bool:
    typed = _normalise(code)
    if len(typed) != RECOVERY_LENGTH or not typed.isascii():
        return False
    unused = s.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))
    for stored in unused:
        salt_hex, _, _digest = stored.code_hash.partition("$")
        if hmac.compare_digest(_hash_code(typed, bytes.fromhex(salt_hex)), stored.code_hash):
            stored.used_at = datetime.now(UTC)
            return True
    return False


def too_many_failures(s: Session, user: User, now: float | None = None) -> bool:
    """Whether ``MAX_FAILURES`` wrong codes were typed for ``user`` within ``FAILURE_WINDOW``
    (counted from the audit trail, so held on the server whatever the client sends back)."""
    entries = list(s.scalars(
        select(AuditEntry.at).where(AuditEntry.action.in_(("login.failed", "totp.failed")),
                                    AuditEntry.object_type == "user", AuditEntry.object_id == str(user.id))
        .order_by(AuditEntry.id.desc()).limit(MAX_FAILURES)))
    if len(entries) < MAX_FAILURES:
        return False
    oldest = entries[-1] if entries[-1].tzinfo else entries[-1].replace(tzinfo=UTC)
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return moment - oldest < FAILURE_WINDOW


def verify(s: Session, user: User, box: SecretBox, code: str, remote_addr: str = "",
           now: float | None = None, failure: str = "login.failed") -> Outcome | None:
    """The second step of a login: ``"totp"`` or ``"recovery"`` when ``code`` is accepted, else
    None (audited as ``failure``: a failed login by default). A recovery code is spent when accepted."""
    row = _row(s, user)
    if row is None or row.confirmed_at is None:
        return None
    if _check_totp(row, box.open(user.id, row.secret), code, time.time() if now is None else now):
        return "totp"
    if _use_recovery_code(s, user, code):
        left = status(s, user).recovery_codes_left
        audit.record(s, user.username, "totp.recovery_used", "user", user.id, remote_addr, codes_left=left)
        return "recovery"
    audit.record(s, user.username, failure, "user", user.id, remote_addr, factor="totp")
    return None


def disable(s: Session, user: User, box: SecretBox, code: str, remote_addr: str = "",
            now: float | None = None) -> bool:
    """The user turns the second factor off, proving possession with a current code (or a
    recovery code). False when the code is wrong (audited as a failed code)."""
    if not is_enrolled(s, user):
        raise Conflict(N_("No second factor is active on this account."))
    if verify(s, user, box, code, remote_addr, now, failure="totp.failed") is None:
        return False
    _remove(s, user)
    audit.record(s, user.username, "totp.disable", "user", user.id, remote_addr)
    return True


def regenerate_recovery_codes(s: Session, user: User, box: SecretBox, code: str, remote_addr: str = "",
                              now: float | None = None) -> list[str] | None:
    """A new set of recovery codes for the user, proven by a current code of the application (a
    recovery code is not enough): the old codes stop working at once; the new ones, shown once, are
    returned. None when the code is wrong (audited as a failed code); refused while too many wrong
    codes were typed lately."""
    row = _row(s, user)
    if row is None or row.confirmed_at is None:
        raise Conflict(N_("No second factor is active on this account."))
    if too_many_failures(s, user, now):
        raise InvalidInput(TOO_MANY_FAILURES)
    if not _check_totp(row, box.open(user.id, row.secret), code, time.time() if now is None else now):
        audit.record(s, user.username, "totp.failed", "user", user.id, remote_addr, step="recovery_codes")
        return None
    codes = _new_recovery_codes(s, user)
    audit.record(s, user.username, "totp.recovery_codes", "user", user.id, remote_addr, codes=len(codes))
    return codes


def admin_reset(s: Session, user: User, actor: str, remote_addr: str = "") -> bool:
    """An admin removes a user's second factor (a lost device); the user enrols again at next
    login if the role requires it. False when there was nothing to remove."""
    if _row(s, user) is None:
        return False
    _remove(s, user)
    audit.record(s, actor, "totp.reset", "user", user.id, remote_addr, username=user.username)
    return True


def _remove(s: Session, user: User) -> None:
    s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    s.execute(delete(UserTotp).where(UserTotp.user_id == user.id))
    s.flush()
