"""The documents (incident report, monthly activity report) as the API reads their requests."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from web.api_spec import ApiModel
from web.schemas.common import Tlp

Format = Literal["pdf", "html"]
Language = Literal["fr", "en"]


class IncidentReportQuery(ApiModel):
    """How to produce an incident's report."""

    format: Format = Field("pdf", description="pdf (application/pdf) or html (text/html).")
    lang: Language | None = Field(None, description="The report's language (the caller's when absent).")
    tlp: Tlp | None = Field(None, description="A recipient ceiling: the report is at this TLP when it is below "
                                              "the incident's, and leaves out everything marked above it, the "
                                              "title included.")


class MonthlyReportQuery(ApiModel):
    """Which monthly activity report, and how."""

    month: str | None = Field(None, pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$",
                              description="YYYY-MM (UTC); the last complete month when absent.")
    organization: str | None = Field(None, max_length=200,
                                     description="An organisation's id or name (with those under it); the whole "
                                                 "constituency when absent (an organisation's own for a focal "
                                                 "point or an organisation's token).")
    format: Format = Field("pdf", description="pdf (application/pdf) or html (text/html).")
    lang: Language | None = Field(None, description="The report's language (the caller's when absent).")
    tlp: Tlp | None = Field(None, description="The report's TLP (TLP:AMBER when absent); a title marked above it "
                                              "is replaced by the incident number.")
