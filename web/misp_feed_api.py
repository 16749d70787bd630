"""The MISP feed served to a partner CERT (``/api/feeds/misp/``): a partner's MISP instance adds
this URL as a remote feed with its token (``Authorization: Bearer <token>``, or HTTP Basic with the
token as password) and reads ``manifest.json``, ``hashes.csv`` and one ``<uuid>.json`` per
incident published to it, each holding only what the sharing policy lets leave for that partner
(``cert.sharing.served_feed``). A member of the staff reads a partner's view with
``?partner=<id>``.

Every answer has an ``ETag`` (a hash of its bytes) and, when known, a ``Last-Modified``; a request
with a matching ``If-None-Match`` (or, without one, an ``If-Modified-Since`` not older than the
change) is answered 304 with no body, so a partner that polls often over a thin link downloads
nothing new. Each event sent (200) is audited with the values sent."""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from cert.sharing import served_feed
from web.access import actor, platform, remote_addr, requires
from web.api_auth import api_scope
from web.api_spec import raw_answer
from web.partner_access import reading_partner

bp = Blueprint("misp_feed_api", __name__, url_prefix="/api/feeds/misp")
CHANNEL = "misp-feed"


def _not_modified(etag: str, modified: datetime | None) -> bool:
    """Whether the client's copy is current: ``If-None-Match`` decides when sent, else
    ``If-Modified-Since`` (HTTP dates have whole seconds)."""
    if request.if_none_match:
        return request.if_none_match.contains(etag)
    since = request.if_modified_since
    return since is not None and modified is not None and modified.replace(microsecond=0) <= since


def _answer(body: bytes, mimetype: str, modified: datetime | None) -> tuple[Response, bool]:
    """The answer with its validators, 304 with no body when the client's copy is current; and
    whether the body is sent."""
    etag = hashlib.sha256(body).hexdigest()
    fresh = _not_modified(etag, modified)
    resp = Response(b"" if fresh else body, status=304 if fresh else 200, mimetype=mimetype)
    resp.set_etag(etag)
    if modified is not None:
        resp.last_modified = modified
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp, not fresh


@bp.get("/manifest.json")
@requires("analyst")
@api_scope("share")
@raw_answer("application/json", description="The feed's manifest (MISP feed format): each event's uuid, info, "
            "date, timestamp and tags, for the incidents published to the partner.")
def manifest() -> ResponseReturnValue:
    """The feed's manifest: for each incident published to the partner, its event's uuid, title,
    tags, date and timestamp."""
    partner = reading_partner(CHANNEL)
    with platform().db.session() as s:
        events = served_feed.partner_events(s, partner, platform().settings)
        body = served_feed.serialize(served_feed.manifest(events))
        return _answer(body, "application/json", served_feed.last_change(s, partner.id))[0]


@bp.get("/hashes.csv")
@requires("analyst")
@api_scope("share")
@raw_answer("text/csv", description="The MISP feed's hashes.csv: the md5 of each attribute value and its event uuid.")
def hashes() -> ResponseReturnValue:
    """The feed's ``hashes.csv``: the MD5 of every attribute value served, with its event's uuid."""
    partner = reading_partner(CHANNEL)
    with platform().db.session() as s:
        events = served_feed.partner_events(s, partner, platform().settings)
        body = served_feed.hashes_csv(events).encode()
        return _answer(body, "text/csv", served_feed.last_change(s, partner.id))[0]


@bp.get("/<event_uuid>.json")
@requires("analyst")
@api_scope("share")
@raw_answer("application/json", description="One MISP event (MISP feed format): what the sharing policy lets "
            "the partner receive of the incident, with its tags and sightings.")
def event(event_uuid: str) -> ResponseReturnValue:
    """One event of the feed, with its attributes, tags and our sightings; 404 when the incident is
    not published to the partner (or was withdrawn). Audited when sent."""
    partner = reading_partner(CHANNEL)
    with platform().db.session() as s:
        one = served_feed.feed_event(s, partner, platform().settings, event_uuid)
        resp, sent = _answer(served_feed.event_bytes(one), "application/json", one.updated_at)
        if sent:
            served_feed.record_read(s, actor(), remote_addr(), partner, one)
        return resp
