"""API tokens as the API reads and answers them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from web.api_spec import ApiModel


class TokenOut(ApiModel):
    name: str
    owner: str
    scopes: list[str]
    organization: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    last_used_from: str | None
    status: str = Field(description="active, expired or revoked.")
    revoked_at: datetime | None


class TokenList(ApiModel):
    items: list[TokenOut]


class TokenCreated(TokenOut):
    secret: str = Field(description="Shown in this answer only: it cannot be recovered.")


class TokenIn(ApiModel):
    name: str = Field(max_length=200, description="1 to 80 letters, digits, '.', '_' or '-'.")
    owner: str | None = Field(None, max_length=200, description="Who answers for its use (the name if none).")
    scopes: list[str] = Field(["ingest"], max_length=10, description="Among read, triage, write, ingest, admin.")
    organization: str | None = Field(None, max_length=200, description="The organisation it acts for.")
    expires: str | None = Field(None, max_length=40, description=(
        "A lifetime (90d, 12h, 1y), a future date (2030-01-31), or never (90d if none)."))
