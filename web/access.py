"""Authentication and authorisation: every route needs a logged-in user, and a role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import Response, abort, current_app, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import UserMixin, current_user

from cert.accounts.access import FOCAL_POINT, Principal, Scope, has_role, scope_of
from cert.runtime.platform import Platform
from cert.storage.models import User

# endpoints reachable without a session: the login form and single sign-on (web/oidc.py), static
# files, the health probe; the second step of a login (code, enrolment) answers only to the
# marker the password step leaves
PUBLIC_ENDPOINTS = frozenset({"auth.login", "oidc.login", "oidc.callback", "static", "healthz", "totp.login_code",
                              "totp.login_enrol", "public_report.form", "ack.acknowledge_link"})
# endpoints a user whose password was reset may reach before setting a new one
PASSWORD_CHANGE_ENDPOINTS = frozenset({"auth.change_password", "users_api.api_change_password", "auth.logout",
                                       "static"})

F = TypeVar("F", bound=Callable[..., Any])

# the ``error`` field of an API error answer, by status
API_ERRORS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
              500: "internal_error"}


def api_error(status: int, message: str) -> tuple[Response, int]:
    """An error of the JSON API: ``{"error": <code>, "message": <text for a person>, "status": <status>}``."""
    return jsonify(error=API_ERRORS.get(status, "error"), message=message, status=status), status


@dataclass
class SessionUser(UserMixin):
    """The user of a live server-side session. ``get_id`` is the session id: the only thing
    the session cookie carries (``cert.accounts.sessions``)."""

    id: int
    username: str
    role: str
    sid: str = ""
    must_change_password: bool = False
    organization: str | None = None

    @classmethod
    def from_model(cls, user: User, sid: str = "") -> SessionUser:
        return cls(user.id, user.username, user.role, sid, user.must_change_password, user.organization)

    def get_id(self) -> str:
        return self.sid

    def can(self, role: str) -> bool:
        return has_role(self.role, role)


def platform() -> Platform:
    p: Platform = current_app.extensions["vigie"]
    return p


def enforce_login() -> ResponseReturnValue | None:
    """before_request: refuse anonymous access to everything but PUBLIC_ENDPOINTS."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if current_user.is_authenticated:
        if getattr(current_user, "must_change_password", False) and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
            if request.path.startswith("/api/"):
                return api_error(403, _("Your password was reset: set a new one before anything else."))
            return redirect(url_for("auth.change_password"))
        return None
    if request.path.startswith("/api/"):
        return api_error(401, _("Authentication required."))
    if request.endpoint is None:
        abort(404)
    return redirect(url_for("auth.login", next=request.path))


def requires(role: str, *, focal_points: bool = False) -> Callable[[F], F]:
    """Route decorator: the user's role must be at least ``role`` (analyst < responder < admin);
    outsiders (focal points, partners) are never staff. ``focal_points``: a focal point may call
    it too, the view answering only with what ``visible_scope`` allows. An API token has no role:
    on an API route it is authorised by the scope the route declares."""

    def deco(view: F) -> F:
        view.required_role = role  # type: ignore[attr-defined]
        view.focal_points = focal_points  # type: ignore[attr-defined]

        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                abort(401)
            if getattr(current_user, "scope_checked", False):
                return view(*args, **kwargs)  # an API token, authorised by its scopes (web.api_auth)
            if not current_user.can(role) and not (focal_points and current_user.role == FOCAL_POINT):
                abort(403, description=_("This action needs the %(role)s role.", role=_(role)))
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return deco


def visible_scope() -> Scope:
    """The alerts and cases the request's user or API token may see (``cert.accounts.access``)."""
    principal = Principal(str(current_user.role), getattr(current_user, "organization", None),
                          getattr(current_user, "partner", None))
    return scope_of(principal, platform().constituency)


def actor() -> str:
    return str(current_user.username)


def remote_addr() -> str:
    return request.remote_addr or ""
