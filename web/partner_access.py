"""Who reads a partner's exits (its served MISP feed, its TAXII collections): the partner itself,
through its token (scope ``share``, bound to it), or a member of the CERT staff looking at what
a partner receives (``?partner=<id>``). Either way the answer holds only what the sharing
policy lets that partner receive."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from cert.constituency.directory import Partner
from cert.core.errors import N_, Forbidden, InvalidInput
from cert.sharing.policy import require_channel
from web.access import platform
from web.sharing_api import partner_named


def reading_partner(channel: str) -> Partner:
    """The partner this request reads as, which must take ``channel`` (403 otherwise): a partner
    token's own partner (a ``?partner=`` naming another is ignored), else the staff's
    ``?partner=`` (400 without it, 404 unknown)."""
    bound = getattr(current_user, "partner", None)
    if bound:
        partner = platform().constituency.partner(bound)
        if partner is None:  # the partner left the constituency file: its token reads nothing
            raise Forbidden(N_("Partner %(partner)s is no longer in the constituency."), partner=bound)
    elif getattr(current_user, "scope_checked", False):
        raise Forbidden(N_("Only a partner's token reads a partner's feeds."))
    else:
        wanted = request.args.get("partner", "")
        if not wanted.strip():
            raise InvalidInput(N_("Name the partner whose view to read (?partner=<id>)."))
        partner = partner_named(wanted)
    require_channel(partner.id, partner.channels, channel)
    return partner
