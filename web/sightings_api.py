"""Partners' sightings of an incident's observables: for each observable, who among the partners
(their MISP feeds, their TAXII collections) saw the value, when first and last, how many times."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from cert.core.errors import InvalidInput
from cert.core.observables import normalize
from cert.incidents.cases import get_case
from cert.sharing.sightings import sightings_for
from web.access import platform, requires, visible_scope
from web.api_auth import api_scope
from web.api_spec import Response, iso, spec
from web.schemas.sightings import SightingList

bp = Blueprint("sightings_api", __name__, url_prefix="/api/v1")


def _key(type_: str, value: str) -> tuple[str, str] | None:
    try:
        return normalize(type_, value)
    except InvalidInput:
        return None


@bp.get("/incidents/<int:case_id>/sightings")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=SightingList), tags=["sharing"])
def incident_sightings(case_id: int) -> ResponseReturnValue:
    """Each observable of the incident with the partners' sightings of its value, most recent first."""
    with platform().db.session() as s:
        case = get_case(s, case_id, organizations=visible_scope().recorded)
        observables = [(o.type, o.value) for o in sorted(case.observables, key=lambda o: o.id)]
        found = sightings_for(s, observables)
        items = []
        for type_, value in observables:
            key = _key(type_, value)
            rows = found.get(key, []) if key is not None else []
            summary = (_("Seen %(count)s time(s) by %(sources)s source(s).", count=sum(r.count for r in rows),
                         sources=len({r.source for r in rows})) if rows else _("Not seen by partners."))
            items.append({"type": type_, "value": value, "summary": summary,
                          "sightings": [{"source": r.source, "organization": r.organization, "count": r.count,
                                         "first_seen": iso(r.first_seen), "last_seen": iso(r.last_seen)}
                                        for r in rows]})
    return jsonify({"items": items})
