"""Administration of API tokens: list, create (the secret is shown once, on this page only),
revoke. Admins only; CSRF on every form; creation and revocation are audited (cert.accounts.tokens).
The same actions over REST: web/api_tokens.py."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from cert.accounts.tokens import DEFAULT_LIFETIME, SCOPES, create_token, list_tokens, revoke_token, status
from cert.core.errors import InvalidInput
from web.access import actor, platform, remote_addr, requires

bp = Blueprint("tokens", __name__, url_prefix="/admin/tokens")


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=80)])
    owner = StringField(_l("Owner"), validators=[DataRequired(), Length(max=80)])
    scopes = SelectMultipleField(_l("Scopes"), default=["ingest"], widget=ListWidget(prefix_label=False),
                                 option_widget=CheckboxInput())
    organization = SelectField(_l("Organisation"), default="")
    expires = StringField(_l("Expires in"), default=DEFAULT_LIFETIME, validators=[Length(max=40)],
                          description=_l("90d, 12h, 26w, a date (YYYY-MM-DD) or never"))


class RevokeForm(FlaskForm):
    """Only the CSRF token."""


def _form(formdata: bool = True) -> TokenForm:
    form = TokenForm() if formdata else TokenForm(formdata=None)
    form.scopes.choices = [(name, f"{name}: {_(description)}") for name, description in SCOPES.items()]
    form.organization.choices = [("", _("none")), *((o.id, o.name) for o in platform().constituency.organizations)]
    return form


def _page(form: TokenForm, secret: str | None = None, created: str | None = None, status_code: int = 200,
          error: str | None = None) -> ResponseReturnValue:
    with platform().db.session() as s:
        items = [(t, status(t)) for t in list_tokens(s)]
    return render_template("tokens.html", tokens=items, form=form, revoke=RevokeForm(), secret=secret,
                           created=created, error=error), status_code


@bp.get("/")
@requires("admin")
def index() -> ResponseReturnValue:
    return _page(_form(formdata=False))


@bp.post("/")
@requires("admin")
def create() -> ResponseReturnValue:
    form = _form()
    if not form.validate_on_submit():
        return _page(form, status_code=400)
    p = platform()
    try:
        org = p.constituency.find(form.organization.data) if form.organization.data else None
        with p.db.session() as s:
            token, secret = create_token(s, form.name.data or "", form.owner.data or "", actor(),
                                         form.scopes.data or [], remote_addr(), org,
                                         form.expires.data or DEFAULT_LIFETIME)
            name = token.name
    except InvalidInput as exc:
        message = str(_(exc.message_id, **exc.params)) if exc.message_id else str(exc)
        return _page(form, status_code=400, error=message)
    # shown in this answer only: never flashed (the session cookie is signed, not encrypted)
    return _page(_form(formdata=False), secret=secret, created=name, status_code=201)


@bp.post("/<name>/revoke")
@requires("admin")
def revoke(name: str) -> ResponseReturnValue:
    if not RevokeForm().validate_on_submit():
        return _page(_form(formdata=False), status_code=400)
    with platform().db.session() as s:
        revoke_token(s, name, actor(), remote_addr())
    flash(_("Token %(name)s revoked.", name=name), "ok")
    return redirect(url_for("tokens.index"), 303)
