"""When Vigie itself saw the values it shares: the incident's alerts whose evidence holds a shared
value, each a sighting (first and last seen) that the MISP feed and the STIX export carry. An
alert whose own marking the recipient may not receive (a partner's RED indicator...) gives none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.core.errors import InvalidInput
from cert.incidents.from_alerts import alert_tlp
from cert.sharing.policy import Shared, decide
from cert.storage.models import Alert, Case

#: the alert fields whose values are matched against a shared value (``cert.core.contracts.ENTITY_FIELDS``)
_ALERT_VALUE_FIELDS = ("source.ip", "destination.ip", "user.name", "host.name", "url.original", "url.domain")


@dataclass(frozen=True)
class Seen:
    """Vigie saw a value in its constituency: in the evidence of one alert of the incident."""

    alert_id: int
    first_seen: datetime
    last_seen: datetime


#: our sightings per shared item, keyed by (type, value)
Sightings = Mapping[tuple[str, str], Sequence[Seen]]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _alert_values(alert: Alert) -> set[str]:
    """The values an alert's evidence holds (its entities, in lower case)."""
    entities = alert.entities or {}
    values = {str(entities[f]) for f in _ALERT_VALUE_FIELDS if entities.get(f) not in (None, "")}
    indicator = entities.get("indicator")
    if isinstance(indicator, dict) and indicator.get("value"):
        values.add(str(indicator["value"]))
    if alert.source_ip:
        values.add(alert.source_ip)
    return {v.lower() for v in values}


def our_sightings(s: Session, case: Case, shared: Shared) -> dict[tuple[str, str], list[Seen]]:
    """When Vigie saw each shared value: the alerts of the incident whose evidence holds it. An
    alert whose own marking the recipient may not receive (a partner's RED indicator...) gives no
    sighting."""
    wanted = {item.value.lower(): (item.type, item.value) for item in shared.items}
    out: dict[tuple[str, str], list[Seen]] = {}
    for alert in s.scalars(select(Alert).where(Alert.case_id == case.id).order_by(Alert.id)):
        try:
            marking = alert_tlp(alert)
        except InvalidInput:
            continue
        if not decide(shared.terms, marking).allowed:
            continue
        for value in _alert_values(alert) & wanted.keys():
            out.setdefault(wanted[value], []).append(Seen(alert.id, _utc(alert.first_seen), _utc(alert.last_seen)))
    return out
