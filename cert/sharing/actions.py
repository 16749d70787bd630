"""What analysts do that makes data leave, or stop leaving: publish a case to a sharing target,
and change a case's TLP (each target then withdraws what may no longer leave)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cert.core.tlp import TLP
from cert.incidents import cases
from cert.runtime.platform import Platform
from cert.sharing.target import Publication, targets


@dataclass(frozen=True)
class TlpChange:
    old: TLP
    new: TLP
    withdrawn_from: list[str] = field(default_factory=list)


def publish(platform: Platform, case_id: int, actor: str, target: str = "misp-feed") -> Publication:
    """Publish a case to one sharing target (InvalidInput when nothing of it may leave)."""
    sharing = targets.get(target)(platform.settings)
    with platform.db.session() as s:
        return sharing.publish(s, cases.get_case(s, case_id), actor)


def change_case_tlp(platform: Platform, case_id: int, tlp: str, actor: str, role: str, reason: str = "",
                    remote_addr: str = "") -> TlpChange:
    """Change a case's TLP (lowering it needs a responder and a reason, see ``cases.set_tlp``);
    after a raise, every sharing target withdraws the case where it may no longer leave."""
    with platform.db.session() as s:
        case = cases.get_case(s, case_id)
        old, new = cases.set_tlp(s, case, tlp, actor, role, reason, remote_addr)
        withdrawn = []
        if new.value > old.value:
            withdrawn = [cls.name for cls in targets
                         if cls(platform.settings).withdraw_if_not_shareable(s, case, actor)]
    return TlpChange(old, new, withdrawn)
