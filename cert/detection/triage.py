"""The triage queue: which alerts a filter selects, in which order, a page at a time, and the
same alerts grouped by source address or by rule.

A filter is read from query-string parameters (``AlertFilter.from_args``), the same for the
console, the API and saved filters. Every query takes ``organizations`` (``Scope.recorded``):
an alert of another organisation is never selected, whatever the filter says.

What the database does with each filter: severity, status, organisation, rule, exact source
address and assignee are equalities on indexed columns (``ix_alerts_*``), the time range is a
range on ``created_at`` (indexed), and the default order (raised time, then id) walks the
``created_at`` index, so a page stops as soon as it has its rows. An IPv4 network (CIDR) is
its addresses when it lies within a /24 (an indexed lookup), else one textual prefix per
octet-aligned block (at most 128); an IPv6 network, the matching addresses the alerts hold
(read from the address index). The ATT&CK tactic reads the index of ``alert_tactics`` (tactic,
raised time, alert), which lists the alerts in the default order. The text search ``q`` finds
the text as a substring, whatever its case, of the rule's title or id, the source address, the
organisation or the entities (their JSON). On SQLite it reads the FTS5 trigram index
``alert_search`` (three characters or more; shorter, a ``LIKE`` over the rows): few matches are
looked up by id; many are found by a ``LIKE`` on each row the first pages walk (they come
early), read from the index for a deeper page, and counted from the index. A letter outside
ASCII matches its other case through the index only.
On PostgreSQL it is a ``LIKE`` on the lowered text, which the trigram index
``ix_alerts_search_trgm`` answers when ``pg_trgm`` is installed.

Counting what a search or a tactic selects may read many rows: ``count`` takes ``at_most``
and stops past it (``count_is_cheap`` says which filters are counted exactly from indexes)."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.orm import Session

from cert.core.errors import N_, InvalidInput, NotFound
from cert.storage.models import Alert, AlertTactic

SEVERITIES = ("informational", "low", "medium", "high", "critical")
STATUSES = ("new", "acknowledged", "promoted", "closed")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES, start=1)}
#: the orders of the queue
SORTS = ("raised", "last_seen", "severity", "count", "rule")
GROUPINGS = ("source", "rule")
UNASSIGNED, ME = "unassigned", "me"
MAX_VALUES = 50  # values of one multi-valued parameter
MAX_TEXT = 200
MAX_V6_ADDRESSES = 5000
#: how many alerts the console counts at most when counting is not cheap (``count_is_cheap``)
COUNT_LIMIT = 1_000
#: at most this many matches of the text index are looked up by id (SQLite)
FEW_MATCHES = 5_000
#: a page within this many rows of the start finds many matches of the text by walking the alerts in
#: order; a deeper one reads the index's matches, a cost bounded by their number (SQLite)
WALKED_ROWS = 1_000
#: the SQLite FTS5 index of the alerts' text (migration 0018_search), by alert id
_ALERT_SEARCH = table("alert_search", column("rowid", Integer))
#: the lowered text of an alert on PostgreSQL: the expression of the index ``ix_alerts_search_trgm``
_PG_TEXT = ("lower(coalesce(rule_title, '') || E'\\n' || coalesce(rule_id, '') || E'\\n' || "
            "coalesce(source_ip, '') || E'\\n' || coalesce(organization, '') || E'\\n' || "
            "coalesce(CAST(entities AS TEXT), ''))")


def _many(args: Mapping[str, Sequence[str]], name: str) -> tuple[str, ...]:
    """The values of a parameter given several times or comma-separated, blanks dropped."""
    out: list[str] = []
    for raw in args.get(name, ()):
        out.extend(part.strip() for part in str(raw).split(",") if part.strip())
    if len(out) > MAX_VALUES:
        raise InvalidInput(N_("%(name)s takes at most %(max)s values."), name=name, max=MAX_VALUES)
    return tuple(dict.fromkeys(out))


def _one(args: Mapping[str, Sequence[str]], name: str) -> str:
    values = [str(v).strip() for v in args.get(name, ()) if str(v).strip()]
    value = values[0] if values else ""
    if len(value) > MAX_TEXT:
        raise InvalidInput(N_("%(name)s is at most %(max)s characters."), name=name, max=MAX_TEXT)
    return value


def _when(args: Mapping[str, Sequence[str]], name: str) -> datetime | None:
    raw = _one(args, name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(N_("%(name)s must be a date and time (ISO 8601), not %(value)s."), name=name,
                           value=raw) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _known(values: tuple[str, ...], allowed: Sequence[str], name: str) -> tuple[str, ...]:
    for v in values:
        if v not in allowed:
            raise InvalidInput(N_("%(name)s must be one of %(allowed)s, not %(value)s."), name=name,
                               allowed=", ".join(allowed), value=v)
    return values


def _network(raw: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not raw:
        return None
    try:
        return ipaddress.ip_network(raw, strict=False)
    except ValueError:
        raise InvalidInput(N_("The source address must be an IP address or a network (CIDR), not %(value)s."),
                           value=raw) from None


def tactic_key(raw: str) -> str:
    """An ATT&CK tactic or technique in the spelling the alerts' tags use: ``Credential Access``,
    ``credential-access`` and ``attack.credential_access`` give ``credential_access``;
    ``T1110.001`` gives ``t1110.001``."""
    return raw.strip().lower().removeprefix("attack.").replace("-", "_").replace(" ", "_")


@dataclass(frozen=True)
class AlertFilter:
    """What the analyst asks of the queue; an empty filter selects every alert in scope."""

    severity: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    organization: str = ""
    rule: str = ""
    source: str = ""
    assignee: str = ""
    since: datetime | None = None
    until: datetime | None = None
    tactic: str = ""
    q: str = ""
    sort: str = "raised"
    descending: bool = True
    #: the user ``assignee="me"`` stands for
    me: str = field(default="", compare=False)

    @classmethod
    def from_args(cls, args: Mapping[str, Sequence[str]], me: str = "") -> AlertFilter:
        """The filter of query-string parameters (each name with its list of values): ``severity``,
        ``status`` (several, repeated or comma-separated), ``organization``, ``rule``, ``source``
        (an address or a network), ``assignee`` (a user name, ``unassigned`` or ``me``), ``from``
        and ``to`` (ISO 8601, on the time the alert was raised), ``tactic``, ``q``, ``sort``
        (``raised``, ``last_seen``, ``severity``, ``count``, ``rule``; ``-`` first for descending,
        the default for ``raised``) . An invalid value is an ``InvalidInput`` naming it."""
        sort = _one(args, "sort") or "-raised"
        descending = sort.startswith("-")
        sort = sort.removeprefix("-")
        _known((sort,), SORTS, "sort")
        source = _one(args, "source")
        _network(source)
        found = cls(
            severity=_known(_many(args, "severity"), SEVERITIES, "severity"),
            status=_known(_many(args, "status"), STATUSES, "status"),
            organization=_one(args, "organization"),
            rule=_one(args, "rule"),
            source=source,
            assignee=_one(args, "assignee"),
            since=_when(args, "from"),
            until=_when(args, "to"),
            tactic=tactic_key(_one(args, "tactic")),
            q=_one(args, "q"),
            sort=sort,
            descending=descending,
            me=me,
        )
        if found.since and found.until and found.since > found.until:
            raise InvalidInput(N_("The start of the time range is after its end."))
        return found

    def to_args(self) -> dict[str, list[str]]:
        """The query-string parameters of this filter (the inverse of ``from_args``), only those set."""
        out: dict[str, list[str]] = {}
        if self.severity:
            out["severity"] = list(self.severity)
        if self.status:
            out["status"] = list(self.status)
        for name, value in (("organization", self.organization), ("rule", self.rule), ("source", self.source),
                            ("assignee", self.assignee), ("tactic", self.tactic), ("q", self.q)):
            if value:
                out[name] = [value]
        if self.since:
            out["from"] = [self.since.isoformat()]
        if self.until:
            out["to"] = [self.until.isoformat()]
        if (self.sort, self.descending) != ("raised", True):
            out["sort"] = [("-" if self.descending else "") + self.sort]
        return out

    def narrowed(self, **changes: Any) -> AlertFilter:
        """This filter with some criteria replaced (a group's row expands into its alerts)."""
        return replace(self, **changes)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _source_clause(s: Session, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> ColumnElement[bool]:
    if net.num_addresses == 1:
        return Alert.source_ip == str(net.network_address)
    if isinstance(net, ipaddress.IPv6Network):
        return Alert.source_ip.in_(_v6_addresses(s, net))
    bits = -(-net.prefixlen // 8) * 8  # the next octet boundary: each block is a textual prefix
    if not bits:
        return Alert.source_ip.like("%.%.%.%")
    if bits == 32:  # a network within one /24: its addresses (at most 128), an indexed lookup
        return Alert.source_ip.in_([str(a) for a in net])
    prefixes = [".".join(str(sub.network_address).split(".")[: bits // 8]) + "."
                for sub in net.subnets(new_prefix=bits)]
    return or_(*(Alert.source_ip.like(p + "%") for p in prefixes))


def _v6_addresses(s: Session, net: ipaddress.IPv6Network) -> list[str]:
    """The IPv6 source addresses the alerts hold within ``net`` (read from the address index)."""
    found: list[str] = []
    for value in s.scalars(select(Alert.source_ip).where(Alert.source_ip.like("%:%")).distinct()):
        try:
            address = ipaddress.ip_address(value or "")
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv6Address) and address in net and value:
            found.append(value)
        if len(found) > MAX_V6_ADDRESSES:
            raise InvalidInput(N_("The network %(value)s holds too many addresses: choose a smaller one."),
                               value=str(net))
    return found


def _tactic_clause(key: str) -> ColumnElement[bool]:
    """The alerts with the tactic or technique ``key`` (a technique: its sub-techniques too, which
    ``alert_tactics`` lists under their technique as well)."""
    return Alert.id.in_(select(AlertTactic.alert_id).where(AlertTactic.tactic == key))


def _match(q: str) -> ColumnElement[bool]:
    """The SQLite FTS5 condition: the alert's text holds ``q`` (a phrase of the trigram index)."""
    return literal_column("alert_search").op("MATCH")('"' + q.replace('"', '""') + '"')


def _text_clause(s: Session, q: str, *, walking: bool, joining: bool = False) -> ColumnElement[bool] | None:
    """The alerts whose text holds ``q``. On SQLite (three characters or more), the index's
    matches when they are few (at most ``FEW_MATCHES``: looked up by id); when they are many, a
    ``LIKE`` on each row read for a query that walks the alerts in its order (``walking``: a page's
    rows come early), else the index's matches: None when the query may join the index
    (``joining``), so that a count stops early. On PostgreSQL, a ``LIKE`` on the lowered text
    (the trigram index's expression); elsewhere, on each column."""
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite" and len(q) >= 3:
        matching = select(_ALERT_SEARCH.c.rowid).where(_match(q))
        few = list(s.scalars(matching.limit(FEW_MATCHES + 1)))
        if len(few) <= FEW_MATCHES:
            return Alert.id.in_(few)
        if not walking:
            return None if joining else Alert.id.in_(matching)
    pattern = _like(q.lower())
    if dialect == "postgresql" and "\n" not in q:
        return literal_column(_PG_TEXT).like(pattern, escape="\\")
    columns = (Alert.rule_title, Alert.rule_id, Alert.source_ip, Alert.organization, cast(Alert.entities, String))
    return or_(*(func.lower(c).like(pattern, escape="\\") for c in columns))


def where(s: Session, f: AlertFilter, organizations: Collection[str] | None, *, walking: bool = True,
          tactic: bool = True, text: bool = True) -> list[ColumnElement[bool]]:
    """The SQL conditions of a filter within ``organizations`` (None: every organisation);
    ``walking``: for a query that reads the alerts in an order and stops (not a count);
    ``tactic=False``, ``text=False``: without the tactic's, the text search's (the query's own)."""
    out: list[ColumnElement[bool]] = []
    if organizations is not None:
        out.append(Alert.organization.in_(sorted(organizations)))
    if f.severity:
        out.append(Alert.severity.in_(f.severity))
    if f.status:
        out.append(Alert.status.in_(f.status))
    if f.organization:
        out.append(Alert.organization == f.organization)
    if f.rule:
        out.append(Alert.rule_id == f.rule)
    net = _network(f.source)
    if net is not None:
        out.append(_source_clause(s, net))
    if f.assignee == UNASSIGNED:
        out.append(Alert.assignee.is_(None))
    elif f.assignee == ME:
        out.append(Alert.assignee == (f.me or None))
    elif f.assignee:
        out.append(Alert.assignee == f.assignee)
    if f.since:
        out.append(Alert.created_at >= f.since)
    if f.until:
        out.append(Alert.created_at <= f.until)
    if f.tactic and tactic:
        out.append(_tactic_clause(f.tactic))
    if f.q and text:
        clause = _text_clause(s, f.q, walking=walking)
        if clause is not None:
            out.append(clause)
    return out


def severity_rank(column: Any = Alert.severity) -> Any:
    return case(SEVERITY_RANK, value=column, else_=0)


def _order(f: AlertFilter, *, backwards: bool = False) -> list[Any]:
    """The queue's order: the filter's key, then the most recently raised, then the id (a total
    order: every key is never NULL). ``backwards``: the same order reversed, key by key."""
    key: Any = {"raised": Alert.created_at, "last_seen": Alert.last_seen, "severity": severity_rank(),
                "count": Alert.count, "rule": Alert.rule_title}[f.sort]
    if f.sort == "raised":
        keys = [(Alert.created_at, f.descending), (Alert.id, f.descending)]
    else:
        keys = [(key, f.descending), (Alert.created_at, True), (Alert.id, True)]
    return [k.desc() if descending != backwards else k.asc() for k, descending in keys]


def _selected(s: Session, f: AlertFilter, organizations: Collection[str] | None, *, walking: bool,
              columns: Sequence[Any], counting: bool = False) -> Select[Any]:
    """The alerts the filter selects: with a tactic, joined to their row of ``alert_tactics``,
    whose index lists them by raised time; with many matches of the text index in a count, read
    from the index's matches (joined), which stops with the count (``counting``)."""
    conditions = where(s, f, organizations, walking=walking, tactic=False, text=False)
    text = _text_clause(s, f.q, walking=walking, joining=counting) if f.q else None
    if f.q and text is None:
        q = select(*columns).select_from(_ALERT_SEARCH).join(Alert, Alert.id == _ALERT_SEARCH.c.rowid)
        conditions.append(_match(f.q))
    else:
        q = select(*columns).select_from(Alert)
        if text is not None:
            conditions.append(text)
    if f.tactic:
        q = q.join(AlertTactic, and_(AlertTactic.alert_id == Alert.id, AlertTactic.tactic == f.tactic))
    return q.where(*conditions)


#: from this offset on, a page reads its alerts' ids before the alerts themselves
DEFERRED_OFFSET = 1000


def search(s: Session, f: AlertFilter, *, limit: int = 50, offset: int = 0,
           organizations: Collection[str] | None = None, total: int | None = None) -> list[Alert]:
    """A page of the alerts the filter selects, in its order (ties: the most recently raised first).
    ``total``: how many the filter selects, when the caller counted them exactly; a page past the
    middle is then read from the other end of the order (a shorter walk of the index) and turned
    round, the same alerts in the same order."""
    if f.tactic and f.sort == "raised":  # the same order, from the tactic's index (its raised time is the alert's)
        q = _selected(s, f, organizations, walking=offset < WALKED_ROWS, columns=[Alert])
        keys = (AlertTactic.created_at, AlertTactic.alert_id)
        q = q.order_by(*(k.desc() if f.descending else k.asc() for k in keys))
        return list(s.scalars(q.offset(offset).limit(limit)))
    if total is not None and not f.q and offset + limit > total // 2 and offset < total:
        rest = total - offset  # the page's alerts are the first min(limit, rest) of the last ``rest``
        q = _selected(s, f, organizations, walking=False, columns=[Alert]).order_by(*_order(f, backwards=True))
        page = list(s.scalars(q.offset(max(0, rest - limit)).limit(min(limit, rest))))
        return page[::-1]
    if offset >= DEFERRED_OFFSET and not f.q:
        # a deep page: the ids first (an index-only walk of the order's index, no alert row read
        # for the alerts skipped), then their alerts
        ids = _selected(s, f, organizations, walking=False, columns=[Alert.id]).order_by(*_order(f))
        chosen = ids.offset(offset).limit(limit).subquery()
        q = select(Alert).where(Alert.id.in_(select(chosen.c.id)))
        return list(s.scalars(q.order_by(*_order(f))))
    q = _selected(s, f, organizations, walking=offset < WALKED_ROWS, columns=[Alert])
    return list(s.scalars(q.order_by(*_order(f)).offset(offset).limit(limit)))


def count(s: Session, f: AlertFilter, *, organizations: Collection[str] | None = None,
          at_most: int | None = None) -> int:
    """How many alerts the filter selects; with ``at_most``, counting stops there: an answer
    above ``at_most`` (``at_most + 1``) means "more than ``at_most``"."""
    if at_most is None:
        return int(s.scalar(_selected(s, f, organizations, walking=False, columns=[func.count()],
                                      counting=True)) or 0)
    selected = _selected(s, f, organizations, walking=False, columns=[Alert.id], counting=True)
    return int(s.scalar(select(func.count()).select_from(selected.limit(at_most + 1).subquery())) or 0)


def count_is_cheap(f: AlertFilter) -> bool:
    """Whether ``count`` of this filter reads indexes only, whatever the number of alerts: not
    so for a text search or an ATT&CK tactic, which may select most alerts."""
    return not (f.q or f.tactic)


@dataclass(frozen=True)
class Group:
    """The alerts of one source address or one rule, as one row of the grouped view."""

    key: str | None
    label: str
    alerts: int
    events: int
    severity: str
    first_seen: datetime
    last_seen: datetime
    statuses: dict[str, int]
    #: the queue's filter narrowed to this group (None for the alerts of no source address)
    expand: AlertFilter | None


#: the spans the grouped view offers, by name, the first the default
GROUP_WINDOWS = {"7d": timedelta(days=7), "24h": timedelta(hours=24)}
#: the longest time range the grouped view groups
MAX_GROUP_SPAN = timedelta(days=7)


def group_window(f: AlertFilter, window: str = "", *, now: datetime | None = None) -> AlertFilter:
    """The filter the grouped view reads: ``f`` with a time range of at most ``MAX_GROUP_SPAN``.
    Without ``from`` or ``to``, the alerts raised in the last ``window`` (``GROUP_WINDOWS``, the
    last 7 days by default); with ``to`` alone, the 7 days before it; with ``from`` alone, from
    then until ``now``. A longer range is an ``InvalidInput`` that says how long it may be.

    The grouped view is about recent activity: bounded in time, its ``GROUP BY`` reads the range
    of the ``created_at`` index instead of every alert. Both ends are set: with the start alone,
    SQLite's planner estimates a quarter of the table and walks the grouping column's index
    (every alert) to skip a sort."""
    if window and window not in GROUP_WINDOWS:
        raise InvalidInput(N_("%(name)s must be one of %(allowed)s, not %(value)s."), name="window",
                           allowed=", ".join(GROUP_WINDOWS), value=window)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    if f.since is None and f.until is None:
        return f.narrowed(since=now - GROUP_WINDOWS[window or next(iter(GROUP_WINDOWS))], until=now)
    until = f.until or now
    since = f.since or until - MAX_GROUP_SPAN
    if until - since > MAX_GROUP_SPAN:
        raise InvalidInput(N_("The grouped view covers at most %(days)s days of alerts: choose a shorter time range, "
                              "or use the queue (one row per alert) for a longer one."),
                           days=MAX_GROUP_SPAN.days)
    return f.narrowed(since=since, until=until)


def _bounded(f: AlertFilter) -> None:
    if f.since is None:
        raise InvalidInput(N_("The grouped view needs the start of a time range."))


def _group_column(by: str) -> Any:
    if by not in GROUPINGS:
        raise InvalidInput(N_("%(name)s must be one of %(allowed)s, not %(value)s."), name="group",
                           allowed=", ".join(GROUPINGS), value=by)
    return Alert.source_ip if by == "source" else Alert.rule_id


def groups(s: Session, f: AlertFilter, by: str, *, limit: int = 50, offset: int = 0,
           organizations: Collection[str] | None = None) -> tuple[list[Group], int]:
    """A page of groups of the alerts the filter selects, the group seen last first, and how many
    groups there are. ``f`` must have a time range (``group_window``).

    One pass over the alerts of the range: the statuses are counted by conditional sums and the
    number of groups by a window function over the grouped rows."""
    _bounded(f)
    column = _group_column(by)
    rank = func.max(severity_rank())
    per_status = [func.sum(case((Alert.status == name, 1), else_=0)) for name in STATUSES]
    rows = s.execute(
        select(column, func.count(), func.coalesce(func.sum(Alert.count), 0), rank, func.min(Alert.first_seen),
               func.max(Alert.last_seen), func.max(Alert.rule_title), func.count().over(), *per_status)
        .where(*where(s, f, organizations)).group_by(column)
        .order_by(func.max(Alert.last_seen).desc(), column).offset(offset).limit(limit)
    ).all()
    total = int(rows[0][7]) if rows else (count_groups(s, f, by, organizations=organizations) if offset else 0)
    names = {rank: name for name, rank in SEVERITY_RANK.items()}
    out = []
    for key, n, events, top, first, last, title, _total, *counts in rows:
        if by == "source":
            expand = f.narrowed(source=key) if key else None
            label = key or ""
        else:
            expand = f.narrowed(rule=key)
            label = title or key
        statuses = {name: int(c) for name, c in zip(STATUSES, counts, strict=True) if c}
        out.append(Group(key, label, int(n), int(events), names.get(int(top or 0), "informational"),
                         _aware(first), _aware(last), statuses, expand))
    return out, total


def count_groups(s: Session, f: AlertFilter, by: str, *, organizations: Collection[str] | None = None) -> int:
    """How many groups the alerts the filter selects make (``f`` with a time range)."""
    _bounded(f)
    column = _group_column(by)
    inner = (select(column).where(*where(s, f, organizations)).group_by(column).subquery())
    return int(s.scalar(select(func.count()).select_from(inner)) or 0)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def by_ids(s: Session, ids: Iterable[int], organizations: Collection[str] | None) -> list[Alert]:
    """The alerts of ``ids`` within ``organizations``, in the order of ``ids``; NotFound naming the
    ids that are not (an alert of another organisation is as absent as one that never was)."""
    wanted = list(dict.fromkeys(int(i) for i in ids))
    if not wanted:
        raise InvalidInput(N_("Select at least one alert."))
    q = select(Alert).where(Alert.id.in_(wanted))
    if organizations is not None:
        q = q.where(Alert.organization.in_(sorted(organizations)))
    found = {a.id: a for a in s.scalars(q)}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(N_("No such alert: %(ids)s."), ids=", ".join(f"#{i}" for i in missing))
    return [found[i] for i in wanted]
