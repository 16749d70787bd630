"""Incident reports as the API reads and answers them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from cert.incidents.reports import MAX_BODY, MAX_LINKS, MAX_REASON, MAX_REPORTER, MAX_SEARCH, MAX_SUBJECT
from web.api_spec import ApiModel, Page
from web.schemas.common import PageQuery, Severity, Tlp

ReportStatus = Literal["new", "linked", "rejected"]
ReportSource = Literal["alert", "api", "console", "email", "web-form"]
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class ReportIn(ApiModel):
    """A report filed by a tool."""

    subject: str = Field(min_length=1, max_length=MAX_SUBJECT, description="One line: what happened.")
    body: str = Field("", max_length=MAX_BODY, description="The report as written (kept as plain text).")
    reporter: str = Field("", max_length=MAX_REPORTER, description="Who reports it: a name or an address.")
    organization: str | None = Field(None, max_length=200, description=(
        "The organisation concerned: a constituency id or name (a token's own organisation if none)."))
    tlp: Tlp = "amber"


class LinkedIncidentOut(ApiModel):
    id: int
    title: str
    tlp: str
    status: str
    linked_by: str
    linked_at: datetime


class ReportSummaryOut(ApiModel):
    id: int
    source: str
    subject: str
    reporter: str
    organization: str | None
    tlp: str
    status: str
    alert_id: int | None
    received_at: datetime


class ReportTlpRaised(ApiModel):
    incident: int
    old: str
    new: str
    message: str


class ReportFileOut(ApiModel):
    """A file that came with the report (an e-mail attachment, the public form's upload)."""

    id: int
    name: str
    size: int
    sha256: str
    content_type: str
    added_at: datetime


class ReportMessageOut(ApiModel):
    """An e-mail of the report: the one it came in (``report``) or a reply threaded into it."""

    id: int
    kind: str
    from_: str = Field(alias="from")
    envelope_from: str
    subject: str
    body: str
    ticket: str
    ticket_refused: bool
    message_id: str
    sha256: str
    received_at: datetime


class ReportOut(ReportSummaryOut):
    body: str
    rejection_reason: str
    created_by: str
    updated_at: datetime
    incidents: list[LinkedIncidentOut]
    attachments: list[ReportFileOut] = Field(default_factory=list)
    messages: list[ReportMessageOut] = Field(default_factory=list)
    tlp_raised: list[ReportTlpRaised] | None = None


class ReportPage(Page):
    items: list[ReportSummaryOut]


class ReportQuery(PageQuery):
    status: ReportStatus | None = None
    source: ReportSource | None = None
    organization: str | None = Field(None, max_length=200, description="A constituency id or name.")
    q: str | None = Field(None, max_length=MAX_SEARCH, description="Text in the subject, body or reporter.")


class LinksIn(ApiModel):
    incidents: list[RowId] = Field(min_length=1, max_length=MAX_LINKS, description="Incident ids.")


class RejectIn(ApiModel):
    reason: str = Field(max_length=MAX_REASON, description="Why the report is rejected (required).")


class OpenIncidentIn(ApiModel):
    title: str | None = Field(None, max_length=MAX_SUBJECT, description="The report's subject if none.")
    severity: Severity = "medium"
