"""The focal-point portal as the API reads and answers it: the incidents of the organisation, each
as far as its TLP allows, and what its focal point may do (acknowledge, comment, send evidence,
answer a requested countermeasure)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from web.api_spec import ApiModel, Page, QueryModel

IncidentStatus = Literal["open", "contained", "closed"]


class PortalQuery(QueryModel):
    status: IncidentStatus | None = Field(None, description="Only the incidents of this status.")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


class AcknowledgementOut(ApiModel):
    organization: str = Field(description="The id of the organisation that acknowledged.")
    acknowledged_by: str
    acknowledged_at: datetime
    via: str = Field(description="portal, link or api.")


class PortalSummary(ApiModel):
    id: int
    title: str = Field(description="The incident's title, or a neutral one when its marking is above the reader's.")
    title_neutral: bool
    status: str
    severity: str
    tlp: str
    organization: str | None
    created_at: datetime
    acknowledged: bool
    acknowledgement: AcknowledgementOut | None


class PortalPage(Page):
    items: list[PortalSummary]


class PortalItem(ApiModel):
    type: str
    value: str
    tlp: str


class PortalTimelineEntry(ApiModel):
    at: datetime
    actor: str
    kind: str
    message: str = Field(description="In the reader's language.")


class PortalComment(ApiModel):
    id: int
    author: str
    text: str
    created_at: datetime


class PortalCountermeasure(ApiModel):
    id: int
    kind: str
    target: str
    organization: str | None
    status: str
    comment: str
    answerable: bool = Field(description="Whether it awaits the organisation's answer (done or impossible).")
    updated_at: datetime


class PortalAttachment(ApiModel):
    id: int
    name: str
    size: int
    sha256: str
    tlp: str
    uploaded_by: str
    uploaded_at: datetime


class PortalIncidentOut(PortalSummary):
    description: str = Field(description="Empty when the incident's TLP keeps it from the reader.")
    acting_for: str = Field(description="The id of the organisation the reader acknowledges for.")
    items: list[PortalItem]
    timeline: list[PortalTimelineEntry]
    comments: list[PortalComment]
    countermeasures: list[PortalCountermeasure]
    attachments: list[PortalAttachment]


class PortalCommentIn(ApiModel):
    text: str = Field(min_length=1, max_length=20000, description="Shown as typed, never as markup.")


class AnswerIn(ApiModel):
    status: Literal["done", "impossible"]
    reason: str = Field("", max_length=5000, description="Why it is impossible (required then).")
