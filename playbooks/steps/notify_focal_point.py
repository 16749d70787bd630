"""Step ``notify_focal_point``: notify the affected organisation's focal points.

The messages go to the notification queue (``cert.notify.notify_incident``), delivered over SMTP
by ``cert notify deliver``, with retries, signed when keys are configured, in each contact's
language, with the ticket ``VIGIE#<id>`` and a signed acknowledgement link; an unacknowledged
notification escalates (``cert notify escalate``). What a message holds is what the sharing
policy (``cert.sharing.policy.share_case``) lets leave at the step's ``tlp_ceiling`` (and never
above ``notify_tlp_ceiling``): the observables marked at most the ceiling (never TLP:RED), the
title or, when its marking is above the ceiling (a title written from a partner's TLP:RED
indicator, say), "Incident #<id> — <ministry>", and the description only when the incident's TLP
allows it. The subject carries the highest TLP of what the message holds.
"""

from __future__ import annotations

from cert.core.errors import N_, InvalidInput
from cert.core.tlp import PAP, TLP
from cert.notify import notify_incident
from cert.notify.incidents import shared_with
from cert.response.playbooks import Step, StepContext, StepResult, steps


@steps.register
class NotifyFocalPoint(Step):
    name = "notify_focal_point"
    needs_pap = PAP.RED  # informing the victim organisation is not an action against the adversary

    def run(self, ctx: StepContext) -> StepResult:
        case = ctx.case
        ceiling = TLP.parse(str(ctx.params.get("tlp_ceiling", "amber")))
        org = ctx.platform.constituency.by_name(case.organization)
        if org is None or not org.contacts_with("focal_point"):
            raise InvalidInput(N_("[%(step)s] no focal point known for the organisation %(organization)s."),
                               step=self.name, organization=case.organization or "-")
        rows = notify_incident(ctx.session, ctx.platform, case, ctx.actor, ceiling=ceiling)
        first = rows[0]
        count = len(shared_with(ctx.platform.settings, case, org, ceiling).items)
        return StepResult(
            N_("[%(step)s] Notification to %(name)s (%(organization)s) queued for delivery with %(count)s "
               "observable(s), ticket %(ticket)s."),
            {"recipient": first.recipient_email, "notifications": [r.id for r in rows], "observables": count,
             "ticket": first.ticket},
            {"name": first.recipient_name, "organization": org.name, "count": count, "ticket": first.ticket},
        )
