"""Login and logout, and changing one's own password.

A login is throttled per account name and per source address (``cert.accounts.throttle``); it
opens a new server-side session (``cert.accounts.sessions``) and ends the one the browser held
before. The answer to a failed login is the same whether or not the account exists."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from cert.accounts import sessions, throttle
from cert.accounts.users import authenticate, change_password, get_user_by_id
from cert.core.errors import Forbidden, InvalidInput
from cert.storage import audit
from web.access import SessionUser, actor, platform, remote_addr
from web.forms import LoginForm, PasswordChangeForm
from web.login_session import home, start_session
from web.second_factor import after_password

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("alerts.queue")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        username, addr = form.username.data or "", remote_addr()
        with platform().db.session() as s:
            refused = throttle.check(s, username, addr)
        if refused is not None:
            flash(_("Too many failed logins: try again in a few minutes."), "error")
            return render_template("login.html", form=form), 429
        with platform().db.session() as s:
            user = authenticate(s, username, form.password.data or "")
            audit.record(s, username, "login" if user else "login.failed", "user", user.id if user else "", addr)
            if user is None:
                throttle.record_failure(s, username, addr)
            else:
                return after_password(s, user, _safe_next(request.args.get("next")))
        flash(_("Wrong username or password."), "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    with platform().db.session() as s:
        sessions.end(s, getattr(current_user, "sid", ""), "logout")
        audit.record(s, actor(), "logout", remote_addr=remote_addr())
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"], endpoint="change_password")
def change_password_page() -> ResponseReturnValue:
    """Change one's own password (the current one is needed). Every session of the account ends;
    this browser gets a new one."""
    form = PasswordChangeForm()
    status = 200
    if form.validate_on_submit():
        p = platform()
        try:
            with p.db.session() as s:
                user = get_user_by_id(s, int(current_user.id))
                change_password(s, user, form.current.data or "", form.new.data or "", remote_addr(),
                                p.settings.password_min_length)
                sid = start_session(s, user)
                login_user(SessionUser.from_model(user, sid))
        except (InvalidInput, Forbidden) as exc:
            form.new.errors = [str(_(exc.message_id, **exc.params))]
            status = 403 if isinstance(exc, Forbidden) else 400
        else:
            flash(_("Your password was changed. Your other sessions have been closed."), "ok")
            return redirect(url_for("alerts.queue"), 303)
    elif form.errors:
        status = 400
    return render_template("password.html", form=form, min_length=platform().settings.password_min_length,
                           required=getattr(current_user, "must_change_password", False)), status


@bp.get("/")
def index() -> ResponseReturnValue:
    return redirect(home(current_user.role))
