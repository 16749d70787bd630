"""Step ``passive_dns``: passive DNS from Vigie's own DNS events (Zeek ``dns.log``, Suricata EVE
``dns``, BIND query logs, as the parsers store them in ECS).

For each domain observable of the incident, the addresses it resolved to (``dns.resolved_ip``),
each with its first and last sighting and how many answers carried it; for each ip observable,
the names that resolved to it; and the internal hosts that asked (``source.ip``; the
destination of a Suricata answer record, which travels from the resolver to the client).

Parameters (``with:``): ``days`` (default 90, at most 3650): how far back to read; ``limit``
(default 5000, at most 50000): at most this many of the most recent events per observable are
read (the message says how many of how many). Nothing leaves Vigie: permitted under any PAP.

``data``: ``resolved_ips`` and ``names`` (lists for a later step, e.g. ``targets: {from:
pdns.resolved_ips}``), ``clients``, and per observable the details (``domains``, ``ips``).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cert.core.ecs import Event, get, parse_ts
from cert.core.errors import N_, InvalidInput
from cert.core.observables import normalize, normalize_domain
from cert.core.tlp import PAP
from cert.response.playbooks import Step, StepContext, StepResult, steps
from cert.storage.events import EventQuery

MAX_DAYS = 3650
MAX_LIMIT = 50_000
#: entries kept per observable in the step's data and message
SHOWN = 50


def _int_param(ctx: StepContext, name: str, default: int, top: int) -> int:
    raw = ctx.params.get(name, default)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= top:
        raise InvalidInput(N_("[%(step)s] the parameter %(name)s must be a whole number from 1 to %(max)s."),
                           step=PassiveDns.name, name=name, max=top)
    return raw


def _ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None


def resolved(event: Event) -> list[str]:
    """The addresses a DNS event's answers carry."""
    found = get(event, "dns.resolved_ip")
    values = found if isinstance(found, list) else [found] if found else []
    if not values:
        answers = get(event, "dns.answers")
        values = [a.get("data") for a in answers if isinstance(a, dict)] if isinstance(answers, list) else []
    return [ip for ip in (_ip(v) for v in values) if ip is not None]


def client(event: Event) -> str | None:
    """The host that asked: the source of a query, the destination of a Suricata answer record."""
    side = "destination" if get(event, "event.module") == "suricata" and get(event, "dns.type") == "answer" \
        else "source"
    return _ip(get(event, f"{side}.ip"))


@dataclass
class Seen:
    """One value's sightings: how many, first and last."""

    count: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(self, at: datetime | None) -> None:
        self.count += 1
        if at is not None:
            self.first = at if self.first is None or at < self.first else self.first
            self.last = at if self.last is None or at > self.last else self.last

    def as_dict(self, key: str, value: str) -> dict[str, Any]:
        return {key: value, "count": self.count, "first_seen": self.first.isoformat() if self.first else None,
                "last_seen": self.last.isoformat() if self.last else None}

    def text(self, value: str) -> str:
        def day(at: datetime | None) -> str:
            return at.strftime("%Y-%m-%d %H:%M") if at else "?"
        return f"{value} ({self.count}×, {day(self.first)} → {day(self.last)} UTC)"


@dataclass
class Lookup:
    """What the DNS events say about one observable."""

    events: int = 0
    read: int = 0
    values: dict[str, Seen] = field(default_factory=dict)
    clients: Counter[str] = field(default_factory=Counter)

    def add(self, event: Event, values: list[str]) -> None:
        try:
            at: datetime | None = parse_ts(str(get(event, "@timestamp")))
        except ValueError:
            at = None
        for value in dict.fromkeys(values):
            self.values.setdefault(value, Seen()).add(at)
        asker = client(event)
        if asker is not None:
            self.clients[asker] += 1

    def ranked(self) -> list[tuple[str, Seen]]:
        return sorted(self.values.items(), key=lambda kv: (-kv[1].count, kv[0]))[:SHOWN]


def _search(ctx: StepContext, terms: dict[str, Sequence[str | int]], since: datetime,
            limit: int) -> tuple[int, list[Event]]:
    query = EventQuery(start=since, terms=terms, limit=limit)
    return ctx.platform.events.count(query), ctx.platform.events.search(query)


@steps.register
class PassiveDns(Step):
    name = "passive_dns"
    needs_pap = PAP.RED  # our own logs only

    def run(self, ctx: StepContext) -> StepResult:
        days = _int_param(ctx, "days", 90, MAX_DAYS)
        limit = _int_param(ctx, "limit", 5000, MAX_LIMIT)
        since = datetime.now(UTC) - timedelta(days=days)
        domains, addresses = self._observables(ctx)
        if not domains and not addresses:
            return StepResult(N_("[%(step)s] The incident has no domain or ip observable to look up."),
                              {"resolved_ips": [], "names": [], "clients": []})
        ctx.platform.events.refresh()
        by_domain: dict[str, Lookup] = {}
        for name in domains:
            look = by_domain[name] = Lookup()
            look.events, events = _search(ctx, {"dns.question.name": [name, name + "."]}, since, limit)
            look.read = len(events)
            for event in events:
                look.add(event, resolved(event))
        by_ip: dict[str, Lookup] = {}
        for ip in addresses:
            look = by_ip[ip] = Lookup()
            look.events, events = _search(ctx, {"dns.resolved_ip": [ip]}, since, limit)
            look.read = len(events)
            for event in events:
                asked = get(event, "dns.question.name")
                if isinstance(asked, str) and asked:
                    look.add(event, [asked.lower().rstrip(".")])
        return self._result(days, by_domain, by_ip)

    @staticmethod
    def _observables(ctx: StepContext) -> tuple[list[str], list[str]]:
        domains: list[str] = []
        addresses: list[str] = []
        for obs in ctx.case.observables:
            if not obs.valid or obs.type not in ("domain", "ip"):
                continue
            try:
                value = normalize_domain(obs.value) if obs.type == "domain" else normalize("ip", obs.value)[1]
            except InvalidInput:
                continue
            target = domains if obs.type == "domain" else addresses
            if value not in target:
                target.append(value)
        return domains, addresses

    @staticmethod
    def _result(days: int, by_domain: dict[str, Lookup], by_ip: dict[str, Lookup]) -> StepResult:
        resolved_ips = list(dict.fromkeys(ip for look in by_domain.values() for ip, _ in look.ranked()))
        names = list(dict.fromkeys(n for look in by_ip.values() for n, _ in look.ranked()))
        clients: Counter[str] = Counter()
        for look in (*by_domain.values(), *by_ip.values()):
            clients.update(look.clients)
        data: dict[str, Any] = {
            "resolved_ips": resolved_ips, "names": names, "clients": [c for c, _ in clients.most_common(SHOWN)],
            "domains": {d: {"events": look.events, "read": look.read,
                            "resolutions": [seen.as_dict("ip", ip) for ip, seen in look.ranked()],
                            "clients": [{"ip": c, "count": n} for c, n in look.clients.most_common(SHOWN)]}
                        for d, look in by_domain.items()},
            "ips": {ip: {"events": look.events, "read": look.read,
                         "names": [seen.as_dict("name", n) for n, seen in look.ranked()],
                         "clients": [{"ip": c, "count": n} for c, n in look.clients.most_common(SHOWN)]}
                    for ip, look in by_ip.items()},
        }
        events = sum(look.events for look in (*by_domain.values(), *by_ip.values()))
        read = sum(look.read for look in (*by_domain.values(), *by_ip.values()))
        if not events:
            return StepResult(N_("[%(step)s] No DNS event of the last %(days)s days names the incident's domains "
                                 "(%(domains)s) or addresses (%(ips)s)."), data,
                              {"days": days, "domains": ", ".join(by_domain) or "-", "ips": ", ".join(by_ip) or "-"})
        lines = [f"{d} → " + (", ".join(seen.text(ip) for ip, seen in look.ranked()[:10]) or "-")
                 for d, look in by_domain.items() if look.events]
        lines += [f"{ip} ← " + (", ".join(seen.text(n) for n, seen in look.ranked()[:10]) or "-")
                  for ip, look in by_ip.items() if look.events]
        return StepResult(
            N_("[%(step)s] Passive DNS of the last %(days)s days (%(read)s of %(events)s DNS events read): "
               "%(lines)s. Internal hosts that asked: %(clients)s."), data,
            {"days": days, "read": read, "events": events, "lines": "; ".join(lines),
             "clients": ", ".join(f"{c} ({n})" for c, n in clients.most_common(10)) or "-"})
