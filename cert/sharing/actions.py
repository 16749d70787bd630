"""What analysts do that makes data leave, or stop leaving: publish a case to a sharing target,
and change a case's TLP (each target then withdraws what may no longer leave)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cert.core.tlp import TLP
from cert.incidents import cases
from cert.runtime.platform import Platform
from cert.sharing.policy import decide, terms_of
from cert.sharing.publications import publications_of, withdraw
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
    after a raise, every sharing target withdraws the case where it may no longer leave, and the
    incident is withdrawn from the partners whose ceiling is now below its TLP (the analyst's
    raise speaks for the whole incident; publishing it to them again is a decision of its own)."""
    with platform.db.session() as s:
        case = cases.get_case(s, case_id)
        old, new = cases.set_tlp(s, case, tlp, actor, role, reason, remote_addr)
        withdrawn = []
        if new.value > old.value:
            withdrawn = [cls.name for cls in targets
                         if cls(platform.settings).withdraw_if_not_shareable(s, case, actor)]
            stale = [pub.partner for pub in publications_of(s, case.id) if pub.withdrawn_at is None
                     and not _ceiling_allows(platform, pub.partner, new)]
            if stale:
                withdraw(s, case, stale, actor, remote_addr)
                withdrawn += [f"partner:{partner}" for partner in stale]
    return TlpChange(old, new, withdrawn)


def _ceiling_allows(platform: Platform, partner_id: str, tlp: TLP) -> bool:
    partner = platform.constituency.partner(partner_id)
    return partner is not None and decide(terms_of(partner.tlp_ceiling, partner.pap), tlp).allowed
