"""Users, roles and password hashing (argon2id), and the lifecycle of an account.

Every change to an account is audited with the acting person. A change of password, role or
state ends every session of the account (``cert.accounts.sessions.end_all``). A deleted account
keeps its row, marked deleted and without a usable password, so the audit trail that names it
still names one account; its name stays taken.

The roles and what each may see: ``cert.accounts.access``. A focal point belongs to an
organisation of the constituency, a partner to a partner CERT (``organization``); CERT staff
belong to no organisation.
"""

from __future__ import annotations

import contextlib
import functools
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cert.accounts import clock, sessions
from cert.accounts.access import FOCAL_POINT, PARTNER, ROLES, needs_organization
from cert.accounts.passwords import MIN_LENGTH, check_password
from cert.constituency.directory import Constituency
from cert.core.errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from cert.storage import audit
from cert.storage.models import User

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")
DELETED_HASH = "!deleted"  # no argon2 hash: nothing verifies against it

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so that the answer takes as long;
    made on first use, not when the module is imported (every CLI command imports it)."""
    return _hasher.hash("not-a-real-password")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(N_("Unknown role %(role)s (expected one of %(roles)s)."), role=role, roles=", ".join(ROLES))


MAX_ORGANIZATION = 80


def check_organization(role: str, organization: str | None, constituency: Constituency | None) -> str | None:
    """The organisation an account of ``role`` will have (None for staff), or InvalidInput: a
    focal point needs an organisation of the constituency (its id or name; the id is kept), a
    partner the name of its partner CERT (not checked: there is no registry of partners yet),
    and staff none (they see every organisation)."""
    org = (organization or "").strip() or None
    if not needs_organization(role):
        if org is not None:
            raise InvalidInput(N_("CERT staff see every organisation: only a focal point or a partner belongs to "
                                  "one."))
        return None
    if org is None:
        if role == FOCAL_POINT:
            raise InvalidInput(N_("A focal point belongs to an organisation of the constituency: choose it."))
        raise InvalidInput(N_("A partner belongs to a partner CERT: name it."))
    if len(org) > MAX_ORGANIZATION:
        raise InvalidInput(N_("An organisation is at most %(max)s characters."), max=MAX_ORGANIZATION)
    if role == PARTNER:
        return org
    if constituency is None:
        raise ValueError("checking a focal point's organisation needs the constituency")
    found = constituency.by_id(org) or constituency.by_name(org)
    if found is None:
        raise InvalidInput(N_("No organisation %(organization)s in the constituency (known ids: %(known)s)."),
                           organization=org, known=", ".join(o.id for o in constituency.organizations))
    return found.id


def create_user(s: Session, username: str, password: str, role: str, actor: str = "system",
                remote_addr: str = "", *, min_length: int = MIN_LENGTH, must_change_password: bool = False,
                organization: str | None = None, constituency: Constituency | None = None) -> User:
    """A new local account. ``organization``: a focal point's (an organisation of ``constituency``)
    or a partner's (its CERT); see ``check_organization``."""
    username = username.strip()
    _check_role(role)
    organization = check_organization(role, organization, constituency)
    if not USERNAME.match(username):
        raise InvalidInput(N_("A username is 1 to 80 letters, digits, '.', '_', '@' or '-', starting with a "
                              "letter or digit."))
    check_password(password, username, min_length)
    if s.scalar(select(User).where(func.lower(User.username) == username.lower())):
        raise InvalidInput(N_("User %(name)s already exists."), name=username)
    user = User(username=username, password_hash=_hasher.hash(password), role=role,
                must_change_password=must_change_password, organization=organization)
    s.add(user)
    s.flush()
    audit.record(s, actor, "user.create", "user", user.id, remote_addr, username=username, role=role,
                 organization=organization)
    return user


def get_user(s: Session, username: str) -> User:
    """A not-deleted account by name."""
    user = s.scalar(select(User).where(User.username == username.strip(), User.deleted_at.is_(None)))
    if user is None:
        raise NotFound(N_("No user named %(name)s."), name=username.strip())
    return user


def get_user_by_id(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound(N_("No user with id %(id)s."), id=user_id)
    return user


def list_users(s: Session) -> list[User]:
    return list(s.scalars(select(User).where(User.deleted_at.is_(None)).order_by(User.username)))


def _other_live_admins(s: Session, user: User) -> int:
    return int(s.scalar(select(func.count()).select_from(User).where(
        User.role == "admin", User.active.is_(True), User.deleted_at.is_(None), User.id != user.id)) or 0)


def _keep_an_admin(s: Session, user: User) -> None:
    if user.role == "admin" and user.active and _other_live_admins(s, user) == 0:
        raise Conflict(N_("%(name)s is the last active administrator: create or enable another one first."),
                       name=user.username)


def set_role(s: Session, user: User, role: str, actor: str, remote_addr: str = "", *,
             organization: str | None = None, constituency: Constituency | None = None) -> User:
    """Give the account ``role`` and ``organization`` (see ``check_organization``: staff have
    none). A change of either ends every session of the account: what it may see changed."""
    _check_role(role)
    organization = check_organization(role, organization, constituency)
    if (role, organization) == (user.role, user.organization):
        return user
    if role != "admin":
        _keep_an_admin(s, user)
    before, before_organization = user.role, user.organization
    user.role, user.organization = role, organization
    ended = sessions.end_all(s, user.id, "role_changed")
    audit.record(s, actor, "user.role", "user", user.id, remote_addr, username=user.username,
                 before=before, after=role, organization_before=before_organization, organization=organization,
                 sessions_ended=ended)
    return user


def set_active(s: Session, user: User, active: bool, actor: str, remote_addr: str = "") -> User:
    if active == user.active:
        return user
    if not active:
        _keep_an_admin(s, user)
    user.active = active
    ended = 0 if active else sessions.end_all(s, user.id, "disabled")
    audit.record(s, actor, "user.enable" if active else "user.disable", "user", user.id, remote_addr,
                 username=user.username, sessions_ended=ended)
    return user


def reset_password(s: Session, user: User, actor: str, remote_addr: str = "") -> str:
    """Give the account a random temporary password (returned, to hand over once) that must be
    changed at the next login; every session of the account ends."""
    temporary = secrets.token_urlsafe(15)
    user.password_hash = _hasher.hash(temporary)
    user.must_change_password = True
    ended = sessions.end_all(s, user.id, "password_reset")
    audit.record(s, actor, "user.password_reset", "user", user.id, remote_addr, username=user.username,
                 sessions_ended=ended)
    return temporary


def change_password(s: Session, user: User, current: str, new: str, remote_addr: str = "",
                    min_length: int = MIN_LENGTH) -> None:
    """The user's own change: the current password is needed, the new one must pass the policy
    and differ from it. Every session of the account ends (the caller opens a new one)."""
    if not _verify(user, current):
        raise Forbidden(N_("The current password is wrong."))
    check_password(new, user.username, min_length)
    if new == current:
        raise InvalidInput(N_("The new password must differ from the current one."))
    user.password_hash = _hasher.hash(new)
    user.must_change_password = False
    ended = sessions.end_all(s, user.id, "password_changed")
    audit.record(s, user.username, "user.password_change", "user", user.id, remote_addr, sessions_ended=ended)


def delete_user(s: Session, user: User, actor: str, remote_addr: str = "") -> None:
    _keep_an_admin(s, user)
    user.active = False
    user.deleted_at = clock.now()
    user.password_hash = DELETED_HASH
    ended = sessions.end_all(s, user.id, "deleted")
    audit.record(s, actor, "user.delete", "user", user.id, remote_addr, username=user.username, role=user.role,
                 sessions_ended=ended)


def end_sessions(s: Session, user: User, actor: str, remote_addr: str = "") -> int:
    """End every open session of the account (an administrator's action: a lost laptop, a cookie
    thought stolen); how many were open. Audited even when none was."""
    ended = sessions.end_all(s, user.id, "ended_by_admin")
    audit.record(s, actor, "session.end_all", "user", user.id, remote_addr, username=user.username,
                 sessions_ended=ended)
    return ended


def set_password(s: Session, user: User, password: str, min_length: int = MIN_LENGTH) -> None:
    """Set a password chosen for the account (checked by the policy); no session changes."""
    check_password(password, user.username, min_length)
    user.password_hash = _hasher.hash(password)


def _verify(user: User, password: str) -> bool:
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    return True


def authenticate(s: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None. Runs argon2 once whatever the outcome,
    so an unknown, disabled or deleted account answers in the same time as a wrong password."""
    user = s.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.active or user.deleted_at is not None or user.auth_source != "local":
        _verify_dummy(password)  # an external account (single sign-on) has no password here
        return None
    if not _verify(user, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _verify_dummy(password: str) -> None:
    with contextlib.suppress(VerificationError, InvalidHashError):
        _hasher.verify(_dummy_hash(), password + "x")
