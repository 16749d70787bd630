"""Comments on an incident: written by an analyst, edited or deleted by their author (an
administrator may delete any). Each also goes on the timeline, the text as a value of the entry
(never as its message id), so that it is shown as typed, escaped, in every language."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.accounts.access import has_role
from cert.core.errors import N_, Forbidden, InvalidInput, NotFound
from cert.incidents.cases import add_timeline
from cert.storage import audit
from cert.storage.models import Case, Comment

MAX_BODY = 20000


def _body(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput(N_("A comment cannot be empty."))
    if len(text) > MAX_BODY:
        raise InvalidInput(N_("A comment is at most %(max)s characters."), max=MAX_BODY)
    return text


def list_comments(s: Session, case_id: int) -> list[Comment]:
    return list(s.scalars(select(Comment).where(Comment.case_id == case_id).order_by(Comment.id)))


def get_comment(s: Session, case: Case, comment_id: int) -> Comment:
    comment = s.get(Comment, comment_id)
    if comment is None or comment.case_id != case.id:
        raise NotFound(N_("Incident #%(case)s has no comment #%(id)s."), case=case.id, id=comment_id)
    return comment


def add_comment(s: Session, case: Case, actor: str, text: str, remote_addr: str = "") -> Comment:
    comment = Comment(case_id=case.id, author=actor, body=_body(text))
    s.add(comment)
    s.flush()
    add_timeline(s, case, actor, "comment", N_("Comment #%(id)s: %(text)s"), {"comment_id": comment.id},
                 params={"id": comment.id, "text": comment.body})
    audit.record(s, actor, "case.comment.add", "case", case.id, remote_addr, comment_id=comment.id)
    return comment


def add_organization_comment(s: Session, case: Case, actor: str, organization: str, text: str,
                             remote_addr: str = "") -> Comment:
    """A comment of an organisation concerned (its focal point, in the portal or through its
    token): on the timeline with the organisation's name, the text as a value."""
    comment = Comment(case_id=case.id, author=actor, body=_body(text))
    s.add(comment)
    s.flush()
    add_timeline(s, case, actor, "comment", N_("Comment #%(id)s from %(organization)s: %(text)s"),
                 {"comment_id": comment.id, "organization": organization},
                 params={"id": comment.id, "organization": organization, "text": comment.body})
    audit.record(s, actor, "case.comment.add", "case", case.id, remote_addr, comment_id=comment.id,
                 organization=organization, via="portal")
    return comment


def edit_comment(s: Session, case: Case, comment_id: int, actor: str, text: str, remote_addr: str = "") -> Comment:
    """Its author changes a comment's text (``edited_at`` says when)."""
    comment = get_comment(s, case, comment_id)
    if comment.author != actor:
        raise Forbidden(N_("Only its author may edit comment #%(id)s."), id=comment.id)
    body = _body(text)
    if body != comment.body:
        comment.body = body
        comment.edited_at = datetime.now(UTC)
        add_timeline(s, case, actor, "comment", N_("Comment #%(id)s edited: %(text)s"), {"comment_id": comment.id},
                     params={"id": comment.id, "text": body})
        audit.record(s, actor, "case.comment.edit", "case", case.id, remote_addr, comment_id=comment.id)
    return comment


def delete_comment(s: Session, case: Case, comment_id: int, actor: str, role: str, remote_addr: str = "") -> None:
    """Its author, or an administrator, deletes a comment; the timeline keeps that it was."""
    comment = get_comment(s, case, comment_id)
    if comment.author != actor and not has_role(role, "admin"):
        raise Forbidden(N_("Only its author or an administrator may delete comment #%(id)s."), id=comment.id)
    add_timeline(s, case, actor, "comment", N_("Comment #%(id)s by %(author)s deleted"), {"comment_id": comment.id},
                 params={"id": comment.id, "author": comment.author})
    audit.record(s, actor, "case.comment.delete", "case", case.id, remote_addr, comment_id=comment.id,
                 author=comment.author)
    s.delete(comment)
