"""The sharing-target contract: a way a case's indicators leave Vigie for partners (a MISP feed;
TAXII and others next). A target subclasses ``SharingTarget``, sets ``name`` and registers with
``@targets.register``; adding one is adding one module to ``cert.sharing.targets`` or to a
plug-in package named in the ``plugins`` setting.

A target applies the TLP policy itself (``cert.core.tlp.may_leave``, its ceiling from the
settings): nothing above it leaves, TLP:RED never leaves in an automated share. It records what
it published on the case's timeline and in the audit trail.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy.orm import Session

from cert.core.config import Settings
from cert.core.registry import Registry
from cert.storage.models import Case


@dataclass(frozen=True)
class Publication:
    """What a target published for a case: its reference there (a MISP event uuid...), how many
    indicators left, how many were withheld by TLP, and whether an earlier publication was updated."""

    target: str
    reference: str
    exported: int
    withheld: int
    updated: bool


class SharingTarget(ABC):
    name: ClassVar[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def publish(self, s: Session, case: Case, actor: str) -> Publication:
        """Publish (or update) the case's shareable indicators; InvalidInput when nothing may leave."""

    @abstractmethod
    def withdraw_if_not_shareable(self, s: Session, case: Case, actor: str) -> bool:
        """After the case's TLP changed: withdraw what the target holds of it when it may no longer
        leave at the target's ceiling. True when something was withdrawn."""


targets: Registry[SharingTarget] = Registry("sharing target")
