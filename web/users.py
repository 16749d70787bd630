"""Account lifecycle: the console's users page actions (admins) and the REST API
``/api/v1/users`` (admins), and ``/api/v1/account/password`` (one's own password).

Every action is a service of ``cert.accounts.users`` (audited there; a change of password, role
or state ends the account's sessions). A temporary password is shown in the answer only, never
flashed (the session cookie is signed, not encrypted)."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user

from cert.accounts import sessions, throttle
from cert.accounts import users as accounts
from cert.accounts.access import PARTNER, needs_organization
from cert.core.errors import InvalidInput
from cert.storage.models import User, UserSession
from web.access import SessionUser, actor, platform, remote_addr, requires
from web.api_auth import api_scope, session_only
from web.api_spec import Response, body, iso, spec
from web.forms import AcknowledgeForm, RoleForm, UserForm
from web.login_session import start_session
from web.schemas.accounts import (
    Ended,
    PasswordIn,
    SessionList,
    UserIn,
    UserList,
    UserOut,
    UserPatch,
    UserWithPassword,
)

F = TypeVar("F", UserForm, RoleForm)

bp = Blueprint("users", __name__, url_prefix="/admin/users")
api = Blueprint("users_api", __name__, url_prefix="/api/v1")


def user_page(form: UserForm | None = None, status: int = 200, temporary: tuple[str, str] | None = None
              ) -> ResponseReturnValue:
    """The users page: the accounts, their state and login lock, the actions, the creation form."""
    with platform().db.session() as s:
        rows = [(u, throttle.locked(s, u.username), len(sessions.live_sessions(s, u.id, _policy())))
                for u in accounts.list_users(s)]
    return render_template("users.html", rows=rows, form=form or organization_choices(UserForm(formdata=None)),
                           role_form=role_form, button=AcknowledgeForm(), temporary=temporary), status


def _policy() -> sessions.SessionPolicy:
    return sessions.SessionPolicy.from_settings(platform().settings)


def organization_choices(form: F) -> F:
    """The form with the constituency's organisations to choose from (a focal point's)."""
    form.organization.choices = [("", _("none")),
                                 *((o.id, o.name) for o in platform().constituency.organizations)]
    return form


def role_form(user: User) -> RoleForm:
    """The role form of a row, showing the account's role and organisation."""
    partner = user.role == PARTNER
    return organization_choices(RoleForm(formdata=None, role=user.role,
                                         organization="" if partner else user.organization or "",
                                         partner=user.organization if partner else ""))


def chosen_organization(form: UserForm | RoleForm) -> str | None:
    """The organisation a role or user form gives: the partner CERT for a partner, else the chosen
    organisation of the constituency."""
    return (form.partner.data if form.role.data == PARTNER else form.organization.data) or None


def _done(message: str) -> ResponseReturnValue:
    flash(message, "ok")
    return redirect(url_for("admin.users"), 303)


@bp.post("/<int:user_id>/role")
@requires("admin")
def change_role(user_id: int) -> ResponseReturnValue:
    form = organization_choices(RoleForm())
    if not form.validate_on_submit():
        return user_page(status=400)
    try:
        with platform().db.session() as s:
            user = accounts.set_role(s, accounts.get_user_by_id(s, user_id), form.role.data or "", actor(),
                                     remote_addr(), organization=chosen_organization(form),
                                     constituency=platform().constituency)
            name, role = user.username, user.role
    except InvalidInput as exc:
        flash(str(_(exc.message_id, **exc.params)), "error")
        return redirect(url_for("admin.users"), 303)
    return _done(_("%(name)s is now %(role)s; their sessions were closed.", name=name, role=_(role)))


def _button_action(user_id: int, action: str) -> ResponseReturnValue:
    if not AcknowledgeForm().validate_on_submit():
        return user_page(status=400)
    with platform().db.session() as s:
        user = accounts.get_user_by_id(s, user_id)
        name = user.username
        if action == "disable":
            accounts.set_active(s, user, False, actor(), remote_addr())
            message = _("%(name)s is disabled; their sessions were closed.", name=name)
        elif action == "enable":
            accounts.set_active(s, user, True, actor(), remote_addr())
            message = _("%(name)s is enabled.", name=name)
        elif action == "unlock":
            throttle.unlock(s, name, actor(), remote_addr())
            message = _("The logins of %(name)s are no longer delayed or locked.", name=name)
        else:
            accounts.delete_user(s, user, actor(), remote_addr())
            message = _("%(name)s is deleted; the audit trail keeps the name.", name=name)
    return _done(message)


@bp.post("/<int:user_id>/disable")
@requires("admin")
def disable(user_id: int) -> ResponseReturnValue:
    return _button_action(user_id, "disable")


@bp.post("/<int:user_id>/enable")
@requires("admin")
def enable(user_id: int) -> ResponseReturnValue:
    return _button_action(user_id, "enable")


@bp.post("/<int:user_id>/unlock")
@requires("admin")
def unlock(user_id: int) -> ResponseReturnValue:
    return _button_action(user_id, "unlock")


@bp.post("/<int:user_id>/delete")
@requires("admin")
def delete(user_id: int) -> ResponseReturnValue:
    return _button_action(user_id, "delete")


@bp.post("/<int:user_id>/reset-password")
@requires("admin")
def reset_password(user_id: int) -> ResponseReturnValue:
    if not AcknowledgeForm().validate_on_submit():
        return user_page(status=400)
    with platform().db.session() as s:
        user = accounts.get_user_by_id(s, user_id)
        temporary = accounts.reset_password(s, user, actor(), remote_addr())
        name = user.username
    return user_page(temporary=(name, temporary))


@bp.get("/<int:user_id>/sessions")
@requires("admin")
def user_sessions(user_id: int) -> ResponseReturnValue:
    """The open sessions of an account (opened, last request, address, browser) and a button that
    ends them all."""
    with platform().db.session() as s:
        user = accounts.get_user_by_id(s, user_id)
        return render_template("user_sessions.html", user=user, live=sessions.live_sessions(s, user.id, _policy()),
                               button=AcknowledgeForm())


@bp.post("/<int:user_id>/sessions/end")
@requires("admin")
def end_sessions(user_id: int) -> ResponseReturnValue:
    if not AcknowledgeForm().validate_on_submit():
        return user_page(status=400)
    with platform().db.session() as s:
        user = accounts.get_user_by_id(s, user_id)
        ended = accounts.end_sessions(s, user, actor(), remote_addr())
        name = user.username
    flash(_("%(count)s session(s) of %(name)s ended.", count=ended, name=name), "ok")
    return redirect(url_for("users.user_sessions", user_id=user_id), 303)


# ---------------------------------------------------------------- REST API


def user_json(s: Any, u: User) -> dict[str, Any]:
    lock = throttle.locked(s, u.username)
    return {"id": u.id, "username": u.username, "role": u.role, "organization": u.organization, "active": u.active,
            "must_change_password": u.must_change_password, "created_at": iso(u.created_at),
            "login_refused_until": iso(lock.until) if lock else None, "login_locked": bool(lock and lock.locked),
            "live_sessions": len(sessions.live_sessions(s, u.id, _policy()))}


@api.get("/users")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=Response(HTTP_200=UserList), tags=["accounts"])
def list_users() -> ResponseReturnValue:
    """The accounts: role, organisation, status, open sessions."""
    with platform().db.session() as s:
        return {"items": [user_json(s, u) for u in accounts.list_users(s)]}


@api.post("/users")
@requires("admin")
@api_scope("admin")
@spec.validate(json=UserIn, resp=Response(HTTP_201=UserOut), tags=["accounts"])
def create_user() -> ResponseReturnValue:
    """``{"username", "password", "role", "organization"?, "must_change_password"?}``: 201 with the
    account. A focal point needs ``organization`` (an organisation id of the constituency), a
    partner the name of its CERT; staff have none."""
    wanted = body(UserIn)
    p = platform()
    with p.db.session() as s:
        user = accounts.create_user(s, wanted.username, wanted.password, wanted.role, actor(), remote_addr(),
                                    min_length=p.settings.password_min_length,
                                    must_change_password=wanted.must_change_password,
                                    organization=wanted.organization, constituency=p.constituency)
        return user_json(s, user), 201


@api.get("/users/<int:user_id>")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=Response(HTTP_200=UserOut), tags=["accounts"])
def user(user_id: int) -> ResponseReturnValue:
    """The account."""
    with platform().db.session() as s:
        return user_json(s, accounts.get_user_by_id(s, user_id))


@api.patch("/users/<int:user_id>")
@requires("admin")
@api_scope("admin")
@spec.validate(json=UserPatch, resp=Response(HTTP_200=UserOut), tags=["accounts"])
def update_user(user_id: int) -> ResponseReturnValue:
    """``{"role"?, "organization"?, "active"?}``: the account after the change (without
    ``organization``, a focal point or partner keeps theirs)."""
    change = body(UserPatch)
    with platform().db.session() as s:
        found = accounts.get_user_by_id(s, user_id)
        if change.role is not None or "organization" in change.model_fields_set:
            role = change.role or found.role
            organization = (change.organization if "organization" in change.model_fields_set
                            else found.organization if needs_organization(role) else None)
            accounts.set_role(s, found, role, actor(), remote_addr(), organization=organization,
                              constituency=platform().constituency)
        if change.active is not None:
            accounts.set_active(s, found, change.active, actor(), remote_addr())
        return user_json(s, found)


@api.delete("/users/<int:user_id>")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=Response(HTTP_204=None), tags=["accounts"])
def delete_user(user_id: int) -> ResponseReturnValue:
    """204: the account is marked deleted (the audit trail keeps its name)."""
    with platform().db.session() as s:
        accounts.delete_user(s, accounts.get_user_by_id(s, user_id), actor(), remote_addr())
    return "", 204


@api.post("/users/<int:user_id>/reset-password")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=Response(HTTP_200=UserWithPassword), tags=["accounts"])
def api_reset_password(user_id: int) -> ResponseReturnValue:
    """A temporary password (shown in this answer only) to change at the next login."""
    with platform().db.session() as s:
        user = accounts.get_user_by_id(s, user_id)
        temporary = accounts.reset_password(s, user, actor(), remote_addr())
        return {**user_json(s, user), "temporary_password": temporary}


@api.post("/users/<int:user_id>/unlock")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=Response(HTTP_200=UserOut), tags=["accounts"])
def api_unlock(user_id: int) -> ResponseReturnValue:
    """Lift the login lock or delay of an account."""
    with platform().db.session() as s:
        user = accounts.get_user_by_id(s, user_id)
        throttle.unlock(s, user.username, actor(), remote_addr())
        return user_json(s, user)


def session_json(row: UserSession) -> dict[str, Any]:
    return {"id": row.id, "created_at": iso(row.created_at), "last_seen_at": iso(row.last_seen_at),
            "remote_addr": row.remote_addr, "user_agent": row.user_agent}


@api.get("/users/<int:user_id>/sessions")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=Response(HTTP_200=SessionList), tags=["accounts"])
def api_user_sessions(user_id: int) -> ResponseReturnValue:
    """The account's open sessions (never their ids: only a digest of each is stored)."""
    with platform().db.session() as s:
        user = accounts.get_user_by_id(s, user_id)
        return {"items": [session_json(row) for row in sessions.live_sessions(s, user.id, _policy())]}


@api.post("/users/<int:user_id>/sessions/end")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=Response(HTTP_200=Ended), tags=["accounts"])
def api_end_sessions(user_id: int) -> ResponseReturnValue:
    """End every open session of the account: ``{"ended": <how many were open>}``."""
    with platform().db.session() as s:
        user = accounts.get_user_by_id(s, user_id)
        return {"ended": accounts.end_sessions(s, user, actor(), remote_addr())}


@api.post("/account/password")
@session_only
@spec.validate(json=PasswordIn, resp=Response(HTTP_204=None), tags=["accounts"])
def api_change_password() -> ResponseReturnValue:
    """One's own password: ``{"current", "new"}``. Every session of the account ends; this client
    gets a new one (in the answer's cookie)."""
    wanted = body(PasswordIn)
    p = platform()
    with p.db.session() as s:
        user = accounts.get_user_by_id(s, int(current_user.id))
        accounts.change_password(s, user, wanted.current, wanted.new, remote_addr(), p.settings.password_min_length)
        sid = start_session(s, user)
        login_user(SessionUser.from_model(user, sid))
    return "", 204
