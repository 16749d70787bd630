"""An incident as a STIX 2.1 bundle for a partner CERT, built with the OASIS ``stix2`` objects
from what the sharing policy lets leave (``cert.sharing.policy.share_case``).

The bundle holds:

- the TLP 2.0 marking definitions (the OASIS extension ``extension-definition--60a3c5c5-…``, with
  the fixed ids every STIX consumer knows) of the labels it uses;
- one ``incident`` named with the shared title (its own, or the neutral one) and the shared
  description (absent when it stays), marked with the highest TLP of what it carries;
- one ``indicator`` per shared item, its pattern built from ``stix2`` pattern objects (values
  quoted and escaped by the library), marked with the item's own TLP;
- one ``indicates`` relationship from each indicator to the incident;
- when Vigie saw a shared value itself (``cert.sharing.our_sightings``: alerts of the incident whose
  evidence holds it), the value as a STIX cyber-observable, an ``observed-data`` of it (first and
  last observed, how many alerts), and a ``sighting`` of the indicator by the CERT (an
  ``identity``; never the ministry), each marked with the item's TLP.

Ids are UUIDv5 of the case id and the value, so a re-export gives the same ids: a consumer
updates its copy (``modified`` is the export time) instead of storing a duplicate.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stix2
from sqlalchemy.orm import Session

from cert.core.config import Settings
from cert.core.errors import N_, Conflict
from cert.core.tlp import TLP, highest
from cert.sharing.our_sightings import Seen, Sightings, our_sightings
from cert.sharing.policy import Shared, SharedItem
from cert.storage.models import Case

#: The namespace of every id Vigie gives a STIX object (UUIDv5 of the case and the value).
NAMESPACE = uuid.UUID("6f1c3b52-8a7e-5d0c-9e44-2b9a7d1f0c61")

#: The OASIS TLP 2.0 marking-definition extension.
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
#: The fixed ids of the OASIS TLP 2.0 marking definitions.
TLP2_IDS = {
    TLP.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    TLP.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    TLP.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    TLP.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    TLP.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP2_CREATED = "2022-10-01T00:00:00.000Z"

#: Observable type -> the STIX object path of its value (IP addresses are chosen by version).
PATHS: dict[str, tuple[str, tuple[str, ...]]] = {
    "domain": ("domain-name", ("value",)),
    "hostname": ("domain-name", ("value",)),
    "url": ("url", ("value",)),
    "email": ("email-addr", ("value",)),
    "md5": ("file", ("hashes", "MD5")),
    "sha1": ("file", ("hashes", "SHA-1")),
    "sha256": ("file", ("hashes", "SHA-256")),
    "user": ("user-account", ("account_login",)),
    "user-agent": ("network-traffic", ("extensions", "http-request-ext", "request_header", "User-Agent")),
}


def marking(tlp: TLP) -> stix2.MarkingDefinition:
    """The OASIS TLP 2.0 marking definition of ``tlp``."""
    return stix2.MarkingDefinition(
        id=TLP2_IDS[tlp], created=TLP2_CREATED, name=tlp.label,
        extensions={TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": tlp.tag_value}})


def object_path(type_: str, value: str) -> stix2.ObjectPath:
    if type_ in ("ip", "cidr"):
        net = ipaddress.ip_network(value, strict=False)
        return stix2.ObjectPath(f"ipv{net.version}-addr", ["value"])
    if type_ not in PATHS:
        raise Conflict(N_("An observable of type %(type)s has no STIX 2.1 pattern."), type=type_[:40])
    obj, path = PATHS[type_]
    return stix2.ObjectPath(obj, list(path))


def pattern(type_: str, value: str) -> str:
    """The STIX pattern matching ``value``: ``[ipv4-addr:value = '198.51.100.1']``, a network as
    ``ISSUBSET``, ``[file:hashes.'SHA-256' = '…']``; the value quoted by ``stix2``."""
    path = object_path(type_, value)
    comparison: stix2.EqualityComparisonExpression | stix2.IsSubsetComparisonExpression
    if type_ in ("ip", "cidr") and "/" in value:
        comparison = stix2.IsSubsetComparisonExpression(path, stix2.StringConstant(value))
    else:
        comparison = stix2.EqualityComparisonExpression(path, stix2.StringConstant(value))
    return str(stix2.ObservationExpression(comparison))


def stix_id(kind: str, case_id: int, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, '/'.join((str(case_id), kind, *parts)))}"


def indicator_id(case_id: int, item: SharedItem) -> str:
    return stix_id("indicator", case_id, item.type, item.value)


@dataclass(frozen=True)
class Export:
    """A bundle and what it carries: the ids and values of the items (for the audit)."""

    bundle: stix2.Bundle
    incident_id: str
    sent: tuple[tuple[str, SharedItem], ...]

    def serialize(self) -> str:
        return str(self.bundle.serialize(pretty=False))


def incident_tlp(case: Case, shared: Shared) -> TLP:
    """The highest TLP among what the incident object carries: its items, its title when it is
    the case's own, its description when it leaves."""
    labels = [i.tlp for i in shared.items]
    if not shared.title_neutral:
        labels.append(TLP.parse(case.title_tlp or case.tlp))
    if shared.description:
        labels.append(TLP.parse(case.tlp))
    return highest(*labels)


def cyber_observable(type_: str, value: str, tlp: TLP) -> Any | None:
    """The STIX cyber-observable of a value (its id derived from the value by ``stix2``), or None
    for a type that has none on its own (a user agent)."""
    markings = [TLP2_IDS[tlp]]
    if type_ in ("ip", "cidr"):
        version = ipaddress.ip_network(value, strict=False).version
        kind = stix2.IPv4Address if version == 4 else stix2.IPv6Address
        return kind(value=value, object_marking_refs=markings)
    simple = {"domain": stix2.DomainName, "hostname": stix2.DomainName, "url": stix2.URL,
              "email": stix2.EmailAddress}
    if type_ in simple:
        return simple[type_](value=value, object_marking_refs=markings)
    if type_ in ("md5", "sha1", "sha256"):
        name = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256"}[type_]
        return stix2.File(hashes={name: value}, object_marking_refs=markings)
    if type_ == "user":
        return stix2.UserAccount(account_login=value, object_marking_refs=markings)
    return None


def cert_identity(name: str, org_uuid: str) -> stix2.Identity:
    """The CERT as a STIX identity (who made the sightings), TLP:CLEAR."""
    return stix2.Identity(id=f"identity--{uuid.uuid5(uuid.UUID(org_uuid), 'vigie-cert')}", name=name,
                          identity_class="organization", created=TLP2_CREATED, modified=TLP2_CREATED,
                          object_marking_refs=[TLP2_IDS[TLP.CLEAR]])


def _sighting_objects(case: Case, item: SharedItem, indicator: str, seen: Sequence[Seen], identity: str,
                      now: datetime) -> list[Any]:
    """The observable, its observed data and the sighting of ``indicator`` by the CERT."""
    observable = cyber_observable(item.type, item.value, item.tlp)
    if observable is None or not seen:
        return []
    first, last = min(x.first_seen for x in seen), max(x.last_seen for x in seen)
    last = max(last, first)
    markings = [TLP2_IDS[item.tlp]]
    observed = stix2.ObservedData(
        id=stix_id("observed-data", case.id, item.type, item.value), created=first, modified=max(now, first),
        first_observed=first, last_observed=last, number_observed=len(seen), object_refs=[observable.id],
        created_by_ref=identity, object_marking_refs=markings)
    sighting = stix2.Sighting(
        id=stix_id("sighting", case.id, item.type, item.value), created=first, modified=max(now, first),
        sighting_of_ref=indicator, observed_data_refs=[observed.id], where_sighted_refs=[identity],
        first_seen=first, last_seen=last, count=len(seen), created_by_ref=identity, object_marking_refs=markings)
    return [observable, observed, sighting]


def export_case(case: Case, shared: Shared, *, now: datetime | None = None, sightings: Sightings | None = None,
                cert: tuple[str, str] | None = None) -> Export:
    """The bundle of what ``shared`` lets leave of ``case``; Conflict when nothing may leave.
    ``sightings`` (``cert.sharing.our_sightings``) and ``cert`` (the CERT's name and organisation
    uuid) add the observed data and the CERT's sightings of the shared values."""
    if not shared.leaves:
        raise Conflict(N_("Nothing of incident %(case)s may leave for this partner."), case=case.id)
    now = now or datetime.now(UTC)
    created = _utc(case.created_at) or now
    tlp = incident_tlp(case, shared)
    used = {tlp} | {i.tlp for i in shared.items}
    incident = stix2.Incident(
        id=stix_id("incident", case.id), created=created, modified=max(now, created), name=shared.title,
        description=shared.description or None, object_marking_refs=[TLP2_IDS[tlp]])
    seen = {o.id: o for o in case.observables}
    objects: list[object] = [marking(t) for t in sorted(used, key=lambda t: t.value)] + [incident]
    identity = cert_identity(*cert) if cert is not None and sightings else None
    if identity is not None:
        if TLP.CLEAR not in used:  # the identity's marking
            objects.insert(0, marking(TLP.CLEAR))
        objects.append(identity)
    sent: list[tuple[str, SharedItem]] = []
    for item in shared.items:
        observable = seen.get(item.observable_id) if item.observable_id is not None else None
        since = _utc(observable.created_at if observable is not None else None) or created
        ind = stix2.Indicator(
            id=indicator_id(case.id, item), created=since, modified=max(now, since), name=item.value,
            indicator_types=["malicious-activity"], pattern=pattern(item.type, item.value), pattern_type="stix",
            pattern_version="2.1", valid_from=since, object_marking_refs=[TLP2_IDS[item.tlp]])
        rel = stix2.Relationship(
            id=stix_id("relationship", case.id, "indicates", ind.id), created=since, modified=max(now, since),
            relationship_type="indicates", source_ref=ind.id, target_ref=incident.id,
            object_marking_refs=[TLP2_IDS[item.tlp]])
        objects += [ind, rel]
        if identity is not None and sightings:
            objects += _sighting_objects(case, item, ind.id, sightings.get((item.type, item.value), ()), identity.id,
                                         now)
        sent.append((ind.id, item))
    return Export(stix2.Bundle(objects=objects), incident.id, tuple(sent))


def export_with_sightings(s: Session, case: Case, shared: Shared, settings: Settings, *,
                          now: datetime | None = None) -> Export:
    """``export_case`` with the CERT's own sightings of the shared values (``our_sightings``)."""
    return export_case(case, shared, now=now, sightings=our_sightings(s, case, shared),
                       cert=(settings.org_name, settings.org_uuid))


def _utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
