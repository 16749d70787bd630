"""Response actions: playbook steps that change a system outside Vigie (a gateway's block list, a
resolver's zones, a directory's accounts), one target at a time, each with its compensating action.

An action is a ``Step`` plug-in (registry ``steps``) that also subclasses ``Action``. It names the
observable type it takes (``target_type``), the countermeasure kind it carries out, and the
system it drives through a **connector** configured in the settings (commands, URLs, accounts;
secrets from the settings or the environment, never logged or audited). The playbook engine
decides which targets it gets (the incident's observables of that type, filtered by TLP and
PAP, minus the protected list, up to the step's limit), asks for approval, then for each
target:

1. ``applied(target)``: the target's current state, read from the system itself; a target
   already in the wanted state is left alone, so a step run twice changes nothing the second
   time (with the idempotency key the engine keeps per step and target);
2. ``apply(target, expires)``: the change; ``expires`` (an aware datetime or None) is what the
   system should enforce itself when it can (an nftables element timeout), the engine undoing it
   on schedule in any case;
3. ``revert(target)``: the compensating action (unblock, remove the sinkhole, re-enable), a
   no-op when the target is not in the changed state.

``describe`` says what ``apply`` would do, for the dry run and the approval request, as a message
id with parameters (``N_``-marked English, shown in the reader's language). Failures raise
``ActionFailed`` (a ``VigieError``: the message says what the system answered, without secrets).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from cert.core.errors import N_, VigieError
from cert.core.tlp import PAP
from cert.response.playbooks import Step, StepContext, StepResult


class ActionFailed(VigieError):
    """The system refused or could not be reached; the message says which and why.
    ``transient``: worth retrying (a timeout, a connection refused), not a refusal."""

    def __init__(self, message: str = "", *, transient: bool = False, **params: object) -> None:
        super().__init__(message, **params)
        self.transient = transient


@dataclass(frozen=True)
class Target:
    """One value an action acts on: an address or network, a domain name, an account name,
    normalised as the incident's observable holds it."""

    value: str
    observable_id: int | None = None


@dataclass(frozen=True)
class Described:
    """What an action would do to one target, as a message id and its parameters."""

    message: str
    params: dict[str, Any] = field(default_factory=dict)


class Action(Step):
    #: the observable type the action takes ("ip", "domain", "user")
    target_type: ClassVar[str]
    #: the countermeasure kind it carries out (``cert.incidents.countermeasures.KINDS``)
    countermeasure: ClassVar[str]
    #: its compensating action's name, shown with the countermeasure ("unblock", "re-enable"...)
    undo_label: ClassVar[str]
    #: an action that touches a constituent's systems: approved by two different people
    touches_systems: ClassVar[bool] = True
    #: an active action: allowed on an observable whose PAP is GREEN or CLEAR
    needs_pap: ClassVar[PAP] = PAP.GREEN

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx

    @abstractmethod
    def where(self) -> str:
        """The system acted on, for people ("nftables set inet vigie blocked on gw-1"): no secret."""

    @abstractmethod
    def describe(self, target: Target, expires: datetime | None) -> Described:
        """What ``apply`` would do to ``target`` (for the dry run and the approval request)."""

    @abstractmethod
    def applied(self, target: Target) -> bool:
        """Whether the system already holds the change for ``target`` (read from the system)."""

    @abstractmethod
    def apply(self, target: Target, expires: datetime | None) -> None:
        """Make the change; raise ``ActionFailed`` when the system refuses."""

    @abstractmethod
    def revert(self, target: Target) -> None:
        """The compensating action; nothing happens when the change is not there."""

    def run(self, ctx: StepContext) -> StepResult:
        """An action runs through the playbook engine, target by target, never as a plain step."""
        raise ActionFailed(N_("[%(step)s] is an action: it runs through the playbook engine."), step=self.name)
