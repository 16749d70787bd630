"""Publishing incidents to partner CERTs: what each partner's MISP feed and TAXII collection serve.

An analyst publishes an incident to one or more partners. The publication is recorded per
partner; what is served is decided by the sharing policy (``cert.sharing.policy.share_case``)
each time a partner reads, so a marking raised after publication is obeyed at once and an
incident raised to TLP:RED leaves no more. Publishing again moves the publication's
``updated_at`` (TAXII ``date_added``; partners that poll with ``added_after`` read it again).
Each publication and withdrawal is audited with what it sends (the values, per partner) and put
on the incident's timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.constituency.directory import Partner
from cert.core.errors import N_, InvalidInput, NotFound
from cert.incidents.cases import add_timeline
from cert.sharing.policy import Shared, share_case, terms_of
from cert.storage import audit
from cert.storage.models import Case, CasePublication

#: The channels through which a publication reaches a partner (it must take one of them).
SERVED_CHANNELS = ("misp-feed", "taxii")


@dataclass(frozen=True)
class Published:
    partner: str
    items: int
    withheld: int
    updated: bool


def shared_with(case: Case, partner: Partner) -> Shared:
    """What of ``case`` leaves for ``partner`` now (the policy, on the partner's terms)."""
    return share_case(case, terms_of(partner.tlp_ceiling, partner.pap), organization=case.organization)


def publish(s: Session, case: Case, partners: Sequence[Partner], actor: str, remote_addr: str = "",
            now: datetime | None = None) -> list[Published]:
    """Publish ``case`` to each partner of ``partners`` that takes a served channel and may receive
    something of it. InvalidInput naming them when none may (the preview says why for each)."""
    now = now or datetime.now(UTC)
    done: list[Published] = []
    refused: list[str] = []
    for partner in partners:
        if not set(partner.channels) & set(SERVED_CHANNELS):
            refused.append(partner.id)
            continue
        shared = shared_with(case, partner)
        if not shared.leaves:
            refused.append(partner.id)
            continue
        row = s.scalar(select(CasePublication).where(CasePublication.case_id == case.id,
                                                     CasePublication.partner == partner.id))
        updated = row is not None and row.withdrawn_at is None
        if row is None:
            row = CasePublication(case_id=case.id, partner=partner.id, published_by=actor[:80], published_at=now)
            s.add(row)
        row.updated_at, row.withdrawn_at, row.withdrawn_by = now, None, None
        audit.record(s, actor, "sharing.publish", "case", case.id, remote_addr, partner=partner.id,
                     terms=shared.terms.label, title=shared.title, description_sent=bool(shared.description),
                     items=[f"{i.type}:{i.value}" for i in shared.items],
                     withheld=[f"{w.type}:{w.value}" for w in shared.withheld])
        done.append(Published(partner.id, len(shared.items), len(shared.withheld), updated))
    if not done:
        raise InvalidInput(N_("Nothing of this incident may be published to %(partners)s: none takes a served "
                              "channel (misp-feed, taxii) or may receive any of its indicators (see the preview)."),
                           partners=", ".join(refused) or "-")
    s.flush()
    add_timeline(s, case, actor, "sharing",
                 N_("Published to partners %(partners)s (%(n)s indicator(s); %(withheld)s withheld by the policy)"),
                 {"partners": [d.partner for d in done]},
                 params={"partners": ", ".join(d.partner for d in done), "n": max(d.items for d in done),
                         "withheld": min(d.withheld for d in done)})
    return done


def withdraw(s: Session, case: Case, partner_ids: Sequence[str], actor: str, remote_addr: str = "",
             now: datetime | None = None) -> list[str]:
    """Withdraw the incident's live publications to these partners (all of them when empty): the
    partners' feeds and collections serve it no more (what a partner already read stays with it).
    The ids withdrawn; NotFound when none was live."""
    now = now or datetime.now(UTC)
    query = select(CasePublication).where(CasePublication.case_id == case.id, CasePublication.withdrawn_at.is_(None))
    if partner_ids:
        query = query.where(CasePublication.partner.in_(list(partner_ids)))
    rows = list(s.scalars(query.order_by(CasePublication.partner)))
    if not rows:
        raise NotFound(N_("Incident #%(id)s is not published to these partners."), id=case.id)
    for row in rows:
        row.withdrawn_at, row.withdrawn_by, row.updated_at = now, actor[:80], now
    ids = [row.partner for row in rows]
    audit.record(s, actor, "sharing.withdraw", "case", case.id, remote_addr, partners=ids)
    add_timeline(s, case, actor, "sharing", N_("Withdrawn from partners %(partners)s"), {"partners": ids},
                 params={"partners": ", ".join(ids)})
    return ids


def publications_of(s: Session, case_id: int) -> list[CasePublication]:
    """The incident's publications, live and withdrawn, by partner."""
    return list(s.scalars(select(CasePublication).where(CasePublication.case_id == case_id)
                          .order_by(CasePublication.partner)))


def published_for(s: Session, partner_id: str, *, after: tuple[datetime, int] | None = None,
                  limit: int | None = None, live_only: bool = True) -> list[tuple[CasePublication, Case]]:
    """The partner's publications with their incidents, in (``updated_at``, id) order, after the
    position ``after`` (a publication's ``(updated_at, id)``): a stable order any web worker can
    page through from a position the client holds."""
    query = (select(CasePublication, Case).join(Case, Case.id == CasePublication.case_id)
             .where(CasePublication.partner == partner_id))
    if live_only:
        query = query.where(CasePublication.withdrawn_at.is_(None))
    if after is not None:
        at, last_id = after
        query = query.where((CasePublication.updated_at > at)
                            | ((CasePublication.updated_at == at) & (CasePublication.id > last_id)))
    query = query.order_by(CasePublication.updated_at, CasePublication.id)
    if limit is not None:
        query = query.limit(limit)
    return [(pub, case) for pub, case in s.execute(query)]
