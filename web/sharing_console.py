"""Sharing with partner CERTs on the incident page: for each partner its terms, whether the
incident is published to it, what would leave for it and what would stay (with the policy's
reason, ``cert.sharing.policy``); publishing to the partners chosen and withdrawing a publication
(``cert.sharing.publications``, the functions the API calls, which audit and put each on the
timeline); and the partners' sightings of the incident's observables. Analysts only: a focal
point sees none of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flask import Blueprint, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.constituency.directory import Partner
from cert.core.errors import InvalidInput, NotFound, VigieError
from cert.core.observables import normalize
from cert.detection.indicators.store import value_key
from cert.incidents.cases import get_case
from cert.sharing.policy import Shared, Verdict
from cert.sharing.publications import SERVED_CHANNELS, publications_of, publish, shared_with, withdraw
from cert.storage.models import Case, CasePublication, PartnerSighting
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.forms import require_valid
from web.incident_forms import ButtonForm, PublishForm
from web.partner_mail import send_to_partner
from web.sharing_api import partner_named

bp = Blueprint("sharing_console", __name__, url_prefix="/cases/<int:case_id>/partners")

#: observables looked up per statement in the partners' sightings
LOOKUP_CHUNK = 900


@dataclass(frozen=True)
class Publication:
    """A publication's state as the panel shows it."""

    partner: str
    live: bool
    published_by: str
    published_at: datetime
    updated_at: datetime
    withdrawn_by: str | None
    withdrawn_at: datetime | None

    @classmethod
    def of(cls, row: CasePublication) -> Publication:
        return cls(row.partner, row.withdrawn_at is None, row.published_by, row.published_at, row.updated_at,
                   row.withdrawn_by, row.withdrawn_at)


@dataclass(frozen=True)
class Withheld:
    """An item that stays, with the policy's reason in the reader's language."""

    type: str
    value: str
    tlp: str
    reason: str


@dataclass(frozen=True)
class PartnerRow:
    """One partner in the panel: its terms, its publication, and the preview of what leaves."""

    partner: Partner
    shared: Shared
    withheld: list[Withheld]
    stays_whole: str  # the reason nothing leaves, in the reader's language; "" when something does
    publication: Publication | None

    @property
    def served(self) -> bool:
        return takes_publications(self.partner)

    @property
    def stix(self) -> bool:
        return "stix" in self.partner.channels


@dataclass
class Panel:
    """What the incident page shows of sharing with partners, and the partners' sightings of its
    observables."""

    rows: list[PartnerRow] = field(default_factory=list)
    others: list[Publication] = field(default_factory=list)  # to partners the constituency no longer lists
    sightings: dict[int, list[PartnerSighting]] = field(default_factory=dict)  # by observable id
    form: PublishForm | None = None
    button: ButtonForm | None = None


def panel(s: Session, case: Case) -> Panel:
    """The partners' panel of ``case``: one row per partner of the constituency, in its order."""
    published = {row.partner: Publication.of(row) for row in publications_of(s, case.id)}
    tlp_of = {o.id: o.tlp for o in case.observables}
    rows = []
    for partner in platform().constituency.partners:
        shared = shared_with(case, partner)
        withheld = [Withheld(w.type, w.value, tlp_of.get(w.observable_id or 0, ""), _verdict_text(w.verdict))
                    for w in shared.withheld]
        stays_whole = "" if shared.leaves else _verdict_text(shared.container)
        rows.append(PartnerRow(partner, shared, withheld, stays_whole, published.pop(partner.id, None)))
    form = PublishForm(formdata=None)
    form.partners.choices = [(r.partner.id, r.partner.name) for r in rows if r.served]
    return Panel(rows, list(published.values()), _sightings(s, case), form, ButtonForm(formdata=None))


def _sightings(s: Session, case: Case) -> dict[int, list[PartnerSighting]]:
    """Partners' sightings matched on (type, normalised value), as the indicator store keys
    them; the most recent first. Observables of a type the store does not hold (user, host name)
    and invalid ones have none."""
    wanted: dict[tuple[str, str], list[int]] = {}
    for o in case.observables:
        if not o.valid:
            continue
        try:
            kind, value = normalize(o.type, o.value)
        except InvalidInput:
            continue
        wanted.setdefault((kind, value_key(value)), []).append(o.id)
    found: dict[int, list[PartnerSighting]] = {}
    keys = sorted(wanted)
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start:start + LOOKUP_CHUNK]
        rows = s.scalars(select(PartnerSighting)
                         .where(PartnerSighting.type.in_({k for k, _v in chunk}),
                                PartnerSighting.value_key.in_({v for _k, v in chunk}))
                         .order_by(PartnerSighting.last_seen.desc(), PartnerSighting.id))
        for row in rows:
            for observable_id in wanted.get((row.type, row.value_key), []):
                found.setdefault(observable_id, []).append(row)
    return found


def _back(case_id: int) -> ResponseReturnValue:
    return redirect(url_for("cases.show", case_id=case_id, _anchor="section-partners"), 303)


def _chosen(ids: Sequence[str]) -> list[Partner]:
    """The partners named, each once; NotFound for an id the constituency does not list."""
    return [partner_named(i) for i in dict.fromkeys(i.strip() for i in ids if i.strip())]


@bp.post("/publish")
@requires("analyst")
def publish_to(case_id: int) -> ResponseReturnValue:
    """Publish the incident to the partners ticked. A partner for which nothing may leave is
    named with the policy's reason and left out; the others are published to."""
    form = PublishForm()
    require_valid(form)
    try:
        partners = _chosen(list(form.partners.data or []))
    except NotFound as exc:
        flash(_error_text(exc), "error")
        return _back(case_id)
    if not partners:
        flash(_("Choose at least one partner."), "error")
        return _back(case_id)
    with platform().db.session() as s:
        case = get_case(s, case_id, organizations=visible_scope().recorded)
        possible = []
        for partner in partners:
            shared = shared_with(case, partner)
            if takes_publications(partner) and not shared.leaves:
                flash(_("Nothing of this incident may leave for %(partner)s: %(reason)s.", partner=partner.name,
                        reason=_verdict_text(shared.container)), "error")
            else:
                possible.append(partner)
        if not possible:
            return _back(case_id)
        try:  # refused before anything is written (no partner of these takes a served channel)
            done = publish(s, case, possible, actor(), remote_addr())
        except InvalidInput as exc:
            flash(_error_text(exc), "error")
            return _back(case_id)
    names = {p.id: p.name for p in partners}
    for d in done:
        flash(_("Published to %(partner)s: %(n)s indicator(s) leave for it, %(w)s withheld by the policy.",
                partner=names.get(d.partner, d.partner), n=d.items, w=d.withheld), "ok")
    return _back(case_id)


def takes_publications(partner: Partner) -> bool:
    """The partner takes a channel a publication reaches it through (MISP feed, TAXII)."""
    return bool(set(partner.channels) & set(SERVED_CHANNELS))


@bp.post("/<partner_id>/withdraw")
@requires("analyst")
def withdraw_from(case_id: int, partner_id: str) -> ResponseReturnValue:
    """Withdraw the incident's publication to the partner: its feed and collection serve it no more."""
    require_valid(ButtonForm())
    with platform().db.session() as s:
        case = get_case(s, case_id, organizations=visible_scope().recorded)
        try:
            ids = withdraw(s, case, [partner_id.strip()[:80]], actor(), remote_addr())
        except NotFound as exc:  # not published to it (or no more)
            flash(_error_text(exc), "error")
            return _back(case_id)
    flash(_("Withdrawn from %(partners)s: their feeds and collections serve it no more.", partners=", ".join(ids)),
          "ok")
    return _back(case_id)


@bp.post("/<partner_id>/mail")
@requires("analyst")
def mail_to(case_id: int, partner_id: str) -> ResponseReturnValue:
    """E-mail the incident to the partner: what the policy lets leave for it, in its language."""
    require_valid(ButtonForm())
    with platform().db.session() as s:
        case = get_case(s, case_id, organizations=visible_scope().recorded)
        try:
            partner = partner_named(partner_id[:80])
            mailed, shared = send_to_partner(s, platform().settings, case, partner, actor(), remote_addr())
        except VigieError as exc:  # unknown partner, no e-mail channel or address, nothing may leave
            flash(_error_text(exc), "error")
            return _back(case_id)
    flash(_("E-mail to %(partner)s queued (%(n)s indicator(s), %(tlp)s).", partner=partner.name,
            n=len(shared.items), tlp=mailed.tlp.label), "ok")
    return _back(case_id)


def _verdict_text(verdict: Verdict) -> str:
    """Why the policy keeps something, in the reader's language."""
    return str(_(verdict.reason, **verdict.params)) if verdict.reason else ""


def _error_text(exc: VigieError) -> str:
    """The error's message in the reader's language."""
    return str(_(exc.message_id, **exc.params)) if exc.message_id else str(exc)
