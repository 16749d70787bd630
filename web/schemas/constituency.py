"""The contact database as the API reads and answers it: organisations, network objects, contacts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cert.constituency.validation import MAX_EMAIL, MAX_KEY, MAX_LABEL, MAX_NAME, MAX_PHONE
from web.api_spec import ApiModel

Role = Literal["focal_point", "deputy", "ciso", "duty", "technical"]
Language = Literal["fr", "en"]
NetworkKind = Literal["cidr", "asn", "domain"]


class OrganizationIn(ApiModel):
    """An organisation as created or replaced (its ``id`` is given on creation only)."""

    name: str = Field(min_length=1, max_length=MAX_NAME, description="Its name, as alerts and cases record it.")
    parent: str | None = Field(None, max_length=80, description="The id of the organisation it is part of.")
    kind: str = Field("", max_length=MAX_LABEL, description="ministry, agency, hospital, school...")
    sector: str = Field("", max_length=MAX_LABEL)


class NewOrganizationIn(OrganizationIn):
    id: str = Field(min_length=1, max_length=80, description="A short id: lower-case letters, digits, . _ -",
                    examples=["min-sante"])


class NetworkObjectIn(ApiModel):
    kind: NetworkKind = Field(description="cidr (a range), asn (an AS number) or domain.")
    value: str = Field(min_length=1, max_length=255, examples=["10.20.0.0/16", "64500", "sante.gouv.example"])


class NetworkObjectOut(ApiModel):
    id: int
    kind: str
    value: str


class ContactIn(ApiModel):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    email: str = Field(min_length=1, max_length=MAX_EMAIL)
    role: Role = "focal_point"
    phone: str = Field("", max_length=MAX_PHONE)
    language: Language = Field("fr", description="The language the contact reads.")
    pgp_key: str = Field("", max_length=MAX_KEY, description="An ASCII-armoured OpenPGP public key.")
    smime_cert: str = Field("", max_length=MAX_KEY, description="A PEM X.509 certificate.")


class ContactOut(ApiModel):
    id: int
    name: str
    email: str
    role: str
    phone: str
    language: str
    pgp_key: str
    smime_cert: str


class OrganizationSummaryOut(ApiModel):
    id: str
    name: str
    parent: str | None
    kind: str
    sector: str
    networks: list[str]
    domains: list[str]
    asns: list[int]


class OrganizationOut(OrganizationSummaryOut):
    network_objects: list[NetworkObjectOut]
    contacts: list[ContactOut]


class OrganizationList(ApiModel):
    items: list[OrganizationSummaryOut]
    version: int | None = Field(description="The contact database's version: it moves on every edit.")


class ImportRow(ApiModel):
    row: int = Field(description="The row's number in the file (the header is row 1).")
    message: str


class ImportOut(ApiModel):
    kind: Literal["organizations", "contacts"]
    rows: int
    organizations: list[str]
