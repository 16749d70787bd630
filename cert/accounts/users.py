"""Users, roles and password hashing (argon2id)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.core.errors import InvalidInput
from cert.storage.models import User

ROLES = ("analyst", "responder", "admin")
# what each role may do; a higher role includes the lower ones
ROLE_RANK = {"analyst": 1, "responder": 2, "admin": 3}

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def has_role(user_role: str, needed: str) -> bool:
    return ROLE_RANK.get(user_role, 0) >= ROLE_RANK[needed]


def create_user(s: Session, username: str, password: str, role: str) -> User:
    username = username.strip()
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
    if not username or len(username) > 80:
        raise InvalidInput("a username is 1 to 80 characters")
    if len(password) < 10:
        raise InvalidInput("a password has at least 10 characters")
    if s.scalar(select(User).where(User.username == username)):
        raise InvalidInput(f"user {username!r} already exists")
    user = User(username=username, password_hash=_hasher.hash(password), role=role)
    s.add(user)
    s.flush()
    return user


def set_password(s: Session, user: User, password: str) -> None:
    if len(password) < 10:
        raise InvalidInput("a password has at least 10 characters")
    user.password_hash = _hasher.hash(password)


def authenticate(s: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None. Takes the same time for unknown users."""
    user = s.scalar(select(User).where(User.username == username.strip()))
    try:
        if user is None or not user.active or user.auth_source != "local":  # external: no password here
            _hasher.verify(_DUMMY_HASH, password + "x")
            return None
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user
