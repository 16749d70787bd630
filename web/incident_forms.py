"""Forms of the incident pages: open by hand, edit, close, reopen, merge, templates. Choices that
come from data (users, organisations, templates, the RSIT taxonomy) are set by ``fill``."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from cert.accounts.access import STAFF_ROLES
from cert.constituency.directory import Constituency
from cert.incidents import rsit
from cert.incidents.lifecycle import RESOLUTIONS
from cert.incidents.templates import list_templates, name_in
from cert.storage.models import User
from web.forms import TLP_CHOICES

SEVERITY_CHOICES = [("informational", _l("informational")), ("low", _l("low")), ("medium", _l("medium")),
                    ("high", _l("high")), ("critical", _l("critical"))]
PAP_CHOICES = [("clear", "PAP:CLEAR"), ("green", "PAP:GREEN"), ("amber", "PAP:AMBER"), ("red", "PAP:RED")]


def rsit_choices(empty: str) -> dict[str, list[tuple[str, str]]]:
    """The RSIT types grouped by class, in the reader's language (a grouped select)."""
    groups: dict[str, list[tuple[str, str]]] = {"—": [("", empty)]}
    for klass in rsit.TAXONOMY:
        groups[_(klass.label)] = [(t.value, _(t.label)) for t in klass.types]
    return groups


class IncidentFields(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)])
    description = TextAreaField(_l("Description"), validators=[Length(max=100_000)])
    severity = SelectField(_l("Severity"), choices=SEVERITY_CHOICES, default="medium")
    pap = SelectField("PAP", choices=PAP_CHOICES, default="amber")
    rsit = SelectField(_l("RSIT class"), choices=[], validate_choice=False)
    attack = StringField(_l("ATT&CK techniques (T1110, T1059.001)"), validators=[Length(max=1000)])
    organizations = SelectMultipleField(_l("Affected organisations (the first is primary)"), choices=[],
                                        validate_choice=False)
    assignee = SelectField(_l("Assignee"), choices=[], validate_choice=False)

    def fill(self, s: Session, constituency: Constituency) -> None:
        self.rsit.choices = rsit_choices(_("Unclassified"))
        self.organizations.choices = [(o.name, o.name) for o in constituency.organizations]
        users = s.scalars(select(User.username).where(User.active.is_(True), User.deleted_at.is_(None),
                                                      User.role.in_(STAFF_ROLES)).order_by(User.username))
        self.assignee.choices = [("", _("Nobody"))] + [(u, u) for u in users]


class NewIncidentForm(IncidentFields):
    template = SelectField(_l("Template"), choices=[], validate_choice=False)
    severity = SelectField(_l("Severity"), choices=[], validate_choice=False)
    tlp = SelectField("TLP", choices=[], validate_choice=False)
    pap = SelectField("PAP", choices=[], validate_choice=False)

    def fill(self, s: Session, constituency: Constituency, lang: str = "fr") -> None:
        super().fill(s, constituency)
        self.rsit.choices = rsit_choices(_("From the template, else unclassified"))
        from_template = ("", _("From the template"))
        self.template.choices = [("", _("None"))] + [(t.key, name_in(t, lang)) for t in list_templates(s)]
        self.severity.choices = [from_template, *SEVERITY_CHOICES]
        self.tlp.choices = [from_template, *TLP_CHOICES]
        self.pap.choices = [from_template, *PAP_CHOICES]


class CloseForm(FlaskForm):
    resolution = SelectField(_l("Resolution"), choices=[("", "—")] + [(k, _l(v)) for k, v in RESOLUTIONS.items()],
                             validate_choice=False)
    comment = TextAreaField(_l("Comment"), validators=[Length(max=10_000)])


class ButtonForm(FlaskForm):
    """A button: the CSRF token only."""


class MergeForm(FlaskForm):
    source = IntegerField(_l("Incident to merge into this one (#)"),
                          validators=[DataRequired(), NumberRange(min=1, max=2**63 - 1)])


class PublishForm(FlaskForm):
    """Publish the incident to the partners ticked (their ids; the view checks each)."""

    partners = SelectMultipleField(_l("Partners"), choices=[], validate_choice=False,
                                   widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())


class TemplateForm(FlaskForm):
    key = StringField(_l("Key"), validators=[DataRequired(), Length(max=80)])
    name_fr = StringField(_l("Name in French"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=200)])
    rsit = SelectField(_l("RSIT class"), choices=[], validate_choice=False)
    severity = SelectField(_l("Severity"), choices=SEVERITY_CHOICES, default="medium")
    tlp = SelectField("TLP", choices=TLP_CHOICES, default="amber")
    pap = SelectField("PAP", choices=PAP_CHOICES, default="amber")
    tasks = TextAreaField(_l("Tasks, one a line: due hours | title in French | title in English"),
                          validators=[Length(max=50_000)])
    playbooks = StringField(_l("Playbooks (ids, separated by commas)"), validators=[Optional(), Length(max=2000)])
