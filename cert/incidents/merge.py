"""Merging a duplicate incident into another: its alerts, observables (once each), tasks,
countermeasures, comments, attachments, report links and affected organisations go to the
target; the duplicate is closed as such, pointing at the target; both timelines say so, and the
target's TLP (and its title's) becomes the higher of both."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cert.core.errors import N_, Conflict, InvalidInput
from cert.core.tlp import TLP, highest
from cert.incidents.cases import add_timeline, get_case
from cert.incidents.lifecycle import close
from cert.storage import audit
from cert.storage.models import Alert, Attachment, CaseOrganization, Comment, Countermeasure, ReportLink, Task


@dataclass(frozen=True)
class Merged:
    """What moved from the duplicate to the target."""

    target: int
    source: int
    alerts: int = 0
    observables: int = 0
    tasks: int = 0
    countermeasures: int = 0
    comments: int = 0
    attachments: int = 0
    reports: int = 0
    tlp_raised: bool = False


def _move(s: Session, model: type[Task] | type[Countermeasure] | type[Comment] | type[Attachment] | type[Alert],
          source: int, target: int) -> int:
    result = s.execute(update(model).where(model.case_id == source).values(case_id=target)
                       .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def merge(s: Session, target_id: int, source_id: int, actor: str, *,
          organizations: Collection[str] | None = None, remote_addr: str = "") -> Merged:
    """Merge incident ``source_id`` into ``target_id``. Both must be visible in ``organizations``
    (NotFound otherwise); the target must be open (neither closed nor merged), the source not
    closed, and they must differ."""
    if target_id == source_id:
        raise InvalidInput(N_("An incident cannot be merged into itself."))
    target = get_case(s, target_id, organizations=organizations)
    source = get_case(s, source_id, organizations=organizations)
    if target.status == "closed" or target.merged_into is not None:
        raise Conflict(N_("Incident #%(id)s is closed: nothing can be merged into it."), id=target.id)
    if source.status == "closed":
        raise Conflict(N_("Incident #%(id)s is closed: reopen it before merging it."), id=source.id)
    s.flush()

    present = {(o.type, o.value): o for o in target.observables}
    moved_observables = 0
    for obs in list(source.observables):
        same = present.get((obs.type, obs.value))
        if same is None:
            obs.case = target
            moved_observables += 1
        else:
            same.ioc = same.ioc or obs.ioc
            same.tlp = highest(TLP.parse(same.tlp), TLP.parse(obs.tlp)).tag_value
            source.observables.remove(obs)  # the target has it: the copy goes
    s.flush()

    linked = set(s.scalars(select(ReportLink.report_id).where(ReportLink.case_id == target.id)))
    s.execute(delete(ReportLink).where(ReportLink.case_id == source.id, ReportLink.report_id.in_(linked))
              .execution_options(synchronize_session=False))
    reports = int(getattr(s.execute(update(ReportLink).where(ReportLink.case_id == source.id)
                                    .values(case_id=target.id).execution_options(synchronize_session=False)),
                          "rowcount", 0) or 0)

    names = [a.organization for a in target.affected]
    for link in source.affected:
        if link.organization not in names:
            target.affected.append(CaseOrganization(organization=link.organization))
            names.append(link.organization)
    if target.organization is None and source.organization is not None:
        target.organization = source.organization

    result = Merged(
        target.id, source.id, alerts=_move(s, Alert, source.id, target.id), observables=moved_observables,
        tasks=_move(s, Task, source.id, target.id), countermeasures=_move(s, Countermeasure, source.id, target.id),
        comments=_move(s, Comment, source.id, target.id), attachments=_move(s, Attachment, source.id, target.id),
        reports=reports,
    )
    old = TLP.parse(target.tlp)
    new = highest(old, TLP.parse(source.tlp))
    target.title_tlp = highest(TLP.parse(target.title_tlp), TLP.parse(source.title_tlp)).tag_value
    counts = {"alerts": result.alerts, "observables": result.observables, "tasks": result.tasks,
              "countermeasures": result.countermeasures, "comments": result.comments,
              "attachments": result.attachments, "reports": result.reports}
    add_timeline(s, target, actor, "merge",
                 N_("Incident #%(other)s merged into this one: %(alerts)s alert(s), %(observables)s observable(s), "
                    "%(tasks)s task(s), %(countermeasures)s countermeasure(s), %(comments)s comment(s), "
                    "%(attachments)s attachment(s), %(reports)s report(s) moved"),
                 {"source": source.id, **counts}, params={"other": source.id, **counts})
    if new is not old:
        target.tlp = new.tag_value
        add_timeline(s, target, actor, "tlp_raised",
                     N_("TLP raised from %(old)s to %(new)s by the merge of incident #%(other)s"),
                     {"from": old.tag_value, "to": new.tag_value, "source": source.id},
                     params={"old": old.label, "new": new.label, "other": source.id})
        result = Merged(**{**result.__dict__, "tlp_raised": True})
    add_timeline(s, source, actor, "merge", N_("Merged into incident #%(target)s"), {"target": target.id},
                 params={"target": target.id})
    close(s, source, "duplicate", actor, remote_addr=remote_addr, merged_into=target.id)
    audit.record(s, actor, "case.merge", "case", target.id, remote_addr, source=source.id, **counts)
    return result
