"""What an incident report document may hold at its TLP: the case's facts, and of its text,
timeline, observables, tasks, countermeasures and linked alerts only what is marked at or below
the document's TLP; the rest is counted as withheld.

The document's TLP is the case's TLP, or the recipient ceiling when that is lower. An item goes in
when ``cert.core.tlp.may_leave`` lets its marking go to a recipient at the document's TLP; a
TLP:RED document (a RED case, reported at its own level to its named recipients) holds RED items.
The case's own text (description, timeline, tasks, countermeasures, resolution comment, the
organisations concerned) is marked with the case's TLP; the title with ``Case.title_tlp`` (the
description with the higher of the two)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.core.errors import N_, InvalidInput
from cert.core.tlp import TLP, highest, may_leave
from cert.storage.models import Alert, Case, Countermeasure, Observable, Task, TimelineEntry

SEVERITIES = ("critical", "high", "medium", "low", "informational")


def parse_tlp(text: str) -> TLP:
    """A TLP label given by a reader (``amber``, ``TLP:GREEN``); InvalidInput naming the labels."""
    try:
        return TLP.parse(text)
    except InvalidInput:
        raise InvalidInput(N_("Unknown TLP %(tlp)s: expected clear, green, amber, amber+strict or red."),
                           tlp=text[:40]) from None


def document_tlp(case_tlp: TLP, ceiling: TLP | None) -> TLP:
    """The TLP of a case's report: the case's, or the recipient ceiling when it is lower."""
    return case_tlp if ceiling is None or ceiling.value >= case_tlp.value else ceiling


def fits(marking: TLP, document: TLP) -> bool:
    """Whether an item marked ``marking`` may be in a document marked ``document``."""
    return document is TLP.RED or may_leave(marking, document)


@dataclass
class Withheld:
    """How many items of each kind were left out of the document because of their TLP."""

    title: bool = False
    description: bool = False
    organizations: bool = False
    observables: int = 0
    alerts: int = 0
    timeline: int = 0
    tasks: int = 0
    countermeasures: int = 0

    @property
    def items(self) -> int:
        """The number of items left out (the title and the description count as one each)."""
        return (int(self.title) + int(self.description) + self.observables + self.alerts + self.timeline
                + self.tasks + self.countermeasures)


@dataclass
class CaseFile:
    """The content of one incident report at ``tlp``. ``title`` is None when the title may not be
    in it (the document shows a neutral title); ``case_text`` says whether the case's own text is."""

    case: Case
    tlp: TLP
    title: str | None
    case_text: bool
    description: str
    organizations: list[str]
    observables: list[Observable]
    alerts: list[Alert]
    alert_severities: dict[str, int]
    alert_total: int
    timeline: list[TimelineEntry]
    tasks: list[Task]
    countermeasures: list[Countermeasure]
    withheld: Withheld = field(default_factory=Withheld)


def _organizations(case: Case) -> list[str]:
    names = [case.organization] if case.organization else []
    names += [a.organization for a in case.affected if a.organization not in names]
    return names


def build(s: Session, case: Case, ceiling: TLP | None = None) -> CaseFile:
    """The report's content for ``case``, at its TLP or the lower ``ceiling``."""
    case_tlp = parse_tlp(case.tlp)
    doc = document_tlp(case_tlp, ceiling)
    withheld = Withheld()
    text = fits(case_tlp, doc)

    title: str | None = case.title
    if not fits(parse_tlp(case.title_tlp), doc):
        title, withheld.title = None, True
    description = case.description if fits(highest(case_tlp, parse_tlp(case.title_tlp)), doc) else ""
    withheld.description = bool(case.description.strip()) and not description

    organizations = _organizations(case) if text else []
    withheld.organizations = not text and bool(_organizations(case))

    observables = [o for o in case.observables if text and fits(parse_tlp(o.tlp), doc)]
    withheld.observables = len(case.observables) - len(observables)

    linked = list(s.scalars(select(Alert).where(Alert.case_id == case.id).order_by(Alert.id)))
    alerts = [a for a in linked if fits(parse_tlp(a.tlp or "clear"), doc)]
    withheld.alerts = len(linked) - len(alerts)
    severities = Counter(a.severity for a in linked)

    timeline = list(case.timeline) if text else []
    withheld.timeline = len(case.timeline) - len(timeline)

    all_tasks = list(s.scalars(select(Task).where(Task.case_id == case.id).order_by(Task.position, Task.id)))
    tasks = all_tasks if text else []
    withheld.tasks = len(all_tasks) - len(tasks)

    all_measures = list(s.scalars(select(Countermeasure).where(Countermeasure.case_id == case.id)
                                  .order_by(Countermeasure.id)))
    measures = all_measures if text else []
    withheld.countermeasures = len(all_measures) - len(measures)

    return CaseFile(
        case=case, tlp=doc, title=title, case_text=text, description=description, organizations=organizations,
        observables=observables, alerts=alerts,
        alert_severities={sev: severities[sev] for sev in SEVERITIES if severities[sev]},
        alert_total=len(linked), timeline=timeline, tasks=tasks, countermeasures=measures, withheld=withheld,
    )
