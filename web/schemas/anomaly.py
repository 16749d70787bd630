"""Anomaly detection in the API: benign marks of anomaly alerts."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from web.api_spec import ApiModel, Page
from web.schemas.common import PageQuery


class BenignIn(ApiModel):
    reason: str = Field(..., min_length=1, max_length=2000, description="Why this behaviour is normal.")
    days: int | None = Field(None, ge=1, le=3650, description="How long the mark lasts (the setting "
                                                             "`anomaly_benign_days` if none).")


class BenignOut(ApiModel):
    id: int
    detector: str
    key: str
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    alert_id: int | None


class BenignPage(Page):
    items: list[BenignOut]


class BenignQuery(PageQuery):
    detector: str | None = Field(None, max_length=80, description="Only this detector's marks (`anomaly.beacon`).")
    key: str | None = Field(None, max_length=300, description="Only the marks of this key.")
    active: bool = Field(False, description="Only the marks still valid now.")
