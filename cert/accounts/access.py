"""Roles and what each one may see: the one place of the access checks.

- CERT staff: analyst < responder < admin, a higher role including the lower ones. Staff see
  every alert and case, whatever their account's organisation.
- Outsiders are never staff (``has_role(outsider, "analyst")`` is False):

  - a focal point belongs to one organisation of the constituency (``users.organization``, its
    id) and sees only the alerts and cases of that organisation and of the organisations under
    it (``Constituency.scope_of``); an alert or case of no organisation is not theirs;
  - a partner belongs to one partner CERT (``users.organization`` holds its name: there is no
    registry of partner CERTs yet) and sees none of the internal alerts and cases.

- An API token has no role: with an organisation it sees that organisation's alerts and cases
  as its focal point would; a partner CERT's token, none of them (it reads only what the sharing
  policy lets its partner receive); any other, all of them (its scopes say what it may do).

Alerts and cases record their organisation by name (``organization.name`` of their events); a
scope holds both the ids and the names of its organisations, and matches either.
"""

from __future__ import annotations

from dataclasses import dataclass

from cert.constituency.directory import Constituency

STAFF_ROLES = ("analyst", "responder", "admin")
FOCAL_POINT = "focal_point"
PARTNER = "partner"
OUTSIDER_ROLES = (FOCAL_POINT, PARTNER)
ROLES = STAFF_ROLES + OUTSIDER_ROLES
#: what each staff role may do; a higher role includes the lower ones. Outsiders have no rank.
ROLE_RANK = {"analyst": 1, "responder": 2, "admin": 3}
#: the role of the principal of an API token (``web.api_auth.TokenPrincipal``)
TOKEN_ROLE = "api-token"  # noqa: S105 - a role name, not a secret


def is_staff(role: str) -> bool:
    return role in ROLE_RANK


def has_role(user_role: str, needed: str) -> bool:
    """Whether a member of the CERT staff with ``user_role`` may act as ``needed``; never true of
    an outsider or an unknown role."""
    return ROLE_RANK.get(user_role, 0) >= ROLE_RANK[needed]


def needs_organization(role: str) -> bool:
    """Whether an account of this role must belong to an organisation (outsiders do)."""
    return role in OUTSIDER_ROLES


@dataclass(frozen=True)
class Principal:
    """Who asks: a role (a user's, or ``TOKEN_ROLE``) and the organisation of the account or token."""

    role: str
    organization: str | None = None
    partner: str | None = None  # a partner CERT's token: the partner's id


@dataclass(frozen=True)
class Scope:
    """The alerts and cases a principal may see: all of them (``everything``), or those recorded
    with one of ``recorded`` (the ids and names of the visible organisations; maybe none)."""

    ids: frozenset[str] | None
    recorded: frozenset[str] | None

    @property
    def everything(self) -> bool:
        return self.ids is None

    def allows(self, organization: str | None) -> bool:
        """Whether an alert or case recorded with ``organization`` is visible."""
        if self.recorded is None:
            return True
        return organization is not None and organization in self.recorded


def visible_organizations(principal: Principal, constituency: Constituency) -> frozenset[str] | None:
    """The ids of the organisations whose alerts and cases ``principal`` sees; None: all of them."""
    if is_staff(principal.role):
        return None
    if principal.role == TOKEN_ROLE:
        if principal.partner:
            return frozenset()
        return None if not principal.organization else constituency.scope_of(principal.organization)
    if principal.role == FOCAL_POINT and principal.organization:
        return constituency.scope_of(principal.organization)
    return frozenset()  # a partner, a focal point without organisation, an unknown role: nothing


def scope_of(principal: Principal, constituency: Constituency) -> Scope:
    ids = visible_organizations(principal, constituency)
    if ids is None:
        return Scope(None, None)
    return Scope(ids, ids | constituency.names_of(ids))


def can_see(principal: Principal, constituency: Constituency, organization: str | None) -> bool:
    """Whether ``principal`` may see an alert or a case recorded with ``organization``."""
    return scope_of(principal, constituency).allows(organization)
