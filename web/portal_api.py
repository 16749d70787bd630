"""REST API of the focal-point portal (``/api/v1/portal/...``): what a focal point reads and does
in ``/portal/``, for its session or for an API token bound to its organisation (a token bound
to none gets 404; CERT staff 403). Reading needs ``read``, acknowledging ``triage``, commenting,
sending evidence and answering a countermeasure ``write``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from cert.core.errors import N_, InvalidInput
from cert.incidents import attachments
from cert.incidents.cases import get_case
from cert.incidents.countermeasures import ANSWERABLE
from cert.sharing import portal
from cert.storage.models import Attachment, CaseAcknowledgement, Comment, Countermeasure
from web.access import platform, requires
from web.api_auth import api_scope
from web.api_spec import Response, body, iso, query, spec
from web.portal import acknowledge, answer, comment, reader, upload
from web.schemas.portal import (
    AcknowledgementOut,
    AnswerIn,
    PortalAttachment,
    PortalComment,
    PortalCommentIn,
    PortalCountermeasure,
    PortalIncidentOut,
    PortalPage,
    PortalQuery,
)
from web.vocabulary import timeline_message

bp = Blueprint("portal_api", __name__, url_prefix="/api/v1/portal")
TAGS = ["portal"]


def _ack(row: CaseAcknowledgement | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"organization": row.organization, "acknowledged_by": row.acknowledged_by,
            "acknowledged_at": iso(row.acknowledged_at), "via": row.via}


def _summary(s: portal.Summary) -> dict[str, Any]:
    c = s.case
    return {"id": c.id, "title": s.title, "title_neutral": s.title_neutral, "status": c.status,
            "severity": c.severity, "tlp": c.tlp, "organization": c.organization, "created_at": iso(c.created_at),
            "acknowledged": s.acknowledged is not None, "acknowledgement": _ack(s.acknowledged)}


def _comment(c: Comment) -> dict[str, Any]:
    return {"id": c.id, "author": c.author, "text": c.body, "created_at": iso(c.created_at)}


def _countermeasure(c: Countermeasure) -> dict[str, Any]:
    return {"id": c.id, "kind": c.kind, "target": c.target, "organization": c.organization, "status": c.status,
            "comment": c.comment, "answerable": c.status in ANSWERABLE, "updated_at": iso(c.updated_at)}


def _attachment(a: Attachment) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "size": a.size, "sha256": a.sha256, "tlp": a.tlp,
            "uploaded_by": a.uploaded_by, "uploaded_at": iso(a.uploaded_at)}


def _out(model: type[Any], data: dict[str, Any], status: int = 200) -> ResponseReturnValue:
    return jsonify(model.model_validate(data).model_dump(mode="json")), status


@bp.get("/incidents")
@requires("admin", focal_points=True)
@api_scope("read")
@spec.validate(query=PortalQuery, resp=Response(HTTP_200=PortalPage), tags=TAGS)
def list_incidents() -> ResponseReturnValue:
    """The incidents of the reader's organisations, most recent first: status, severity, TLP,
    acknowledged or not, and the title as far as its marking allows."""
    q, who = query(PortalQuery), reader()
    with platform().db.session() as s:
        items, total = portal.incidents(s, who, platform().constituency, limit=q.limit, offset=q.offset,
                                        status=q.status or "")
        return _out(PortalPage, {"items": [_summary(i) for i in items], "total": total, "offset": q.offset,
                                 "limit": q.limit})


@bp.get("/incidents/<int:case_id>")
@requires("admin", focal_points=True)
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=PortalIncidentOut), tags=TAGS)
def get_incident(case_id: int) -> ResponseReturnValue:
    """One incident as far as each item's TLP allows: description, observables, timeline (in the
    reader's language), comments, the countermeasures requested of it, the evidence it may see."""
    who = reader()
    with platform().db.session() as s:
        seen = portal.view(s, case_id, who, platform().constituency)
        summary = portal.Summary(seen.case, seen.shared.title, seen.shared.title_neutral, seen.acknowledged)
        data = {
            **_summary(summary), "description": seen.shared.description, "acting_for": seen.acting_for.id,
            "items": [{"type": i.type, "value": i.value, "tlp": i.tlp.tag_value} for i in seen.items],
            "timeline": [{"at": iso(t.at), "actor": t.actor, "kind": t.kind,
                          "message": timeline_message(t.kind, t.message, t.data, t.message_id, t.params)}
                         for t in seen.timeline],
            "comments": [_comment(c) for c in seen.comments],
            "countermeasures": [_countermeasure(c) for c in seen.countermeasures],
            "attachments": [_attachment(a) for a in seen.attachments],
        }
        return _out(PortalIncidentOut, data)


@bp.post("/incidents/<int:case_id>/acknowledge")
@requires("admin", focal_points=True)
@api_scope("triage")
@spec.validate(resp=Response(HTTP_200=AcknowledgementOut, HTTP_201=AcknowledgementOut), tags=TAGS)
def acknowledge_incident(case_id: int) -> ResponseReturnValue:
    """Acknowledge the incident for the reader's organisation: 201 the first time, 200 with the
    standing acknowledgement after."""
    row, new, _org = acknowledge(case_id, "api")
    return _out(AcknowledgementOut, _ack(row) or {}, 201 if new else 200)


@bp.post("/incidents/<int:case_id>/comments")
@requires("admin", focal_points=True)
@api_scope("write")
@spec.validate(json=PortalCommentIn, resp=Response(HTTP_201=PortalComment), tags=TAGS)
def add_comment(case_id: int) -> ResponseReturnValue:
    """Comment on the incident: on its timeline as the organisation's comment, shown as typed."""
    return _out(PortalComment, _comment(comment(case_id, body(PortalCommentIn).text)), 201)


@bp.post("/incidents/<int:case_id>/evidence")
@requires("admin", focal_points=True)
@api_scope("write")
@spec.validate(resp=Response(HTTP_201=PortalAttachment), tags=TAGS)
def add_evidence(case_id: int) -> ResponseReturnValue:
    """Send evidence (``multipart/form-data``, field ``file``): kept with its SHA-256 and chain of
    custody, marked with the incident's TLP, scanned with YARA (a match is an alert for the CERT)."""
    sent = request.files.get("file")
    if sent is None:
        raise InvalidInput(N_("Send the file as the multipart/form-data field \"file\"."))
    done = upload(case_id, sent.filename or "", sent.stream)
    with platform().db.session() as s:
        att = attachments.get_attachment(s, get_case(s, case_id), done.attachment_id)
        return _out(PortalAttachment, _attachment(att), 201)


@bp.post("/incidents/<int:case_id>/countermeasures/<int:cm_id>/answer")
@requires("admin", focal_points=True)
@api_scope("write")
@spec.validate(json=AnswerIn, resp=Response(HTTP_200=PortalCountermeasure), tags=TAGS)
def answer_countermeasure(case_id: int, cm_id: int) -> ResponseReturnValue:
    """Answer a countermeasure requested of the reader's organisation: ``done``, or ``impossible``
    with a reason; 409 when it no longer awaits an answer."""
    given = body(AnswerIn)
    return _out(PortalCountermeasure, _countermeasure(answer(case_id, cm_id, given.status, given.reason)))
