"""Accounts of people who log in through an identity provider (OpenID Connect single sign-on).

The provider says who the person is (a subject id that never changes, a username) and which
groups they are in. Vigie maps the groups to a role, the highest one mapped (a staff role
before an outsider's), and to an organisation of the constituency where a group names one. A
person in no mapped group is refused; so is a focal point or a partner whose groups name no
organisation, and one whose groups give both outsider roles. The local row of an external
account is found by its subject, created at the first login and updated at each one, so that
a change of groups at the provider applies at the next login. It has no usable password: a
password login with its username always fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.accounts.access import OUTSIDER_ROLES, ROLE_RANK, ROLES, needs_organization
from cert.core.errors import N_, ConfigError, Forbidden, InvalidInput
from cert.storage.models import User

# What an external account has instead of a password hash: argon2 cannot verify against it.
NO_PASSWORD_HASH = "!external"  # noqa: S105 - not a password: the marker of no password
MAX_USERNAME = 80


@dataclass(frozen=True)
class ExternalIdentity:
    """Who the identity provider says the person is."""

    source: str  # "oidc"
    subject: str
    username: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class SignIn:
    """The account an external login opened, and what the login changed on it."""

    user: User
    created: bool
    previous_role: str | None
    previous_organization: str | None


def check_group_roles(group_roles: Mapping[str, str]) -> None:
    """Refuse a mapping that names a role Vigie does not have (a typo would lock people out)."""
    unknown = sorted({role for role in group_roles.values() if role not in ROLES})
    if unknown:
        raise ConfigError(f"oidc_group_roles: unknown role(s) {', '.join(unknown)} "
                          f"(expected one of {', '.join(ROLES)})")


def groups_of(claim: object) -> tuple[str, ...]:
    """The group names in a claim: a list of names, or one name. Anything else is no group."""
    if isinstance(claim, str):
        return (claim,)
    if isinstance(claim, list):
        return tuple(g for g in claim if isinstance(g, str))
    return ()


def role_for_groups(groups: Iterable[str], group_roles: Mapping[str, str]) -> str | None:
    """The highest staff role any of ``groups`` is mapped to, else the outsider role they are
    mapped to; None when no group is mapped. Groups giving both outsider roles (a focal point and
    a partner, two kinds of outsider) and no staff role are refused."""
    mapped = [group_roles[g] for g in groups if g in group_roles]
    staff = [role for role in mapped if role in ROLE_RANK]
    if staff:
        return max(staff, key=ROLE_RANK.__getitem__)
    outsiders = sorted({role for role in mapped if role in OUTSIDER_ROLES})
    if len(outsiders) > 1:
        raise Forbidden(N_("Your groups at the identity provider give several roles of outsiders (%(roles)s); an "
                           "account has one. Ask an administrator."), roles=", ".join(outsiders))
    return outsiders[0] if outsiders else None


def organization_for_groups(groups: Iterable[str], group_organizations: Mapping[str, str]) -> str | None:
    """The organisation the groups name, None when none does; several different ones are refused."""
    found = sorted({group_organizations[g] for g in groups if g in group_organizations})
    if len(found) > 1:
        raise Forbidden(N_("Your groups at the identity provider name several organisations (%(organizations)s); "
                           "an account belongs to one. Ask an administrator."), organizations=", ".join(found))
    return found[0] if found else None


def sign_in(
    s: Session,
    identity: ExternalIdentity,
    group_roles: Mapping[str, str],
    group_organizations: Mapping[str, str],
) -> SignIn:
    """The local account of ``identity``, created or brought up to date with its groups.

    Raises Forbidden when no group gives a role, when an outsider's role comes without an
    organisation, when the account was disabled in Vigie, or when its username belongs to
    another account (a local one is never taken over)."""
    role = role_for_groups(identity.groups, group_roles)
    if role is None:
        raise Forbidden(N_("Your account at the identity provider is in no group that gives access to Vigie. "
                           "Ask an administrator."))
    organization = organization_for_groups(identity.groups, group_organizations)
    if needs_organization(role) and organization is None:
        raise Forbidden(N_("Your groups at the identity provider make you a focal point or a partner but name no "
                           "organisation. Ask an administrator."), role=role)
    user = s.scalar(select(User).where(User.auth_source == identity.source,
                                       User.external_subject == identity.subject))
    if user is None:
        username = identity.username.strip()
        if not username or len(username) > MAX_USERNAME:
            raise InvalidInput(N_("The identity provider gave no usable username (1 to %(max)s characters)."),
                               max=MAX_USERNAME)
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise Forbidden(N_("The username %(username)s already belongs to another Vigie account. "
                               "Ask an administrator."), username=username)
        user = User(username=username, password_hash=NO_PASSWORD_HASH, role=role, auth_source=identity.source,
                    external_subject=identity.subject, organization=organization, active=True)
        s.add(user)
        s.flush()
        return SignIn(user, True, None, None)
    if not user.active:
        raise Forbidden(N_("This account is disabled."))
    previous_role, previous_organization = user.role, user.organization
    user.role, user.organization = role, organization
    return SignIn(user, False, previous_role, previous_organization)
