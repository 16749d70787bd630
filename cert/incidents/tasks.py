"""Tasks of an incident (RTIR's investigations): a title, who does it, by when, and where it
stands. Every change goes on the incident's timeline (a message id and its values) and into the
audit trail. A task is overdue when its due date has passed while it is still open or in
progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cert.accounts.access import is_staff
from cert.core.errors import N_, InvalidInput, NotFound
from cert.incidents.cases import add_timeline
from cert.incidents.edits import KEEP, Keep
from cert.storage import audit
from cert.storage.models import Case, Task, User

STATUSES = ("open", "in-progress", "done", "cancelled")
#: statuses in which a task is still to be done (and so may be overdue)
PENDING = frozenset({"open", "in-progress"})
MAX_TITLE = 300
MAX_DESCRIPTION = 20000


def aware(moment: datetime | None) -> datetime | None:
    """``moment`` with its time zone; a stored value read back without one (SQLite) is UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def is_overdue(task: Task, now: datetime | None = None) -> bool:
    """Whether the task's due date has passed while it is still open or in progress."""
    due = aware(task.due_at)
    return due is not None and task.status in PENDING and due < (now or datetime.now(UTC))


def list_tasks(s: Session, case_id: int) -> list[Task]:
    """The incident's tasks in their order."""
    return list(s.scalars(select(Task).where(Task.case_id == case_id).order_by(Task.position, Task.id)))


def get_task(s: Session, case: Case, task_id: int) -> Task:
    task = s.get(Task, task_id)
    if task is None or task.case_id != case.id:
        raise NotFound(N_("Incident #%(case)s has no task #%(id)s."), case=case.id, id=task_id)
    return task


def check_assignee(s: Session, name: str | None) -> str | None:
    """The user name of an assignee: an active account of the CERT's staff; None for nobody."""
    name = (name or "").strip()
    if not name:
        return None
    user = s.scalars(select(User).where(User.username == name)).first()
    if user is None or not user.active or user.deleted_at is not None or not is_staff(user.role):
        raise InvalidInput(N_("%(name)s is not an active user of the CERT."), name=name[:80])
    return user.username


def _title(title: str) -> str:
    title = title.strip()
    if not title:
        raise InvalidInput(N_("A task needs a title."))
    if len(title) > MAX_TITLE:
        raise InvalidInput(N_("A title is at most %(max)s characters."), max=MAX_TITLE)
    return title


def _description(text: str) -> str:
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(N_("A description is at most %(max)s characters."), max=MAX_DESCRIPTION)
    return text.strip()


def _due(due_at: datetime | None) -> datetime | None:
    if due_at is not None and due_at.tzinfo is None:
        raise InvalidInput(N_("A due date needs its time zone."))
    return due_at.astimezone(UTC) if due_at is not None else None


def _status(status: str) -> str:
    if status not in STATUSES:
        raise InvalidInput(N_("Unknown task status %(status)s (expected one of %(expected)s)."),
                           status=status[:40], expected=", ".join(STATUSES))
    return status


def add_task(s: Session, case: Case, actor: str, title: str, description: str = "", *,
             assignee: str | None = None, due_at: datetime | None = None, remote_addr: str = "") -> Task:
    """A new open task at the end of the incident's list."""
    last = s.scalar(select(func.max(Task.position)).where(Task.case_id == case.id))
    task = Task(case_id=case.id, title=_title(title), description=_description(description),
                assignee=check_assignee(s, assignee), due_at=_due(due_at), status="open",
                position=(last if last is not None else -1) + 1, created_by=actor)
    s.add(task)
    s.flush()
    add_timeline(s, case, actor, "task", N_("Task #%(id)s added: %(title)s"), {"task_id": task.id},
                 params={"id": task.id, "title": task.title})
    audit.record(s, actor, "case.task.add", "case", case.id, remote_addr, task_id=task.id, title=task.title,
                 assignee=task.assignee, due_at=task.due_at.isoformat() if task.due_at else None)
    return task


def update_task(s: Session, case: Case, task_id: int, actor: str, *, title: str | Keep = KEEP,
                description: str | Keep = KEEP, assignee: str | Keep | None = KEEP,
                due_at: datetime | Keep | None = KEEP, status: str | Keep = KEEP, remote_addr: str = "") -> Task:
    """Change the fields given (the others keep their value); each change goes on the timeline."""
    task = get_task(s, case, task_id)
    changed: dict[str, object] = {}
    if not isinstance(title, Keep) and _title(title) != task.title:
        task.title = changed["title"] = _title(title)
    if not isinstance(description, Keep) and _description(description) != task.description:
        task.description = _description(description)
        changed["description"] = True
    if not isinstance(assignee, Keep):
        who = check_assignee(s, assignee)
        if who != task.assignee:
            task.assignee = changed["assignee"] = who
            add_timeline(s, case, actor, "task",
                         N_("Task #%(id)s assigned to %(assignee)s") if who else N_("Task #%(id)s unassigned"),
                         {"task_id": task.id}, params={"id": task.id, "assignee": who or ""})
    if not isinstance(due_at, Keep):
        due = _due(due_at)
        if due != aware(task.due_at):
            task.due_at = due
            changed["due_at"] = due.isoformat() if due else None
            add_timeline(s, case, actor, "task",
                         N_("Task #%(id)s due %(due)s") if due else N_("Task #%(id)s has no due date any more"),
                         {"task_id": task.id, "due_at": changed["due_at"]},
                         params={"id": task.id, "due": due.strftime("%Y-%m-%d %H:%M UTC") if due else ""})
    if not isinstance(status, Keep) and _status(status) != task.status:
        old, task.status = task.status, status
        task.done_at = datetime.now(UTC) if status == "done" else None
        changed["status"] = status
        add_timeline(s, case, actor, "task", N_("Task #%(id)s: status changed from %(old)s to %(new)s"),
                     {"task_id": task.id, "from": old, "to": status},
                     params={"id": task.id, "old": old, "new": status})
    if "title" in changed or "description" in changed:
        add_timeline(s, case, actor, "task", N_("Task #%(id)s edited: %(title)s"), {"task_id": task.id},
                     params={"id": task.id, "title": task.title})
    if changed:
        task.updated_at = datetime.now(UTC)
        audit.record(s, actor, "case.task.update", "case", case.id, remote_addr, task_id=task.id, **changed)
    return task


def move_task(s: Session, case: Case, task_id: int, actor: str, order: Sequence[int] | None = None, *,
              offset: int = 0) -> list[Task]:
    """Reorder the incident's tasks: by ``order`` (every task id once), or move one task ``offset``
    places (negative: up). Returns the tasks in their new order."""
    tasks = list_tasks(s, case.id)
    ids = [t.id for t in tasks]
    if order is not None:
        if sorted(order) != sorted(ids):
            raise InvalidInput(N_("The new order must name each task of the incident once."))
        wanted = list(order)
    else:
        get_task(s, case, task_id)
        i = ids.index(task_id)
        j = max(0, min(len(ids) - 1, i + offset))
        wanted = ids[:]
        wanted.insert(j, wanted.pop(i))
    by_id = {t.id: t for t in tasks}
    for position, tid in enumerate(wanted):
        by_id[tid].position = position
    if wanted != ids:
        audit.record(s, actor, "case.task.reorder", "case", case.id, order=wanted)
    return [by_id[t] for t in wanted]


def delete_task(s: Session, case: Case, task_id: int, actor: str, remote_addr: str = "") -> None:
    task = get_task(s, case, task_id)
    add_timeline(s, case, actor, "task", N_("Task #%(id)s deleted: %(title)s"), {"task_id": task.id},
                 params={"id": task.id, "title": task.title})
    audit.record(s, actor, "case.task.delete", "case", case.id, remote_addr, task_id=task.id, title=task.title)
    s.delete(task)
