"""Incidents (cases) as the API reads and answers them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from web.api_spec import ApiModel, Page, QueryModel
from web.schemas.common import MAX_LIMIT, MAX_OFFSET, Pap, Severity, Tlp


class CaseSummaryOut(ApiModel):
    id: int
    title: str
    title_tlp: str
    status: str
    severity: str
    tlp: str
    pap: str
    rsit: str
    rsit_label: str = Field(description="The RSIT type in the reader's language.")
    organization: str | None = Field(description="The organisation primarily concerned.")
    organizations: list[str] = Field(description="Every affected organisation, the primary one included.")
    assignee: str | None
    attack: list[str]
    resolution: str | None
    resolution_comment: str
    merged_into: int | None
    template: str | None
    misp_uuid: str | None
    created_at: datetime
    acknowledged_at: datetime | None
    contained_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime | None


class ObservableOut(ApiModel):
    type: str
    value: str
    tlp: str
    ioc: bool
    valid: bool
    invalid_reason: str


class TimelineOut(ApiModel):
    at: datetime
    actor: str
    kind: str
    message: str = Field(description="The entry in the reader's language.")
    message_id: str = Field(description="The English message id, with %(name)s placeholders.")
    params: dict[str, Any] = Field(description="The values of the placeholders.")


class TlpRaised(ApiModel):
    to: str
    sources: list[str]
    message: str


class CaseOut(CaseSummaryOut):
    observables: list[ObservableOut]
    timeline: list[TimelineOut]
    tlp_raised: TlpRaised | None = None
    withdrawn_from_feed: bool | None = None


class CasePage(Page):
    items: list[CaseSummaryOut]


class PromoteIn(ApiModel):
    title: str | None = Field(None, max_length=300, description="The incident's title (the rule's title if none).")
    tlp: Tlp = "amber"


class TlpIn(ApiModel):
    tlp: Tlp
    reason: str = Field("", max_length=1000, description="Why (needed to lower it).")


Status = Literal["open", "contained", "closed"]
Resolution = Literal["true-positive", "false-positive", "benign", "duplicate"]
Sort = Literal["id", "-id", "severity", "-severity", "status", "-status", "updated", "-updated", "title", "-title"]


class IncidentQuery(QueryModel):
    """Filters, order and page of the incident list."""

    limit: int = Field(100, ge=1, le=MAX_LIMIT, description="How many items at most.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="How many items to skip.")
    status: Status | None = None
    severity: Severity | None = None
    organization: str | None = Field(None, max_length=200, description="Primary or affected organisation (name).")
    assignee: str | None = Field(None, max_length=80)
    rsit: str | None = Field(None, max_length=80, description="An RSIT type (class:type) or a whole class.")
    tlp: Tlp | None = None
    q: str | None = Field(None, max_length=200, description="Text in the title.")
    sort: Sort = "-id"


class IncidentIn(ApiModel):
    """An incident opened by hand; a template fills severity, TLP, PAP and RSIT class left out and
    adds its tasks."""

    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=100_000)
    template: str | None = Field(None, max_length=80, description="An incident template's key.")
    severity: Severity | None = None
    tlp: Tlp | None = None
    pap: Pap | None = None
    rsit: str | None = Field(None, max_length=80, examples=["fraud:phishing"])
    attack: list[str] = Field([], max_length=50, examples=[["T1110", "T1059.001"]])
    organizations: list[str] = Field([], max_length=50, description="Ids or names; the first one is primary.")
    assignee: str | None = Field(None, max_length=80)


class IncidentPatch(ApiModel):
    """The fields to change; those left out stay. Closing (``status: closed``) needs a
    ``resolution``; ``status: open`` on a closed incident reopens it; lowering the TLP needs the
    responder role and a ``tlp_reason``."""

    title: str | None = Field(None, min_length=1, max_length=300)
    description: str | None = Field(None, max_length=100_000)
    severity: Severity | None = None
    tlp: Tlp | None = None
    tlp_reason: str = Field("", max_length=1000)
    pap: Pap | None = None
    rsit: str | None = Field(None, max_length=80)
    attack: list[str] | None = Field(None, max_length=50)
    organizations: list[str] | None = Field(None, max_length=50)
    assignee: str | None = Field(None, max_length=80, description="A username; empty to unassign.")
    status: Status | None = None
    resolution: Resolution | None = None
    resolution_comment: str = Field("", max_length=10_000)


class MergeIn(ApiModel):
    source: int = Field(alias="from", ge=1, le=MAX_OFFSET, description="The incident merged into this one.")


class MergeOut(ApiModel):
    incident: CaseOut
    moved: dict[str, int]


class RsitTypeOut(ApiModel):
    value: str
    label: str


class RsitClassOut(ApiModel):
    value: str
    label: str
    types: list[RsitTypeOut]


class RsitOut(ApiModel):
    classes: list[RsitClassOut]


class Texts(ApiModel):
    fr: str = Field("", max_length=5000)
    en: str = Field("", max_length=5000)


class TemplateTask(ApiModel):
    title: Texts
    description: Texts = Field(default_factory=lambda: Texts(fr="", en=""))
    due_hours: int | None = Field(None, ge=0, le=24 * 365)


class TemplateIn(ApiModel):
    key: str = Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$")
    names: Texts
    rsit_class: str = Field("", max_length=80)
    severity: Severity = "medium"
    tlp: Tlp = "amber"
    pap: Pap = "amber"
    tasks: list[TemplateTask] = Field([], max_length=50)
    playbooks: list[str] = Field([], max_length=50)


class TemplatePatch(ApiModel):
    names: Texts | None = None
    rsit_class: str | None = Field(None, max_length=80)
    severity: Severity | None = None
    tlp: Tlp | None = None
    pap: Pap | None = None
    tasks: list[TemplateTask] | None = Field(None, max_length=50)
    playbooks: list[str] | None = Field(None, max_length=50)


class TemplateOut(ApiModel):
    key: str
    name: str = Field(description="The name in the reader's language.")
    names: Texts
    rsit_class: str
    severity: str
    tlp: str
    pap: str
    tasks: list[TemplateTask]
    playbooks: list[str]
    updated_by: str
    updated_at: datetime | None


class TemplateList(ApiModel):
    items: list[TemplateOut]
