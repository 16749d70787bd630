"""Step ``sightings``: search our own event store for every event involving the case's observables.

A purely local lookup (nothing leaves), so it is permitted under any PAP.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from cert.core.ecs import get
from cert.core.errors import N_
from cert.core.tlp import PAP
from cert.response.playbooks import Step, StepContext, StepResult, steps
from cert.storage.events import EventQuery

FIELDS = {"ip": "related.ip", "user": "related.user", "hostname": "related.hosts", "user-agent": "user_agent.original"}


@steps.register
class Sightings(Step):
    name = "sightings"
    needs_pap = PAP.RED

    def run(self, ctx: StepContext) -> StepResult:
        days = int(ctx.params.get("days", 30))
        since = datetime.now(UTC) - timedelta(days=days)
        store = ctx.platform.events
        store.refresh()
        lines, data = [], {}
        for obs in ctx.case.observables:
            field = FIELDS.get(obs.type)
            if field is None:
                continue
            query = EventQuery(start=since, terms={field: [obs.value]}, limit=10_000)
            total = store.count(query)
            events = store.search(query)
            orgs = Counter(str(get(e, "organization.name")) for e in events if get(e, "organization.name"))
            datasets = Counter(str(get(e, "event.dataset")) for e in events)
            data[f"{obs.type}:{obs.value}"] = {"events": total, "organizations": dict(orgs), "datasets": dict(datasets)}
            where = ", ".join(f"{o} ({n})" for o, n in orgs.most_common(3)) or "-"
            lines.append(f"{obs.type} {obs.value}: {total} ({where})")
        if not lines:
            return StepResult(N_("[%(step)s] No observable to look up."))
        return StepResult(N_("[%(step)s] Events holding each observable over the last %(days)s days "
                             "(organisations): %(lines)s"),
                          {"sightings": data}, {"days": days, "lines": "; ".join(lines)})
