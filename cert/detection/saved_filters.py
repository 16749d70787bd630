"""Named filters of the alert queue: an analyst's own, or shared with every analyst. The filter is
kept as the query-string parameters of the queue (``AlertFilter.to_args``), checked on saving."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cert.core.errors import N_, Forbidden, InvalidInput, NotFound
from cert.detection.triage import AlertFilter
from cert.storage import audit
from cert.storage.models import SavedFilter

VIEW = "alerts"
MAX_NAME = 100


def visible(s: Session, user: str) -> list[SavedFilter]:
    """The user's own filters and the shared ones, by name."""
    q = select(SavedFilter).where(SavedFilter.view == VIEW, or_(SavedFilter.owner == user, SavedFilter.shared))
    return list(s.scalars(q.order_by(SavedFilter.name, SavedFilter.id)))


def get(s: Session, filter_id: int, user: str) -> SavedFilter:
    """A filter the user may apply (their own or a shared one); NotFound otherwise."""
    found = s.get(SavedFilter, filter_id)
    if found is None or found.view != VIEW or not (found.shared or found.owner == user):
        raise NotFound(N_("Saved filter #%(id)s does not exist."), id=filter_id)
    return found


def save(s: Session, owner: str, name: str, alert_filter: AlertFilter, *, shared: bool = False,
         remote_addr: str = "") -> SavedFilter:
    """Save a filter under a name; the owner's filter of the same name is replaced."""
    name = name.strip()
    if not name:
        raise InvalidInput(N_("A saved filter needs a name."))
    if len(name) > MAX_NAME:
        raise InvalidInput(N_("A name is at most %(max)s characters."), max=MAX_NAME)
    query = alert_filter.to_args()
    found = s.scalar(select(SavedFilter).where(SavedFilter.view == VIEW, SavedFilter.owner == owner,
                                               SavedFilter.name == name))
    if found is None:
        found = SavedFilter(owner=owner, view=VIEW, name=name, query=query, shared=shared)
        s.add(found)
    else:
        found.query, found.shared = query, shared
    s.flush()
    audit.record(s, owner, "filter.save", "saved_filter", found.id, remote_addr, name=name, shared=shared)
    return found


def delete(s: Session, filter_id: int, user: str, *, admin: bool = False, remote_addr: str = "") -> None:
    """Delete a filter: one's own; an admin any. Someone else's shared filter is Forbidden."""
    found = s.get(SavedFilter, filter_id)
    if found is None or found.view != VIEW or not (admin or found.shared or found.owner == user):
        raise NotFound(N_("Saved filter #%(id)s does not exist."), id=filter_id)
    if found.owner != user and not admin:
        raise Forbidden(N_("Only its owner or an admin may delete the saved filter %(name)s."), name=found.name)
    audit.record(s, user, "filter.delete", "saved_filter", found.id, remote_addr, name=found.name, owner=found.owner)
    s.delete(found)


def as_filter(saved: SavedFilter, me: str = "") -> AlertFilter:
    """The queue filter a saved filter holds (checked again: the vocabulary may have changed)."""
    query = saved.query or {}
    return AlertFilter.from_args({str(k): [str(x) for x in (v if isinstance(v, list) else [v])]
                                  for k, v in query.items()}, me=me)
