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

from cert.accounts.users import has_role
from cert.runtime.platform import Platform
from cert.storage.models import User

# endpoints reachable without a session: the login form and single sign-on (web/oidc.py), static
# files, the health probe
PUBLIC_ENDPOINTS = frozenset({"auth.login", "oidc.login", "oidc.callback", "static", "healthz"})

F = TypeVar("F", bound=Callable[..., Any])

# the ``error`` field of an API error answer, by status
API_ERRORS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 500: "internal_error"}


def api_error(status: int, message: str) -> tuple[Response, int]:
    """An error of the JSON API: ``{"error": <code>, "message": <text for a person>, "status": <status>}``."""
    return jsonify(error=API_ERRORS.get(status, "error"), message=message, status=status), status


@dataclass
class SessionUser(UserMixin):
    id: int
    username: str
    role: str

    @classmethod
    def from_model(cls, user: User) -> SessionUser:
        return cls(user.id, user.username, user.role)

    def get_id(self) -> str:
        return str(self.id)

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
        return None
    if request.path.startswith("/api/"):
        return api_error(401, _("Authentication required."))
    if request.endpoint is None:
        abort(404)
    return redirect(url_for("auth.login", next=request.path))


def requires(role: str) -> Callable[[F], F]:
    """Route decorator: the user's role must be at least ``role`` (analyst < responder < admin)."""

    def deco(view: F) -> F:
        view.required_role = role  # type: ignore[attr-defined]

        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                abort(401)
            if not current_user.can(role):
                abort(403, description=_("This action needs the %(role)s role.", role=_(role)))
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return deco


def actor() -> str:
    return str(current_user.username)


def remote_addr() -> str:
    return request.remote_addr or ""
