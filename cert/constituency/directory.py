"""The constituency: the ministries and agencies a CERT serves, their networks and contacts.

An organisation may name a ``parent`` (another organisation's id): a directorate under its
ministry. ``scope_of`` gives an organisation with all its descendants, what a focal point of
that organisation sees.

Loaded from a TOML file (``constituency_file``); without one, the bundled demo constituency
is used. IPs of an event are mapped to ``organization.*`` of the ministry that owns them. An
event never names its own organisation: what it says in ``organization.*`` is the sender's
claim, kept only as ``vigie.claimed_organization``.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cert.core.ecs import Event, get, put
from cert.core.errors import ConfigError, InvalidInput
from cert.core.tlp import PAP, TLP

BUNDLED = Path(__file__).resolve().parent / "data" / "constituency.toml"


@dataclass(frozen=True)
class FocalPoint:
    name: str
    email: str
    phone: str = ""


#: The roles of an organisation's contacts, in the order of escalation after the focal point.
CONTACT_ROLES = ("focal_point", "deputy", "ciso", "duty", "technical")
CONTACT_LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class Contact:
    """Someone of an organisation the CERT writes to: their role (``CONTACT_ROLES``), address,
    phone, the language they read (``fr``, ``en``), and the OpenPGP public key (ASCII-armoured)
    or S/MIME certificate (PEM) their messages are signed or encrypted for, when they have one."""

    name: str
    email: str
    role: str = "focal_point"
    phone: str = ""
    language: str = "fr"
    pgp_key: str = ""
    smime_cert: str = ""


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    focal_point: FocalPoint | None = None
    parent: str | None = None  # the id of the organisation this one is part of
    #: everyone the CERT writes to there; the ``focal_point`` table of the TOML file is one of them
    contacts: tuple[Contact, ...] = ()
    kind: str = ""  # ministry, agency, state company, hospital, school, data-centre tenant...
    sector: str = ""
    domains: tuple[str, ...] = ()  # its DNS names (``interieur.gouv.example``)
    asns: tuple[int, ...] = ()

    def contacts_with(self, role: str) -> tuple[Contact, ...]:
        """Its contacts of ``role``."""
        return tuple(c for c in self.contacts if c.role == role)


def _contact(item: dict[str, Any], role: str | None = None) -> Contact:
    chosen = str(role or item.get("role", "focal_point"))
    if chosen not in CONTACT_ROLES:
        raise ValueError(f"unknown contact role {chosen!r} (expected {', '.join(CONTACT_ROLES)})")
    language = str(item.get("language", "fr"))
    if language not in CONTACT_LANGUAGES:
        raise ValueError(f"unknown language {language!r} (expected {', '.join(CONTACT_LANGUAGES)})")
    return Contact(name=str(item["name"]), email=str(item["email"]), role=chosen, phone=str(item.get("phone", "")),
                   language=language, pgp_key=str(item.get("pgp_key", "")), smime_cert=str(item.get("smime_cert", "")))


def _check_hierarchy(organizations: list[Organization]) -> None:
    """Ids are unique; a parent is a known organisation; no organisation is its own ancestor."""
    by_id: dict[str, Organization] = {}
    for org in organizations:
        if org.id in by_id:
            raise ConfigError(f"organisation id {org.id!r} is used twice")
        by_id[org.id] = org
    for org in organizations:
        seen = {org.id}
        parent = org.parent
        while parent is not None:
            if parent not in by_id:
                raise ConfigError(f"organisation {org.id!r}: unknown parent {parent!r}")
            if parent in seen:
                raise ConfigError(f"organisation {org.id!r}: its parents form a cycle ({' > '.join(sorted(seen))})")
            seen.add(parent)
            parent = by_id[parent].parent


@dataclass(frozen=True)
class Partner:
    """A partner CERT and its sharing terms: the most restrictive TLP it may receive, the PAP it
    honours, the channels it takes (``misp-feed``, ``taxii``, ``stix``, ``email``), where, and
    the language its e-mails are written in (``fr`` or ``en``)."""

    id: str
    name: str
    tlp_ceiling: str = "green"
    pap: str = "green"
    channels: tuple[str, ...] = ()
    email: str = ""
    language: str = "fr"


CHANNELS = ("misp-feed", "taxii", "stix", "email")
LANGUAGES = ("fr", "en")


def _partner(item: dict[str, Any]) -> Partner:
    channels = tuple(str(c) for c in item.get("channels", ()))
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown channel(s) {', '.join(unknown)} (expected {', '.join(CHANNELS)})")
    language = str(item.get("language", "fr"))
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r} (expected {', '.join(LANGUAGES)})")
    return Partner(id=str(item["id"]), name=str(item["name"]),
                   tlp_ceiling=TLP.parse(str(item.get("tlp_ceiling", "green"))).tag_value,
                   pap=PAP.parse(str(item.get("pap", "green"))).name.lower(), channels=channels,
                   email=str(item.get("email", "")), language=language)


# (source is ours, destination is ours) -> network.direction
_DIRECTIONS = {(True, True): "internal", (True, False): "outbound", (False, True): "inbound",
               (False, False): "external"}


class Constituency:
    def __init__(self, organizations: list[Organization], partners: list[Partner] | None = None) -> None:
        _check_hierarchy(organizations)
        self.organizations = organizations
        self.partners = list(partners or [])
        if len({p.id for p in self.partners}) != len(self.partners):
            raise ConfigError("a partner id is used twice")
        children: dict[str, list[str]] = {}
        for org in organizations:
            if org.parent is not None:
                children.setdefault(org.parent, []).append(org.id)
        self._children = children
        # most specific network first
        self._nets = sorted(
            ((net, org) for org in organizations for net in org.networks),
            key=lambda item: item[0].prefixlen,
            reverse=True,
        )
        self._cache: dict[str, Organization | None] = {}  # ingest looks the same IPs up again and again

    @classmethod
    def load(cls, path: Path | None) -> Constituency:
        path = path or BUNDLED
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"constituency file {path}: {exc}") from exc
        orgs = []
        for i, item in enumerate(data.get("organization", [])):
            try:
                nets = tuple(ipaddress.ip_network(n, strict=False) for n in item.get("networks", []))
                fp = item.get("focal_point")
                contacts = ([_contact(fp, "focal_point")] if fp else []) + [
                    _contact(c) for c in item.get("contact", [])]
                orgs.append(
                    Organization(
                        id=str(item["id"]),
                        name=str(item["name"]),
                        networks=nets,
                        focal_point=FocalPoint(name=str(fp["name"]), email=str(fp["email"]),
                                               phone=str(fp.get("phone", ""))) if fp else None,
                        parent=str(item["parent"]) if item.get("parent") is not None else None,
                        contacts=tuple(contacts),
                        kind=str(item.get("kind", "")),
                        sector=str(item.get("sector", "")),
                        domains=tuple(str(d).lower().rstrip(".") for d in item.get("domains", [])),
                        asns=tuple(int(a) for a in item.get("asns", [])),
                    )
                )
            except (KeyError, ValueError, TypeError) as exc:
                raise ConfigError(f"constituency file {path}: organization #{i + 1}: {exc}") from exc
        partners = []
        for i, item in enumerate(data.get("partner", [])):
            try:
                partners.append(_partner(item))
            except (KeyError, ValueError, TypeError, InvalidInput) as exc:
                raise ConfigError(f"constituency file {path}: partner #{i + 1}: {exc}") from exc
        try:
            return cls(orgs, partners)
        except ConfigError as exc:
            raise ConfigError(f"constituency file {path}: {exc}") from exc

    def lookup(self, ip: str | None) -> Organization | None:
        if not ip:
            return None
        key = str(ip)
        try:
            return self._cache[key]
        except KeyError:
            pass
        if len(self._cache) >= 65536:
            self._cache.clear()
        org = self._cache[key] = self._lookup(key)
        return org

    def _lookup(self, ip: str) -> Organization | None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for net, org in self._nets:
            if addr.version == net.version and addr in net:
                return org
        return None

    def partner(self, partner_id: str) -> Partner | None:
        return next((p for p in self.partners if p.id == partner_id), None)

    def by_name(self, name: str | None) -> Organization | None:
        return next((o for o in self.organizations if o.name == name), None)

    def by_id(self, org_id: str | None) -> Organization | None:
        return next((o for o in self.organizations if o.id == org_id), None)

    def scope_of(self, org_id: str) -> frozenset[str]:
        """The ids of ``org_id`` and of every organisation under it (children, their children...);
        empty when no organisation has that id."""
        if self.by_id(org_id) is None:
            return frozenset()
        found, todo = {org_id}, [org_id]
        while todo:
            for child in self._children.get(todo.pop(), ()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return frozenset(found)

    def names_of(self, org_ids: frozenset[str]) -> frozenset[str]:
        """The names of these organisations: what alerts and cases record as their organisation."""
        return frozenset(o.name for o in self.organizations if o.id in org_ids)

    def find(self, ref: str) -> Organization:
        """The organisation with this id or name; InvalidInput naming the known ids otherwise."""
        org = self.by_id(ref.strip()) or self.by_name(ref.strip())
        if org is None:
            known = ", ".join(o.id for o in self.organizations)
            raise InvalidInput(f"no organisation {ref!r} in the constituency (known ids: {known})")
        return org

    def enrich(self, event: Event, fallback: Organization | None = None) -> None:
        """Set ``organization.*`` from the destination, else the source, else the host, when it is
        ours, else from ``fallback`` (the organisation the sending API token speaks for);
        ``<side>.organization.name`` per side; and, when the event has both addresses and no
        direction, ``network.direction`` (``internal``, ``outbound``, ``inbound``, ``external``)
        with the constituency's networks as the inside. What the event itself says there is dropped: an
        organisation is never taken from the sender's word (its claimed name is kept, as evidence
        only, in ``vigie.claimed_organization``)."""
        claimed = event.pop("organization", None)
        if isinstance(claimed, dict) and claimed.get("name"):
            put(event, "vigie.claimed_organization", str(claimed["name"])[:200])
        chosen = None
        ours: dict[str, bool] = {}
        for side in ("destination", "source", "host"):
            sub = event.get(side)
            if isinstance(sub, dict):
                sub.pop("organization", None)
            org = self.lookup(get(event, f"{side}.ip"))
            ours[side] = org is not None
            if org is not None:
                put(event, f"{side}.organization.name", org.name)
                chosen = chosen or org
        if get(event, "network.direction") is None and get(event, "source.ip") and get(event, "destination.ip"):
            # ECS's perimeter values, the constituency's networks being the inside
            put(event, "network.direction", _DIRECTIONS[ours["source"], ours["destination"]])
        chosen = chosen or fallback
        if chosen is not None:
            put(event, "organization.id", chosen.id)
            put(event, "organization.name", chosen.name)
