"""Administration of API tokens: list, create (the secret is shown once, on this page only),
revoke. Admins only; CSRF on every form; creation and revocation are audited (cert.accounts.tokens)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from cert.accounts.tokens import create_token, list_tokens, revoke_token
from cert.core.errors import InvalidInput
from web.access import actor, platform, remote_addr, requires

bp = Blueprint("tokens", __name__, url_prefix="/admin/tokens")


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=80)])
    owner = StringField(_l("Owner"), validators=[DataRequired(), Length(max=80)])


class RevokeForm(FlaskForm):
    """Only the CSRF token."""


def _page(form: TokenForm, secret: str | None = None, created: str | None = None, status: int = 200
          ) -> ResponseReturnValue:
    with platform().db.session() as s:
        items = list_tokens(s)
    return render_template("tokens.html", tokens=items, form=form, revoke=RevokeForm(), secret=secret,
                           created=created), status


@bp.get("/")
@requires("admin")
def index() -> ResponseReturnValue:
    return _page(TokenForm())


@bp.post("/")
@requires("admin")
def create() -> ResponseReturnValue:
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        with platform().db.session() as s:
            token, secret = create_token(s, form.name.data or "", form.owner.data or "", actor(),
                                         remote_addr=remote_addr())
            name = token.name
    except InvalidInput as exc:
        form.name.errors = [*form.name.errors, str(exc)]
        return _page(form, status=400)
    # shown in this answer only: never flashed (the session cookie is signed, not encrypted)
    return _page(TokenForm(formdata=None), secret=secret, created=name, status=201)


@bp.post("/<name>/revoke")
@requires("admin")
def revoke(name: str) -> ResponseReturnValue:
    if not RevokeForm().validate_on_submit():
        return _page(TokenForm(formdata=None), status=400)
    with platform().db.session() as s:
        revoke_token(s, name, actor(), remote_addr())
    flash(_("Token %(name)s revoked.", name=name), "ok")
    return redirect(url_for("tokens.index"), 303)
