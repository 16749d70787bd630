"""A playbook that blocks addresses on a real gateway (nftables in a private network namespace),
through the engine: the dry run says which address is blocked where and which are left out and
why (protected, PAP, TLP); the block waits for a second responder; it is carried out once even
when the job runs twice; it is listed with its expiry and undone when the expiry passes (an
injected clock), or by hand; a step with more targets than its limit is refused before acting."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from support import INTERIEUR
from test_block_ip import Gateway, gateway  # noqa: F401 - fixture

from cert.incidents.cases import add_observable
from cert.response.runs import decide, execute_run, expire_due, plan_playbook, resume, start_run, undo_action
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, Case, Countermeasure, PlaybookRun, ResponseAction, StepRun, TimelineEntry

pytestmark = pytest.mark.nftables

CONTAIN = """
id: contain
version: 2
steps:
  - id: block
    step: block_ip
    expires: 24h
    limit: LIMIT
    targets: {tlp_max: amber}
"""


@pytest.fixture
def responding(platform: Platform, tmp_path: Path, gateway: Gateway) -> Platform:  # noqa: F811
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "contain.yml").write_text(CONTAIN.replace("LIMIT", "5"), encoding="utf-8")
    (folder / "tight.yml").write_text(CONTAIN.replace("contain", "tight").replace("LIMIT", "1"), encoding="utf-8")
    platform.settings = replace(platform.settings, playbooks_dir=folder, response_nft_gateway="gw-test",
                                response_nft_command=f"ip netns exec {gateway.ns} nft",
                                response_protected=("10.77.0.3", "resolver.gouv.example"))
    return platform


def incident(p: Platform) -> int:
    with p.db.session() as s:
        case = Case(title="SSH brute force on the visa portal", severity="high", created_by="ana",
                    organization=INTERIEUR, pap="green")
        s.add(case)
        s.flush()
        add_observable(s, case, "ip", "10.77.0.2")
        add_observable(s, case, "ip", "10.77.0.3")  # the CERT's own resolver: protected
        add_observable(s, case, "ip", "10.77.1.5", tlp="red")  # above the step's TLP ceiling
        held = add_observable(s, case, "ip", "fd77::2")
        assert held is not None
        held.pap = "red"  # the partner who gave it allows no active use
        return case.id


def blocked(gateway: Gateway) -> list[str]:  # noqa: F811
    """The addresses in the gateway's set (none before the first block made it)."""
    try:
        listing = json.loads(gateway.nft("-j", "list", "set", "inet", "vigie", "blocked4"))
    except subprocess.CalledProcessError:
        return []
    for item in listing["nftables"]:
        if "set" in item:
            return [str(e["elem"]["val"]) if isinstance(e, dict) else str(e) for e in item["set"].get("elem", [])]
    return []


def test_dry_run_approval_block_once_expiry_and_undo(responding: Platform, gateway: Gateway) -> None:  # noqa: F811
    p = responding
    case_id = incident(p)
    dry = plan_playbook(p, case_id, "contain", "rita")
    step = dry["steps"][0]
    assert step["approval"] == "responder" and "gw-test" in step["where"]
    assert [t["value"] for t in step["targets"]] == ["10.77.0.2"]
    excluded = {e["value"]: e["reason"] for e in step["excluded"]}
    assert excluded == {"10.77.0.3": "protected: never a target",
                        "10.77.1.5": "TLP %(tlp)s is above the step's %(max)s",
                        "fd77::2": "%(pap)s does not permit this action (it needs %(needed)s)"}
    assert gateway.connect("10.77.0.2") == "ok"  # the dry run did nothing

    run_id = start_run(p, case_id, "contain", "rita")
    p.jobs.wait()
    with p.db.session() as s:
        assert s.get_one(PlaybookRun, run_id).status == "waiting-approval"
    assert gateway.connect("10.77.0.2") == "ok"  # nothing before the approval
    decide(p, run_id, 1, "sam", "responder", True, "confirmed attacker, 24 hours")
    p.jobs.wait()
    assert gateway.connect("10.77.0.2") == "timeout" and gateway.connect("10.77.0.3") == "ok"
    assert execute_run(p, run_id) == "done"  # the job delivered twice: nothing more happens
    with p.db.session() as s:
        run = s.get_one(PlaybookRun, run_id)
        assert (run.status, run.version) == ("done", 2)
        rows = list(s.scalars(select(ResponseAction).where(ResponseAction.case_id == case_id)))
        assert [(r.target, r.status) for r in rows] == [("10.77.0.2", "applied")]
        expires = rows[0].expires_at
        assert expires is not None
        cm = s.get_one(Countermeasure, rows[0].countermeasure_id)
        assert (cm.kind, cm.target, cm.status) == ("block-ip", "10.77.0.2", "done") and cm.expires_at == expires
        action_id = rows[0].id
    assert blocked(gateway) == ["10.77.0.2"]

    # not yet due: nothing undone; past the expiry (injected clock): unblocked, recorded
    assert expire_due(p, datetime.now(UTC) + timedelta(hours=23)) == []
    assert expire_due(p, datetime.now(UTC) + timedelta(hours=25)) == [action_id]
    assert gateway.connect("10.77.0.2") == "ok" and blocked(gateway) == []
    with p.db.session() as s:
        row = s.get_one(ResponseAction, action_id)
        assert (row.status, row.reverted_by) == ("reverted", "system:expiry")
        assert s.get_one(Countermeasure, row.countermeasure_id).status == "reverted"
        timeline = [t.message for t in s.scalars(select(TimelineEntry).where(TimelineEntry.case_id == case_id))]
        assert any("approved by sam" in m for m in timeline)
        assert any("10.77.0.2 undone (unblock)" in m for m in timeline)
        audit = [(a.actor, a.action) for a in s.scalars(select(AuditEntry))]
        assert ("playbook:contain", "response.action") in audit and ("system:expiry", "response.undo") in audit
    assert expire_due(p, datetime.now(UTC) + timedelta(days=3)) == []


def test_undo_by_hand_and_the_limit(responding: Platform, gateway: Gateway) -> None:  # noqa: F811
    p = responding
    case_id = incident(p)
    run_id = start_run(p, case_id, "contain", "rita")
    p.jobs.wait()
    decide(p, run_id, 1, "sam", "responder", True, "block now")
    p.jobs.wait()
    with p.db.session() as s:
        action_id = s.scalars(select(ResponseAction.id).where(ResponseAction.run_id == run_id)).one()
    undo_action(p, action_id, "sam", "the ministry fixed the server")
    assert gateway.connect("10.77.0.2") == "ok"
    with p.db.session() as s:
        add_observable(s, s.get_one(Case, case_id), "ip", "10.77.0.9")
    tight = start_run(p, case_id, "tight", "rita")
    p.jobs.wait()
    with p.db.session() as s:
        run = s.get_one(PlaybookRun, tight)
        assert run.status == "failed" and "more than the step's limit of 1" in run.error
    assert blocked(gateway) == []


def test_the_timer_undoes_a_block_when_it_expires(responding: Platform, gateway: Gateway,  # noqa: F811
                                                  tmp_path: Path) -> None:
    import threading
    import time

    from cert.response import timer

    folder = tmp_path / "playbooks"
    (folder / "brief.yml").write_text(CONTAIN.replace("contain", "brief").replace("LIMIT", "5")
                                      .replace("expires: 24h", "expires: 3s"), encoding="utf-8")
    p = responding
    p.settings = replace(p.settings, response_timer_seconds=1)
    case_id = incident(p)
    stop = threading.Event()
    thread = timer.start(p, stop)
    assert thread is not None
    try:
        run_id = start_run(p, case_id, "brief", "rita")
        p.jobs.wait()
        decide(p, run_id, 1, "sam", "responder", True, "three seconds only")
        p.jobs.wait()
        assert gateway.connect("10.77.0.2") == "timeout"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with p.db.session() as s:
                if s.scalars(select(ResponseAction.status).where(ResponseAction.run_id == run_id)).one() == "reverted":
                    break
            time.sleep(0.5)
        with p.db.session() as s:
            row = s.scalars(select(ResponseAction).where(ResponseAction.run_id == run_id)).one()
            assert (row.status, row.reverted_by) == ("reverted", "system:expiry")
        assert gateway.connect("10.77.0.2") == "ok" and blocked(gateway) == []
    finally:
        stop.set()
        thread.join(timeout=5)


def test_a_run_resumed_after_its_block_was_undone_blocks_again(responding: Platform,
                                                               gateway: Gateway) -> None:  # noqa: F811
    """The undone change's key is used again: the step blocks the address again, on the same
    record, with a new countermeasure."""
    p = responding
    case_id = incident(p)
    run_id = start_run(p, case_id, "contain", "rita")
    p.jobs.wait()
    decide(p, run_id, 1, "sam", "responder", True, "block")
    p.jobs.wait()
    with p.db.session() as s:
        action_id = s.scalars(select(ResponseAction.id).where(ResponseAction.run_id == run_id)).one()
        step = s.scalars(select(StepRun).where(StepRun.run_id == run_id)).one()
        step.status, step.error = "failed", "the gateway was replaced"  # as if it had failed afterwards
        s.get_one(PlaybookRun, run_id).status = "failed"
    undo_action(p, action_id, "sam", "wrong gateway")
    assert blocked(gateway) == []
    resume(p, run_id, "rita")
    p.jobs.wait()
    decide(p, run_id, 1, "sam", "responder", True, "block again")
    p.jobs.wait()
    assert blocked(gateway) == ["10.77.0.2"]
    with p.db.session() as s:
        rows = list(s.scalars(select(ResponseAction).where(ResponseAction.run_id == run_id)))
        assert [(r.id, r.status, r.reverted_by) for r in rows] == [(action_id, "applied", "")]
        assert [c.status for c in s.scalars(select(Countermeasure).order_by(Countermeasure.id))] == \
            ["reverted", "done"]
