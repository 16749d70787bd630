"""Accounts from an identity provider: groups to role and organisation, creation and update at
each login, refusals, and no password login for them (cert/accounts/external.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cert.accounts.external import ExternalIdentity, check_group_roles, groups_of, role_for_groups, sign_in
from cert.accounts.users import authenticate, create_user, set_password
from cert.core.errors import ConfigError, Forbidden
from cert.runtime.platform import Platform
from cert.storage.models import User

ROLES = {"/vigie-analysts": "analyst", "/vigie-responders": "responder", "/vigie-admins": "admin"}
ORGS = {"/ministere-interieur": "min-interieur", "/ministere-justice": "min-justice"}


def alice(*groups: str) -> ExternalIdentity:
    return ExternalIdentity("oidc", "f3b1c9e2-subject-of-alice", "alice", groups)


def test_the_highest_mapped_group_gives_the_role() -> None:
    assert role_for_groups(["/vigie-analysts", "/vigie-admins", "/vigie-responders"], ROLES) == "admin"
    assert role_for_groups(["/other", "/vigie-analysts"], ROLES) == "analyst"
    assert role_for_groups(["/other"], ROLES) is None
    assert role_for_groups(["/x"], {"/x": "superuser"}) is None  # not a Vigie role: gives nothing
    assert groups_of(["/a", 3, None, "/b"]) == ("/a", "/b") and groups_of("/a") == ("/a",)
    assert groups_of({"/a": 1}) == () and groups_of(None) == ()
    with pytest.raises(ConfigError, match="superuser"):
        check_group_roles({"/x": "superuser"})


def test_first_login_creates_the_account_and_the_next_ones_follow_the_provider(platform: Platform) -> None:
    with platform.db.session() as s:
        first = sign_in(s, alice("/vigie-responders", "/ministere-interieur"), ROLES, ORGS)
        assert first.created and first.user.role == "responder" and first.user.organization == "min-interieur"
        assert first.user.auth_source == "oidc" and first.user.external_subject == "f3b1c9e2-subject-of-alice"
    with platform.db.session() as s:
        again = sign_in(s, alice("/vigie-analysts"), ROLES, ORGS)
        assert not again.created and (again.previous_role, again.previous_organization) == ("responder",
                                                                                           "min-interieur")
        assert (again.user.role, again.user.organization) == ("analyst", None)
    with platform.db.session() as s:
        assert [(u.username, u.role) for u in s.scalars(select(User))] == [("alice", "analyst")]


def test_no_mapped_group_is_refused_and_creates_nothing(platform: Platform) -> None:
    with platform.db.session() as s, pytest.raises(Forbidden, match="no group that gives access"):
        sign_in(s, alice("/unrelated-team", "/ministere-interieur"), ROLES, ORGS)
    with platform.db.session() as s:
        assert s.scalar(select(User)) is None


def test_groups_naming_two_organisations_are_refused(platform: Platform) -> None:
    with platform.db.session() as s, pytest.raises(Forbidden, match="min-interieur, min-justice"):
        sign_in(s, alice("/vigie-analysts", "/ministere-interieur", "/ministere-justice"), ROLES, ORGS)


def test_a_local_account_of_the_same_name_is_never_taken_over(platform: Platform) -> None:
    with platform.db.session() as s:
        create_user(s, "alice", "local-password-123", "analyst")
    with platform.db.session() as s, pytest.raises(Forbidden, match="already belongs"):
        sign_in(s, alice("/vigie-admins"), ROLES, ORGS)
    with platform.db.session() as s:
        user = s.scalar(select(User).where(User.username == "alice"))
        assert user is not None and user.role == "analyst" and user.auth_source == "local"
        assert authenticate(s, "alice", "local-password-123") is not None


def test_an_account_disabled_in_vigie_stays_refused(platform: Platform) -> None:
    with platform.db.session() as s:
        sign_in(s, alice("/vigie-responders"), ROLES, ORGS).user.active = False
    with platform.db.session() as s, pytest.raises(Forbidden, match="disabled"):
        sign_in(s, alice("/vigie-responders"), ROLES, ORGS)


def test_an_external_account_never_logs_in_with_a_password(platform: Platform) -> None:
    with platform.db.session() as s:
        user = sign_in(s, alice("/vigie-admins"), ROLES, ORGS).user
        assert authenticate(s, "alice", "") is None and authenticate(s, "alice", "!external") is None
        set_password(s, user, "a-password-set-by-mistake")  # even with a real hash on the row
    with platform.db.session() as s:
        assert authenticate(s, "alice", "a-password-set-by-mistake") is None
