"""Sharing with partner CERTs in the API: the partners and their terms, and what of an incident
would leave for one of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from web.api_spec import ApiModel, QueryModel


class PartnerOut(ApiModel):
    id: str
    name: str
    tlp_ceiling: str = Field(..., description="The most restrictive TLP 2.0 label it may receive.")
    pap: str = Field(..., description="The most restrictive PAP marking it honours.")
    channels: list[str]
    language: str = Field(..., description="The language of its e-mails (fr or en).")


class PartnerList(ApiModel):
    items: list[PartnerOut]


class PreviewQuery(QueryModel):
    partner: str = Field(..., min_length=1, max_length=100, description="The partner's id.")


class PreviewItem(ApiModel):
    type: str
    value: str
    tlp: str
    pap: str


class PreviewWithheld(ApiModel):
    type: str
    value: str
    reason: str = Field(..., description="Why it stays, in the reader's language.")


class PreviewOut(ApiModel):
    partner: str
    terms: str
    leaves: bool = Field(..., description="Whether anything of the incident would leave.")
    title: str
    title_neutral: bool = Field(..., description="The title was replaced by a neutral one (its marking stays).")
    description: str
    items: list[PreviewItem]
    withheld: list[PreviewWithheld]


class StixBundle(ApiModel):
    """A STIX 2.1 bundle: the incident, its indicators, their relationships and the TLP 2.0
    marking definitions they reference."""

    type: Literal["bundle"]
    id: str
    objects: list[dict[str, Any]]


class PublishIn(ApiModel):
    partners: list[str] = Field([], max_length=100, description=(
        "The partners' ids; every partner that takes a served channel (misp-feed, taxii) when empty."))


class PublicationOut(ApiModel):
    partner: str
    published_by: str
    published_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    live: bool = Field(..., description="Served to the partner (not withdrawn).")
    items: int = Field(..., description="The indicators that leave for the partner now (the policy, applied now).")


class PublicationList(ApiModel):
    items: list[PublicationOut]


class PartnerMailIn(ApiModel):
    partner: str = Field(..., min_length=1, max_length=100, description="The partner's id.")


class PartnerMailOut(ApiModel):
    partner: str
    to: str
    subject: str
    file: str = Field(..., description="The message's file in the outbox.")
    tlp: str = Field(..., description="The highest TLP of what the message holds (its subject's marking).")
    items: int
