"""Partners' sightings of an incident's observables in the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from web.api_spec import ApiModel


class SightingOut(ApiModel):
    source: str = Field(..., description="The partner feed or TAXII source it came from.")
    organization: str = Field(..., description="Who saw it, as the source names it.")
    count: int
    first_seen: datetime
    last_seen: datetime


class ObservableSightings(ApiModel):
    type: str
    value: str
    summary: str = Field(..., description="How often and by how many sources, in the reader's language.")
    sightings: list[SightingOut]


class SightingList(ApiModel):
    items: list[ObservableSightings] = Field(..., description="Each observable of the incident, with its sightings.")
