"""API tokens as the API reads and answers them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from cert.accounts.tokens import NAME, SCOPES
from web.api_spec import ApiModel


class TokenOut(ApiModel):
    name: str
    owner: str
    scopes: list[str]
    organization: str | None
    partner: str | None = Field(None, description="The partner CERT whose credential it is (scope share).")
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
    """The patterns and scope names are those ``cert.accounts.tokens`` checks (its messages say
    what is wrong, in the reader's language), shown in the description."""

    name: str = Field(max_length=200, description="1 to 80 letters, digits, '.', '_' or '-'.",
                      json_schema_extra={"pattern": NAME.pattern})
    owner: str | None = Field(None, max_length=200, description="Who answers for its use (the name if none).")
    scopes: list[str] = Field(["ingest"], max_length=10, description="At least one scope.",
                              json_schema_extra={"minItems": 1, "items": {"type": "string", "enum": list(SCOPES)}})
    organization: str | None = Field(None, max_length=200, description="The organisation it acts for.")
    partner: str | None = Field(None, max_length=80, description=(
        "The partner CERT (its id) whose credential it is: its only scope is then share."))
    expires: str | None = Field(None, max_length=40, description=(
        "A lifetime in hours, days or weeks (12h, 90d, 26w), a future date (2030-01-31, its midnight UTC), or "
        "never; 90d if none."), json_schema_extra={"pattern": r"^(\d{1,5}[hdw]|\d{4}-\d{2}-\d{2}|never)$"})
