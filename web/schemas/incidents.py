"""Incidents (cases) as the API reads and answers them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from web.api_spec import ApiModel, Page
from web.schemas.common import Tlp


class CaseSummaryOut(ApiModel):
    id: int
    title: str
    title_tlp: str
    status: str
    severity: str
    tlp: str
    pap: str
    rsit: str
    organization: str | None
    misp_uuid: str | None
    created_at: datetime


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
    message: str


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
