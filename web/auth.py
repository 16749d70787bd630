"""Login and logout."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import logout_user

from cert.accounts.users import authenticate
from cert.storage import audit
from web.access import actor, platform, remote_addr
from web.forms import LoginForm
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
        with platform().db.session() as s:
            user = authenticate(s, form.username.data or "", form.password.data or "")
            audit.record(s, form.username.data or "", "login" if user else "login.failed", "user",
                         user.id if user else "", remote_addr())
            if user is not None:
                return after_password(s, user, _safe_next(request.args.get("next")))
        flash(_("Wrong username or password."), "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    with platform().db.session() as s:
        audit.record(s, actor(), "logout", remote_addr=remote_addr())
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("alerts.queue"))
