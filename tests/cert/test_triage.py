"""The triage queue's filters, orders, pages and groups, on a queue of 305 alerts from several
sources, rules and organisations; bulk actions with their audit trail; incidents from alerts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select
from support import DGPN, INTERIEUR, JUSTICE
from triage_data import START, Seeded, seed

from cert.accounts.users import create_user
from cert.core.errors import Conflict, InvalidInput, NotFound
from cert.detection import saved_filters, triage, triage_actions
from cert.detection.triage import AlertFilter
from cert.incidents import from_alerts
from cert.runtime.platform import Platform
from cert.storage.models import Alert, AuditEntry, Case, CaseOrganization


@pytest.fixture
def seeded(platform: Platform) -> Seeded:
    return seed(platform)


def ids(platform: Platform, orgs: frozenset[str] | None = None, me: str = "", **args: Sequence[str] | str) -> set[int]:
    """The ids the filter of ``args`` selects; the count agrees with them."""
    wanted = AlertFilter.from_args({k.rstrip("_"): [v] if isinstance(v, str) else list(v) for k, v in args.items()},
                                   me=me)
    with platform.db.session() as s:
        found = {a.id for a in triage.search(s, wanted, limit=1000, organizations=orgs)}
        assert triage.count(s, wanted, organizations=orgs) == len(found)
    return found


def test_each_filter_narrows_to_its_alerts(platform: Platform, seeded: Seeded) -> None:
    everything = set(seeded.brute + seeded.sqli + seeded.scan + seeded.beacon)
    assert ids(platform) == everything
    assert ids(platform, severity=["critical", "low"]) == set(seeded.beacon + seeded.scan)
    assert ids(platform, severity="high,medium") == set(seeded.brute + seeded.sqli)
    assert ids(platform, organization=JUSTICE) == set(seeded.sqli)
    assert ids(platform, rule="v6-scan") == set(seeded.scan)
    # an address, a /24, a network across octets, an IPv6 network
    assert ids(platform, source="203.0.113.7") == {seeded.brute[7]}
    assert ids(platform, source="198.51.100.0/24") == set(seeded.brute[200:])
    assert ids(platform, source="192.0.2.16/28") == set(seeded.sqli[6:22])  # .16-.31
    assert ids(platform, source="203.0.0.0/12") == set(seeded.brute[:200])
    assert ids(platform, source="2001:db8::/124") == set(seeded.scan[:15])  # ::1-::f
    assert ids(platform, source="0.0.0.0/0") == set(seeded.brute + seeded.sqli)
    # raised-time range (inclusive), on when the alert was raised
    first_sqli = START + timedelta(minutes=10 * 250)
    assert ids(platform, from_=first_sqli.isoformat(), to=(first_sqli + timedelta(minutes=290)).isoformat()) == \
        set(seeded.sqli)
    # ATT&CK tactic in any spelling; a technique matches its sub-techniques
    for spelling in ("credential-access", "Credential Access", "attack.credential_access"):
        assert ids(platform, tactic=spelling) == set(seeded.brute), spelling
    assert ids(platform, tactic="initial_access") == set(seeded.sqli)
    assert ids(platform, tactic="T1110") == set(seeded.brute)
    assert ids(platform, tactic="T1110.001") == set(seeded.brute)
    assert ids(platform, tactic="T111") == set()
    # text: title, rule id, address, organisation, entities; wildcards are literal
    assert ids(platform, q="sql injection") == set(seeded.sqli)
    assert ids(platform, q="evil.example") == set(seeded.beacon)
    assert ids(platform, q="2001:db8::1") == {seeded.scan[0]} | {seeded.scan[n] for n in range(15, 20)}  # ::10-::14
    assert ids(platform, q="police nationale") == set(seeded.scan)
    assert ids(platform, q="%") == set()
    # criteria combine, and the organisation scope always applies
    assert ids(platform, severity="high", source="198.51.100.0/24", tactic="credential_access") == \
        set(seeded.brute[200:])
    assert ids(platform, frozenset({JUSTICE, DGPN})) == set(seeded.sqli + seeded.scan)
    assert ids(platform, frozenset({DGPN}), organization=JUSTICE) == set()


def test_the_time_range_is_on_the_raised_time(platform: Platform, seeded: Seeded) -> None:
    last_scan = START + timedelta(minutes=10 * 299)
    assert ids(platform, from_=last_scan.isoformat()) == {seeded.scan[-1], *seeded.beacon}
    assert ids(platform, to=(START + timedelta(minutes=10)).isoformat()) == set(seeded.brute[:2])


def test_assignee_status_and_me(platform: Platform, seeded: Seeded) -> None:
    with platform.db.session() as s:
        create_user(s, "alice", "a-long-password-1", "analyst")
        create_user(s, "bob", "a-long-password-1", "analyst")
        triage_actions.assign(s, triage.by_ids(s, seeded.sqli[:3], None), "alice", "chef")
        triage_actions.assign(s, triage.by_ids(s, seeded.scan[:2], None), "bob", "chef")
        triage_actions.close(s, triage.by_ids(s, seeded.beacon, None), "benign", "chef")
    assert ids(platform, assignee="alice") == set(seeded.sqli[:3])
    assert ids(platform, me="bob", assignee="me") == set(seeded.scan[:2])
    assert len(ids(platform, assignee="unassigned")) == 305 - 5
    assert ids(platform, status="closed") == set(seeded.beacon)
    assert len(ids(platform, status=["new", "acknowledged"])) == 300


def test_sorting_and_pages(platform: Platform, seeded: Seeded) -> None:
    def page(sort: str, offset: int = 0, limit: int = 50) -> list[Alert]:
        with platform.db.session() as s:
            return triage.search(s, AlertFilter.from_args({"sort": [sort]}), limit=limit, offset=offset)

    newest = page("-raised", limit=1)[0]
    assert newest.id == seeded.beacon[-1]
    assert page("raised", limit=1)[0].id == seeded.brute[0]
    by_severity = [a.severity for a in page("-severity", limit=305)]
    assert by_severity == ["critical"] * 5 + ["high"] * 250 + ["medium"] * 30 + ["low"] * 20
    assert [a.severity for a in page("severity", limit=20)] == ["low"] * 20
    counts = [a.count for a in page("-count", limit=305)]
    assert counts == sorted(counts, reverse=True)
    assert [a.rule_title for a in page("rule", limit=1)] == ["Beacon to a malware domain"]
    seen = [a.id for off in range(0, 305, 50) for a in page("-severity", off)]
    assert len(seen) == len(set(seen)) == 305
    with pytest.raises(InvalidInput):
        AlertFilter.from_args({"sort": ["id"]})


@pytest.mark.parametrize("sort", ["-raised", "raised", "-severity", "severity", "-count", "rule", "-last_seen"])
def test_a_page_past_the_middle_read_from_the_other_end_is_the_same_page(platform: Platform, seeded: Seeded,
                                                                         sort: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    wanted = AlertFilter.from_args({"sort": [sort]})
    with platform.db.session() as s:
        total = triage.count(s, wanted)
        everything = [a.id for a in triage.search(s, wanted, limit=total)]
        for offset, limit in ((150, 50), (250, 50), (300, 50), (280, 25), (304, 1), (0, 305), (305, 50)):
            turned = [a.id for a in triage.search(s, wanted, limit=limit, offset=offset, total=total)]
            assert turned == everything[offset:offset + limit], (sort, offset, limit)
        for offset in (0, 40, 120):  # pages read ids first from this offset on
            monkeypatch.setattr(triage, "DEFERRED_OFFSET", offset)
            assert [a.id for a in triage.search(s, wanted, limit=37, offset=offset)] == everything[offset:offset + 37]
        narrowed = AlertFilter.from_args({"sort": [sort], "severity": ["high"]})
        high = triage.count(s, narrowed)
        forward = [a.id for a in triage.search(s, narrowed, limit=high)]
        assert [a.id for a in triage.search(s, narrowed, limit=30, offset=200, total=high)] == forward[200:230]


@pytest.mark.parametrize(("name", "value"), [("severity", "urgent"), ("status", "open"), ("source", "10.0.0.300"),
                                             ("from", "yesterday"), ("q", "x" * 201)])
def test_a_bad_filter_value_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        AlertFilter.from_args({name: [value]})
    assert name in str(exc.value) or name == "source"


def test_250_attacking_addresses_are_one_row_by_rule(platform: Platform, seeded: Seeded) -> None:
    week = triage.group_window(AlertFilter(since=START - timedelta(hours=1)), now=START + timedelta(days=3))
    with platform.db.session() as s:
        rows, total = triage.groups(s, week, "rule", limit=100)
        assert total == triage.count_groups(s, week, "rule") == 4
        brute = next(g for g in rows if g.key == "ssh-bruteforce")
        assert (brute.alerts, brute.label, brute.severity, brute.statuses) == (250, "SSH brute force", "high",
                                                                                {"new": 250})
        assert brute.events == sum(1 + n % 7 for n in range(250))
        assert brute.first_seen == START - timedelta(minutes=5)
        assert brute.last_seen == START + timedelta(minutes=10 * 249)
        assert brute.expand is not None
        assert brute.expand.to_args() == {"rule": ["ssh-bruteforce"], "from": [week.since.isoformat()],
                                          "to": [(START + timedelta(days=3)).isoformat()]}
        # by source: one row per address (the beacons, of no address, are one row)
        assert triage.count_groups(s, week, "source") == 250 + 30 + 20 + 1
        narrowed = triage.group_window(AlertFilter.from_args({"rule": ["ssh-bruteforce"],
                                                              "source": ["198.51.100.0/24"]}).narrowed(
            since=week.since), now=START + timedelta(days=3))
        per_source, total = triage.groups(s, narrowed, "source", limit=100)
        assert len(per_source) == total == 50 and {g.alerts for g in per_source} == {1}
        # the organisation scope applies to groups too
        assert {g.key for g in triage.groups(s, week, "rule", organizations={JUSTICE})[0]} == {"web-sqli"}


def audit_rows(platform: Platform, action: str) -> list[tuple[str, str, dict[str, object]]]:
    with platform.db.session() as s:
        return [(e.object_id, e.actor, e.details) for e in
                s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))]


def test_bulk_close_as_false_positive_sets_the_reason_and_audits_each_alert(platform: Platform,
                                                                          seeded: Seeded) -> None:
    chosen = seeded.sqli[:10]
    with platform.db.session() as s:
        alerts = triage.by_ids(s, chosen, None)
        triage_actions.acknowledge(s, alerts[:2], "ana")
        result = triage_actions.close(s, alerts, "false-positive", "ana", "scanner of the audit team")
    assert sorted(result.changed) == sorted(chosen) and not result.skipped
    with platform.db.session() as s:
        for a in s.scalars(select(Alert).where(Alert.id.in_(chosen))):
            assert (a.status, a.close_reason, a.close_comment, a.closed_by) == \
                ("closed", "false-positive", "scanner of the audit team", "ana")
            assert a.closed_at is not None
    rows = audit_rows(platform, "alert.close")
    assert sorted(int(r[0]) for r in rows) == sorted(chosen) and {r[2]["reason"] for r in rows} == {"false-positive"}
    # closing again leaves them; reopening puts them back, acknowledged if they had been
    with platform.db.session() as s:
        again = triage_actions.close(s, triage.by_ids(s, chosen, None), "benign", "ana")
        assert not again.changed and set(again.skipped) == set(chosen)
        triage_actions.reopen(s, triage.by_ids(s, chosen[:3], None), "ana")
    with platform.db.session() as s:
        states = [(a.status, a.close_reason) for a in triage.by_ids(s, chosen[:3], None)]
    assert states == [("acknowledged", None), ("acknowledged", None), ("new", None)]
    assert len(audit_rows(platform, "alert.reopen")) == 3
    with platform.db.session() as s, pytest.raises(InvalidInput):
        triage_actions.close(s, triage.by_ids(s, chosen, None), "not-a-reason", "ana")


def test_assign_needs_an_active_user(platform: Platform, seeded: Seeded) -> None:
    with platform.db.session() as s:
        create_user(s, "alice", "a-long-password-1", "analyst")
        gone = create_user(s, "gone", "a-long-password-1", "analyst")
        gone.active = False
    for who in ("nobody", "gone", ""):
        with platform.db.session() as s, pytest.raises(InvalidInput):
            triage_actions.assign(s, triage.by_ids(s, seeded.scan, None), who, "chef")
    with platform.db.session() as s:
        assert {a.assignee for a in triage.by_ids(s, seeded.scan, None)} == {None}
        triage_actions.assign(s, triage.by_ids(s, seeded.scan, None), "alice", "chef")
        triage_actions.assign(s, triage.by_ids(s, seeded.scan[:5], None), None, "chef")
    assert len(audit_rows(platform, "alert.assign")) == 20 and len(audit_rows(platform, "alert.unassign")) == 5


def test_alerts_out_of_scope_are_not_found(platform: Platform, seeded: Seeded) -> None:
    with platform.db.session() as s:
        with pytest.raises(NotFound) as exc:
            triage.by_ids(s, [seeded.sqli[0], seeded.brute[0]], {JUSTICE})
        assert f"#{seeded.brute[0]}" in str(exc.value) and f"#{seeded.sqli[0]}" not in str(exc.value)


def test_one_incident_from_many_alerts(platform: Platform, seeded: Seeded) -> None:
    chosen = seeded.brute[:3] + seeded.sqli[:4] + seeded.scan[:1]
    with platform.db.session() as s:
        case = from_alerts.open_incident(s, triage.by_ids(s, chosen, None), "ana", platform.events.get,
                                         platform.constituency, title="Coordinated attack", tlp="green")
        case_id = case.id
    with platform.db.session() as s:
        case = s.get_one(Case, case_id)
        assert (case.title, case.severity, case.organization, case.tlp) == ("Coordinated attack", "high", JUSTICE,
                                                                            "green")
        assert {o.organization for o in s.scalars(select(CaseOrganization).where(
            CaseOrganization.case_id == case_id))} == {INTERIEUR, JUSTICE, DGPN}
        assert case.detected_at is not None
        assert case.detected_at.replace(tzinfo=START.tzinfo) == START - timedelta(minutes=5)
        assert set(case.attack) >= {"T1110", "T1190"}
        linked = s.scalars(select(Alert).where(Alert.case_id == case_id)).all()
        assert sorted(a.id for a in linked) == sorted(chosen) and {a.status for a in linked} == {"promoted"}
        entry = case.timeline[0]
        assert entry.message_id == "Incident opened from %(count)s alert(s): %(alerts)s." and entry.params["count"] == 8
    # any alert already in an incident: 409 naming it, nothing opened
    with platform.db.session() as s, pytest.raises(Conflict) as exc:
        from_alerts.open_incident(s, triage.by_ids(s, [seeded.beacon[0], chosen[0]], None), "ana",
                                  platform.events.get, platform.constituency)
    assert f"#{chosen[0]}" in str(exc.value) and f"#{seeded.beacon[0]}" not in str(exc.value)
    with platform.db.session() as s:
        assert s.scalar(select(Alert.case_id).where(Alert.id == seeded.beacon[0])) is None
        assert len(s.scalars(select(Case)).all()) == 1


def test_adding_alerts_to_an_incident_skips_and_reports_those_in_one(platform: Platform, seeded: Seeded) -> None:
    with platform.db.session() as s:
        first = from_alerts.open_incident(s, triage.by_ids(s, seeded.sqli[:2], None), "ana", platform.events.get,
                                          platform.constituency, tlp="clear")
        target = Case(title="Beacons", organization=None, created_by="ana", tlp="clear")
        s.add(target)
        s.flush()
        beacon = s.get_one(Alert, seeded.beacon[0])
        beacon.tlp = "amber"  # the alert's evidence is TLP:AMBER
        linked = from_alerts.add_to_incident(s, target, triage.by_ids(s, [seeded.beacon[0], seeded.sqli[0]], None),
                                             "ana", platform.events.get, platform.constituency)
        assert linked.added == [seeded.beacon[0]] and linked.skipped == {seeded.sqli[0]: first.id}
        target_id = target.id
    with platform.db.session() as s:
        target = s.get_one(Case, target_id)
        assert target.tlp == "amber"  # raised to the alert's
        kinds = [(t.kind, t.message_id) for t in target.timeline]
        assert ("alert", "Alert #%(alert)s added: %(rule)s (%(count)s event(s)).") in kinds
        assert any(k == "tlp_raised" for k, _m in kinds)
        assert s.get_one(Alert, seeded.beacon[0]).status == "promoted"
        assert s.get_one(Alert, seeded.sqli[0]).case_id == first.id


def test_saved_filters_own_shared_and_deletion(platform: Platform) -> None:
    f = AlertFilter.from_args({"severity": ["high", "critical"], "assignee": ["me"]})
    with platform.db.session() as s:
        mine = saved_filters.save(s, "alice", "Mine", f)
        shared = saved_filters.save(s, "alice", "Team", f, shared=True)
        mine_id, shared_id = mine.id, shared.id
    with platform.db.session() as s:
        assert [x.name for x in saved_filters.visible(s, "alice")] == ["Mine", "Team"]
        assert [x.name for x in saved_filters.visible(s, "bob")] == ["Team"]
        applied = saved_filters.as_filter(saved_filters.get(s, shared_id, "bob"), me="bob")
        assert applied.severity == ("high", "critical") and applied.assignee == "me" and applied.me == "bob"
        with pytest.raises(NotFound):
            saved_filters.get(s, mine_id, "bob")
    from cert.core.errors import Forbidden

    with platform.db.session() as s, pytest.raises(Forbidden):
        saved_filters.delete(s, shared_id, "bob")
    with platform.db.session() as s:
        saved_filters.delete(s, shared_id, "chef", admin=True)
        saved_filters.delete(s, mine_id, "alice")
    with platform.db.session() as s:
        assert saved_filters.visible(s, "alice") == []
