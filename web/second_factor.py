"""Second factor (TOTP) in the console: the second step of a login, enrolment with a QR code,
the user's own page (enrol, new recovery codes, disable), an admin reset, and their JSON API.

After a correct password, ``after_password`` logs the user in only if no second factor is
enrolled nor required. Otherwise it keeps a short-lived marker in the session (the user id,
an expiry, where to go next), which is all the code and enrolment pages accept: no session
exists until the second step succeeds. Wrong codes are audited as failed logins and counted on
the server (``cert.accounts.totp.too_many_failures``).
"""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import qrcode
import qrcode.image.svg
from flask import Blueprint, flash, jsonify, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from cert.accounts import throttle, totp
from cert.core.errors import N_, NotFound
from cert.storage import audit
from cert.storage.models import User
from web.access import actor, api_error, platform, remote_addr, requires
from web.api_auth import api_scope, session_only
from web.api_spec import Response, body, spec
from web.login_session import open_session
from web.schemas.accounts import CodeIn, RecoveryCodes, TotpEnrolment, TotpStatus

bp = Blueprint("totp", __name__)

PENDING = "second_factor"  # the session key of the marker
CODE_SECONDS = 300  # time to type the code after the password
ENROL_SECONDS = 900  # time to install an application and enrol after the password


class CodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])


class ButtonForm(FlaskForm):
    """Only the CSRF token."""


# --------------------------------------------------------------------------- helpers


def box() -> totp.SecretBox:
    return totp.SecretBox(platform().settings.effective_secret_key())


def qr_data_uri(uri: str) -> str:
    """The QR code of ``uri`` as an SVG ``data:`` URI (drawn here: nothing leaves the console)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    out = io.BytesIO()
    image.save(out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def after_password(s: Session, user: User, next_url: str) -> ResponseReturnValue:
    """Called by the login form once the password is right: log in, or go to the second step."""
    session.pop(PENDING, None)
    enrolled = totp.is_enrolled(s, user)
    if not enrolled and not totp.required_for(platform().settings, user.role):
        return redirect(open_session(s, user, next_url))
    seconds = CODE_SECONDS if enrolled else ENROL_SECONDS
    session[PENDING] = {"user": user.id, "until": int(time.time()) + seconds, "next": next_url, "enrol": not enrolled}
    return redirect(url_for("totp.login_code" if enrolled else "totp.login_enrol"))


def _pending_user(s: Session, enrol: bool) -> User | None:
    marker = session.get(PENDING)
    if not isinstance(marker, dict) or marker.get("enrol") is not enrol:
        return None
    if not isinstance(marker.get("until"), int) or marker["until"] < time.time():
        session.pop(PENDING, None)
        return None
    user = s.get(User, marker.get("user")) if isinstance(marker.get("user"), int) else None
    return user if user is not None and user.active else None


def _finish_login(s: Session, user: User) -> str:
    """Log ``user`` in (the second step succeeded); where to go next."""
    marker = session.pop(PENDING, None) or {}
    return open_session(s, user, str(marker.get("next") or url_for("alerts.queue")))


def _back_to_login(message: str) -> ResponseReturnValue:
    session.pop(PENDING, None)
    flash(message, "error")
    return redirect(url_for("auth.login"))


def _me(s: Session) -> User:
    user = s.get(User, int(current_user.id))
    if user is None:
        raise NotFound(N_("This page or object does not exist."))
    return user


# --------------------------------------------------------------------------- login steps


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> ResponseReturnValue:
    """The second step: the 6-digit code of the user's application, or a recovery code."""
    form = CodeForm()
    with platform().db.session() as s:
        user = _pending_user(s, enrol=False)
        if user is None:
            return _back_to_login(_("Your login has expired: log in again."))
        if not form.validate_on_submit():
            return render_template("totp_code.html", form=form), 400 if form.errors else 200
        if totp.too_many_failures(s, user):
            audit.record(s, user.username, "login.failed", "user", user.id, remote_addr(), factor="totp",
                         reason="too many wrong codes")
            outcome = None
            blocked = True
        else:
            outcome = totp.verify(s, user, box(), form.code.data or "", remote_addr())
            blocked = False
            if outcome is None:
                throttle.record_failure(s, user.username, remote_addr())
        if outcome is not None:
            audit.record(s, user.username, "login.second_factor", "user", user.id, remote_addr(), factor=outcome)
            return redirect(_finish_login(s, user))
    if blocked:
        return _back_to_login(_("Too many wrong codes. Wait a few minutes, then log in again."))
    flash(_(totp.WRONG_CODE), "error")
    return render_template("totp_code.html", form=CodeForm(formdata=None)), 401


@bp.route("/login/enrol", methods=["GET", "POST"])
def login_enrol() -> ResponseReturnValue:
    """A role that requires a second factor, and none enrolled: enrol now, before anything else."""
    form = CodeForm()
    with platform().db.session() as s:
        user = _pending_user(s, enrol=True)
        if user is None:
            return _back_to_login(_("Your login has expired: log in again."))
        if form.validate_on_submit():
            codes = totp.confirm_enrolment(s, user, box(), form.code.data or "", remote_addr())
            if codes is not None:
                audit.record(s, user.username, "login.second_factor", "user", user.id, remote_addr(),
                             factor="enrolment")
                return render_template("totp_recovery.html", codes=codes, next=_finish_login(s, user))
        enrolment = totp.pending_enrolment(s, user, box()) or totp.start_enrolment(s, user, box(), remote_addr())
    status = 200
    if form.is_submitted():
        flash(_(totp.WRONG_CODE), "error")
        status = 400
    return render_template("totp_enrol.html", form=CodeForm(formdata=None), required=True,
                           action=url_for("totp.login_enrol"), **_enrolment_view(enrolment)), status


def _enrolment_view(enrolment: totp.Enrolment) -> dict[str, Any]:
    grouped = " ".join(enrolment.secret[i:i + 4] for i in range(0, len(enrolment.secret), 4))
    return {"secret": grouped, "uri": enrolment.uri, "qr": qr_data_uri(enrolment.uri)}


# --------------------------------------------------------------------------- the user's own page


@bp.get("/account/second-factor")
def account() -> ResponseReturnValue:
    """Any logged-in user, on their own account: status, enrol, new recovery codes, disable."""
    with platform().db.session() as s:
        me = _me(s)
        state = totp.status(s, me)
        required = totp.required_for(platform().settings, me.role)
    return render_template("totp_account.html", state=state, required=required, form=CodeForm(),
                           button=ButtonForm())


@bp.post("/account/second-factor/enrol")
def account_enrol() -> ResponseReturnValue:
    if not ButtonForm().validate_on_submit():
        return redirect(url_for("totp.account"), 303)
    with platform().db.session() as s:
        me = _me(s)
        enrolment = totp.pending_enrolment(s, me, box()) or totp.start_enrolment(s, me, box(), remote_addr())
    return render_template("totp_enrol.html", form=CodeForm(formdata=None), required=False,
                           action=url_for("totp.account_confirm"), **_enrolment_view(enrolment))


@bp.post("/account/second-factor/confirm")
def account_confirm() -> ResponseReturnValue:
    form = CodeForm()
    with platform().db.session() as s:
        me = _me(s)
        codes = totp.confirm_enrolment(s, me, box(), form.code.data or "", remote_addr()) \
            if form.validate_on_submit() else None
        enrolment = totp.pending_enrolment(s, me, box()) if codes is None else None
    if codes is not None:
        return render_template("totp_recovery.html", codes=codes, next=url_for("totp.account"))
    flash(_(totp.WRONG_CODE), "error")
    if enrolment is None:
        return redirect(url_for("totp.account"), 303)
    return render_template("totp_enrol.html", form=CodeForm(formdata=None), required=False,
                           action=url_for("totp.account_confirm"), **_enrolment_view(enrolment)), 400


@bp.post("/account/second-factor/disable")
def account_disable() -> ResponseReturnValue:
    form = CodeForm()
    with platform().db.session() as s:
        me = _me(s)
        done = form.validate_on_submit() and totp.disable(s, me, box(), form.code.data or "", remote_addr())
    if done:
        flash(_("The second factor is disabled."), "ok")
    else:
        flash(_(totp.WRONG_CODE), "error")
    return redirect(url_for("totp.account"), 303)


@bp.post("/account/second-factor/recovery-codes")
def account_recovery_codes() -> ResponseReturnValue:
    """A new set of recovery codes, with a current code of the application; shown once."""
    form = CodeForm()
    with platform().db.session() as s:
        me = _me(s)
        codes = totp.regenerate_recovery_codes(s, me, box(), form.code.data or "", remote_addr()) \
            if form.validate_on_submit() else None
        state = totp.status(s, me)
        required = totp.required_for(platform().settings, me.role)
    if codes is not None:
        return render_template("totp_recovery.html", codes=codes, next=url_for("totp.account"), regenerated=True)
    flash(_(totp.WRONG_CODE), "error")
    return render_template("totp_account.html", state=state, required=required, form=CodeForm(formdata=None),
                           button=ButtonForm()), 400


# --------------------------------------------------------------------------- admins


@bp.get("/admin/second-factor")
@requires("admin")
def admin_users() -> ResponseReturnValue:
    """Every user, whether a second factor is enrolled and whether the role requires one."""
    settings = platform().settings
    with platform().db.session() as s:
        rows = [(u, totp.status(s, u), totp.required_for(settings, u.role))
                for u in s.scalars(select(User).order_by(User.username))]
    return render_template("totp_admin.html", rows=rows, button=ButtonForm())


def _reset(user_id: int) -> tuple[str, bool]:
    with platform().db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(N_("No user with id %(id)s."), id=user_id)
        return user.username, totp.admin_reset(s, user, actor(), remote_addr())


@bp.post("/admin/second-factor/<int:user_id>/reset")
@requires("admin")
def admin_reset(user_id: int) -> ResponseReturnValue:
    """A user lost the device: remove the second factor (audited); they enrol again at next login."""
    if not ButtonForm().validate_on_submit():
        flash(_("The form has expired: try again."), "error")
        return redirect(url_for("totp.admin_users"), 303)
    name, removed = _reset(user_id)
    if removed:
        flash(_("The second factor of %(name)s is removed.", name=name), "ok")
    else:
        flash(_("%(name)s has no second factor.", name=name), "ok")
    return redirect(url_for("totp.admin_users"), 303)


# --------------------------------------------------------------------------- JSON API


def _status_json(state: totp.Status, required: bool) -> dict[str, Any]:
    return {"enrolled": state.enrolled, "pending": state.pending, "required": required,
            "recovery_codes_left": state.recovery_codes_left}


@bp.get("/api/v1/me/totp")
@session_only
@spec.validate(resp=Response(HTTP_200=TotpStatus), tags=["accounts"])
def api_status() -> ResponseReturnValue:
    """The caller's second factor: enrolled or not, required for their role or not."""
    with platform().db.session() as s:
        me = _me(s)
        return jsonify(_status_json(totp.status(s, me), totp.required_for(platform().settings, me.role)))


@bp.post("/api/v1/me/totp")
@session_only
@spec.validate(resp=Response(HTTP_201=TotpEnrolment), tags=["accounts"])
def api_enrol() -> ResponseReturnValue:
    """Start an enrolment: 201 with the secret, its ``otpauth://`` URI and the QR code (SVG data URI).
    The secret is in this answer only."""
    with platform().db.session() as s:
        enrolment = totp.start_enrolment(s, _me(s), box(), remote_addr())
    return jsonify(secret=enrolment.secret, uri=enrolment.uri, qr=qr_data_uri(enrolment.uri)), 201


@bp.post("/api/v1/me/totp/confirm")
@session_only
@spec.validate(json=CodeIn, resp=Response(HTTP_200=RecoveryCodes), tags=["accounts"])
def api_confirm() -> ResponseReturnValue:
    """``{"code": ...}``: activate the enrolment; 200 with the ten recovery codes (shown once)."""
    code = body(CodeIn).code
    with platform().db.session() as s:
        codes = totp.confirm_enrolment(s, _me(s), box(), code, remote_addr())
    if codes is None:
        return api_error(400, _(totp.WRONG_CODE))
    return jsonify(recovery_codes=codes)


@bp.post("/api/v1/me/totp/disable")
@session_only
@spec.validate(json=CodeIn, resp=Response(HTTP_204=None), tags=["accounts"])
def api_disable() -> ResponseReturnValue:
    """``{"code": ...}``: a current code or a recovery code; 204."""
    code = body(CodeIn).code
    with platform().db.session() as s:
        done = totp.disable(s, _me(s), box(), code, remote_addr())
    if not done:
        return api_error(400, _(totp.WRONG_CODE))
    return "", 204


@bp.post("/api/v1/me/totp/recovery-codes")
@session_only
@spec.validate(json=CodeIn, resp=Response(HTTP_201=RecoveryCodes), tags=["accounts"])
def api_recovery_codes() -> ResponseReturnValue:
    """``{"code": ...}``: a current code of the application; 201 with ten new recovery codes (shown
    once), the old ones no longer work; 400 for a wrong code."""
    code = body(CodeIn).code
    with platform().db.session() as s:
        codes = totp.regenerate_recovery_codes(s, _me(s), box(), code, remote_addr())
    if codes is None:
        return api_error(400, _(totp.WRONG_CODE))
    return jsonify(recovery_codes=codes), 201


@bp.delete("/api/v1/users/<int:user_id>/totp")
@api_scope("admin")
@requires("admin")
@spec.validate(resp=Response(HTTP_204=None), tags=["accounts"])
def api_admin_reset(user_id: int) -> ResponseReturnValue:
    """An admin removes a user's second factor (audited); 204, 404 for an unknown user."""
    _reset(user_id)
    return "", 204
