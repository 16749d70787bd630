"""Roles scoped to organisations: the constituency's hierarchy, what each role sees, the alert and
case services' organisation filter, and the accounts of focal points and partners (local and
single sign-on)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import pytest
from support import DGPN, INTERIEUR, JUSTICE, seed_by_organization

from cert.accounts import totp
from cert.accounts.access import Principal, can_see, has_role, is_staff, scope_of, visible_organizations
from cert.accounts.external import ExternalIdentity, role_for_groups, sign_in
from cert.accounts.users import create_user, get_user, set_role
from cert.constituency.directory import Constituency, Organization
from cert.core.config import Settings
from cert.core.errors import ConfigError, Forbidden, InvalidInput, NotFound
from cert.detection import alerts
from cert.incidents import cases
from cert.runtime.platform import Platform
from cert.storage.models import User


def org(id_: str, parent: str | None = None) -> Organization:
    return Organization(id_, f"Org {id_}", (ipaddress.ip_network("10.99.0.0/24"),), parent=parent)


# ministry > directorate > office; another ministry beside it
TREE = Constituency([org("ministry"), org("directorate", "ministry"), org("office", "directorate"), org("other")])


def test_scope_of_is_the_organisation_and_everything_under_it() -> None:
    assert TREE.scope_of("ministry") == {"ministry", "directorate", "office"}
    assert TREE.scope_of("directorate") == {"directorate", "office"}
    assert TREE.scope_of("office") == {"office"}
    assert TREE.scope_of("other") == {"other"}
    assert TREE.scope_of("nowhere") == frozenset()


def test_the_bundled_constituency_has_a_directorate_under_a_ministry() -> None:
    bundled = Constituency.load(None)
    assert bundled.scope_of("min-interieur") == {"min-interieur", "dgpn"}
    assert bundled.scope_of("min-justice") == {"min-justice"}


@pytest.mark.parametrize(("extra", "message"), [
    ('parent = "nowhere"', "unknown parent"),
    ('parent = "b"', "cycle"),
])
def test_a_bad_hierarchy_stops_the_load(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[[organization]]\nid = "a"\nname = "A"\n{extra}\n'
                    '[[organization]]\nid = "b"\nname = "B"\nparent = "a"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        Constituency.load(path)


def test_outsiders_are_never_staff() -> None:
    for outsider in ("focal_point", "partner", "api-token", "unknown"):
        assert not is_staff(outsider)
        assert not has_role(outsider, "analyst")
    assert has_role("admin", "responder") and not has_role("analyst", "responder")


def test_what_each_principal_sees() -> None:
    names = TREE.names_of
    assert visible_organizations(Principal("analyst"), TREE) is None
    assert visible_organizations(Principal("admin", "other"), TREE) is None  # staff see everything
    assert visible_organizations(Principal("focal_point", "directorate"), TREE) == {"directorate", "office"}
    assert visible_organizations(Principal("focal_point", None), TREE) == frozenset()
    assert visible_organizations(Principal("focal_point", "removed-since"), TREE) == frozenset()
    assert visible_organizations(Principal("partner", "CERT-XY"), TREE) == frozenset()
    assert visible_organizations(Principal("api-token", None), TREE) is None
    assert visible_organizations(Principal("api-token", "ministry"), TREE) == {"ministry", "directorate", "office"}

    focal = Principal("focal_point", "directorate")
    for recorded in (*names(frozenset({"directorate", "office"})), "directorate"):  # by name (alerts) or id
        assert can_see(focal, TREE, recorded)
    for recorded in ("Org ministry", "Org other", "ministry", None, ""):
        assert not can_see(focal, TREE, recorded), recorded
    assert not can_see(Principal("partner", "Org directorate"), TREE, "Org directorate")
    assert can_see(Principal("responder"), TREE, None)
    assert scope_of(Principal("analyst"), TREE).everything


# ---- the services' filter --------------------------------------------------------------------------



def test_a_focal_point_of_a_ministry_sees_it_and_its_directorates_only(platform: Platform) -> None:
    ids = seed_by_organization(platform)
    orgs = scope_of(Principal("focal_point", "min-interieur"), platform.constituency).recorded
    with platform.db.session() as s:
        assert {a.organization for a in alerts.queue(s, organizations=orgs)} == {INTERIEUR, DGPN}
        assert alerts.count(s, organizations=orgs) == 2 and alerts.count(s) == 4
        assert alerts.count(s, "new", organizations=orgs) == 2
        assert [a.organization for a in alerts.queue(s, limit=1, offset=1, organizations=orgs)] == [INTERIEUR]
        assert {c.organization for c in cases.list_cases(s, organizations=orgs)} == {INTERIEUR, DGPN}
        assert cases.count_cases(s, organizations=orgs) == 2 and cases.count_cases(s) == 4
        for organization in (INTERIEUR, DGPN):
            alert_id, case_id = ids[organization]
            assert alerts.get_alert(s, alert_id, organizations=orgs).id == alert_id
            assert cases.get_case(s, case_id, organizations=orgs).id == case_id
        for organization in (JUSTICE, None):  # another ministry's, and an alert of no organisation
            alert_id, case_id = ids[organization]
            with pytest.raises(NotFound, match=f"alert {alert_id} does not exist"):
                alerts.get_alert(s, alert_id, organizations=orgs)
            with pytest.raises(NotFound, match=f"Incident #{case_id} does not exist"):
                cases.get_case(s, case_id, organizations=orgs)


def test_a_focal_point_of_a_directorate_does_not_see_its_ministry(platform: Platform) -> None:
    seed_by_organization(platform)
    orgs = scope_of(Principal("focal_point", "dgpn"), platform.constituency).recorded
    with platform.db.session() as s:
        assert [a.organization for a in alerts.queue(s, organizations=orgs)] == [DGPN]
        assert [c.organization for c in cases.list_cases(s, organizations=orgs)] == [DGPN]


def test_a_partner_sees_no_internal_alert_or_case(platform: Platform) -> None:
    ids = seed_by_organization(platform)
    orgs = scope_of(Principal("partner", "CERT-XY"), platform.constituency).recorded
    assert orgs == frozenset()
    with platform.db.session() as s:
        assert alerts.queue(s, organizations=orgs) == [] and alerts.count(s, organizations=orgs) == 0
        assert cases.list_cases(s, organizations=orgs) == [] and cases.count_cases(s, organizations=orgs) == 0
        with pytest.raises(NotFound, match="does not exist"):
            alerts.get_alert(s, ids[INTERIEUR][0], organizations=orgs)


# ---- accounts ----------------------------------------------------------------------------------------

def test_a_focal_point_needs_an_organisation_of_the_constituency(platform: Platform) -> None:
    c = platform.constituency
    with platform.db.session() as s:
        with pytest.raises(InvalidInput, match="focal point belongs to an organisation"):
            create_user(s, "fp", "a-long-password-1", "focal_point", constituency=c)
        with pytest.raises(InvalidInput, match="No organisation min-nowhere"):
            create_user(s, "fp", "a-long-password-1", "focal_point", organization="min-nowhere", constituency=c)
        with pytest.raises(InvalidInput, match="partner CERT"):
            create_user(s, "pa", "a-long-password-1", "partner", organization="  ", constituency=c)
        with pytest.raises(InvalidInput, match="CERT staff see every organisation"):
            create_user(s, "an", "a-long-password-1", "analyst", organization="min-interieur", constituency=c)
        assert s.query(User).count() == 0
        by_name = create_user(s, "fp", "a-long-password-1", "focal_point", organization=INTERIEUR, constituency=c)
        partner = create_user(s, "pa", "a-long-password-1", "partner", organization="CERT-XY", constituency=c)
        assert (by_name.organization, partner.organization) == ("min-interieur", "CERT-XY")  # the id is kept


def test_a_change_of_role_checks_and_sets_the_organisation(platform: Platform) -> None:
    c = platform.constituency
    with platform.db.session() as s:
        create_user(s, "chef", "a-long-password-1", "admin")
        user = create_user(s, "ana", "a-long-password-1", "analyst")
        with pytest.raises(InvalidInput, match="focal point belongs"):
            set_role(s, user, "focal_point", "test", constituency=c)
        set_role(s, user, "focal_point", "test", organization="min-justice", constituency=c)
        assert (user.role, user.organization) == ("focal_point", "min-justice")
        set_role(s, user, "focal_point", "test", organization="dgpn", constituency=c)
        assert user.organization == "dgpn"
        set_role(s, user, "responder", "test")
        assert (get_user(s, "ana").role, get_user(s, "ana").organization) == ("responder", None)


def identity(*groups: str) -> ExternalIdentity:
    return ExternalIdentity("oidc", "sub-1", "awa", groups)


GROUP_ROLES = {"/soc": "analyst", "/pf": "focal_point", "/partners": "partner"}
GROUP_ORGS = {"/ministere-interieur": "min-interieur"}


def test_single_sign_on_makes_focal_points_of_an_organisation_only(platform: Platform) -> None:
    assert role_for_groups(["/pf", "/soc"], GROUP_ROLES) == "analyst"  # a staff role first
    with pytest.raises(Forbidden, match="several roles"):
        role_for_groups(["/pf", "/partners"], GROUP_ROLES)
    with platform.db.session() as s:
        with pytest.raises(Forbidden, match="name no organisation"):
            sign_in(s, identity("/pf"), GROUP_ROLES, GROUP_ORGS)
        assert s.query(User).count() == 0
        user = sign_in(s, identity("/pf", "/ministere-interieur"), GROUP_ROLES, GROUP_ORGS).user
        assert (user.role, user.organization) == ("focal_point", "min-interieur")


def test_a_second_factor_may_be_required_of_focal_points(settings: Settings) -> None:
    required = replace(settings, totp_required_roles=("focal_point",))
    assert totp.required_for(required, "focal_point") and not totp.required_for(required, "analyst")
