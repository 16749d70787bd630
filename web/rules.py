"""Detection rules in the console: the catalogue with filters, a rule with its source, ATT&CK tags,
settings, exceptions and history. Analysts read; responders and admins change (enable/disable,
severity override, false-positive exceptions), each change recorded with its author."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from cert.core.errors import InvalidInput, NotFound
from cert.detection import overrides as rules
from cert.detection.run import build_detectors
from web.access import actor, platform, remote_addr, requires

bp = Blueprint("rules", __name__, url_prefix="/rules")
PAGE = 100
MAX_SOURCE = 200_000
LEVELS = ("informational", "low", "medium", "high", "critical")


class EnabledForm(FlaskForm):
    enabled = SelectField(_l("State"), choices=[("on", _l("enabled")), ("off", _l("disabled"))])
    comment = StringField(_l("Comment"), validators=[Optional(), Length(max=500)])


class SeverityForm(FlaskForm):
    severity = SelectField(_l("Severity"), choices=[("", _l("rule's own level"))] + [(lv, lv) for lv in LEVELS])
    comment = StringField(_l("Comment"), validators=[Optional(), Length(max=500)])


class ExceptionForm(FlaskForm):
    field = StringField(_l("Event field"), validators=[DataRequired(), Length(max=200)])
    operator = SelectField(_l("Operator"), choices=[(o, o) for o in rules.OPERATORS])
    values = TextAreaField(_l("Values (one per line)"), validators=[DataRequired(), Length(max=20000)])
    comment = StringField(_l("Why (false positive)"), validators=[DataRequired(), Length(max=500)])


class RemoveForm(FlaskForm):
    comment = StringField(_l("Comment"), validators=[Optional(), Length(max=500)])


def _catalogue() -> list[dict[str, Any]]:
    return [r for engine in build_detectors(platform().settings) for r in engine.catalogue()]


def _find(rule_id: str) -> dict[str, Any]:
    for r in _catalogue():
        if r["id"] == rule_id:
            return r
    abort(404, description=_("No such rule."))


def _matches(r: dict[str, Any], q: str, provenance: str, level: str, state: str, disabled: set[str]) -> bool:
    if q and not any(q in str(r.get(k, "")).lower() for k in ("id", "title", "logsource", "tags", "source")):
        return False
    if provenance and r.get("provenance") != provenance:
        return False
    if level and r.get("level") != level:
        return False
    return not state or (state == "disabled") == (r["id"] in disabled)


@bp.get("/")
@requires("analyst")
def index() -> ResponseReturnValue:
    q = (request.args.get("q") or "").strip().lower()[:200]
    provenance = request.args.get("provenance") or ""
    level = request.args.get("level") or ""
    state = request.args.get("state") or ""
    page = max(1, request.args.get("page", 1, type=int) or 1)
    with platform().db.session() as s:
        settings = rules.settings_by_rule(s)
    disabled = {rid for rid, st in settings.items() if st.enabled is False}
    found = [r for r in _catalogue() if _matches(r, q, provenance, level, state, disabled)]
    found.sort(key=lambda r: (r.get("title") or "").lower())
    shown = found[(page - 1) * PAGE: page * PAGE]
    return render_template("rules.html", rules=shown, total=len(found), page=page,
                           pages=max(1, (len(found) + PAGE - 1) // PAGE), settings=settings,
                           q=q, provenance=provenance, level=level, state=state, levels=LEVELS)


@bp.get("/<rule_id>")
@requires("analyst")
def show(rule_id: str) -> ResponseReturnValue:
    r = _find(rule_id)
    with platform().db.session() as s:
        setting = rules.settings_by_rule(s).get(rule_id)
        exceptions = rules.exceptions_of(s, rule_id)
        history = rules.history(s, rule_id)
    try:
        source = Path(r["source"]).read_text(encoding="utf-8", errors="replace")[:MAX_SOURCE]
    except OSError:
        source = ""
    enabled = setting is None or setting.enabled is not False
    return render_template(
        "rule.html", rule=r, setting=setting, enabled=enabled, exceptions=exceptions, history=history,
        source=source, enabled_form=EnabledForm(enabled="off" if enabled else "on"),
        severity_form=SeverityForm(severity=(setting.severity if setting and setting.severity else "")),
        exception_form=ExceptionForm(), remove_form=RemoveForm())


def _back(rule_id: str) -> ResponseReturnValue:
    return redirect(url_for("rules.show", rule_id=rule_id), 303)


def _invalid(form: FlaskForm, rule_id: str) -> ResponseReturnValue:
    flash(_("Invalid form: %(errors)s", errors=form.errors), "error")
    return _back(rule_id)


@bp.post("/<rule_id>/enabled")
@requires("responder")
def set_enabled(rule_id: str) -> ResponseReturnValue:
    _find(rule_id)
    form = EnabledForm()
    if not form.validate_on_submit():
        return _invalid(form, rule_id)
    with platform().db.session() as s:
        rules.set_enabled(s, rule_id, form.enabled.data == "on", actor(), form.comment.data or "", remote_addr())
    flash(_("Rule enabled.") if form.enabled.data == "on" else _("Rule disabled."), "ok")
    return _back(rule_id)


@bp.post("/<rule_id>/severity")
@requires("responder")
def set_severity(rule_id: str) -> ResponseReturnValue:
    _find(rule_id)
    form = SeverityForm()
    if not form.validate_on_submit():
        return _invalid(form, rule_id)
    with platform().db.session() as s:
        rules.set_severity(s, rule_id, form.severity.data or None, actor(), form.comment.data or "", remote_addr())
    flash(_("Severity saved."), "ok")
    return _back(rule_id)


@bp.post("/<rule_id>/exceptions")
@requires("responder")
def add_exception(rule_id: str) -> ResponseReturnValue:
    _find(rule_id)
    form = ExceptionForm()
    if not form.validate_on_submit():
        return _invalid(form, rule_id)
    values = [v for v in (form.values.data or "").splitlines() if v.strip()]
    try:
        with platform().db.session() as s:
            rules.add_exception(s, rule_id, form.field.data or "", form.operator.data or "", values, actor(),
                                form.comment.data or "", remote_addr())
    except InvalidInput as exc:
        flash(str(exc), "error")
        return _back(rule_id)
    flash(_("Exception added: matching events no longer raise this rule."), "ok")
    return _back(rule_id)


@bp.post("/<rule_id>/exceptions/<int:exception_id>/delete")
@requires("responder")
def remove_exception(rule_id: str, exception_id: int) -> ResponseReturnValue:
    form = RemoveForm()
    if not form.validate_on_submit():
        return _invalid(form, rule_id)
    try:
        with platform().db.session() as s:
            rules.remove_exception(s, exception_id, actor(), form.comment.data or "", remote_addr())
    except NotFound:
        abort(404, description=_("No such exception."))
    flash(_("Exception removed."), "ok")
    return _back(rule_id)
