"""Administration: users, the audit trail, the dead-letter store."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from cert.accounts.users import check_organization, create_user
from cert.core.errors import InvalidInput
from cert.pipeline.health import dead_letter_counters, ingest_health, spool_status
from cert.storage import audit
from cert.storage.models import DeadLetter
from web.access import actor, platform, remote_addr, requires
from web.forms import UserForm
from web.users import chosen_organization, organization_choices, user_page

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users", methods=["GET", "POST"])
@requires("admin")
def users() -> ResponseReturnValue:
    """The accounts and their actions (web/users.py); a POST creates an account."""
    form = organization_choices(UserForm())
    if form.validate_on_submit():
        p = platform()
        try:
            organization = check_organization(form.role.data or "", chosen_organization(form), p.constituency)
        except InvalidInput as exc:
            form.organization.errors = [str(_(exc.message_id, **exc.params))]
            return user_page(form, 400)
        try:
            with p.db.session() as s:
                user = create_user(s, form.username.data or "", form.password.data or "", form.role.data or "analyst",
                                   actor(), remote_addr(), min_length=p.settings.password_min_length,
                                   organization=organization, constituency=p.constituency)
                name = user.username
        except InvalidInput as exc:
            form.password.errors = [str(_(exc.message_id, **exc.params))]
            return user_page(form, 400)
        flash(_("User %(name)s created.", name=name), "ok")
        return redirect(url_for("admin.users"), 303)
    return user_page(form, 400 if form.errors else 200)


@bp.get("/audit")
@requires("admin")
def audit_trail() -> ResponseReturnValue:
    with platform().db.session() as s:
        entries = audit.recent(s, 500)
    return render_template("audit.html", entries=entries)


@bp.get("/dead-letters")
@requires("analyst")
def dead_letters() -> ResponseReturnValue:
    """Ingest health per source (rate, lag, errors), dead-letter counters, the latest dead letters."""
    p = platform()
    with p.db.session() as s:
        health = ingest_health(s)
        counters = dead_letter_counters(s)[:300]
        recent = list(s.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(100)))
    spool = spool_status(p.settings) if p.settings.mode == "embedded" else None  # the console's data dir
    return render_template("dead_letters.html", health=health, counters=counters, recent=recent, spool=spool)
