"""Step ``notify_focal_point``: write a notification to the affected ministry's focal point.

The message goes to the outbox (an RFC 5322 ``.eml`` file per message in the data directory,
to be relayed by the CERT's mail gateway). TLP is enforced (``cert.tlp.may_leave``): nothing above the recipient's
ceiling is included, a case above the ceiling is not sent at all, and a case title above it (one
written from a partner's TLP:RED indicator, say) is replaced by "Incident #<id> — <ministry>".
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from cert.core.errors import N_, Forbidden, InvalidInput
from cert.core.tlp import PAP, TLP, may_leave, shareable_text
from cert.response.playbooks import Step, StepContext, StepResult, steps


@steps.register
class NotifyFocalPoint(Step):
    name = "notify_focal_point"
    needs_pap = PAP.RED  # informing the victim organisation is not an action against the adversary

    def run(self, ctx: StepContext) -> StepResult:
        case = ctx.case
        ceiling = TLP.parse(str(ctx.params.get("tlp_ceiling", "amber")))
        case_tlp = TLP.parse(case.tlp)
        if not may_leave(case_tlp, ceiling):
            raise Forbidden(N_("[%(step)s] the incident is %(tlp)s, above the focal point's ceiling %(ceiling)s: "
                               "not sent."), step=self.name, tlp=case_tlp.label, ceiling=ceiling.label)
        org = ctx.platform.constituency.by_name(case.organization)
        if org is None or org.focal_point is None:
            raise InvalidInput(N_("[%(step)s] no focal point known for the organisation %(organization)s."),
                               step=self.name, organization=case.organization or "-")
        shared = [o for o in case.observables if o.valid and may_leave(TLP.parse(o.tlp), ceiling)]
        title = shareable_text(case.title, TLP.parse(case.title_tlp), ceiling, f"Incident #{case.id} — {org.name}")
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
            "Observables:",
            *[f"  - {o.type}: {o.value}" for o in shared],
            "",
            "Merci de confirmer la prise en compte / please acknowledge.",
        ]
        msg.set_content("\n".join(body))
        outbox = ctx.platform.settings.outbox_dir
        outbox.mkdir(parents=True, exist_ok=True)
        path = outbox / f"case-{case.id}-{msg['Message-ID'].strip('<>').split('@')[0]}.eml"
        path.write_bytes(bytes(msg))
        return StepResult(
            N_("[%(step)s] Notification to %(name)s (%(organization)s) queued in the outbox with %(count)s "
               "observable(s)."),
            {"recipient": org.focal_point.email, "file": path.name, "observables": len(shared)},
            {"name": org.focal_point.name, "organization": org.name, "count": len(shared)},
        )
