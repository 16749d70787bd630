"""REST API of the documents: ``GET /api/v1/incidents/{id}/report`` and
``GET /api/v1/reports/monthly``, answering the PDF (``application/pdf``) or the HTML
(``text/html``) itself; errors are JSON like every other route."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from web.access import requires, visible_scope
from web.api_auth import api_scope
from web.api_spec import Response, query, spec
from web.documents.build import incident_report, monthly_report
from web.documents.views import send
from web.schemas.documents import IncidentReportQuery, MonthlyReportQuery

bp = Blueprint("documents_api", __name__, url_prefix="/api/v1")

_BINARY = {"application/pdf": {"schema": {"type": "string", "contentMediaType": "application/pdf"}},
           "text/html": {"schema": {"type": "string", "contentMediaType": "text/html"}}}


class DocumentResponse(Response):
    """A 200 whose body is the document itself, PDF or HTML, not JSON: described with both media
    types in the OpenAPI description, and not validated as JSON."""

    def __init__(self, description: str) -> None:
        super().__init__(HTTP_200=(None, description))

    def generate_spec(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        responses = super().generate_spec(*args, **kwargs)
        responses["200"]["content"] = dict(_BINARY)
        return responses


def _lang(wanted: str | None) -> str:
    return wanted or str(get_locale() or "fr")


@bp.get("/incidents/<int:case_id>/report")
@requires("analyst", focal_points=True)
@api_scope("read")
@spec.validate(query=IncidentReportQuery, resp=DocumentResponse("The report (PDF or HTML), marked with its TLP "
                                                                "on every page; its TLP in the X-TLP header."),
               tags=["documents"])
def incident_report_document(case_id: int) -> ResponseReturnValue:
    """An incident's report, PDF or HTML, in French or English, at its TLP or a lower recipient ceiling
    (audited)."""
    q = query(IncidentReportQuery)
    return send(incident_report(case_id, q.format, _lang(q.lang), q.tlp, visible_scope()))


@bp.get("/reports/monthly")
@requires("analyst", focal_points=True)
@api_scope("read")
@spec.validate(query=MonthlyReportQuery, resp=DocumentResponse("The monthly activity report (PDF or HTML), "
                                                               "marked with its TLP on every page."),
               tags=["documents"])
def monthly_report_document() -> ResponseReturnValue:
    """The monthly activity report of an organisation or of the whole constituency, PDF or HTML (audited)."""
    q = query(MonthlyReportQuery)
    return send(monthly_report(q.month, q.organization, q.format, _lang(q.lang), q.tlp, visible_scope()))
