"""Accounts as the API reads and answers them: users, their sessions, one's own password and
second factor."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from web.api_spec import ApiModel

Role = Literal["analyst", "responder", "admin", "focal_point", "partner"]
Password = Field(min_length=1, max_length=1000)


class Me(ApiModel):
    username: str
    role: str
    organization: str | None
    auth_source: str


class UserOut(ApiModel):
    id: int
    username: str
    role: str
    organization: str | None
    active: bool
    must_change_password: bool
    created_at: datetime
    login_refused_until: datetime | None = Field(description="Until when logins are refused (too many failures).")
    login_locked: bool = Field(description="Locked until an admin unlocks it.")
    live_sessions: int


class UserList(ApiModel):
    items: list[UserOut]


class UserWithPassword(UserOut):
    temporary_password: str = Field(description="Shown in this answer only; to change at the next login.")


class UserIn(ApiModel):
    username: str = Field(min_length=1, max_length=200, description=(
        "1 to 80 letters, digits, '.', '_', '@' or '-'."))
    password: str = Password
    role: Role
    organization: str | None = Field(None, max_length=200, description=(
        "A focal point's organisation (an organisation id of the constituency), a partner's CERT; none for staff."))
    must_change_password: bool = False


class UserPatch(ApiModel):
    role: Role | None = None
    organization: str | None = Field(None, max_length=200, description=(
        "Without it, a focal point or partner keeps theirs."))
    active: bool | None = None


class SessionOut(ApiModel):
    id: int
    created_at: datetime
    last_seen_at: datetime
    remote_addr: str
    user_agent: str


class SessionList(ApiModel):
    items: list[SessionOut]


class Ended(ApiModel):
    ended: int = Field(description="How many sessions were open.")


class PasswordIn(ApiModel):
    current: str = Password
    new: str = Password


class TotpStatus(ApiModel):
    enrolled: bool
    pending: bool
    required: bool = Field(description="Whether the caller's role must have a second factor.")
    recovery_codes_left: int


class TotpEnrolment(ApiModel):
    secret: str = Field(description="Base 32; shown in this answer only.")
    uri: str = Field(description="The otpauth:// URI.")
    qr: str = Field(description="The QR code of the URI, an SVG data URI.")


class CodeIn(ApiModel):
    code: str = Field(min_length=1, max_length=64, description="A current code of the application, or a recovery code.")


class RecoveryCodes(ApiModel):
    recovery_codes: list[str] = Field(description="Shown once.")
