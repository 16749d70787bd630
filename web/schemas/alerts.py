"""Alerts as the API reads and answers them: the triage queue's filters, its groups, the bulk
actions and saved filters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from web.api_spec import ApiModel, Page
from web.schemas.common import PageQuery, Severity, Tlp

Status = Literal["new", "acknowledged", "promoted", "closed"]
Sort = Literal["raised", "-raised", "last_seen", "-last_seen", "severity", "-severity", "count", "-count",
               "rule", "-rule"]
CloseReason = Literal["false-positive", "benign", "duplicate", "true-positive"]
Text = Annotated[str, Field(max_length=200)]
AlertIds = Annotated[list[Annotated[int, Field(ge=1, le=2**63 - 1)]], Field(min_length=1, max_length=500)]


class AlertOut(ApiModel):
    id: int
    rule_id: str
    rule: str
    severity: str
    status: str
    source_ip: str | None
    organization: str | None
    count: int
    attack: list[str]
    tlp: str
    first_seen: datetime
    last_seen: datetime
    raised_at: datetime
    case_id: int | None
    event_ids: list[str]
    assignee: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    close_reason: str | None = None
    close_comment: str = ""
    closed_at: datetime | None = None
    closed_by: str | None = None
    #: why an anomaly detector raised it: score, features (name, label, value, baseline, unit),
    #: optional chart (kind, title, labels, values), first and last seen; {} for a rule's alert
    explanation: dict[str, Any] = Field(default_factory=dict)


class AlertPage(Page):
    items: list[AlertOut]


class AlertQuery(PageQuery):
    """The queue's filters; each list parameter may be repeated (``severity=high&severity=critical``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    severity: list[Severity] = Field([], max_length=5, description="Only these severities.")
    status: list[Status] = Field([], max_length=4, description="Only these statuses.")
    organization: Text | None = Field(None, description="Only this organisation's alerts (its name).")
    rule: Text | None = Field(None, description="Only this rule's alerts (its id).")
    source: Text | None = Field(None, description="A source address, or a network in CIDR notation.")
    assignee: Text | None = Field(None, description="A user name, `unassigned` or `me`.")
    since: datetime | None = Field(None, alias="from", description="Raised at or after (ISO 8601).")
    until: datetime | None = Field(None, alias="to", description="Raised at or before (ISO 8601).")
    tactic: Text | None = Field(None, description="An ATT&CK tactic (`credential-access`) or technique (`T1110`).")
    q: Text | None = Field(None, description="Text in the rule's title or id, the address, the organisation or the "
                                             "alert's entities.")
    sort: Sort = Field("-raised", description="The order; `-` first for descending.")

    def args(self) -> dict[str, list[str]]:
        """The filter as query-string parameters (``cert.detection.triage.AlertFilter.from_args``)."""
        out: dict[str, list[str]] = {"severity": list(self.severity), "status": list(self.status),
                                     "sort": [self.sort]}
        for name in ("organization", "rule", "source", "assignee", "tactic", "q"):
            value = getattr(self, name)
            if value:
                out[name] = [value]
        for name, when in (("from", self.since), ("to", self.until)):
            if when is not None:
                out[name] = [when.isoformat()]
        return out


class GroupQuery(AlertQuery):
    by: Literal["source", "rule"] = Field("rule", description="One row per source address or per rule.")
    window: Literal["7d", "24h"] = Field("7d", description="Without `from` or `to`: the alerts raised in the last "
                                                           "7 days or 24 hours. A range (`from`, `to`) covers at "
                                                           "most 7 days.")


class GroupOut(ApiModel):
    key: str | None
    label: str
    alerts: int
    events: int
    severity: str
    first_seen: datetime
    last_seen: datetime
    statuses: dict[str, int]
    #: the query-string parameters of the queue narrowed to this group
    expand: dict[str, list[str]] | None


class GroupPage(Page):
    by: str
    #: the time range grouped
    since: datetime
    until: datetime | None
    items: list[GroupOut]


class BulkIn(ApiModel):
    """One action on several alerts, all or none: ``acknowledge``, ``assign`` (``assignee``; none
    to unassign), ``close`` (``reason``, ``comment``), ``reopen``."""

    action: Literal["acknowledge", "assign", "close", "reopen"]
    ids: AlertIds
    assignee: str | None = Field(None, max_length=80, description="For `assign`: the user; null unassigns.")
    reason: CloseReason | None = Field(None, description="For `close`: why.")
    comment: str = Field("", max_length=2000, description="For `close`: a comment.")


class Skipped(ApiModel):
    id: int
    reason: str


class BulkOut(ApiModel):
    action: str
    changed: list[int]
    skipped: list[Skipped]


class CloseIn(ApiModel):
    reason: CloseReason
    comment: str = Field("", max_length=2000)


class AssignIn(ApiModel):
    assignee: str | None = Field(None, max_length=80, description="The user; null unassigns.")


class FromAlertsIn(ApiModel):
    ids: AlertIds
    title: str = Field("", max_length=300, description="The incident's title (the first alert's rule if none).")
    tlp: Tlp = "amber"
    template: str = Field("", max_length=80, description="The key of the incident template to open it from, if any.")


class LinkIn(ApiModel):
    ids: AlertIds


class LinkSkipped(ApiModel):
    id: int
    case_id: int


class LinkOut(ApiModel):
    case_id: int
    added: list[int]
    skipped: list[LinkSkipped]


class SavedFilterIn(ApiModel):
    name: str = Field(min_length=1, max_length=100)
    shared: bool = False
    query: dict[Annotated[str, Field(max_length=40)], list[Text]] = Field(
        {}, description="The queue's query-string parameters, each with its values.")


class SavedFilterOut(ApiModel):
    id: int
    name: str
    owner: str
    shared: bool
    query: dict[str, list[str]]


class SavedFilterList(ApiModel):
    items: list[SavedFilterOut]
