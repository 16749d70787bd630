"""Acknowledgements: an organisation concerned by an incident says it has taken it in hand (its
focal point in the portal, anyone holding a notification's signed link, or a program through the
API). The first acknowledgement of an organisation stands; it goes on the incident's timeline and
in the audit trail, and escalation of that organisation's notifications stops there."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cert.core.errors import N_, InvalidInput
from cert.incidents.cases import add_timeline
from cert.storage import audit
from cert.storage.models import Case, CaseAcknowledgement

#: how an acknowledgement came, with the timeline's message for each
VIAS = {
    "portal": N_("%(organization)s acknowledged the incident in the portal."),
    "link": N_("%(organization)s acknowledged the incident by the link of a notification."),
    "api": N_("%(organization)s acknowledged the incident through the API."),
}


def acknowledgement(s: Session, case_id: int, organization: str) -> CaseAcknowledgement | None:
    """The organisation's acknowledgement of the incident, or None."""
    return s.scalar(select(CaseAcknowledgement).where(CaseAcknowledgement.case_id == case_id,
                                                      CaseAcknowledgement.organization == organization))


def acknowledge(s: Session, case: Case, organization: str, actor: str, via: str, *, organization_name: str = "",
                remote_addr: str = "", now: datetime | None = None) -> tuple[CaseAcknowledgement, bool]:
    """Record that ``organization`` (its id) acknowledged ``case``; (the acknowledgement, whether
    it is new). Acknowledging again changes nothing."""
    if via not in VIAS:
        raise InvalidInput(N_("Unknown acknowledgement channel %(via)s."), via=via[:20])
    found = acknowledgement(s, case.id, organization)
    if found is not None:
        return found, False
    row = CaseAcknowledgement(case_id=case.id, organization=organization, acknowledged_by=actor[:200],
                              acknowledged_at=now or datetime.now(UTC), via=via)
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
    except IntegrityError:  # acknowledged at the same moment by another request
        found = acknowledgement(s, case.id, organization)
        if found is None:
            raise
        return found, False
    add_timeline(s, case, actor, "acknowledged", VIAS[via], {"organization": organization, "via": via},
                 params={"organization": organization_name or organization})
    audit.record(s, actor, "case.acknowledge", "case", case.id, remote_addr, organization=organization, via=via)
    return row, True
