"""Console routes of the documents: an incident's report (``/cases/<id>/report.pdf`` and ``.html``,
``?lang=fr|en&tlp=<recipient ceiling>``) and the monthly activity report (a form at
``/reports/monthly``, the documents at ``/reports/monthly.pdf`` and ``.html``)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from cert.core.tlp import TLP
from cert.incidents.activity import Month
from web.access import platform, requires, visible_scope
from web.documents.build import Document, incident_report, monthly_report

bp = Blueprint("documents", __name__)


def send(document: Document) -> Response:
    """The document as a download; an HTML document keeps the console's CSP (no script at all)."""
    resp = Response(document.body, content_type=document.mimetype)
    disposition = "attachment" if document.mimetype == "application/pdf" else "inline"
    resp.headers["Content-Disposition"] = f'{disposition}; filename="{document.filename}"'
    resp.headers["X-TLP"] = document.tlp.label
    return resp


def reader_language() -> str:
    lang = request.args.get("lang") or str(get_locale() or "fr")
    return lang


def _arg(name: str) -> str | None:
    value = request.args.get(name, "").strip()
    return value or None


@bp.get("/cases/<int:case_id>/report.pdf")
@requires("analyst", focal_points=True)
def incident_pdf(case_id: int) -> ResponseReturnValue:
    """The incident's report as PDF, every page marked with its TLP."""
    return send(incident_report(case_id, "pdf", reader_language(), _arg("tlp"), visible_scope()))


@bp.get("/cases/<int:case_id>/report.html")
@requires("analyst", focal_points=True)
def incident_html(case_id: int) -> ResponseReturnValue:
    """The incident's report as an HTML page (printable)."""
    return send(incident_report(case_id, "html", reader_language(), _arg("tlp"), visible_scope()))


@bp.get("/reports/monthly")
@requires("analyst", focal_points=True)
def monthly_form() -> ResponseReturnValue:
    """The form of the monthly activity report: month, organisation, language, TLP."""
    scope = visible_scope()
    organizations = [o for o in platform().constituency.organizations if scope.ids is None or o.id in scope.ids]
    return render_template("documents/monthly_form.html", month=str(Month.previous()), organizations=organizations,
                           whole=scope.ids is None, levels=list(TLP),
                           lang=str(get_locale() or "fr"))


@bp.get("/reports/monthly.pdf")
@requires("analyst", focal_points=True)
def monthly_pdf() -> ResponseReturnValue:
    """The monthly activity report as PDF."""
    return send(monthly_report(_arg("month"), _arg("organization"), "pdf", reader_language(), _arg("tlp"),
                               visible_scope()))


@bp.get("/reports/monthly.html")
@requires("analyst", focal_points=True)
def monthly_html() -> ResponseReturnValue:
    """The monthly activity report as an HTML page (printable)."""
    return send(monthly_report(_arg("month"), _arg("organization"), "html", reader_language(), _arg("tlp"),
                               visible_scope()))
