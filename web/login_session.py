"""The end of a successful login, whichever steps it took (password, then a second factor where
one is due): a new server-side session, a new CSRF token, and the page to go to."""

from __future__ import annotations

from flask import request, session, url_for
from flask_login import current_user, login_user
from sqlalchemy.orm import Session

from cert.accounts import sessions, throttle
from cert.accounts.access import FOCAL_POINT, is_staff
from cert.accounts.sessions import SessionPolicy
from cert.storage.models import User
from web.access import SessionUser, platform, remote_addr


def user_agent() -> str:
    return (request.headers.get("User-Agent") or "")[:255]


def start_session(s: Session, user: User) -> str:
    """A new server-side session for ``user`` from this request's address and browser, under the
    deployment's session policy (which also says how long old sessions' rows are kept)."""
    return sessions.start(s, user, remote_addr(), user_agent(), SessionPolicy.from_settings(platform().settings))


def open_session(s: Session, user: User, next_url: str) -> str:
    """Log ``user`` in with a new session (the browser's previous one ends: a new session id at
    every login); where to go next (the password form while a reset password must be changed)."""
    throttle.record_success(s, user.username)
    if current_user.is_authenticated and getattr(current_user, "sid", ""):
        sessions.end(s, current_user.sid, "replaced")
    sid = start_session(s, user)
    session.pop("csrf_token", None)
    login_user(SessionUser.from_model(user, sid))
    if user.must_change_password:
        return url_for("auth.change_password")
    return next_url if is_staff(user.role) else home(user.role)


def home(role: str) -> str:
    """Where a person lands: the alert queue for CERT staff; the portal for focal points; their
    own account page for partners, who have no console view of their own."""
    if is_staff(role):
        return url_for("alerts.queue")
    return url_for("portal.index") if role == FOCAL_POINT else url_for("totp.account")
