"""Playbook runs as a responder sees them: files checked against the schema with errors that name
the place, versions recorded, conditions, approvals by someone other than the requester (audited,
with a reason), refusal ending the run, resuming a failed run from its step, and a run whose job
died failed instead of left running."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from support import INTERIEUR

from cert.core.errors import Conflict, Forbidden, InvalidInput
from cert.incidents.cases import add_observable
from cert.response.playbooks import Playbook, load_playbooks
from cert.response.runs import decide, execute_run, fail_stuck, plan_playbook, resume, start_run
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, Case, PlaybookRun, StepRun, TimelineEntry

LOOKUP = """
id: lookup
version: 3
title: {fr: Recherche, en: Lookup}
steps:
  - id: look
    step: sightings
    with: {days: 30}
  - id: tell
    step: notify_focal_point
    approval: responder
    when: {severity: [high, critical]}
"""


@pytest.fixture
def books(platform: Platform, tmp_path: Path) -> Platform:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "lookup.yml").write_text(LOOKUP, encoding="utf-8")
    platform.settings = replace(platform.settings, playbooks_dir=folder)
    return platform


def incident(p: Platform, severity: str = "high") -> int:
    with p.db.session() as s:
        case = Case(title="Brute force on the civil-status portal", severity=severity, created_by="ana",
                    organization=INTERIEUR)
        s.add(case)
        s.flush()
        add_observable(s, case, "ip", "203.0.113.7")
        return case.id


def test_schema_errors_name_the_file_and_the_place(platform: Platform) -> None:
    bad = {"id": "Bad Id", "steps": [{"step": "sightings", "expires": "3 days", "approval": "boss"},
                                     {"step": "no_such_step"}], "colour": "red"}
    with pytest.raises(InvalidInput) as caught:
        Playbook.from_dict(bad, "x.yml")
    text = str(caught.value)
    assert text.startswith("x.yml: ") and "colour" in text and "steps[0].expires" in text
    assert "steps[0].approval" in text and "id: 'Bad Id'" in text
    with pytest.raises(InvalidInput, match="unknown step no_such_step"):
        Playbook.from_dict({"id": "ok", "steps": [{"step": "no_such_step"}]}, "y.yml")
    with pytest.raises(InvalidInput, match="names no earlier step"):
        Playbook.from_dict({"id": "ok", "steps": [{"step": "sightings", "when": {"found": "later.hits"}}]}, "z.yml")
    shipped = load_playbooks(Path(__file__).resolve().parents[2] / "playbooks")
    assert {"brute-force-response", "web-attack-response"} <= set(shipped)


def test_a_run_waits_for_a_second_person_then_finishes(books: Platform) -> None:
    case_id = incident(books)
    dry = plan_playbook(books, case_id, "lookup", "rita")
    assert [s["id"] for s in dry["steps"]] == ["look", "tell"] and dry["version"] == 3
    assert dry["steps"][1]["approval"] == "responder" and "skip" not in dry["steps"][1]
    run_id = start_run(books, case_id, "lookup", "rita")
    books.jobs.wait()
    with books.db.session() as s:
        run = s.get_one(PlaybookRun, run_id)
        assert (run.status, run.version) == ("waiting-approval", 3)
        steps = list(s.scalars(select(StepRun).where(StepRun.run_id == run_id).order_by(StepRun.position)))
        assert [x.status for x in steps] == ["done", "waiting-approval"]
    with pytest.raises(Forbidden):
        decide(books, run_id, 2, "rita", "responder", True, "my own run")
    with pytest.raises(Forbidden):
        decide(books, run_id, 2, "ana", "analyst", True, "an analyst may not")
    with pytest.raises(InvalidInput):
        decide(books, run_id, 2, "sam", "responder", True, "  ")
    decide(books, run_id, 2, "sam", "responder", True, "the ministry asked for it")
    books.jobs.wait()
    with books.db.session() as s:
        assert s.get_one(PlaybookRun, run_id).status == "done"
        timeline = [t.message for t in s.scalars(select(TimelineEntry).where(TimelineEntry.case_id == case_id))]
        assert any("approved by sam: the ministry asked for it" in m for m in timeline)
        assert any("waits for the approval of a responder" in m for m in timeline)
        audit = [(a.actor, a.action) for a in s.scalars(select(AuditEntry))]
        assert ("sam", "playbook.approve") in audit and ("rita", "playbook.run") in audit
    with pytest.raises(Conflict):
        decide(books, run_id, 2, "sam", "responder", True, "again")


def test_a_condition_skips_and_a_refusal_ends_the_run(books: Platform) -> None:
    low = incident(books, severity="low")
    run_id = start_run(books, low, "lookup", "rita")
    books.jobs.wait()
    with books.db.session() as s:
        assert s.get_one(PlaybookRun, run_id).status == "done"
        assert [x.status for x in s.scalars(select(StepRun).where(StepRun.run_id == run_id)
                                            .order_by(StepRun.position))] == ["done", "skipped"]
    high = incident(books)
    run_id = start_run(books, high, "lookup", "rita")
    books.jobs.wait()
    decide(books, run_id, 2, "sam", "responder", False, "the focal point is on leave")
    with books.db.session() as s:
        run = s.get_one(PlaybookRun, run_id)
        assert run.status == "refused" and "the focal point is on leave" in run.error
    resume(books, run_id, "rita")
    books.jobs.wait()
    with books.db.session() as s:
        assert s.get_one(PlaybookRun, run_id).status == "waiting-approval"  # planned again, asked again
    with pytest.raises(Conflict):
        resume(books, run_id, "rita")


def test_a_run_whose_job_died_is_failed_not_left_running(books: Platform) -> None:
    case_id = incident(books)
    with books.db.session() as s:
        from cert.incidents.cases import get_case
        from cert.response.runs import request_run

        run_id = request_run(books, s, get_case(s, case_id), "lookup", "rita").id
    with books.db.session() as s:
        run = s.get_one(PlaybookRun, run_id)
        run.status, run.heartbeat_at = "running", datetime.now(UTC) - timedelta(hours=2)
    assert fail_stuck(books, datetime.now(UTC)) == [run_id]
    with books.db.session() as s:
        run = s.get_one(PlaybookRun, run_id)
        assert run.status == "failed" and "no sign of life" in run.error
    assert execute_run(books, run_id) == "failed"  # a late job does not revive it


def test_a_run_queued_before_a_restart_is_carried_on_by_the_console(books: Platform) -> None:
    """Embedded: the run's job waits in the data directory's queue; the console started on that
    directory (what `cert serve` does) runs it."""
    import time

    from web.app import create_app

    case_id = incident(books)
    run_id = start_run(books, case_id, "lookup", "rita")  # queued; nothing runs it in this process
    books.close()
    restarted = Platform(books.settings)
    try:
        create_app(platform=restarted)
        deadline = time.monotonic() + 30
        status = ""
        while time.monotonic() < deadline:
            with restarted.db.session() as s:
                status = s.get_one(PlaybookRun, run_id).status
            if status == "waiting-approval":
                break
            time.sleep(0.2)
        assert status == "waiting-approval"
    finally:
        restarted.close()
