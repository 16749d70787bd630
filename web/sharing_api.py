"""Sharing with partner CERTs in the API: the partners and their terms, the preview of what of an
incident would leave for one of them (``cert.sharing.policy``), nothing sent, and the incident as
a STIX 2.1 bundle for one of them (what the policy lets leave, audited)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from cert.constituency.directory import Partner
from cert.core.errors import N_, NotFound
from cert.incidents.cases import get_case
from cert.sharing.policy import require_channel, share_case, terms_of
from cert.sharing.publications import SERVED_CHANNELS, publications_of, publish, shared_with, withdraw
from cert.sharing.stix_export import export_with_sightings
from cert.storage import audit
from cert.storage.models import Case
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.api_auth import api_scope
from web.api_spec import Response, body, iso, query, spec
from web.partner_mail import send_to_partner
from web.schemas.sharing import (
    PartnerList,
    PartnerMailIn,
    PartnerMailOut,
    PreviewOut,
    PreviewQuery,
    PublicationList,
    PublishIn,
    StixBundle,
)

bp = Blueprint("sharing_api", __name__, url_prefix="/api/v1")
TAGS = ["sharing"]


@bp.get("/partners")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=PartnerList), tags=TAGS)
def list_partners() -> ResponseReturnValue:
    """The partner CERTs and their sharing terms (never their credentials)."""
    return jsonify({"items": [{"id": p.id, "name": p.name, "tlp_ceiling": p.tlp_ceiling, "pap": p.pap,
                               "channels": list(p.channels), "language": p.language}
                              for p in platform().constituency.partners]})


@bp.get("/incidents/<int:case_id>/sharing-preview")
@requires("analyst")
@api_scope("read")
@spec.validate(query=PreviewQuery, resp=Response(HTTP_200=PreviewOut), tags=TAGS)
def preview(case_id: int) -> ResponseReturnValue:
    """What of the incident would leave for the partner, and what would stay with the reason of
    each: the decision every exit applies. Nothing is sent."""
    partner = partner_named(query(PreviewQuery).partner)
    with platform().db.session() as s:
        case = get_case(s, case_id, organizations=visible_scope().recorded)
        shared = share_case(case, terms_of(partner.tlp_ceiling, partner.pap), organization=case.organization)
        return jsonify({
            "partner": partner.id, "terms": shared.terms.label, "leaves": shared.leaves, "title": shared.title,
            "title_neutral": shared.title_neutral, "description": shared.description,
            "items": [{"type": i.type, "value": i.value, "tlp": i.tlp.label, "pap": i.pap.label} for i in shared.items],
            "withheld": [{"type": w.type, "value": w.value, "reason": str(_(w.verdict.reason, **w.verdict.params))}
                         for w in shared.withheld]})


@bp.get("/incidents/<int:case_id>/stix")
@requires("analyst")
@api_scope("read")
@spec.validate(query=PreviewQuery, resp=Response(HTTP_200=StixBundle), tags=TAGS)
def stix_bundle(case_id: int) -> ResponseReturnValue:
    """The incident as a STIX 2.1 bundle for the partner: what the policy lets leave (the preview's
    items, title and description), TLP 2.0 markings on each object, the same ids at each export.
    Each export is audited with the partner and the ids and values sent; 409 when nothing may
    leave."""
    partner = partner_named(query(PreviewQuery).partner)
    with platform().db.session() as s:
        case = get_case(s, case_id, organizations=visible_scope().recorded)
        require_channel(partner.id, partner.channels, "stix")
        shared = share_case(case, terms_of(partner.tlp_ceiling, partner.pap), organization=case.organization)
        export = export_with_sightings(s, case, shared, platform().settings)
        audit.record(s, actor(), "sharing.stix_export", "case", case.id, remote_addr(), partner=partner.id,
                     terms=shared.terms.label, bundle=export.bundle.id, incident=export.incident_id,
                     title_neutral=shared.title_neutral,
                     items=[{"id": ident, "type": i.type, "value": i.value, "tlp": i.tlp.label}
                            for ident, i in export.sent])
        bundle = json.loads(export.serialize())
    return jsonify(bundle)


def _publications_json(s: Session, case: Case) -> list[dict[str, Any]]:
    partners = platform().constituency
    out = []
    for pub in publications_of(s, case.id):
        partner = partners.partner(pub.partner)
        items = len(shared_with(case, partner).items) if partner is not None and pub.withdrawn_at is None else 0
        out.append({"partner": pub.partner, "published_by": pub.published_by, "published_at": iso(pub.published_at),
                    "updated_at": iso(pub.updated_at), "withdrawn_at": iso(pub.withdrawn_at),
                    "withdrawn_by": pub.withdrawn_by, "live": pub.withdrawn_at is None, "items": items})
    return out


@bp.get("/incidents/<int:case_id>/publications")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=PublicationList), tags=TAGS)
def publications(case_id: int) -> ResponseReturnValue:
    """The partners the incident is published to (served by their MISP feed and TAXII collection),
    and the ones it was withdrawn from."""
    with platform().db.session() as s:
        case = get_case(s, case_id, organizations=visible_scope().recorded)
        return jsonify({"items": _publications_json(s, case)})


@bp.post("/incidents/<int:case_id>/publications")
@requires("analyst")
@api_scope("write")
@spec.validate(json=PublishIn, resp=Response(HTTP_200=PublicationList), tags=TAGS)
def publish_case(case_id: int) -> ResponseReturnValue:
    """Publish the incident to partners (every partner taking a served channel when none is named):
    their feeds and collections serve what the policy lets leave for each, decided when they read.
    Audited with what each partner receives; 400 when nothing may leave for any of them."""
    wanted = body(PublishIn)
    partners = ([partner_named(p) for p in wanted.partners] if wanted.partners
                else [p for p in platform().constituency.partners if set(p.channels) & set(SERVED_CHANNELS)])
    with platform().db.session() as s:
        case = get_case(s, case_id, organizations=visible_scope().recorded)
        publish(s, case, partners, actor(), remote_addr())
        return jsonify({"items": _publications_json(s, case)})


@bp.post("/incidents/<int:case_id>/publications/withdraw")
@requires("analyst")
@api_scope("write")
@spec.validate(json=PublishIn, resp=Response(HTTP_200=PublicationList), tags=TAGS)
def withdraw_case(case_id: int) -> ResponseReturnValue:
    """Withdraw the incident from these partners (from all when none is named); 404 when it is
    not published to them. What a partner already read stays with it."""
    wanted = body(PublishIn)
    with platform().db.session() as s:
        case = get_case(s, case_id, organizations=visible_scope().recorded)
        withdraw(s, case, [p.strip() for p in wanted.partners], actor(), remote_addr())
        return jsonify({"items": _publications_json(s, case)})


@bp.post("/incidents/<int:case_id>/partner-mail")
@requires("analyst")
@api_scope("write")
@spec.validate(json=PartnerMailIn, resp=Response(HTTP_200=PartnerMailOut), tags=TAGS)
def partner_mail(case_id: int) -> ResponseReturnValue:
    """E-mail the incident to a partner that takes e-mail: what the policy lets leave for it, in
    its language, the subject marked with the highest TLP of what it holds, queued in the outbox.
    Audited with the values sent; 403 when the partner does not take e-mail, 409 when nothing may
    leave or it has no address."""
    partner = partner_named(body(PartnerMailIn).partner)
    settings = platform().settings
    with platform().db.session() as s:
        case = get_case(s, case_id, organizations=visible_scope().recorded)
        mailed, shared = send_to_partner(s, settings, case, partner, actor(), remote_addr())
    return jsonify({"partner": partner.id, "to": partner.email, "subject": mailed.subject, "file": mailed.file,
                    "tlp": mailed.tlp.label, "items": len(shared.items)})


def partner_named(wanted: str) -> Partner:
    """The partner with this id, or 404."""
    partner = platform().constituency.partner(wanted.strip())
    if partner is None:
        raise NotFound(N_("No partner named %(partner)s."), partner=wanted[:100])
    return partner
