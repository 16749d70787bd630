"""WTForms for the console (all carry a CSRF token through Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Optional

from cert.core.errors import N_, InvalidInput

TLP_CHOICES = [("clear", "TLP:CLEAR"), ("green", "TLP:GREEN"), ("amber", "TLP:AMBER"),
               ("amber+strict", "TLP:AMBER+STRICT"), ("red", "TLP:RED")]


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=300)])


class PromoteForm(FlaskForm):
    title = StringField(_l("Case title"), validators=[Length(max=300)])
    tlp = SelectField("TLP", choices=TLP_CHOICES, default="amber")


class BenignForm(FlaskForm):
    """Mark an anomaly alert as benign: why, and for how many days."""

    reason = TextAreaField(_l("Why is this normal?"), validators=[DataRequired(), Length(max=2000)])
    days = IntegerField(_l("Days"), validators=[Optional(), NumberRange(min=1, max=3650)])


class AcknowledgeForm(FlaskForm):
    """A button: the CSRF token only."""


class NoteForm(FlaskForm):
    text = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=20000)])


class StatusForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[("open", _l("open")), ("contained", _l("contained")),
                                                ("closed", _l("closed"))])


class TlpForm(FlaskForm):
    tlp = SelectField("TLP", choices=TLP_CHOICES)
    reason = StringField(_l("Reason (required to lower the TLP)"), validators=[Length(max=1000)])


class PlaybookForm(FlaskForm):
    playbook = SelectField(_l("Playbook"), choices=[])


ROLE_CHOICES = [("analyst", _l("analyst")), ("responder", _l("responder")), ("admin", _l("admin")),
                ("focal_point", _l("focal_point")), ("partner", _l("partner"))]


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=300)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    # a focal point's organisation (choices: the constituency's, set by the view; the service
    # checks the value, so that an unknown one gets its message) or a partner's CERT
    organization = SelectField(_l("Organisation (focal point)"), choices=[], validate_choice=False)
    partner = StringField(_l("Partner CERT (partner)"), validators=[Length(max=80)])


class UploadForm(FlaskForm):
    file = FileField(_l("File"), validators=[FileRequired()])


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=300)])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=300)])
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(), EqualTo("new", message=_l("The two new passwords differ."))])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    organization = SelectField(_l("Organisation (focal point)"), choices=[], validate_choice=False)
    partner = StringField(_l("Partner CERT (partner)"), validators=[Length(max=80)])


def form_problems(form: FlaskForm) -> str:
    """What is wrong with a submitted form, field by field, by the fields' labels."""
    problems = []
    for name, errors in form.errors.items():
        field = getattr(form, str(name), None)
        label = field.label.text if field is not None else str(name)
        problems.append(f"{label}: {', '.join(map(str, errors))}")
    return "; ".join(problems)


def require_valid(form: FlaskForm) -> None:
    """A submitted form (CSRF token included) that does not validate is a 400 saying why."""
    if not form.validate_on_submit():
        raise InvalidInput(N_("The form is not valid: %(problems)s"), problems=form_problems(form))


class DecisionForm(FlaskForm):
    """Approve or refuse a playbook step: the reason is audited."""

    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


class ReasonForm(FlaskForm):
    """A button with an optional reason (undo a response action, resume a run)."""

    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=2000)])
