"""What an incident is made of, at the service level: tasks (assignee, due date, status, order,
overdue), countermeasures (target checked by kind, status transitions), observables by hand and
their sightings (grouped queries, event counts), comments (own edits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, select

from cert.accounts.users import create_user, set_active
from cert.core.errors import Conflict, Forbidden, InvalidInput
from cert.incidents import comments, countermeasures, observables, tasks
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.storage.models import Alert, AuditEntry, Case, Observable, Task, TimelineEntry


@pytest.fixture
def case_ids(platform: Platform) -> tuple[int, int]:
    with platform.db.session() as s:
        create_user(s, "ana", "a long analyst passphrase", "analyst")
        create_user(s, "rita", "a long responder passphrase", "responder")
        create_user(s, "pf", "a long focal passphrase", "focal_point", organization="min-justice",
                    constituency=platform.constituency)
        first = Case(title="Hameçonnage", created_by="ana", organization="Ministère de la Justice")
        second = Case(title="Balayage", created_by="ana", organization="Primature")
        s.add_all([first, second])
        s.flush()
        return first.id, second.id


def test_a_task_is_overdue_while_pending_past_its_due_date(platform: Platform, case_ids: tuple[int, int]) -> None:
    paris = timezone(timedelta(hours=2))
    with platform.db.session() as s:
        case = s.get_one(Case, case_ids[0])
        late = tasks.add_task(s, case, "ana", "Prévenir le point focal", assignee="rita",
                              due_at=datetime.now(paris) - timedelta(hours=1))
        later = tasks.add_task(s, case, "ana", "Collecter les journaux", due_at=datetime.now(UTC) + timedelta(days=1))
        assert tasks.is_overdue(late) and not tasks.is_overdue(later)
        assert [t.position for t in (late, later)] == [0, 1]
        late_id, later_id = late.id, later.id
    with platform.db.session() as s:  # read back (SQLite drops the zone: still compared as UTC)
        case = s.get_one(Case, case_ids[0])
        assert [tasks.is_overdue(t) for t in tasks.list_tasks(s, case.id)] == [True, False]
        tasks.update_task(s, case, late_id, "rita", status="in-progress")
        assert tasks.is_overdue(s.get_one(Task, late_id))
        tasks.update_task(s, case, late_id, "rita", status="done", assignee=None)
        done = s.get_one(Task, late_id)
        assert not tasks.is_overdue(done) and done.done_at is not None and done.assignee is None
        tasks.move_task(s, case, later_id, "ana", offset=-1)
        assert [t.id for t in tasks.list_tasks(s, case.id)] == [later_id, late_id]
        timeline = [(e.message_id, e.params) for e in case.timeline]
        audit = [a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.object_id == str(case.id)))]
    assert ("Task #%(id)s: status changed from %(old)s to %(new)s",
            {"id": late_id, "old": "in-progress", "new": "done"}) in timeline
    assert ("Task #%(id)s unassigned", {"id": late_id, "assignee": ""}) in timeline
    assert audit.count("case.task.add") == 2 and "case.task.update" in audit and "case.task.reorder" in audit

    with platform.db.session() as s:
        case = s.get_one(Case, case_ids[0])
        tasks.delete_task(s, case, late_id, "ana")
        assert [t.id for t in tasks.list_tasks(s, case.id)] == [later_id]


def test_a_task_goes_to_an_active_staff_account_with_a_zoned_due_date(platform: Platform,
                                                                     case_ids: tuple[int, int]) -> None:
    with platform.db.session() as s:
        case = s.get_one(Case, case_ids[0])
        for who in ("nobody-here", "pf"):  # unknown; a focal point is not CERT staff
            with pytest.raises(InvalidInput) as err:
                tasks.add_task(s, case, "ana", "x", assignee=who)
            assert err.value.params["name"] == who
        with pytest.raises(InvalidInput, match="time zone"):
            tasks.add_task(s, case, "ana", "x", due_at=datetime(2030, 1, 1, 12, 0))
        with pytest.raises(InvalidInput):
            tasks.add_task(s, case, "ana", "   ")
        set_active(s, _user(s, "rita"), False, "chef")
        with pytest.raises(InvalidInput):
            tasks.add_task(s, case, "ana", "x", assignee="rita")
        with pytest.raises(InvalidInput):
            tasks.update_task(s, case, tasks.add_task(s, case, "ana", "y").id, "ana", status="finished")


def _user(s: Any, name: str) -> Any:
    from cert.storage.models import User

    return s.scalars(select(User).where(User.username == name)).one()


def test_a_countermeasure_target_is_checked_against_its_kind(platform: Platform, case_ids: tuple[int, int]) -> None:
    c = platform.constituency
    with platform.db.session() as s:
        case = s.get_one(Case, case_ids[0])
        block = countermeasures.record_countermeasure(s, case, "ana", "block-ip", " 203.0.113.7 ", constituency=c,
                                                      organization="min-justice")
        assert (block.target, block.organization) == ("203.0.113.7", "Ministère de la Justice")
        assert countermeasures.record_countermeasure(s, case, "ana", "sinkhole", "Evil.EXAMPLE.", constituency=c
                                                     ).target == "evil.example"
        assert countermeasures.record_countermeasure(s, case, "ana", "block-ip", "198.51.100.0/24", constituency=c
                                                     ).target == "198.51.100.0/24"
        for kind, target in (("block-ip", "evil.example"), ("block-domain", "203.0.113.7"),
                             ("sinkhole", "not a domain"), ("isolate-host", "pc 12"), ("block-ip", ""),
                             ("disable-account", "a\x00b"), ("teleport", "x")):
            with pytest.raises(InvalidInput):
                countermeasures.record_countermeasure(s, case, "ana", kind, target, constituency=c)
        with pytest.raises(InvalidInput) as err:
            countermeasures.record_countermeasure(s, case, "ana", "block-ip", "1.2.3.4", constituency=c,
                                                  organization="Ministère imaginaire")
        assert err.value.params == {"organization": "Ministère imaginaire"}


def test_countermeasure_statuses_follow_the_allowed_transitions(platform: Platform,
                                                                case_ids: tuple[int, int]) -> None:
    with platform.db.session() as s:
        case = s.get_one(Case, case_ids[0])
        cm = countermeasures.record_countermeasure(s, case, "ana", "block-domain", "evil.example",
                                                   constituency=platform.constituency)
        with pytest.raises(Conflict):
            countermeasures.change_status(s, case, cm.id, "reverted", "ana")
        countermeasures.change_status(s, case, cm.id, "requested", "ana")
        with pytest.raises(InvalidInput, match="comment"):
            countermeasures.change_status(s, case, cm.id, "failed", "ana")
        countermeasures.change_status(s, case, cm.id, "failed", "ana", "Le pare-feu refuse la règle")
        countermeasures.change_status(s, case, cm.id, "in-progress", "ana")  # retried
        countermeasures.change_status(s, case, cm.id, "done", "ana")
        assert cm.done_at is not None and cm.comment == "Le pare-feu refuse la règle"
        with pytest.raises(Conflict):
            countermeasures.change_status(s, case, cm.id, "failed", "ana", "trop tard")
        with pytest.raises(Conflict):  # acted upon: stays on record
            countermeasures.delete_countermeasure(s, case, cm.id, "ana")
        countermeasures.change_status(s, case, cm.id, "reverted", "ana")
        other = countermeasures.record_countermeasure(s, case, "ana", "takedown", "https://evil.example/login",
                                                      constituency=platform.constituency)
        with pytest.raises(InvalidInput):
            countermeasures.change_status(s, case, other.id, "impossible", "ana")
        countermeasures.change_status(s, case, other.id, "impossible", "ana", "Hébergeur hors d'atteinte")
        assert countermeasures.TRANSITIONS["impossible"] == frozenset()
        steps = [e.params.get("new") for e in case.timeline if e.kind == "countermeasure" and "new" in e.params]
    assert steps == ["requested", "failed", "in-progress", "done", "reverted", "impossible"]


def _count_queries(platform: Platform) -> list[str]:
    seen: list[str] = []
    event.listen(platform.db.engine, "before_cursor_execute",
                 lambda *args: seen.append(str(args[2])) if str(args[2]).lstrip().upper().startswith("SELECT") else None)
    return seen


def test_sightings_link_the_other_incidents_in_grouped_queries(platform: Platform,
                                                               case_ids: tuple[int, int]) -> None:
    mine, other = case_ids
    now = datetime.now(UTC)
    with platform.db.session() as s:
        add_observable(s, s.get_one(Case, other), "ip", "203.0.113.7")
        add_observable(s, s.get_one(Case, other), "domain", "evil.example")
        for _ in range(2):
            s.add(Alert(rule_id="r", rule_title="Force brute", detector="sigma", severity="high",
                        source_ip="203.0.113.7", organization="Primature", first_seen=now, last_seen=now))
        case = s.get_one(Case, mine)
        obs = observables.add_by_hand(s, case, "ana", "ip", "203.0.113.7", comment="vu dans les journaux")
        assert obs.created_by == "ana" and obs.comment == "vu dans les journaux"
        with pytest.raises(Conflict):
            observables.add_by_hand(s, case, "ana", "ip", "203.0.113.7")
        with pytest.raises(InvalidInput):
            observables.add_by_hand(s, case, "ana", "ip", "203.0.113.300")
        assert observables.add_by_hand(s, case, "ana", "domain", "EVIL.example").value == "evil.example"
        observables.add_by_hand(s, case, "ana", "md5", "D41D8CD98F00B204E9800998ECF8427E")
    with platform.db.session() as s:
        case = s.get_one(Case, mine)
        items = list(case.observables)
        queries = _count_queries(platform)
        seen = observables.sightings(s, case, items)
        assert len(queries) == 2  # one for the incidents, one for the alerts, whatever the count
        by_value = {o.value: seen[o.id] for o in items}
        assert (by_value["203.0.113.7"].incidents, by_value["203.0.113.7"].incident_ids) == (1, [other])
        assert by_value["203.0.113.7"].alerts == 2
        assert by_value["evil.example"].incident_ids == [other]
        assert by_value["d41d8cd98f00b204e9800998ecf8427e"].incidents == 0
        justice_only = observables.sightings(s, case, items, organizations={"Ministère de la Justice"})
        assert justice_only[items[0].id].incidents == 0 and justice_only[items[0].id].alerts == 0


def test_events_carrying_an_observable_are_counted_on_request(platform: Platform,
                                                             case_ids: tuple[int, int]) -> None:
    platform.events.write([
        {"@timestamp": "2026-01-05T10:00:00Z", "event": {"id": f"e{i}"}, "source": {"ip": ip},
         "related": {"ip": [ip, "10.1.2.3"]}}
        for i, ip in enumerate(["203.0.113.7", "203.0.113.7", "198.51.100.1"])])
    with platform.db.session() as s:
        case = s.get_one(Case, case_ids[0])
        obs = observables.add_by_hand(s, case, "ana", "ip", "203.0.113.7")
        counted = observables.event_sightings(platform.events, obs)
    assert counted.by_field == {"related.ip": 2} and counted.total == 2


def test_observable_edits_and_removal_go_on_the_timeline(platform: Platform, case_ids: tuple[int, int]) -> None:
    with platform.db.session() as s:
        case = s.get_one(Case, case_ids[0])
        obs = observables.add_by_hand(s, case, "ana", "url", "https://evil.example/a", tlp="green")
        observables.update_observable(s, case, obs.id, "ana", tlp="red", ioc=False, comment="faux positif ?")
        assert (obs.tlp, obs.ioc, obs.comment) == ("red", False, "faux positif ?")
        bad = add_observable(s, case, "ip", "999.1.1.1")  # from evidence: kept, marked invalid
        s.flush()
        assert bad is not None and not bad.valid
        with pytest.raises(InvalidInput):
            observables.update_observable(s, case, bad.id, "ana", ioc=True)
        observables.remove_observable(s, case, obs.id, "ana")
        s.flush()
        assert s.get(Observable, obs.id) is None
        kinds = [e.message_id for e in s.scalars(select(TimelineEntry).where(TimelineEntry.kind == "observable"))]
    assert kinds == ["Observable added: %(type)s %(value)s", "Observable edited: %(type)s %(value)s",
                     "Observable removed: %(type)s %(value)s"]


def test_comments_are_edited_by_their_author_and_deleted_by_them_or_an_admin(
        platform: Platform, case_ids: tuple[int, int]) -> None:
    with platform.db.session() as s:
        case = s.get_one(Case, case_ids[0])
        first = comments.add_comment(s, case, "ana", "  Le serveur %(x)s a été isolé.  ")
        assert first.body == "Le serveur %(x)s a été isolé." and first.edited_at is None
        with pytest.raises(Forbidden):
            comments.edit_comment(s, case, first.id, "rita", "autre texte")
        comments.edit_comment(s, case, first.id, "ana", "Le serveur a été isolé à 10 h.")
        assert first.edited_at is not None
        with pytest.raises(Forbidden):
            comments.delete_comment(s, case, first.id, "rita", "responder")
        second = comments.add_comment(s, case, "rita", "vu")
        comments.delete_comment(s, case, second.id, "chef", "admin")
        comments.delete_comment(s, case, first.id, "ana", "analyst")
        with pytest.raises(InvalidInput):
            comments.add_comment(s, case, "ana", "   ")
        assert comments.list_comments(s, case.id) == []
        entries = [(e.message_id, e.params.get("text")) for e in case.timeline]
    assert ("Comment #%(id)s: %(text)s", "Le serveur %(x)s a été isolé.") in entries
    assert ("Comment #%(id)s edited: %(text)s", "Le serveur a été isolé à 10 h.") in entries
