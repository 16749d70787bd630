"""Alerts as the API reads and answers them."""

from __future__ import annotations

from datetime import datetime

from web.api_spec import ApiModel, Page
from web.schemas.common import PageQuery


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


class AlertPage(Page):
    items: list[AlertOut]


class AlertQuery(PageQuery):
    status: str | None = None
