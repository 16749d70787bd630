"""Response playbooks: YAML files of ordered steps; each step is a plug-in in the ``steps`` registry.

A playbook run is queued as a job (rq in production, in-process when embedded); each step's
result is written to the case timeline. Steps declare the PAP their action needs, and a step
is refused on a case whose PAP does not permit it (as Cortex does for analyzers).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import yaml
from sqlalchemy.orm import Session

from cert.core.errors import N_, Forbidden, InvalidInput, NotFound, VigieError
from cert.core.registry import Registry
from cert.core.tlp import PAP
from cert.incidents.cases import add_timeline, get_case
from cert.runtime.platform import Platform
from cert.storage import audit
from cert.storage.models import Case, PlaybookRun

PHASES = ("preparation", "detection", "containment", "eradication", "recovery", "post-incident")


@dataclass(frozen=True)
class StepResult:
    """What a step did: ``message`` is a message id (``N_``-marked English with ``%(name)s``
    placeholders, starting with ``[%(step)s]``, the step's name) filled from ``params``, shown on
    the timeline in the reader's language."""

    message: str
    data: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The result in English (the run's record, the logs)."""
        try:
            return self.message % self.params
        except (KeyError, ValueError, TypeError):
            return self.message


@dataclass
class StepContext:
    platform: Platform
    session: Session
    case: Case
    actor: str
    params: dict[str, Any]


class Step(ABC):
    name: ClassVar[str]
    # the most restrictive PAP under which this action is still permitted
    needs_pap: ClassVar[PAP] = PAP.RED

    @abstractmethod
    def run(self, ctx: StepContext) -> StepResult:
        """Do the step's work; raise a VigieError with a clear message on failure."""


steps: Registry[Step] = Registry("playbook step")


@dataclass(frozen=True)
class PlaybookStep:
    step: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Playbook:
    id: str
    title: dict[str, str]
    description: dict[str, str]
    phase: str
    steps: tuple[PlaybookStep, ...]
    source: str

    def title_for(self, locale: str) -> str:
        return self.title.get(locale) or self.title.get("en") or self.id

    def description_for(self, locale: str) -> str:
        return self.description.get(locale) or self.description.get("en") or ""

    @classmethod
    def from_dict(cls, data: Any, source: str) -> Playbook:
        if not isinstance(data, dict):
            raise InvalidInput(f"{source}: a playbook is a mapping")
        try:
            pid = str(data["id"])
            raw_steps = data["steps"]
        except KeyError as exc:
            raise InvalidInput(f"{source}: missing key {exc.args[0]!r}") from None
        phase = str(data.get("phase", "containment"))
        if phase not in PHASES:
            raise InvalidInput(f"{source}: unknown phase {phase!r} (expected one of {', '.join(PHASES)})")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise InvalidInput(f"{source}: 'steps' is a non-empty list")
        parsed = []
        for i, item in enumerate(raw_steps, 1):
            if not isinstance(item, dict) or "step" not in item:
                raise InvalidInput(f"{source}: step #{i} needs a 'step' name")
            name = str(item["step"])
            if name not in steps:
                raise InvalidInput(f"{source}: step #{i}: unknown step {name!r} (known: {', '.join(steps.names())})")
            params = item.get("with") or {}
            if not isinstance(params, dict):
                raise InvalidInput(f"{source}: step #{i}: 'with' is a mapping")
            parsed.append(PlaybookStep(name, params))

        def texts(key: str) -> dict[str, str]:
            v = data.get(key, "")
            return {str(k): str(t) for k, t in v.items()} if isinstance(v, dict) else {"en": str(v)}

        return cls(pid, texts("title"), texts("description"), phase, tuple(parsed), source)


def load_playbooks(directory: Path) -> dict[str, Playbook]:
    books: dict[str, Playbook] = {}
    for path in sorted(directory.glob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{path}: {exc}") from exc
        book = Playbook.from_dict(data, str(path))
        if book.id in books:
            raise InvalidInput(f"{path}: playbook id {book.id!r} is also used by {books[book.id].source}")
        books[book.id] = book
    return books


def request_run(platform: Platform, s: Session, case: Case, playbook_id: str, actor: str) -> PlaybookRun:
    """Queue a playbook run on a case (a job on the worker, or in-process)."""
    books = load_playbooks(platform.settings.playbooks_dir)
    if playbook_id not in books:
        raise NotFound(f"no playbook named {playbook_id!r}")
    run = PlaybookRun(case_id=case.id, playbook=playbook_id, requested_by=actor)
    s.add(run)
    s.flush()
    add_timeline(s, case, actor, "playbook", N_("Playbook %(playbook)s queued"), {"run_id": run.id},
                 params={"playbook": playbook_id})
    audit.record(s, actor, "playbook.run", "case", case.id, playbook=playbook_id, run_id=run.id)
    return run


def start_run(platform: Platform, case_id: int, playbook_id: str, actor: str) -> int:
    """Queue a playbook run on a case and hand it to the job queue; returns the run's id."""
    with platform.db.session() as s:
        run_id = request_run(platform, s, get_case(s, case_id), playbook_id, actor).id
    job_id = platform.jobs.enqueue("cert.response.playbooks.execute_run", run_id=run_id)
    with platform.db.session() as s:
        stored = s.get(PlaybookRun, run_id)
        if stored is not None and stored.job_id is None:
            stored.job_id = job_id
    return run_id


def execute_run(platform: Platform, run_id: int) -> str:
    """Job body: run each step of the playbook in order and write results to the timeline."""
    books = load_playbooks(platform.settings.playbooks_dir)
    with platform.db.session() as s:
        run = s.get(PlaybookRun, run_id)
        if run is None:
            raise NotFound(f"playbook run {run_id} does not exist")
        run.status = "running"
    results: list[dict[str, Any]] = []
    status, error = "done", ""
    book = books.get(run.playbook)
    for index, pstep in enumerate(book.steps if book else (), 1):
        with platform.db.session() as s:
            case = get_case(s, run.case_id)
            step = steps.get(pstep.step)()
            case_pap = PAP.parse(case.pap)
            entry: dict[str, Any]
            try:
                if case_pap.value > step.needs_pap.value:
                    raise Forbidden(N_("[%(step)s] needs %(needed)s or less restrictive; the incident is %(pap)s."),
                                    step=pstep.step, needed=step.needs_pap.label, pap=case_pap.label)
                res = step.run(StepContext(platform, s, case, run.requested_by, dict(pstep.params)))
                said, values = res.message, {**res.params, "step": pstep.step}
                entry = {"step": pstep.step, "status": "done", "message": StepResult(said, {}, values).text,
                         "data": res.data}
            except VigieError as exc:
                entry = {"step": pstep.step, "status": "failed", "message": str(exc), "data": {}}
                status, error = "failed", f"step {index} ({pstep.step}): {exc}"
                if exc.message_id.startswith("[%(step)s]"):
                    said, values = exc.message_id, {k: v for k, v in exc.params.items()
                                                    if isinstance(v, (str, int, float, bool))}
                else:  # an error of the core, in English: shown as it is
                    said, values = N_("[%(step)s] failed: %(error)s"), {"step": pstep.step, "error": str(exc)}
            except Exception as exc:  # noqa: BLE001 - job boundary: an unexpected failure is recorded on the run
                message = f"unexpected error: {type(exc).__name__}: {exc}"
                entry = {"step": pstep.step, "status": "failed", "message": message, "data": {}}
                status, error = "failed", f"step {index} ({pstep.step}): {message}"
                said, values = N_("[%(step)s] unexpected error: %(error)s"), {
                    "step": pstep.step, "error": f"{type(exc).__name__}: {exc}"}
            add_timeline(s, case, f"playbook:{run.playbook}", "playbook", said,
                         {"run_id": run_id, "step": pstep.step, "status": entry["status"], **entry["data"]},
                         params=values)
        results.append(entry)
        if status == "failed":
            break
    if book is None:
        status, error = "failed", f"playbook {run.playbook!r} no longer exists"
    with platform.db.session() as s:
        run = s.get_one(PlaybookRun, run_id)
        run.results, run.status, run.error = results, status, error
        run.finished_at = datetime.now(UTC)
    return status
