"""What an incident is made of, as the API reads and answers it: tasks, countermeasures,
observables with their sightings, comments, attachments with their chain of custody."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from web.api_spec import ApiModel, QueryModel
from web.schemas.common import Pap, Tlp

TaskStatus = Literal["open", "in-progress", "done", "cancelled"]
CountermeasureKind = Literal["block-ip", "block-domain", "sinkhole", "disable-account", "reset-password",
                             "isolate-host", "takedown", "patch", "other"]
CountermeasureStatus = Literal["proposed", "requested", "in-progress", "done", "failed", "impossible", "reverted"]
ObservableType = Literal["ip", "domain", "url", "user", "hostname", "user-agent", "md5", "sha1", "sha256", "email"]


class TaskIn(ApiModel):
    title: str = Field(max_length=300, description="What is to be done.")
    description: str = Field("", max_length=20000)
    assignee: str | None = Field(None, max_length=80, description="The user name of an active CERT account.")
    due_at: datetime | None = Field(None, description="When it is due, with its time zone (ISO 8601).")


class TaskPatch(ApiModel):
    """The fields to change; those left out keep their value (``null`` clears assignee and due date)."""

    title: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=20000)
    assignee: str | None = Field(None, max_length=80)
    due_at: datetime | None = None
    status: TaskStatus | None = None
    position: int | None = Field(None, ge=0, le=100000, description="Its place in the list, from 0.")


class TaskOut(ApiModel):
    id: int
    title: str
    description: str
    assignee: str | None
    status: str
    due_at: datetime | None
    overdue: bool
    position: int
    created_by: str
    created_at: datetime
    done_at: datetime | None


class TaskList(ApiModel):
    items: list[TaskOut]


class CountermeasureIn(ApiModel):
    kind: CountermeasureKind
    target: str = Field("", max_length=2048, description="An IP address for block-ip, a domain for "
                                                         "block-domain and sinkhole, an account name...")
    organization: str | None = Field(None, max_length=200,
                                     description="The organisation that acts (id or name); none: the CERT.")
    status: CountermeasureStatus = "proposed"
    comment: str = Field("", max_length=5000, description="Why; required when failed or impossible.")


class CountermeasurePatch(ApiModel):
    status: CountermeasureStatus | None = None
    comment: str | None = Field(None, max_length=5000)
    organization: str | None = Field(None, max_length=200)


class CountermeasureOut(ApiModel):
    id: int
    kind: str
    target: str
    organization: str | None
    status: str
    comment: str
    playbook_run_id: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime | None
    done_at: datetime | None
    expires_at: datetime | None = Field(None, description="When a response action undoes it on its own.")
    next_statuses: list[str]


class CountermeasureList(ApiModel):
    items: list[CountermeasureOut]


class ObservableIn(ApiModel):
    type: ObservableType
    value: str = Field(max_length=2048)
    tlp: Tlp | None = Field(None, description="The incident's TLP when none.")
    ioc: bool = True
    comment: str = Field("", max_length=5000)


class ObservablePatch(ApiModel):
    tlp: Tlp | None = None
    pap: Pap | None = Field(None, description="What may be done with it (`red`, `amber`, `green`, `clear`); "
                                              "`incident`: the incident's PAP. Response actions check it.")
    ioc: bool | None = None
    comment: str | None = Field(None, max_length=5000)


class SightingOut(ApiModel):
    incidents: int = Field(description="How many other incidents hold the same observable.")
    incident_ids: list[int] = Field(description="The most recent of them (at most 20).")
    alerts: int = Field(description="How many alerts were raised from this address (ip observables).")


class ObservableItem(ApiModel):
    id: int
    type: str
    value: str
    tlp: str
    pap: str | None = Field(description="Its own PAP; null: the incident's.")
    ioc: bool
    valid: bool
    invalid_reason: str
    comment: str
    created_by: str
    created_at: datetime | None
    sightings: SightingOut


class ObservableList(ApiModel):
    items: list[ObservableItem]


class EventSightingsOut(ApiModel):
    observable_id: int
    events: int = Field(description="Sum of the counts per field (an event holding it in two fields counts twice).")
    by_field: dict[str, int]
    incidents: int
    incident_ids: list[int]
    alerts: int


class CommentIn(ApiModel):
    text: str = Field(min_length=1, max_length=20000)


class CommentOut(ApiModel):
    id: int
    author: str
    text: str
    created_at: datetime
    edited_at: datetime | None


class CommentList(ApiModel):
    items: list[CommentOut]


class CustodyOut(ApiModel):
    at: datetime
    actor: str
    action: str = Field(description="added | downloaded | refused | removed")
    remote_addr: str
    sha256: str


class CustodyList(ApiModel):
    items: list[CustodyOut]


class AttachmentOut(ApiModel):
    id: int
    name: str
    size: int
    sha256: str
    content_type: str
    tlp: str
    uploaded_by: str
    uploaded_at: datetime
    removed_at: datetime | None
    scan: dict[str, object]
    custody: list[CustodyOut]


class AttachmentList(ApiModel):
    items: list[AttachmentOut]


class AttachmentQuery(QueryModel):
    removed: bool = Field(False, description="Include the attachments taken off the incident.")
