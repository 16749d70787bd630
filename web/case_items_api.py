"""REST API of what an incident is made of: its tasks, countermeasures, observables (with their
sightings), comments and attachments (with their chain of custody), under
``/api/v1/incidents/{id}/...``. Reading needs the ``read`` scope, changing ``write``; a token
bound to an organisation reaches only the incidents of its organisations (404 for the others).
These are CERT staff's routes: a focal point is refused them (403)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm import Session

from cert.core.errors import N_, InvalidInput
from cert.incidents import attachments, comments, countermeasures, observables, tasks
from cert.incidents.cases import get_case
from cert.incidents.edits import KEEP
from cert.storage.models import Attachment, Case, Comment, Countermeasure, CustodyEntry, Observable, Task
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.api_auth import api_scope
from web.api_spec import Response as ApiResponse
from web.api_spec import body, query, raw_answer, spec
from web.schemas.case_items import (
    AttachmentList,
    AttachmentOut,
    AttachmentQuery,
    CommentIn,
    CommentList,
    CommentOut,
    CountermeasureIn,
    CountermeasureList,
    CountermeasureOut,
    CountermeasurePatch,
    CustodyList,
    EventSightingsOut,
    ObservableIn,
    ObservableItem,
    ObservableList,
    ObservablePatch,
    TaskIn,
    TaskList,
    TaskOut,
    TaskPatch,
)

bp = Blueprint("case_items_api", __name__, url_prefix="/api/v1/incidents/<int:case_id>")
TAGS = ["incidents"]


def _case(s: Session, case_id: int) -> Case:
    return get_case(s, case_id, organizations=visible_scope().recorded)


def task_json(t: Task) -> dict[str, Any]:
    return {"id": t.id, "title": t.title, "description": t.description, "assignee": t.assignee, "status": t.status,
            "due_at": tasks.aware(t.due_at), "overdue": tasks.is_overdue(t), "position": t.position,
            "created_by": t.created_by, "created_at": tasks.aware(t.created_at), "done_at": tasks.aware(t.done_at)}


def countermeasure_json(c: Countermeasure) -> dict[str, Any]:
    return {"id": c.id, "kind": c.kind, "target": c.target, "organization": c.organization, "status": c.status,
            "comment": c.comment, "playbook_run_id": c.playbook_run_id, "created_by": c.created_by,
            "created_at": tasks.aware(c.created_at), "updated_at": tasks.aware(c.updated_at),
            "done_at": tasks.aware(c.done_at), "expires_at": tasks.aware(c.expires_at),
            "next_statuses": sorted(countermeasures.TRANSITIONS[c.status])}


def observable_json(o: Observable, seen: observables.Sighting) -> dict[str, Any]:
    return {"id": o.id, "type": o.type, "value": o.value, "tlp": o.tlp, "pap": o.pap, "ioc": o.ioc, "valid": o.valid,
            "invalid_reason": o.invalid_reason, "comment": o.comment, "created_by": o.created_by,
            "created_at": tasks.aware(o.created_at),
            "sightings": {"incidents": seen.incidents, "incident_ids": seen.incident_ids, "alerts": seen.alerts}}


def comment_json(c: Comment) -> dict[str, Any]:
    return {"id": c.id, "author": c.author, "text": c.body, "created_at": tasks.aware(c.created_at),
            "edited_at": tasks.aware(c.edited_at)}


def custody_json(e: CustodyEntry) -> dict[str, Any]:
    return {"at": tasks.aware(e.at), "actor": e.actor, "action": e.action, "remote_addr": e.remote_addr,
            "sha256": e.sha256}


def attachment_json(a: Attachment, chain: list[CustodyEntry]) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "size": a.size, "sha256": a.sha256, "content_type": a.content_type,
            "tlp": a.tlp, "uploaded_by": a.uploaded_by, "uploaded_at": tasks.aware(a.uploaded_at),
            "removed_at": tasks.aware(a.deleted_at), "scan": dict(a.scan or {}),
            "custody": [custody_json(e) for e in chain]}


def _out(model: type[Any], data: dict[str, Any], status: int = 200) -> ResponseReturnValue:
    return jsonify(model.model_validate(data).model_dump(mode="json")), status


# ---- tasks ----------------------------------------------------------------------------------------

@bp.get("/tasks")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=ApiResponse(HTTP_200=TaskList), tags=TAGS)
def list_tasks(case_id: int) -> ResponseReturnValue:
    """The incident's tasks in their order, each with its overdue flag."""
    with platform().db.session() as s:
        case = _case(s, case_id)
        return _out(TaskList, {"items": [task_json(t) for t in tasks.list_tasks(s, case.id)]})


@bp.post("/tasks")
@requires("analyst")
@api_scope("write")
@spec.validate(json=TaskIn, resp=ApiResponse(HTTP_201=TaskOut), tags=TAGS)
def add_task(case_id: int) -> ResponseReturnValue:
    """Add a task: title, description, assignee (an active account), due date with its time zone."""
    given = body(TaskIn)
    with platform().db.session() as s:
        task = tasks.add_task(s, _case(s, case_id), actor(), given.title, given.description,
                              assignee=given.assignee, due_at=given.due_at, remote_addr=remote_addr())
        return _out(TaskOut, task_json(task), 201)


@bp.patch("/tasks/<int:task_id>")
@requires("analyst")
@api_scope("write")
@spec.validate(json=TaskPatch, resp=ApiResponse(HTTP_200=TaskOut), tags=TAGS)
def update_task(case_id: int, task_id: int) -> ResponseReturnValue:
    """Change a task's fields (those left out keep their value; ``null`` clears the assignee or
    the due date), its status (open, in-progress, done, cancelled) or its place in the list."""
    given = body(TaskPatch)
    fields = given.model_fields_set
    for name in ("title", "description", "status"):
        if name in fields and getattr(given, name) is None:
            raise InvalidInput(N_("%(field)s cannot be null."), field=name)
    with platform().db.session() as s:
        case = _case(s, case_id)
        task = tasks.update_task(
            s, case, task_id, actor(),
            title=given.title if given.title is not None else KEEP,
            description=given.description if given.description is not None else KEEP,
            assignee=given.assignee if "assignee" in fields else KEEP,
            due_at=given.due_at if "due_at" in fields else KEEP,
            status=given.status if given.status is not None else KEEP, remote_addr=remote_addr())
        if given.position is not None:
            ids = [t.id for t in tasks.list_tasks(s, case.id)]
            tasks.move_task(s, case, task.id, actor(), offset=given.position - ids.index(task.id))
        return _out(TaskOut, task_json(task))


@bp.delete("/tasks/<int:task_id>")
@requires("analyst")
@api_scope("write")
@spec.validate(resp=ApiResponse("HTTP_204"), tags=TAGS)
def delete_task(case_id: int, task_id: int) -> ResponseReturnValue:
    """Delete a task (the timeline keeps that it was)."""
    with platform().db.session() as s:
        tasks.delete_task(s, _case(s, case_id), task_id, actor(), remote_addr())
    return "", 204


# ---- countermeasures ------------------------------------------------------------------------------

@bp.get("/countermeasures")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=ApiResponse(HTTP_200=CountermeasureList), tags=TAGS)
def list_countermeasures(case_id: int) -> ResponseReturnValue:
    """The incident's countermeasures, each with the statuses it may go to next."""
    with platform().db.session() as s:
        case = _case(s, case_id)
        items = [countermeasure_json(c) for c in countermeasures.list_countermeasures(s, case.id)]
        return _out(CountermeasureList, {"items": items})


@bp.post("/countermeasures")
@requires("analyst")
@api_scope("write")
@spec.validate(json=CountermeasureIn, resp=ApiResponse(HTTP_201=CountermeasureOut), tags=TAGS)
def add_countermeasure(case_id: int) -> ResponseReturnValue:
    """Record a countermeasure: its kind, a target of that kind (an IP address to block, a domain
    to sinkhole...), the organisation that acts, its status and a comment."""
    given = body(CountermeasureIn)
    with platform().db.session() as s:
        cm = countermeasures.record_countermeasure(
            s, _case(s, case_id), actor(), given.kind, given.target, constituency=platform().constituency,
            organization=given.organization, status=given.status, comment=given.comment,
            remote_addr=remote_addr())
        return _out(CountermeasureOut, countermeasure_json(cm), 201)


@bp.patch("/countermeasures/<int:cm_id>")
@requires("analyst")
@api_scope("write")
@spec.validate(json=CountermeasurePatch, resp=ApiResponse(HTTP_200=CountermeasureOut), tags=TAGS)
def update_countermeasure(case_id: int, cm_id: int) -> ResponseReturnValue:
    """Move a countermeasure to another status (409 when its status does not allow it; failed and
    impossible need a comment), change its comment or the organisation that acts."""
    given = body(CountermeasurePatch)
    with platform().db.session() as s:
        case = _case(s, case_id)
        cm = countermeasures.get_countermeasure(s, case, cm_id)
        if "organization" in given.model_fields_set:
            countermeasures.set_organization(s, case, cm_id, given.organization, actor(),
                                             constituency=platform().constituency, remote_addr=remote_addr())
        cm = countermeasures.change_status(s, case, cm_id, given.status or cm.status, actor(), given.comment or "",
                                           remote_addr())
        return _out(CountermeasureOut, countermeasure_json(cm))


@bp.delete("/countermeasures/<int:cm_id>")
@requires("analyst")
@api_scope("write")
@spec.validate(resp=ApiResponse("HTTP_204"), tags=TAGS)
def delete_countermeasure(case_id: int, cm_id: int) -> ResponseReturnValue:
    """Withdraw a countermeasure still only proposed (409 for one acted upon)."""
    with platform().db.session() as s:
        countermeasures.delete_countermeasure(s, _case(s, case_id), cm_id, actor(), remote_addr())
    return "", 204


# ---- observables ----------------------------------------------------------------------------------

@bp.get("/observables")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=ApiResponse(HTTP_200=ObservableList), tags=TAGS)
def list_observables(case_id: int) -> ResponseReturnValue:
    """The incident's observables, each with its sightings: the other incidents holding it, the
    alerts from that address."""
    orgs = visible_scope().recorded
    with platform().db.session() as s:
        case = _case(s, case_id)
        items = list(case.observables)
        seen = observables.sightings(s, case, items, organizations=orgs)
        return _out(ObservableList, {"items": [observable_json(o, seen[o.id]) for o in items]})


@bp.post("/observables")
@requires("analyst")
@api_scope("write")
@spec.validate(json=ObservableIn, resp=ApiResponse(HTTP_201=ObservableItem), tags=TAGS)
def add_observable(case_id: int) -> ResponseReturnValue:
    """Add an observable by hand: a value that is not one of its type is refused (400), one the
    incident holds already too (409)."""
    given = body(ObservableIn)
    orgs = visible_scope().recorded
    with platform().db.session() as s:
        case = _case(s, case_id)
        obs = observables.add_by_hand(s, case, actor(), given.type, given.value, tlp=given.tlp, ioc=given.ioc,
                                      comment=given.comment, remote_addr=remote_addr())
        seen = observables.sightings(s, case, [obs], organizations=orgs)
        return _out(ObservableItem, observable_json(obs, seen[obs.id]), 201)


@bp.patch("/observables/<int:observable_id>")
@requires("analyst")
@api_scope("write")
@spec.validate(json=ObservablePatch, resp=ApiResponse(HTTP_200=ObservableItem), tags=TAGS)
def update_observable(case_id: int, observable_id: int) -> ResponseReturnValue:
    """Change an observable's TLP, PAP, IOC flag or comment."""
    given = body(ObservablePatch)
    orgs = visible_scope().recorded
    with platform().db.session() as s:
        case = _case(s, case_id)
        obs = observables.update_observable(
            s, case, observable_id, actor(), tlp=given.tlp if given.tlp is not None else KEEP,
            pap=given.pap if given.pap is not None else KEEP, ioc=given.ioc if given.ioc is not None else KEEP,
            comment=given.comment if given.comment is not None else KEEP, remote_addr=remote_addr())
        seen = observables.sightings(s, case, [obs], organizations=orgs)
        return _out(ObservableItem, observable_json(obs, seen[obs.id]))


@bp.delete("/observables/<int:observable_id>")
@requires("analyst")
@api_scope("write")
@spec.validate(resp=ApiResponse("HTTP_204"), tags=TAGS)
def remove_observable(case_id: int, observable_id: int) -> ResponseReturnValue:
    """Remove an observable from the incident."""
    with platform().db.session() as s:
        observables.remove_observable(s, _case(s, case_id), observable_id, actor(), remote_addr())
    return "", 204


@bp.get("/observables/<int:observable_id>/sightings")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=ApiResponse(HTTP_200=EventSightingsOut), tags=TAGS)
def observable_sightings(case_id: int, observable_id: int) -> ResponseReturnValue:
    """Where else an observable was seen, the stored events included: how many carry it, per ECS
    field (this reads the event store: asked for one observable at a time)."""
    orgs = visible_scope().recorded
    with platform().db.session() as s:
        case = _case(s, case_id)
        obs = observables.get_observable(s, case, observable_id)
        seen = observables.sightings(s, case, [obs], organizations=orgs)[obs.id]
        counted = observables.event_sightings(platform().events, obs)
        return _out(EventSightingsOut, {"observable_id": obs.id, "events": counted.total,
                                        "by_field": counted.by_field, "incidents": seen.incidents,
                                        "incident_ids": seen.incident_ids, "alerts": seen.alerts})


# ---- comments -------------------------------------------------------------------------------------

@bp.get("/comments")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=ApiResponse(HTTP_200=CommentList), tags=TAGS)
def list_comments(case_id: int) -> ResponseReturnValue:
    """The incident's comments, oldest first."""
    with platform().db.session() as s:
        case = _case(s, case_id)
        return _out(CommentList, {"items": [comment_json(c) for c in comments.list_comments(s, case.id)]})


@bp.post("/comments")
@requires("analyst")
@api_scope("write")
@spec.validate(json=CommentIn, resp=ApiResponse(HTTP_201=CommentOut), tags=TAGS)
def add_comment(case_id: int) -> ResponseReturnValue:
    """Comment on the incident (the comment also goes on its timeline)."""
    given = body(CommentIn)
    with platform().db.session() as s:
        comment = comments.add_comment(s, _case(s, case_id), actor(), given.text, remote_addr())
        return _out(CommentOut, comment_json(comment), 201)


@bp.patch("/comments/<int:comment_id>")
@requires("analyst")
@api_scope("write")
@spec.validate(json=CommentIn, resp=ApiResponse(HTTP_200=CommentOut), tags=TAGS)
def edit_comment(case_id: int, comment_id: int) -> ResponseReturnValue:
    """Edit one's own comment (403 for another's)."""
    given = body(CommentIn)
    with platform().db.session() as s:
        comment = comments.edit_comment(s, _case(s, case_id), comment_id, actor(), given.text, remote_addr())
        return _out(CommentOut, comment_json(comment))


@bp.delete("/comments/<int:comment_id>")
@requires("analyst")
@api_scope("write")
@spec.validate(resp=ApiResponse("HTTP_204"), tags=TAGS)
def delete_comment(case_id: int, comment_id: int) -> ResponseReturnValue:
    """Delete one's own comment (an administrator: any)."""
    with platform().db.session() as s:
        comments.delete_comment(s, _case(s, case_id), comment_id, actor(), str(current_user.role), remote_addr())
    return "", 204


# ---- attachments ----------------------------------------------------------------------------------

@bp.get("/attachments")
@requires("analyst")
@api_scope("read")
@spec.validate(query=AttachmentQuery, resp=ApiResponse(HTTP_200=AttachmentList), tags=TAGS)
def list_attachments(case_id: int) -> ResponseReturnValue:
    """The incident's attachments with their SHA-256 and chain of custody."""
    removed = query(AttachmentQuery).removed
    with platform().db.session() as s:
        case = _case(s, case_id)
        items = attachments.list_attachments(s, case.id, removed=removed)
        chains = attachments.custody(s, [a.id for a in items])
        return _out(AttachmentList, {"items": [attachment_json(a, chains[a.id]) for a in items]})


@bp.post("/attachments")
@requires("analyst")
@api_scope("write")
@spec.validate(resp=ApiResponse(HTTP_201=AttachmentOut), tags=TAGS)
def upload_attachment(case_id: int) -> ResponseReturnValue:
    """Attach a file (``multipart/form-data``: ``file``, and ``tlp``, the incident's when none): it is
    stored outside the web root, hashed, scanned with YARA; its custody starts with ``added``."""
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput(N_("Send the file as the multipart/form-data field \"file\"."))
    tlp = request.form.get("tlp") or None
    done = attachments.attach(platform(), case_id, upload.filename or "", upload.stream, actor(), remote_addr(),
                              tlp=tlp, organizations=visible_scope().recorded)
    with platform().db.session() as s:
        att = attachments.get_attachment(s, get_case(s, case_id), done.attachment_id)
        return _out(AttachmentOut, attachment_json(att, attachments.custody(s, [att.id])[att.id]), 201)


@bp.get("/attachments/<int:attachment_id>/custody")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=ApiResponse(HTTP_200=CustodyList), tags=TAGS)
def attachment_custody(case_id: int, attachment_id: int) -> ResponseReturnValue:
    """The chain of custody of an attachment (removed ones included): who added, downloaded or
    removed it, when and from where, and downloads refused because the file had changed."""
    with platform().db.session() as s:
        att = attachments.get_attachment(s, _case(s, case_id), attachment_id, removed=True)
        return _out(CustodyList, {"items": [custody_json(e) for e in attachments.custody(s, [att.id])[att.id]]})


@bp.get("/attachments/<int:attachment_id>/download")
@requires("analyst")
@api_scope("read")
@raw_answer("application/octet-stream", description="The file as it was attached (its SHA-256 checked first); "
            "a file changed since is refused with 409.")
def download_attachment(case_id: int, attachment_id: int) -> ResponseReturnValue:
    """Download an attachment (``application/octet-stream``); the download goes into its chain of
    custody. A file whose SHA-256 no longer matches is refused (409), and the refusal recorded."""
    return file_response(attachments.open_download(platform(), case_id, attachment_id, actor(), remote_addr(),
                                                   organizations=visible_scope().recorded))


@bp.delete("/attachments/<int:attachment_id>")
@requires("analyst")
@api_scope("write")
@spec.validate(resp=ApiResponse("HTTP_204"), tags=TAGS)
def remove_attachment(case_id: int, attachment_id: int) -> ResponseReturnValue:
    """Take an attachment off the incident (the file is kept as evidence; custody ``removed``)."""
    with platform().db.session() as s:
        attachments.remove_attachment(s, _case(s, case_id), attachment_id, actor(), remote_addr())
    return "", 204


def file_response(download: attachments.Download) -> Response:
    """A checked attachment streamed as a download: never rendered by the browser."""
    resp = Response(stream_with_context(download.chunks()), mimetype="application/octet-stream")
    resp.headers["Content-Disposition"] = f'attachment; filename="{attachments.safe_name(download.name)}"'
    resp.headers["Content-Length"] = str(download.size)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Vigie-SHA256"] = download.sha256
    return resp
