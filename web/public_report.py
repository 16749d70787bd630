"""The public report form (/report): anyone, with no account, reports an incident to the CERT
and is answered with a ticket number. Rate-limited per client address, validated, CSRF-protected;
an optional file (size-limited, hashed). What is written is stored as plain text and shown to
analysts escaped, like every report."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import EmailField, Field, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from cert.core.errors import InvalidInput
from cert.incidents.mail_parse import normal_address
from cert.incidents.public_reports import PublicReport, allowed, file_report
from cert.incidents.reports import MAX_SUBJECT
from cert.incidents.tickets import report_ticket
from web.access import platform, remote_addr

bp = Blueprint("public_report", __name__)

MAX_DESCRIPTION = 20000


class PublicReportForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[Optional(), Length(max=200)])
    email = EmailField(_l("Your e-mail address"), validators=[Optional(), Length(max=320)])
    organization = StringField(_l("Your organisation (ministry, company...)"), validators=[Optional(),
                                                                                         Length(max=200)])
    subject = StringField(_l("What happened, in one line"), validators=[DataRequired(), Length(max=MAX_SUBJECT)])
    description = TextAreaField(_l("Description"), validators=[DataRequired(), Length(max=MAX_DESCRIPTION)])
    attachment = FileField(_l("A file (optional): a screenshot, a suspicious message..."))

    def validate_email(self, field: Field) -> None:
        if field.data and not normal_address(field.data):
            raise ValidationError(_("This is not an e-mail address."))


@bp.route("/report", methods=["GET", "POST"])
def form() -> ResponseReturnValue:
    """The form; on a valid submission, the ticket number of the report filed."""
    form = PublicReportForm()
    limit_mb = platform().settings.intake_form_max_file_mb
    if not form.is_submitted():
        return render_template("public_report.html", form=form, limit_mb=limit_mb)
    with platform().db.session() as s:
        until = allowed(s, remote_addr(), platform().settings.intake_form_per_hour)
    if until is not None:
        message = _("Too many reports from your address: try again after %(when)s.",
                    when=format_datetime(until, "short"))
        return render_template("public_report.html", form=form, limit_mb=limit_mb, errors=[message]), 429
    if not form.validate():
        errors = [f"{getattr(form, str(name)).label.text}: {', '.join(map(str, problems))}"
                  if name != "csrf_token" else _("The form expired: reload the page and send it again.")
                  for name, problems in form.errors.items()]
        return render_template("public_report.html", form=form, limit_mb=limit_mb, errors=errors), 400
    draft = PublicReport(form.subject.data or "", form.description.data or "", form.name.data or "",
                         form.email.data or "", form.organization.data or "")
    upload = form.attachment.data
    given = (upload.filename or "upload", upload.stream) if upload and upload.filename else None
    try:
        with platform().db.session() as s:
            report, stored = file_report(s, platform().settings, draft, remote_addr(), given)
            ticket, sha256 = report_ticket(report.id), stored.sha256 if stored else ""
    except InvalidInput as exc:
        return render_template("public_report.html", form=form, limit_mb=limit_mb,
                               errors=[_(exc.message_id, **exc.params)]), 400
    return render_template("public_report_sent.html", ticket=ticket, sha256=sha256), 201
