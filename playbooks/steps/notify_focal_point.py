"""Step ``notify_focal_point``: write a notification to the affected ministry's focal point.

The message goes to the outbox (an RFC 5322 ``.eml`` file per message in the data directory,
to be relayed by the CERT's mail gateway). What it holds is what the sharing policy
(``cert.sharing.policy.share_case``) lets leave at the step's ``tlp_ceiling``: the observables
marked at most the ceiling (never TLP:RED), the title or, when its marking is above the ceiling
(a title written from a partner's TLP:RED indicator, say), "Incident #<id> — <ministry>", and the
description only when the incident's TLP allows it. The subject carries the highest TLP of what
the message holds.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from cert.core.errors import N_, InvalidInput
from cert.core.tlp import PAP, TLP, highest
from cert.response.playbooks import Step, StepContext, StepResult, steps
from cert.sharing.outbox import queue_message
from cert.sharing.policy import Terms, share_case


@steps.register
class NotifyFocalPoint(Step):
    name = "notify_focal_point"
    needs_pap = PAP.RED  # informing the victim organisation is not an action against the adversary

    def run(self, ctx: StepContext) -> StepResult:
        case = ctx.case
        ceiling = TLP.parse(str(ctx.params.get("tlp_ceiling", "amber")))
        org = ctx.platform.constituency.by_name(case.organization)
        if org is None or org.focal_point is None:
            raise InvalidInput(N_("[%(step)s] no focal point known for the organisation %(organization)s."),
                               step=self.name, organization=case.organization or "-")
        # the sharing policy decides what the message holds: the items the ceiling allows, the
        # title or a neutral one, the description only when the incident's TLP allows it
        shared_case = share_case(case, Terms(ceiling, PAP.RED), organization=org.name, only_indicators=False,
                                 to_organization=True)
        shared = list(shared_case.items)
        title = shared_case.title
        parts = [i.tlp for i in shared]
        if not shared_case.title_neutral:
            parts.append(TLP.parse(case.title_tlp or case.tlp))
        if shared_case.description:
            parts.append(TLP.parse(case.tlp))
        case_tlp = highest(*parts)
        msg = EmailMessage()
        msg["From"] = f"{ctx.platform.settings.org_name} <noreply@cert.invalid>"
        msg["To"] = f"{org.focal_point.name} <{org.focal_point.email}>"
        msg["Subject"] = f"[{case_tlp.label}] [{ctx.platform.settings.org_name} #{case.id}] {title}"
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain="cert.invalid")
        body = [
            f"{case_tlp.label} — diffusion restreinte / limited disclosure",
            "",
            f"Incident #{case.id}: {title}",
            f"Organisation: {org.name}",
            f"Sévérité / severity: {case.severity}",
            "",
            *([shared_case.description, ""] if shared_case.description else []),
            "Observables:",
            *[f"  - {o.type}: {o.value}" for o in shared],
            "",
            "Merci de confirmer la prise en compte / please acknowledge.",
        ]
        msg.set_content("\n".join(body))
        path = queue_message(ctx.platform.settings, msg, f"case-{case.id}")
        return StepResult(
            N_("[%(step)s] Notification to %(name)s (%(organization)s) queued in the outbox with %(count)s "
               "observable(s)."),
            {"recipient": org.focal_point.email, "file": path.name, "observables": len(shared)},
            {"name": org.focal_point.name, "organization": org.name, "count": len(shared)},
        )
