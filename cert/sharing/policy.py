"""The one sharing policy: what of an incident may leave Vigie for a recipient (a partner CERT, a
focal point, a report's reader), whatever the channel (MISP feed, TAXII, STIX export, e-mail,
report, API).

A recipient has **terms**: a TLP ceiling (the most restrictive TLP 2.0 label it may receive) and a
PAP (the most restrictive PAP marking it commits to honour: a partner that only watches passively
may receive PAP:RED indicators; one that blocks what it receives, PAP:GREEN at most).

- An **item** (an indicator, a sighting) leaves when its TLP is at most the ceiling, it is not
  TLP:RED (never in an automated share), and its PAP (its own, else its container's) is at most
  the recipient's.
- A **container** (the incident) leaves when at least one of its items does. Its title leaves
  when the title's own marking allows it, else a neutral title built from what the recipient may
  see replaces it (``Incident #N``, with the organisation concerned when the container's TLP lets
  it leave); its free text (description, comments) leaves only when the container's TLP allows
  it. A container whose items all stay goes nowhere.

``decide`` is the decision for one marking; ``share_case`` applies it to an incident and says
what leaves and what stays, with the reason of each (the preview shows it, each exit sends
exactly ``Shared.items``, and the audit records it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cert.core.errors import N_
from cert.core.tlp import PAP, TLP, may_leave
from cert.storage.models import Case


@dataclass(frozen=True)
class Terms:
    """What a recipient may receive: its TLP ceiling and the PAP it honours."""

    tlp: TLP
    pap: PAP = PAP.RED
    #: the recipient is named by the incident's TLP:RED (its own organisation's focal point, reading
    #: it in the portal): RED items reach it, never anyone else
    named: bool = False

    @property
    def label(self) -> str:
        return f"{self.tlp.label}/{self.pap.label}"


@dataclass(frozen=True)
class Verdict:
    """A decision: whether the marking may leave and, when not, why (a message id and its values)."""

    allowed: bool
    reason: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        try:
            return self.reason % self.params
        except (KeyError, ValueError, TypeError):
            return self.reason


ALLOWED = Verdict(True)


def decide(terms: Terms, tlp: TLP, pap: PAP | None = None) -> Verdict:
    """May something marked ``tlp`` (and ``pap``) go to a recipient with ``terms``? The TLP part
    is ``cert.core.tlp.may_leave``, the decision documents (reports) take too; TLP:RED goes only
    to a named recipient whose ceiling is RED."""
    red_to_named = tlp is TLP.RED and terms.named and terms.tlp is TLP.RED
    if not red_to_named and not may_leave(tlp, terms.tlp):
        if tlp is TLP.RED:
            return Verdict(False, N_("TLP:RED never leaves in a share"), {"tlp": tlp.label})
        return Verdict(False, N_("%(tlp)s is above the recipient's ceiling %(ceiling)s"),
                       {"tlp": tlp.label, "ceiling": terms.tlp.label})
    if pap is not None and pap.value > terms.pap.value:
        return Verdict(False, N_("%(pap)s is more restrictive than the recipient honours (%(honoured)s)"),
                       {"pap": pap.label, "honoured": terms.pap.label})
    return ALLOWED


@dataclass(frozen=True)
class SharedItem:
    type: str
    value: str
    tlp: TLP
    pap: PAP
    observable_id: int | None = None


@dataclass(frozen=True)
class Withheld:
    type: str
    value: str
    verdict: Verdict
    observable_id: int | None = None


@dataclass(frozen=True)
class Shared:
    """What of an incident leaves for a recipient: the title (its own or the neutral one), the
    description (empty when it stays), the items, and what stays with its reason."""

    case_id: int
    terms: Terms
    title: str
    title_neutral: bool
    description: str
    items: tuple[SharedItem, ...]
    withheld: tuple[Withheld, ...]
    container: Verdict

    @property
    def leaves(self) -> bool:
        return self.container.allowed and bool(self.items)


def neutral_title(case: Case, organization: str | None = None) -> str:
    """A title made only of what any recipient may see."""
    return f"Incident #{case.id}" + (f" — {organization}" if organization else "")


def share_case(case: Case, terms: Terms, *, organization: str | None = None,
               only_indicators: bool = True, to_organization: bool = False) -> Shared:
    """The policy applied to an incident: each valid observable (indicators only unless
    ``only_indicators`` is false) decided on its own TLP and PAP (the incident's PAP when it has
    none), the title on its own marking, the description and ``organization`` (named in the
    neutral title) on the incident's TLP, unless the recipient is that organisation
    (``to_organization``: its focal point)."""
    case_pap = PAP.parse(case.pap or "amber")
    items: list[SharedItem] = []
    withheld: list[Withheld] = []
    for o in case.observables:
        if not o.valid or (only_indicators and not o.ioc):
            continue
        tlp, pap = TLP.parse(o.tlp), PAP.parse(o.pap) if o.pap else case_pap
        verdict = decide(terms, tlp, pap)
        if verdict.allowed:
            items.append(SharedItem(o.type, o.value, tlp, pap, o.id))
        else:
            withheld.append(Withheld(o.type, o.value, verdict, o.id))
    title_verdict = decide(terms, TLP.parse(case.title_tlp or case.tlp))
    text_verdict = decide(terms, TLP.parse(case.tlp))
    if not text_verdict.allowed and not to_organization:
        organization = None  # the organisations concerned are marked with the incident's TLP
    container = ALLOWED if items else Verdict(False, N_("nothing of the incident may leave for this recipient"))
    return Shared(case_id=case.id, terms=terms,
                  title=case.title if title_verdict.allowed else neutral_title(case, organization),
                  title_neutral=not title_verdict.allowed,
                  description=case.description if text_verdict.allowed else "",
                  items=tuple(items), withheld=tuple(withheld), container=container)


def terms_of(tlp_ceiling: str, pap: str) -> Terms:
    """A recipient's terms from their labels (a partner's ``tlp_ceiling`` and ``pap``)."""
    return Terms(TLP.parse(tlp_ceiling), PAP.parse(pap))


def require_channel(partner_id: str, channels: tuple[str, ...], channel: str) -> None:
    """Forbidden unless the partner takes ``channel`` (its terms list the channels it agreed to)."""
    from cert.core.errors import Forbidden

    if channel not in channels:
        raise Forbidden(N_("Partner %(partner)s does not take %(channel)s (its channels: %(channels)s)."),
                        partner=partner_id, channel=channel, channels=", ".join(channels) or "-")
