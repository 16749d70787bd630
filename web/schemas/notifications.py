"""Notifications to the constituency and advisories as the API reads and answers them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from web.api_spec import ApiModel, Page
from web.schemas.common import PageQuery, Tlp

NotificationState = Literal["queued", "sending", "sent", "failed", "dead"]


class NotificationOut(ApiModel):
    id: int
    kind: str
    state: str
    case_id: int | None
    advisory_id: int | None
    ticket: str
    organization: str
    organization_name: str
    recipient_name: str
    recipient_email: str
    recipient_role: str
    language: str
    tlp: str
    subject: str
    escalation_step: int
    attempts: int
    last_error: str
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None


class NotificationPage(Page):
    items: list[NotificationOut]


class NotificationQuery(PageQuery):
    state: NotificationState | None = None
    case_id: int | None = Field(None, ge=1, le=2**63 - 1, description="The incident's messages only.")


class NotificationList(ApiModel):
    items: list[NotificationOut]


class AdvisoryIn(ApiModel):
    """A bulletin: its title and text in French and English, its TLP, where it goes."""

    title_fr: str = Field(min_length=1, max_length=300)
    title_en: str = Field(min_length=1, max_length=300)
    body_fr: str = Field(min_length=1, max_length=100_000)
    body_en: str = Field(min_length=1, max_length=100_000)
    tlp: Tlp = "clear"
    organizations: list[str] = Field(default_factory=list, max_length=500,
                                     description="Constituency ids of the organisations it goes to.")
    sectors: list[str] = Field(default_factory=list, max_length=50,
                               description="Sectors whose organisations it goes to.")


class AdvisoryOut(ApiModel):
    id: int
    title_fr: str
    title_en: str
    body_fr: str
    body_en: str
    tlp: str
    organizations: list[str]
    sectors: list[str]
    recipients: int
    created_by: str
    created_at: datetime


class AdvisoryPage(Page):
    items: list[AdvisoryOut]
