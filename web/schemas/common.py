"""Models shared by several areas of the API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from web.api_spec import ApiModel, QueryModel

#: a TLP 2.0 label as written by people and tools (``amber``, ``TLP:AMBER+STRICT``, ``white``); the
#: core refuses an unknown one with a 400 that lists the labels
Tlp = Annotated[str, Field(max_length=30, examples=["amber", "amber+strict"])]
#: a PAP label (``green``, ``PAP:AMBER``)
Pap = Annotated[str, Field(max_length=30, examples=["amber"])]
Severity = Literal["informational", "low", "medium", "high", "critical"]

MAX_LIMIT = 1000
MAX_OFFSET = 2**63 - 1  # the SQL integer range


class PageQuery(QueryModel):
    """``limit`` and ``offset`` of a list."""

    limit: int = Field(100, ge=1, le=MAX_LIMIT, description="How many items at most.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="How many items to skip.")


class Done(ApiModel):
    """An action that answers nothing more than that it was done."""

    ok: bool = True
