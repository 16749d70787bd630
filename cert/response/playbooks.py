"""Response playbooks: YAML files of ordered steps; each step is a plug-in in the ``steps`` registry.

A playbook file (``cert.response.schema``) names its steps, each with its parameters, condition,
targets, limit, expiry and approval; ``cert.response.runs`` runs them. Steps declare the PAP
their action needs, and a step is refused on a case whose PAP does not permit it (as Cortex does
for analyzers); actions (``cert.response.actions``) check it per observable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml
from sqlalchemy.orm import Session

from cert.core.errors import N_, InvalidInput
from cert.core.registry import Registry
from cert.core.tlp import PAP
from cert.runtime.platform import Platform
from cert.storage.models import Case

PHASES = ("preparation", "detection", "containment", "eradication", "recovery", "post-incident")


@dataclass(frozen=True)
class StepResult:
    """What a step did: ``message`` is a message id (``N_``-marked English with ``%(name)s``
    placeholders, starting with ``[%(step)s]``, the step's name) filled from ``params``, shown on
    the timeline in the reader's language. A value may be text in each language (``{"fr": ...,
    "en": ...}``), as on the timeline."""

    message: str
    data: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The result in English (the run's record, the logs)."""
        values = {k: v.get("en", "") if isinstance(v, dict) else v for k, v in self.params.items()}
        try:
            return self.message % values
        except (KeyError, ValueError, TypeError):
            return self.message


@dataclass
class StepContext:
    platform: Platform
    session: Session
    case: Case
    actor: str
    params: dict[str, Any]
    #: the data of the run's earlier steps, by step id
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)


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
    """One step of a playbook file: the plug-in (``step``) and its parameters (``with``), a
    condition (``when``), where an action's targets come from (``targets``), how many it may
    take (``limit``), for how long its change holds (``expires``), and who must approve it."""

    id: str
    step: str
    params: dict[str, Any]
    when: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    expires: int | None = None  # seconds
    approval: str | None = None  # a role; None: the step's default (an action needs a responder)
    title: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Playbook:
    id: str
    title: dict[str, str]
    description: dict[str, str]
    phase: str
    steps: tuple[PlaybookStep, ...]
    source: str
    version: int = 1

    def title_for(self, locale: str) -> str:
        return self.title.get(locale) or self.title.get("en") or self.id

    def description_for(self, locale: str) -> str:
        return self.description.get(locale) or self.description.get("en") or ""

    @classmethod
    def from_dict(cls, data: Any, source: str) -> Playbook:
        """A playbook from its YAML document, checked against ``cert.response.schema`` and the
        step registry; ``InvalidInput`` names the file and the place of each error."""
        from cert.response.schema import seconds, validate

        validate(data, source)
        parsed: list[PlaybookStep] = []
        seen: set[str] = set()
        for i, item in enumerate(data["steps"], 1):
            name = str(item["step"])
            if name not in steps:
                raise InvalidInput(N_("%(source)s: step #%(n)s: unknown step %(step)s (known: %(known)s)"),
                                   source=source, n=i, step=name, known=", ".join(steps.names()))
            sid = str(item.get("id") or f"{name}-{i}")
            if sid in seen:
                raise InvalidInput(N_("%(source)s: step #%(n)s: the id %(id)s is used twice"), source=source, n=i,
                                   id=sid)
            for ref in (item.get("when", {}).get("found"), item.get("targets", {}).get("from")):
                if ref and ref.split(".", 1)[0] not in seen:
                    raise InvalidInput(N_("%(source)s: step #%(n)s: %(ref)s names no earlier step"),
                                       source=source, n=i, ref=ref)
            seen.add(sid)
            expires = item.get("expires")
            parsed.append(PlaybookStep(sid, name, dict(item.get("with") or {}), dict(item.get("when") or {}),
                                       dict(item.get("targets") or {}), item.get("limit"),
                                       seconds(expires) if expires else None, item.get("approval"),
                                       _texts(item.get("title"))))
        return cls(str(data["id"]), _texts(data.get("title")), _texts(data.get("description")),
                   str(data.get("phase", "containment")), tuple(parsed), source, int(data.get("version", 1)))


def _texts(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(t) for k, t in value.items()}
    return {"en": str(value)} if value else {}


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
