"""Playbook runs: requested on an incident, executed step by step as a job, waiting for approval
where a step asks for one, acting on constituents' systems through actions (``cert.response.
actions``) target by target, and undone by hand or when their expiry passes.

- A run's steps are recorded (``StepRun``) when it is requested. A step's **plan** (its targets,
  what would be done to each, what was left out and why) is computed when the run reaches it,
  and frozen there: an approver approves that plan, and the step carries out that plan.
- A **dry run** (``plan_playbook``) computes every step's plan for an incident without doing
  anything (a step whose targets come from an earlier step's output says so).
- **Approvals**: an action that touches a constituent's systems needs a responder's approval by
  default (``approval:`` in the playbook names another role, or ``none`` for steps that do not
  touch them); the requester never approves their own run. Approval and refusal need a reason and
  are audited; a refused step ends the run.
- **Guard rails**: the protected list (``response_protected`` and loopback) is never a target; a
  step with more targets than its ``limit`` (``response_max_targets`` by default) is refused
  before anything is done; an observable whose PAP (its own, or the incident's) forbids the
  action is left out.
- **Idempotency**: each (run, step, target) has a key; an action already recorded under its key
  is not done again, and an action reads the system's state before changing it: a step executed
  twice (a worker killed mid-step, a retried job) acts once.
- **Undo**: each change is recorded (``ResponseAction``) with a countermeasure on the incident
  and its expiry; ``undo_action`` runs the compensating action, ``expire_due`` undoes those whose
  expiry has passed.
- A failed or refused run can be resumed from a step by a responder.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.accounts.access import has_role
from cert.core.errors import N_, Conflict, Forbidden, InvalidInput, NotFound, VigieError
from cert.core.observables import check_observable, normalize, normalize_domain
from cert.core.tlp import PAP, TLP
from cert.incidents.cases import add_timeline, get_case
from cert.incidents.countermeasures import change_status, record_countermeasure
from cert.response.actions import Action, ActionFailed, Target
from cert.response.playbooks import Playbook, PlaybookStep, Step, StepContext, StepResult, load_playbooks, steps
from cert.runtime.jobs import JobOptions
from cert.runtime.platform import Platform
from cert.storage import audit
from cert.storage.models import Case, Countermeasure, PlaybookRun, ResponseAction, StepApproval, StepRun

EXECUTE = "cert.response.runs.execute_run"
#: always protected, whatever the settings say
ALWAYS_PROTECTED = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"),
                    ipaddress.ip_network("0.0.0.0/32"), ipaddress.ip_network("::/128"))
SYSTEM = "system"
FINISHED = frozenset({"done", "failed", "refused"})


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _playbook(platform: Platform, playbook_id: str) -> Playbook:
    books = load_playbooks(platform.settings.playbooks_dir)
    if playbook_id not in books:
        raise NotFound(N_("No playbook named %(playbook)s."), playbook=playbook_id[:100])
    return books[playbook_id]


def is_action(name: str) -> bool:
    return issubclass(steps.get(name), Action)


def approval_role(pstep: PlaybookStep) -> str:
    """The role that must approve ``pstep`` ("" for none): what the playbook says, else a
    responder for an action that touches a constituent's systems."""
    if pstep.approval is not None:
        return "" if pstep.approval == "none" else pstep.approval
    cls = steps.get(pstep.step)
    return "responder" if issubclass(cls, Action) and cls.touches_systems else ""


# ---------------------------------------------------------------- targets and plans


@dataclass
class Protected:
    """The protected list: networks, domains (and their subdomains), account names."""

    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    domains: set[str]
    accounts: set[str]

    @classmethod
    def from_settings(cls, values: Any) -> Protected:
        out = cls(list(ALWAYS_PROTECTED), set(), set())
        for raw in values or ():
            text = str(raw).strip()
            if not text:
                continue
            try:
                out.networks.append(ipaddress.ip_network(text, strict=False))
                continue
            except ValueError:
                pass
            if text.startswith("user:"):
                out.accounts.add(text[5:].strip().lower())
            else:
                out.domains.add(text.lower().rstrip("."))
        return out

    def covers(self, kind: str, value: str) -> bool:
        if kind == "ip":
            net = ipaddress.ip_network(value, strict=False)
            return any(net.version == p.version and (net.overlaps(p)) for p in self.networks)
        if kind == "domain":
            return any(value == d or value.endswith("." + d) for d in self.domains)
        return value.lower() in self.accounts


def _normalised(kind: str, value: str) -> str:
    """A target in the form the action receives; InvalidInput when it is not one."""
    value = value.strip()
    if kind == "ip":
        return normalize("ip", value)[1]
    if kind == "domain":
        return normalize_domain(value)
    check_observable(kind, value)
    return value


def _plan_targets(platform: Platform, case: Case, pstep: PlaybookStep, cls: type[Action],
                  outputs: dict[str, dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    kind = cls.target_type
    ceiling = TLP.parse(str(pstep.targets.get("tlp_max", "amber")))
    case_pap = PAP.parse(case.pap or "amber")
    protected = Protected.from_settings(platform.settings.response_protected)
    candidates: list[tuple[str, PAP]] = []
    excluded: list[dict[str, Any]] = []
    source = pstep.targets.get("from")
    if source:
        step_id, key = str(source).split(".", 1)
        values = outputs.get(step_id, {}).get(key) or []
        candidates.extend((str(v)[:2048], case_pap) for v in (values if isinstance(values, list) else [values]))
    else:
        for obs in case.observables:
            if obs.type != kind or not obs.valid or (pstep.targets.get("ioc_only", True) and not obs.ioc):
                continue
            if TLP.parse(obs.tlp).value > ceiling.value:
                excluded.append({"value": obs.value, "reason": N_("TLP %(tlp)s is above the step's %(max)s"),
                                 "params": {"tlp": TLP.parse(obs.tlp).label, "max": ceiling.label}})
                continue
            candidates.append((obs.value, PAP.parse(obs.pap) if obs.pap else case_pap))
    targets: list[str] = []
    for raw, pap in candidates:
        try:
            value = _normalised(kind, raw)
        except InvalidInput:
            excluded.append({"value": raw[:200], "reason": N_("not a valid %(kind)s"), "params": {"kind": kind}})
            continue
        if pap.value > cls.needs_pap.value:
            excluded.append({"value": value, "reason": N_("%(pap)s does not permit this action (it needs %(needed)s)"),
                             "params": {"pap": pap.label, "needed": cls.needs_pap.label}})
        elif protected.covers(kind, value):
            excluded.append({"value": value, "reason": N_("protected: never a target"), "params": {}})
        elif value not in targets:
            targets.append(value)
    return targets, excluded


def plan_step(platform: Platform, case: Case, pstep: PlaybookStep, outputs: dict[str, dict[str, Any]],
              actor: str, now: datetime, *, dry: bool = False) -> dict[str, Any]:
    """What ``pstep`` would do on ``case`` now: JSON for the run's record, the dry run and the
    approval request."""
    plan: dict[str, Any] = {"step": pstep.step, "id": pstep.id, "approval": approval_role(pstep)}
    skip = _unmet(case, pstep, outputs, dry)
    if skip is not None:
        plan["skip"] = skip
        return plan
    cls = steps.get(pstep.step)
    if not issubclass(cls, Action):
        plan["kind"] = "step"
        return plan
    plan["kind"] = "action"
    if pstep.targets.get("from") and dry:
        plan["pending"] = {"message": N_("targets from %(source)s: known when that step has run"),
                           "params": {"source": pstep.targets["from"]}}
        return plan
    targets, excluded = _plan_targets(platform, case, pstep, cls, outputs)
    expires = now + timedelta(seconds=pstep.expires) if pstep.expires else None
    limit = pstep.limit or int(platform.settings.response_max_targets)
    action = cls(StepContext(platform, _session_of(case), case, actor, dict(pstep.params)))
    plan.update(where=action.where(), expires_at=expires.isoformat() if expires else None, limit=limit,
                excluded=excluded, undo=cls.undo_label,
                targets=[{"value": t, **_described(action, t, expires)} for t in targets])
    if len(targets) > limit:
        plan["refused"] = {"message": N_("%(n)s targets: more than the step's limit of %(limit)s"),
                           "params": {"n": len(targets), "limit": limit}}
    return plan


def _described(action: Action, value: str, expires: datetime | None) -> dict[str, Any]:
    d = action.describe(Target(value), expires)
    return {"message": d.message, "params": {**d.params, "step": action.name}}


def _session_of(case: Case) -> Session:
    from sqlalchemy.orm import object_session

    s = object_session(case)
    if s is None:
        raise RuntimeError("a case outside a session")
    return s


def _unmet(case: Case, pstep: PlaybookStep, outputs: dict[str, dict[str, Any]],
           dry: bool) -> dict[str, Any] | None:
    """Why ``pstep``'s ``when`` does not hold (None when it does)."""
    when = pstep.when
    if "severity" in when and case.severity not in when["severity"]:
        return {"message": N_("the incident's severity is %(severity)s"), "params": {"severity": case.severity}}
    if "observables" in when and not any(o.type == when["observables"] and o.valid for o in case.observables):
        return {"message": N_("the incident has no %(kind)s observable"), "params": {"kind": when["observables"]}}
    if "organization" in when and bool(case.organization or case.affected) != bool(when["organization"]):
        return {"message": N_("the incident's organisation does not match the condition"), "params": {}}
    if "found" in when and not dry:
        step_id, key = str(when["found"]).split(".", 1)
        if not outputs.get(step_id, {}).get(key):
            return {"message": N_("%(source)s found nothing"), "params": {"source": when["found"]}}
    return None


def plan_playbook(platform: Platform, case_id: int, playbook_id: str, actor: str) -> dict[str, Any]:
    """The dry run: every step's plan on the incident, nothing done."""
    book = _playbook(platform, playbook_id)
    with platform.db.session() as s:
        case = get_case(s, case_id)
        plans = [plan_step(platform, case, p, {}, actor, _now(), dry=True) for p in book.steps]
        audit.record(s, actor, "playbook.dry_run", "case", case.id, playbook=book.id, version=book.version)
        return {"playbook": book.id, "version": book.version, "case_id": case_id, "steps": plans}


# ---------------------------------------------------------------- requesting and running


def request_run(platform: Platform, s: Session, case: Case, playbook_id: str, actor: str) -> PlaybookRun:
    """Record a run of a playbook on a case, its steps pending (the job is queued by ``start_run``)."""
    book = _playbook(platform, playbook_id)
    run = PlaybookRun(case_id=case.id, playbook=book.id, version=book.version, requested_by=actor)
    s.add(run)
    s.flush()
    for i, p in enumerate(book.steps, 1):
        s.add(StepRun(run_id=run.id, position=i, step_id=p.id, step=p.step, status="pending", plan={},
                      approval_role=approval_role(p), attempts=0, result={}, error=""))
    add_timeline(s, case, actor, "playbook", N_("Playbook %(playbook)s (version %(version)s) queued"),
                 {"run_id": run.id}, params={"playbook": book.id, "version": book.version})
    audit.record(s, actor, "playbook.run", "case", case.id, playbook=book.id, version=book.version, run_id=run.id)
    return run


def start_run(platform: Platform, case_id: int, playbook_id: str, actor: str) -> int:
    """Request a run and hand it to the job queue; the run's id."""
    with platform.db.session() as s:
        run_id = request_run(platform, s, get_case(s, case_id), playbook_id, actor).id
    _enqueue(platform, run_id)
    return run_id


def _enqueue(platform: Platform, run_id: int) -> None:
    """The run's job: retried with back-off after a transient failure or a lost worker (it resumes
    at its step; actions are not repeated), at most ``response_run_timeout_seconds`` per attempt;
    a job that fails for good fails the run (``record_failure``)."""
    options = JobOptions(timeout=max(1, int(platform.settings.response_run_timeout_seconds)), retries=3,
                         backoff=(5, 30, 120), on_failure=f"{__name__}.record_failure")
    job_id = platform.jobs.enqueue(EXECUTE, job_options=options, run_id=run_id)
    with platform.db.session() as s:
        stored = s.get(PlaybookRun, run_id)
        if stored is not None:
            stored.job_id = job_id


def _outputs(s: Session, run_id: int) -> dict[str, dict[str, Any]]:
    rows = s.scalars(select(StepRun).where(StepRun.run_id == run_id, StepRun.status == "done"))
    return {r.step_id: dict((r.result or {}).get("data") or {}) for r in rows}


def execute_run(platform: Platform, run_id: int) -> str:
    """Job body: carry the run on from its first unfinished step until it ends or waits for an
    approval. A transient failure of an action is raised (the job queue retries the job, which
    resumes here); any other failure ends the run, recorded on the step, the run and the timeline."""
    with platform.db.session() as s:
        run = s.get(PlaybookRun, run_id)
        if run is None:
            raise NotFound(N_("Playbook run %(id)s does not exist."), id=run_id)
        if run.status in FINISHED:
            return run.status
        run.status, run.heartbeat_at = "running", _now()
        playbook_id = run.playbook
    try:
        book: Playbook | None = _playbook(platform, playbook_id)
    except NotFound:
        book = None
    if book is None:
        return _finish(platform, run_id, "failed", f"playbook {playbook_id!r} no longer exists")
    by_id = {p.id: p for p in book.steps}
    while True:
        with platform.db.session() as s:
            step_run = s.scalars(select(StepRun).where(StepRun.run_id == run_id,
                                                       StepRun.status.in_(("pending", "running", "waiting-approval")))
                                 .order_by(StepRun.position)).first()
            if step_run is None:
                break
            sid, position = step_run.id, step_run.position
        pstep = by_id.get(_step_id(platform, sid))
        if pstep is None:
            return _finish(platform, run_id, "failed", f"step {position} is no longer in the playbook")
        outcome = _execute_step(platform, run_id, sid, pstep)
        if outcome in ("waiting-approval", "failed", "refused"):
            if outcome == "waiting-approval":
                with platform.db.session() as s:
                    s.get_one(PlaybookRun, run_id).status = "waiting-approval"
                return outcome
            return _finish(platform, run_id, outcome, _step_error(platform, sid))
    return _finish(platform, run_id, "done", "")


def _step_id(platform: Platform, step_run_id: int) -> str:
    with platform.db.session() as s:
        return s.get_one(StepRun, step_run_id).step_id


def _step_error(platform: Platform, step_run_id: int) -> str:
    with platform.db.session() as s:
        r = s.get_one(StepRun, step_run_id)
        return f"step {r.position} ({r.step}): {r.error}"


def _finish(platform: Platform, run_id: int, status: str, error: str) -> str:
    with platform.db.session() as s:
        run = s.get_one(PlaybookRun, run_id)
        run.status, run.error, run.finished_at = status, error[:4000], _now()
        rows = s.scalars(select(StepRun).where(StepRun.run_id == run_id).order_by(StepRun.position))
        run.results = [{"step": r.step, "id": r.step_id, "status": r.status,
                        "message": str((r.result or {}).get("text") or r.error), "data": (r.result or {}).get("data")
                        or {}} for r in rows]
        if status == "done":
            case = get_case(s, run.case_id)
            add_timeline(s, case, f"playbook:{run.playbook}", "playbook", N_("Playbook %(playbook)s finished"),
                         {"run_id": run_id}, params={"playbook": run.playbook})
    return status


def _execute_step(platform: Platform, run_id: int, step_run_id: int, pstep: PlaybookStep) -> str:
    """One step: planned (once), waiting for approval if it needs one, then carried out."""
    with platform.db.session() as s:
        r = s.get_one(StepRun, step_run_id)
        run = s.get_one(PlaybookRun, run_id)
        case = get_case(s, run.case_id)
        actor = run.requested_by
        if not r.plan:
            r.plan = {**plan_step(platform, case, pstep, _outputs(s, run_id), actor, _now()),
                      "planned_at": _now().isoformat()}
        plan = dict(r.plan)
        if "skip" in plan:
            r.status, r.finished_at = "skipped", _now()
            add_timeline(s, case, f"playbook:{run.playbook}", "playbook", N_("[%(step)s] skipped: %(why)s"),
                         {"run_id": run_id, "step": pstep.step, "status": "skipped", "why": plan["skip"]},
                         params={"step": pstep.step, "why": plan["skip"]})
            return "skipped"
        if "refused" in plan:
            r.status, r.finished_at = "failed", _now()
            r.error = plan["refused"]["message"] % plan["refused"]["params"]
            add_timeline(s, case, f"playbook:{run.playbook}", "playbook", N_("[%(step)s] refused: %(why)s"),
                         {"run_id": run_id, "step": pstep.step, "status": "failed"},
                         params={"step": pstep.step, "why": plan["refused"]})
            return "failed"
        if r.approval_role and not _approved(s, r):
            if r.status != "waiting-approval":
                r.status = "waiting-approval"
                add_timeline(s, case, f"playbook:{run.playbook}", "playbook",
                             N_("[%(step)s] waits for the approval of a %(role)s"),
                             {"run_id": run_id, "step": pstep.step, "status": "waiting-approval"},
                             params={"step": pstep.step, "role": r.approval_role})
            return "waiting-approval"
        r.status, r.attempts, r.started_at = "running", r.attempts + 1, r.started_at or _now()
        s.get_one(PlaybookRun, run_id).heartbeat_at = _now()
    if plan.get("kind") == "action":
        return _carry_out(platform, run_id, step_run_id, pstep, plan)
    return _run_plain(platform, run_id, step_run_id, pstep)


def _approved(s: Session, r: StepRun) -> bool:
    """Whether the step's current plan is approved: an approval given before the step was planned
    again (a resumed run) does not count."""
    planned = _aware(datetime.fromisoformat(r.plan["planned_at"])) if r.plan.get("planned_at") else None
    return any(planned is None or (_aware(a.at) or planned) >= planned
               for a in s.scalars(select(StepApproval).where(StepApproval.step_run_id == r.id,
                                                             StepApproval.approved.is_(True))))


def _run_plain(platform: Platform, run_id: int, step_run_id: int, pstep: PlaybookStep) -> str:
    with platform.db.session() as s:
        run = s.get_one(PlaybookRun, run_id)
        r = s.get_one(StepRun, step_run_id)
        case = get_case(s, run.case_id)
        cls = steps.get(pstep.step)
        case_pap = PAP.parse(case.pap)
        try:
            if case_pap.value > cls.needs_pap.value:
                raise Forbidden(N_("[%(step)s] needs %(needed)s or less restrictive; the incident is %(pap)s."),
                                step=pstep.step, needed=cls.needs_pap.label, pap=case_pap.label)
            step: Step = cls()
            ctx = StepContext(platform, s, case, run.requested_by, dict(pstep.params), _outputs(s, run_id))
            res = step.run(ctx)
            said, values = res.message, {**res.params, "step": pstep.step}
            r.result = {"text": StepResult(said, {}, values).text, "data": res.data}
            r.status, r.finished_at = "done", _now()
        except VigieError as exc:
            said, values = _failure(pstep.step, exc)
            r.status, r.error, r.finished_at = "failed", str(exc)[:4000], _now()
        except Exception as exc:  # noqa: BLE001 - job boundary: an unexpected failure is recorded on the run
            said, values = N_("[%(step)s] unexpected error: %(error)s"), {
                "step": pstep.step, "error": f"{type(exc).__name__}: {exc}"}
            r.status, r.error, r.finished_at = "failed", f"unexpected error: {type(exc).__name__}: {exc}", _now()
        add_timeline(s, case, f"playbook:{run.playbook}", "playbook", said,
                     {"run_id": run_id, "step": pstep.step, "status": r.status, **(r.result or {}).get("data", {})},
                     params=values)
        return r.status


def _failure(step: str, exc: VigieError) -> tuple[str, dict[str, Any]]:
    if exc.message_id.startswith("[%(step)s]"):
        return exc.message_id, {**{k: v for k, v in exc.params.items() if isinstance(v, (str, int, float, bool))},
                                "step": step}
    return N_("[%(step)s] failed: %(error)s"), {"step": step, "error": str(exc)}


def action_key(run_id: int, position: int, target: str) -> str:
    return f"run:{run_id}:step:{position}:{target}"[:300]


def _carry_out(platform: Platform, run_id: int, step_run_id: int, pstep: PlaybookStep, plan: dict[str, Any]) -> str:
    """An action on each planned target, once: a target recorded under its key is skipped, and
    one the system already holds is recorded without acting again."""
    expires = _aware(datetime.fromisoformat(plan["expires_at"])) if plan.get("expires_at") else None
    done: list[str] = []
    for item in plan.get("targets", []):
        value = str(item["value"])
        with platform.db.session() as s:
            run = s.get_one(PlaybookRun, run_id)
            r = s.get_one(StepRun, step_run_id)
            key = action_key(run_id, r.position, value)
            existing = s.scalars(select(ResponseAction).where(ResponseAction.key == key)).first()
            if existing is not None and existing.status == "applied":
                done.append(value)
                continue
            case = get_case(s, run.case_id)
            action = steps.get(pstep.step)(StepContext(platform, s, case, run.requested_by,  # type: ignore[call-arg]
                                                        dict(pstep.params)))
            assert isinstance(action, Action)
            try:
                if not action.applied(Target(value)):
                    action.apply(Target(value), expires)
            except ActionFailed as exc:
                if exc.transient:
                    raise  # the job is retried and resumes here
                said, values = _failure(pstep.step, exc)
                r.status, r.error, r.finished_at = "failed", str(exc)[:4000], _now()
                add_timeline(s, case, f"playbook:{run.playbook}", "playbook", said,
                             {"run_id": run_id, "step": pstep.step, "status": "failed", "target": value},
                             params=values)
                return "failed"
            _record(platform, s, run, r, case, action, value, key, expires, existing)
            s.get_one(PlaybookRun, run_id).heartbeat_at = _now()
            done.append(value)
    with platform.db.session() as s:
        run = s.get_one(PlaybookRun, run_id)
        r = s.get_one(StepRun, step_run_id)
        r.status, r.finished_at = "done", _now()
        r.result = {"text": f"[{pstep.step}] {len(done)} target(s): {', '.join(done)}"[:4000],
                    "data": {"targets": done}}
        add_timeline(s, get_case(s, run.case_id), f"playbook:{run.playbook}", "playbook",
                     N_("[%(step)s] done on %(n)s target(s) in %(where)s"),
                     {"run_id": run_id, "step": pstep.step, "status": "done", "targets": done},
                     params={"step": pstep.step, "n": len(done), "where": plan.get("where", "")})
    return "done"


def _record(platform: Platform, s: Session, run: PlaybookRun, r: StepRun, case: Case, action: Action, value: str,
            key: str, expires: datetime | None, existing: ResponseAction | None = None) -> ResponseAction:
    """The change on the incident: a countermeasure done, and the action under its key (the same
    row again when the key's change was undone and the step is carried out again)."""
    actor = f"playbook:{run.playbook}"
    cm = record_countermeasure(s, case, actor, action.countermeasure, value, constituency=platform.constituency,
                               organization=None, status="done", playbook_run_id=run.id)
    cm.expires_at = expires
    row = existing or ResponseAction(key=key, run_id=run.id, case_id=case.id, target=value)
    row.step_run_id, row.step, row.params, row.status = r.id, action.name, dict(action.ctx.params), "applied"
    row.where, row.countermeasure_id, row.applied_at, row.expires_at = action.where()[:300], cm.id, _now(), expires
    row.reverted_at, row.reverted_by, row.error = None, "", ""
    s.add(row)
    s.flush()
    audit.record(s, actor, "response.action", "case", case.id, step=action.name, target=value, action_id=row.id,
                 run_id=run.id, expires_at=expires.isoformat() if expires else None, where=row.where)
    return row


# ---------------------------------------------------------------- approvals, resume


def decide(platform: Platform, run_id: int, position: int, actor: str, role: str, approve: bool,
           reason: str, remote_addr: str = "") -> StepRun:
    """Approve or refuse a step waiting for approval (a reason in both cases). The requester of
    the run cannot decide; the decider's role must be at least the step's. Approval queues the
    run again; refusal ends it."""
    reason = reason.strip()
    if not reason or len(reason) > 2000:
        raise InvalidInput(N_("An approval or a refusal needs a reason (at most 2,000 characters)."))
    with platform.db.session() as s:
        run = s.get(PlaybookRun, run_id)
        r = s.scalars(select(StepRun).where(StepRun.run_id == run_id, StepRun.position == position)).first()
        if run is None or r is None:
            raise NotFound(N_("Playbook run %(id)s has no step %(position)s."), id=run_id, position=position)
        if r.status != "waiting-approval":
            raise Conflict(N_("Step %(position)s of run %(id)s is not waiting for approval (it is %(status)s)."),
                           position=position, id=run_id, status=r.status)
        if actor == run.requested_by:
            raise Forbidden(N_("The person who requested a run cannot approve or refuse its steps."))
        if not has_role(role, r.approval_role):
            raise Forbidden(N_("This step needs the approval of a %(role)s."), role=r.approval_role)
        s.add(StepApproval(step_run_id=r.id, actor=actor, approved=approve, reason=reason, at=_now()))
        case = get_case(s, run.case_id)
        if approve:
            message = N_("[%(step)s] approved by %(actor)s: %(reason)s")
            run.status = "queued"
        else:
            message = N_("[%(step)s] refused by %(actor)s: %(reason)s")
            r.status, r.error, r.finished_at = "refused", f"refused by {actor}: {reason}"[:4000], _now()
        add_timeline(s, case, actor, "playbook", message,
                     {"run_id": run_id, "step": r.step, "status": "approved" if approve else "refused"},
                     params={"step": r.step, "actor": actor, "reason": reason})
        audit.record(s, actor, "playbook.approve" if approve else "playbook.refuse", "case", case.id, remote_addr,
                     run_id=run_id, step=r.step, position=position, reason=reason)
    if approve:
        _enqueue(platform, run_id)
    else:
        _finish(platform, run_id, "refused", f"step {position} ({r.step}) refused by {actor}: {reason}")
    return r


def resume(platform: Platform, run_id: int, actor: str, position: int | None = None, remote_addr: str = "") -> int:
    """Run a failed or refused run again from ``position`` (its first failed or refused step by
    default): that step and the ones after it are planned again; actions already taken are not
    repeated (their keys are recorded)."""
    with platform.db.session() as s:
        run = s.get(PlaybookRun, run_id)
        if run is None:
            raise NotFound(N_("Playbook run %(id)s does not exist."), id=run_id)
        if run.status not in ("failed", "refused"):
            raise Conflict(N_("Run %(id)s is %(status)s: only a failed or refused run can be resumed."),
                           id=run_id, status=run.status)
        rows = list(s.scalars(select(StepRun).where(StepRun.run_id == run_id).order_by(StepRun.position)))
        first = position or next((r.position for r in rows if r.status in ("failed", "refused")), None)
        if first is None or not any(r.position == first for r in rows):
            raise InvalidInput(N_("Run %(id)s has no step %(position)s."), id=run_id, position=position or 0)
        for r in rows:
            if r.position >= first:
                r.status, r.plan, r.error, r.result, r.finished_at = "pending", {}, "", {}, None
        run.status, run.error, run.finished_at = "queued", "", None
        case = get_case(s, run.case_id)
        add_timeline(s, case, actor, "playbook", N_("Playbook %(playbook)s resumed from step %(position)s"),
                     {"run_id": run_id}, params={"playbook": run.playbook, "position": first})
        audit.record(s, actor, "playbook.resume", "case", case.id, remote_addr, run_id=run_id, position=first)
    _enqueue(platform, run_id)
    return first


def fail_stuck(platform: Platform, now: datetime | None = None) -> list[int]:
    """Runs whose job stopped giving signs of life for ``response_run_timeout_seconds``: failed,
    never left running."""
    now = now or _now()
    limit = now - timedelta(seconds=int(platform.settings.response_run_timeout_seconds))
    with platform.db.session() as s:
        stuck = [r.id for r in s.scalars(select(PlaybookRun).where(PlaybookRun.status == "running"))
                 if (_aware(r.heartbeat_at) or _aware(r.created_at) or now) < limit]
    for run_id in stuck:
        record_failure(platform, "the run gave no sign of life within its timeout", run_id=run_id)
    return stuck


def record_failure(platform: Platform, error: str, **kwargs: Any) -> None:
    """The job queue's failure callback: the run's job failed for good (retries exhausted, timed
    out, or its worker died with no retry left)."""
    run_id = int(kwargs.get("run_id", 0))
    with platform.db.session() as s:
        run = s.get(PlaybookRun, run_id)
        if run is None or run.status in FINISHED:
            return
        for r in s.scalars(select(StepRun).where(StepRun.run_id == run_id, StepRun.status == "running")):
            r.status, r.error, r.finished_at = "failed", error[:4000], _now()
        add_timeline(s, get_case(s, run.case_id), f"playbook:{run.playbook}", "playbook",
                     N_("Playbook %(playbook)s failed: %(error)s"), {"run_id": run_id},
                     params={"playbook": run.playbook, "error": error[:500]})
    _finish(platform, run_id, "failed", error)


# ---------------------------------------------------------------- undo and expiry


def undo_action(platform: Platform, action_id: int, actor: str, reason: str = "", remote_addr: str = "",
                case_ids: frozenset[int] | None = None) -> ResponseAction:
    """The compensating action of one change (unblock, remove the sinkhole, re-enable)."""
    with platform.db.session() as s:
        row = s.get(ResponseAction, action_id)
        if row is None or (case_ids is not None and row.case_id not in case_ids):
            raise NotFound(N_("Response action %(id)s does not exist."), id=action_id)
        if row.status != "applied":
            raise Conflict(N_("Response action %(id)s is %(status)s: there is nothing to undo."), id=action_id,
                           status=row.status)
        case = get_case(s, row.case_id)
        action = steps.get(row.step)(StepContext(platform, s, case, actor, dict(row.params)))  # type: ignore[call-arg]
        assert isinstance(action, Action)
        action.revert(Target(row.target))
        row.status, row.reverted_at, row.reverted_by = "reverted", _now(), actor
        if row.countermeasure_id is not None and s.get(Countermeasure, row.countermeasure_id) is not None:
            change_status(s, case, row.countermeasure_id, "reverted", actor, reason, remote_addr)
        add_timeline(s, case, actor, "playbook", N_("[%(step)s] %(target)s undone (%(undo)s) in %(where)s"),
                     {"action_id": row.id, "run_id": row.run_id},
                     params={"step": row.step, "target": row.target, "undo": action.undo_label, "where": row.where})
        audit.record(s, actor, "response.undo", "case", case.id, remote_addr, action_id=row.id, step=row.step,
                     target=row.target, reason=reason)
        s.flush()
        s.expunge(row)
        return row


def case_actions(s: Session, case_id: int) -> list[ResponseAction]:
    """The changes playbooks made for an incident, the active ones first, the newest first."""
    return list(s.scalars(select(ResponseAction).where(ResponseAction.case_id == case_id)
                          .order_by((ResponseAction.status != "applied"), ResponseAction.id.desc())))


def due(platform: Platform, now: datetime) -> Iterator[int]:
    with platform.db.session() as s:
        ids = list(s.scalars(select(ResponseAction.id).where(ResponseAction.status == "applied",
                                                             ResponseAction.expires_at.is_not(None),
                                                             ResponseAction.expires_at <= now)))
    yield from ids


def expire_due(platform: Platform, now: datetime | None = None) -> list[int]:
    """Undo every change whose expiry has passed; the ones undone. A failure is recorded on the
    change and tried again at the next pass."""
    now = now or _now()
    undone: list[int] = []
    for action_id in due(platform, now):
        try:
            undo_action(platform, action_id, f"{SYSTEM}:expiry", "expired")
            undone.append(action_id)
        except VigieError as exc:
            with platform.db.session() as s:
                row = s.get(ResponseAction, action_id)
                if row is not None:
                    row.error = str(exc)[:4000]
    return undone
