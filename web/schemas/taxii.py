"""The TAXII 2.1 resources Vigie serves to partner CERTs (``web.taxii_api``), as the OASIS TAXII 2.1
specification defines them, and the query parameters of its reads."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from web.api_spec import ApiModel, QueryModel


class Discovery(ApiModel):
    title: str
    description: str | None = None
    default: str | None = Field(None, description="The URL of the default API root.")
    api_roots: list[str]


class ApiRoot(ApiModel):
    title: str
    description: str | None = None
    versions: list[str] = Field(..., description="application/taxii+json;version=2.1")
    max_content_length: int


class CollectionOut(ApiModel):
    id: str
    title: str
    description: str | None = None
    can_read: bool
    can_write: bool
    media_types: list[str]


class Collections(ApiModel):
    collections: list[CollectionOut] | None = None


class Envelope(ApiModel):
    """A page of STIX 2.1 objects: ``more`` and ``next`` say how to ask for the rest."""

    more: bool | None = None
    next: str | None = None
    objects: list[dict[str, Any]] | None = None


class ManifestRecord(ApiModel):
    id: str
    date_added: str
    version: str
    media_type: str


class Manifest(ApiModel):
    more: bool | None = None
    next: str | None = None
    objects: list[ManifestRecord] | None = None


class Versions(ApiModel):
    more: bool | None = None
    next: str | None = None
    versions: list[str] | None = None


class TaxiiError(ApiModel):
    """A TAXII 2.1 error message; ``description`` in the reader's language."""

    title: str
    description: str | None = None
    http_status: str | None = None


class TaxiiQuery(QueryModel):
    """What a staff session names to read a partner's view (a partner's token reads its own)."""

    partner: str | None = Field(None, max_length=100, description="The partner whose view a staff member reads.")


class ObjectsQuery(TaxiiQuery):
    added_after: str | None = Field(None, max_length=64, description="Only objects added after this timestamp.")
    limit: int | None = Field(None, ge=1, description="The most objects in the page (the server may give fewer).")
    next: str | None = Field(None, max_length=2000, description="The `next` of the previous page.")
    match_id: str | None = Field(None, alias="match[id]", max_length=20000)
    match_type: str | None = Field(None, alias="match[type]", max_length=2000)
    match_version: str | None = Field(None, alias="match[version]", max_length=2000,
                                      description="last (default), first, all, or timestamps.")
    match_spec_version: str | None = Field(None, alias="match[spec_version]", max_length=100)


class ObjectQuery(TaxiiQuery):
    added_after: str | None = Field(None, max_length=64)
    limit: int | None = Field(None, ge=1)
    next: str | None = Field(None, max_length=2000)
    match_version: str | None = Field(None, alias="match[version]", max_length=2000)
    match_spec_version: str | None = Field(None, alias="match[spec_version]", max_length=100)


class VersionsQuery(TaxiiQuery):
    added_after: str | None = Field(None, max_length=64)
    limit: int | None = Field(None, ge=1)
    next: str | None = Field(None, max_length=2000)
    match_spec_version: str | None = Field(None, alias="match[spec_version]", max_length=100)
