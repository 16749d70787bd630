"""An incident's life in the core: templates open it with their tasks and fields, fields are
validated (RSIT, ATT&CK, organisations, assignee), closing needs a resolution and stamps the
clocks, reopening clears them, and merging moves everything into the target."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from support import DGPN, INTERIEUR, JUSTICE

from cert.accounts.users import create_user
from cert.core.errors import Conflict, InvalidInput, NotFound
from cert.incidents import lifecycle, rsit
from cert.incidents.cases import get_case, list_cases
from cert.incidents.merge import merge
from cert.incidents.templates import DEFAULTS, ensure_defaults
from cert.runtime.platform import Platform
from cert.storage.models import (
    Alert,
    AuditEntry,
    Case,
    Comment,
    Countermeasure,
    IncidentTemplate,
    Observable,
    Task,
    TimelineEntry,
)


def test_rsit_values_are_validated_and_misp_spellings_read() -> None:
    assert rsit.validate("fraud:phishing") == "fraud:phishing"
    assert rsit.validate(" Intrusion-Attempts:Login-Attempts ") == "intrusion-attempts:login-attempts"
    assert rsit.validate('rsit:intrusion-attempts="brute-force"') == "intrusion-attempts:login-attempts"
    assert rsit.misp_value("intrusion-attempts:login-attempts") == 'rsit:intrusion-attempts="brute-force"'
    assert rsit.validate("") == ""
    for bad in ("fraud", "fraud:nothing", "phishing", "x" * 500):
        with pytest.raises(InvalidInput, match="not an RSIT incident type"):
            rsit.validate(bad)
    assert len(rsit.TAXONOMY) == 11 and len(rsit.TYPES) == 39


def test_attack_techniques_are_normalised_and_refused_when_malformed() -> None:
    assert lifecycle.validate_attack(["t1110", " T1059.001", "attack.t1110", ""]) == ["T1110", "T1059.001"]
    for bad in ("T111", "T1059.1", "TA0001", "credential-access"):
        with pytest.raises(InvalidInput, match="ATT&CK technique"):
            lifecycle.validate_attack([bad])


def test_a_template_opens_an_incident_with_its_fields_and_tasks(platform: Platform) -> None:
    with platform.db.session() as s:
        assert sorted(ensure_defaults(s)) == sorted(t.key for t in DEFAULTS)
        assert ensure_defaults(s) == []  # idempotent
        create_user(s, "awa", "a-long-password-1", "analyst")
    with platform.db.session() as s:
        assert s.scalar(select(IncidentTemplate).where(IncidentTemplate.key == "phishing")) is not None
        new = lifecycle.NewIncident(title="Campagne d'hameçonnage", template="phishing",
                                    organizations=["min-justice"], assignee="awa")
        case = lifecycle.open_incident(s, new, "awa", platform.constituency, lang="en")
        case_id = case.id
    with platform.db.session() as s:
        case = get_case(s, case_id)
        assert (case.rsit_class, case.severity, case.tlp, case.pap, case.template) == \
            ("fraud:phishing", "medium", "amber", "amber", "phishing")
        assert case.organization == JUSTICE and [a.organization for a in case.affected] == [JUSTICE]
        assert case.assignee == "awa" and case.acknowledged_at is not None
        tasks = list(s.scalars(select(Task).where(Task.case_id == case_id).order_by(Task.position)))
        assert [t.title for t in tasks][:2] == ["Qualify the incident and confirm its scope",
                                               "Collect the original e-mail with its headers"]
        assert len(tasks) == 5 and all(t.due_at is not None and t.created_by == "awa" for t in tasks)
        assert case.timeline[0].params["template"] == {"fr": "Hameçonnage", "en": "Phishing"}
    with platform.db.session() as s:  # what the analyst chose wins over the template
        new = lifecycle.NewIncident(title="Fuite", template="data-leak", severity="low", tlp="amber")
        chosen = lifecycle.open_incident(s, new, "awa", platform.constituency, lang="fr")
        assert (chosen.severity, chosen.tlp, chosen.pap) == ("low", "amber", "red")
        with pytest.raises(NotFound):
            lifecycle.open_incident(s, lifecycle.NewIncident(title="x", template="nope"), "awa", platform.constituency)


def test_fields_change_with_checks_and_the_clocks_run(platform: Platform) -> None:
    with platform.db.session() as s:
        create_user(s, "awa", "a-long-password-1", "analyst")
        create_user(s, "pf", "a-long-password-1", "focal_point", organization="dgpn",
                    constituency=platform.constituency)
        case = Case(title="t", created_by="test")
        s.add(case)
        s.flush()
        c = platform.constituency
        for changes, message in ((lifecycle.Changes(rsit="fraud:nope"), "RSIT"),
                                 (lifecycle.Changes(attack=["T12"]), "ATT&CK"),
                                 (lifecycle.Changes(organizations=["Ministère de nulle part"]), "constituency"),
                                 (lifecycle.Changes(assignee="pf"), "active analyst"),
                                 (lifecycle.Changes(assignee="nobody"), "active analyst"),
                                 (lifecycle.Changes(severity="urgent"), "severity")):
            with pytest.raises(InvalidInput, match=message):
                lifecycle.update_case(s, case, changes, "awa", c)
        assert case.acknowledged_at is None
        changed = lifecycle.update_case(s, case, lifecycle.Changes(
            title="Rançongiciel", severity="critical", rsit="malicious-code:infected-system", attack=["t1486"],
            organizations=["min-interieur", "dgpn", "min-interieur"], assignee="awa"), "awa", c)
        assert changed == ["title", "severity", "rsit", "attack", "organizations", "assignee"]
        assert case.organization == INTERIEUR and sorted(a.organization for a in case.affected) == [DGPN, INTERIEUR]
        assert case.acknowledged_at is not None and case.attack == ["T1486"]
        assert lifecycle.update_case(s, case, lifecycle.Changes(title="Rançongiciel"), "awa", c) == []
        with pytest.raises(InvalidInput, match="needs a resolution"):
            lifecycle.set_status(s, case, "closed", "awa")
        lifecycle.set_status(s, case, "contained", "awa")
        assert case.contained_at is not None
        lifecycle.set_status(s, case, "closed", "awa", resolution="true-positive", comment="chiffré, restauré")
        assert (case.status, case.resolution, case.resolution_comment) == ("closed", "true-positive",
                                                                           "chiffré, restauré")
        assert case.closed_at is not None
        lifecycle.reopen(s, case, "awa")
        assert (case.status, case.resolution, case.closed_at) == ("open", None, None)
        kinds = [t.kind for t in case.timeline]
        assert kinds == ["title", "severity", "rsit", "attack", "organizations", "assignee", "status", "status",
                         "status"]
        assert all(t.message_id for t in case.timeline)
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(case.id))))
        assert {"case.update", "case.status", "case.close", "case.reopen"} <= actions
    with platform.db.session() as s:  # a focal point of the directorate sees the incident it is affected by
        names = platform.constituency.names_of(platform.constituency.scope_of("dgpn"))
        assert [x.id for x in list_cases(s, organizations=names)] == [case.id]
        get_case(s, case.id, organizations=names)
        with pytest.raises(NotFound):
            get_case(s, case.id, organizations={JUSTICE})


def _incident(s: object, title: str, tlp: str, organization: str) -> Case:
    from sqlalchemy.orm import Session

    assert isinstance(s, Session)
    case = Case(title=title, created_by="test", tlp=tlp, title_tlp=tlp, organization=organization)
    s.add(case)
    s.flush()
    return case


def test_merge_moves_everything_and_closes_the_duplicate(platform: Platform) -> None:
    now = datetime.now(UTC)
    with platform.db.session() as s:
        a = _incident(s, "A", "green", INTERIEUR)
        b = _incident(s, "B", "red", DGPN)
        lifecycle.set_organizations(s, b, [DGPN, INTERIEUR], "test")
        for case, value in ((a, "198.51.100.7"), (b, "198.51.100.7"), (b, "203.0.113.9")):
            s.add(Observable(case_id=case.id, type="ip", value=value, tlp="amber", ioc=case is b))
        s.add(Alert(rule_id="r", rule_title="x", detector="sigma", severity="high", first_seen=now, last_seen=now,
                    case_id=b.id))
        s.add(Task(case_id=b.id, title="Bloquer", created_by="test"))
        s.add(Countermeasure(case_id=b.id, kind="block-ip", target="203.0.113.9", created_by="test"))
        s.add(Comment(case_id=b.id, author="test", body="même source"))
        ids = a.id, b.id
    with platform.db.session() as s:
        with pytest.raises(InvalidInput):
            merge(s, ids[0], ids[0], "awa")
        with pytest.raises(NotFound):  # incidents a user may not see are not merged
            merge(s, ids[0], ids[1], "awa", organizations={JUSTICE})
    with platform.db.session() as s:
        done = merge(s, ids[0], ids[1], "awa")
        assert (done.alerts, done.observables, done.tasks, done.countermeasures, done.comments) == (1, 1, 1, 1, 1)
    with platform.db.session() as s:
        a, b = get_case(s, ids[0]), get_case(s, ids[1])
        assert sorted((o.value, o.ioc) for o in a.observables) == [("198.51.100.7", True), ("203.0.113.9", True)]
        assert b.observables == []
        for model in (Alert, Task, Countermeasure, Comment):
            assert set(s.scalars(select(model.case_id))) == {a.id}, model
        assert sorted(o.organization for o in a.affected) == [DGPN, INTERIEUR]
        assert (a.tlp, a.title_tlp) == ("red", "red")
        assert (b.status, b.resolution, b.merged_into) == ("closed", "duplicate", a.id)
        assert [t.kind for t in a.timeline] == ["merge", "tlp_raised"]
        assert "merge" in [t.kind for t in b.timeline]
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "case.merge")) is not None
        with pytest.raises(Conflict):  # a merged duplicate is closed: nothing goes into it
            merge(s, ids[1], ids[0], "awa")
    with platform.db.session() as s:
        assert s.scalar(select(TimelineEntry).where(TimelineEntry.kind == "merge",
                                                    TimelineEntry.case_id == ids[1])).params == {"target": ids[0]}
