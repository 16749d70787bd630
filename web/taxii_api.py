"""The TAXII 2.1 server partner CERTs read (``cert.sharing.taxii_server``), under ``/api/taxii2/``:
discovery, the API root ``vigie``, the partner's collection, its objects (one object, its
versions) and its manifest.

A partner authenticates with its token (HTTP Basic, any user name, the token as the password; or
``Authorization: Bearer``), which has the ``share`` scope; a member of the staff reads a partner's
view with ``?partner=<id>``. Every answer is ``application/taxii+json;version=2.1``; a client
whose ``Accept`` asks for something else gets 406. Errors on these routes are TAXII error
messages (``{title, description, http_status}``) in the reader's language. Every read of objects
is audited with the ids and the indicator values it sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from cert.constituency.directory import Partner
from cert.core.errors import N_, InvalidInput
from cert.sharing import taxii_server
from cert.sharing.taxii_server import MEDIA_TYPE_TAXII, Collection, Cursors, Filters, Page
from web.access import actor, platform, remote_addr, requires
from web.api_auth import api_scope
from web.api_spec import Response as Responses
from web.api_spec import query, spec
from web.partner_access import reading_partner
from web.schemas.taxii import (
    ApiRoot,
    CollectionOut,
    Collections,
    Discovery,
    Envelope,
    Manifest,
    ObjectQuery,
    ObjectsQuery,
    TaxiiQuery,
    Versions,
    VersionsQuery,
)

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("taxii_api", __name__, url_prefix="/api/taxii2")
PREFIX = "/api/taxii2/"
API_ROOT = "vigie"
TAGS = ["taxii"]
#: The largest request body an API root accepts (it accepts none: its collections are read-only).
MAX_CONTENT_LENGTH = 0


def _titles() -> dict[int, str]:
    return {400: _("Bad request"), 401: _("Authentication required"), 403: _("Forbidden"), 404: _("Not found"),
            405: _("Method not allowed"), 406: _("Not acceptable"), 413: _("Request too large"),
            415: _("Unsupported media type"), 500: _("Internal error")}


def taxii_json(data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = current_app.response_class(json.dumps(data, ensure_ascii=False), status=status,
                                      content_type=MEDIA_TYPE_TAXII)
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def accepts_taxii(header: str) -> bool:
    """Whether an ``Accept`` header lets the answer be TAXII 2.1 (none, ``*/*``, ``application/*``,
    or ``application/taxii+json`` without a version or with 2.1)."""
    if not header.strip():
        return True
    for item in header.split(","):
        media, *params = [p.strip().lower() for p in item.split(";")]
        options = dict(p.partition("=")[::2] for p in params)
        if options.get("q", "1").strip() in ("0", "0.0", "0.00", "0.000"):
            continue
        if media in ("*/*", "application/*"):
            return True
        if media == "application/taxii+json" and options.get("version", "2.1").strip() == "2.1":
            return True
    return False


def taxii_read(view: F) -> F:
    """Route decorator, below the access checks: 406 unless the client accepts TAXII 2.1."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not accepts_taxii(request.headers.get("Accept", "")):
            return taxii_error(406, _("This server answers application/taxii+json;version=2.1 only."))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def taxii_error(status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    title = _titles().get(status, _("Error"))
    return taxii_json({"title": title, "description": description, "http_status": str(status)}, status, headers)


@bp.after_app_request
def as_taxii_error(resp: Response) -> Response:
    """Every error under ``/api/taxii2/`` (a bad token, a missing scope, an unknown collection, a
    bad ``next``, a method not allowed) as a TAXII error message: the API's ``{error, message,
    status}`` becomes ``{title, description, http_status}``; its headers stay."""
    if not request.path.startswith(PREFIX) or resp.status_code < 400 or not resp.is_json:
        return resp
    body = resp.get_json(silent=True)
    if not isinstance(body, dict) or not {"message", "status"} <= body.keys():
        return resp
    answer = taxii_error(resp.status_code, str(body["message"]))
    for name, value in resp.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            answer.headers[name] = value
    if resp.status_code == 401 and "WWW-Authenticate" not in answer.headers:
        answer.headers["WWW-Authenticate"] = 'Basic realm="vigie"'
    return answer


def _root_url() -> str:
    return url_for("taxii_api.api_root", _external=True)


def _collection(partner: Partner, collection_id: str) -> Collection:
    return taxii_server.collection_for(partner, platform().settings.org_uuid, collection_id)


def _resource(collection: Collection) -> dict[str, Any]:
    return collection.resource(str(_(collection.description, **dict(collection.description_params))))


def _limit(wanted: int | None) -> int:
    most = max(1, platform().settings.taxii_max_page_size)
    return most if wanted is None else min(wanted, most)


def _cursors() -> Cursors:
    return Cursors(str(current_app.config["SECRET_KEY"]))


@bp.get("/")
@requires("analyst")
@api_scope("share")
@taxii_read
@spec.validate(query=TaxiiQuery, resp=Responses(HTTP_200=Discovery), tags=TAGS)
def discovery() -> ResponseReturnValue:
    """TAXII 2.1 discovery: the CERT's one API root."""
    reading_partner(taxii_server.CHANNEL)
    root = _root_url()
    return taxii_json({"title": platform().settings.org_name,
                       "description": str(_("TAXII 2.1 server of %(org)s for its partner CERTs.",
                                            org=platform().settings.org_name)),
                       "default": root, "api_roots": [root]})


@bp.get(f"/{API_ROOT}/")
@requires("analyst")
@api_scope("share")
@taxii_read
@spec.validate(query=TaxiiQuery, resp=Responses(HTTP_200=ApiRoot), tags=TAGS)
def api_root() -> ResponseReturnValue:
    """The API root: its title (the CERT's name) and the TAXII version it speaks."""
    reading_partner(taxii_server.CHANNEL)
    return taxii_json({"title": platform().settings.org_name,
                       "description": str(_("Indicators %(org)s shares with its partner CERTs.",
                                            org=platform().settings.org_name)),
                       "versions": [MEDIA_TYPE_TAXII], "max_content_length": MAX_CONTENT_LENGTH})


@bp.get(f"/{API_ROOT}/collections/")
@requires("analyst")
@api_scope("share")
@taxii_read
@spec.validate(query=TaxiiQuery, resp=Responses(HTTP_200=Collections), tags=TAGS)
def collections() -> ResponseReturnValue:
    """The collections the partner reads: its own."""
    partner = reading_partner(taxii_server.CHANNEL)
    found = taxii_server.collections_for(partner, platform().settings.org_uuid)
    return taxii_json({"collections": [_resource(c) for c in found]} if found else {})


@bp.get(f"/{API_ROOT}/collections/<collection_id>/")
@requires("analyst")
@api_scope("share")
@taxii_read
@spec.validate(query=TaxiiQuery, resp=Responses(HTTP_200=CollectionOut), tags=TAGS)
def collection(collection_id: str) -> ResponseReturnValue:
    """The partner's collection (404 for any other id)."""
    partner = reading_partner(taxii_server.CHANNEL)
    return taxii_json(_resource(_collection(partner, collection_id)))


def _read(partner: Partner, found: Collection, what: str, filters: Filters, limit: int | None,
          next_value: str | None) -> Page:
    with platform().db.session() as s:
        page = taxii_server.read_page(s, partner, platform().settings, found, filters, _limit(limit), _cursors(),
                                      next_value)
        taxii_server.audit_read(s, actor(), remote_addr(), found, what, page)
    return page


@bp.get(f"/{API_ROOT}/collections/<collection_id>/objects/")
@requires("analyst")
@api_scope("share")
@taxii_read
@spec.validate(query=ObjectsQuery, resp=Responses(HTTP_200=Envelope), tags=TAGS)
def objects(collection_id: str) -> ResponseReturnValue:
    """The collection's STIX 2.1 objects, a page at a time (``limit``, ``next``), filtered by
    ``added_after`` and ``match[id|type|version|spec_version]``."""
    partner = reading_partner(taxii_server.CHANNEL)
    found = _collection(partner, collection_id)
    q = query(ObjectsQuery)
    filters = Filters.parse(ids=q.match_id, types=q.match_type, versions=q.match_version,
                            spec_versions=q.match_spec_version, added_after=q.added_after)
    page = _read(partner, found, "objects", filters, q.limit, q.next)
    return taxii_json(page.envelope(), headers=page.headers())


@bp.get(f"/{API_ROOT}/collections/<collection_id>/manifest/")
@requires("analyst")
@api_scope("share")
@taxii_read
@spec.validate(query=ObjectsQuery, resp=Responses(HTTP_200=Manifest), tags=TAGS)
def manifest(collection_id: str) -> ResponseReturnValue:
    """The manifest of the collection's objects (id, date added, version, media type), paged and
    filtered like the objects."""
    partner = reading_partner(taxii_server.CHANNEL)
    found = _collection(partner, collection_id)
    q = query(ObjectsQuery)
    filters = Filters.parse(ids=q.match_id, types=q.match_type, versions=q.match_version,
                            spec_versions=q.match_spec_version, added_after=q.added_after)
    page = _read(partner, found, "manifest", filters, q.limit, q.next)
    return taxii_json(page.manifest(), headers=page.headers())


def _object_id(object_id: str) -> str:
    ident = object_id.strip()
    if "--" not in ident or len(ident) > 300:
        raise InvalidInput(N_("%(id)s is not a STIX identifier (type--uuid)."), id=ident[:120])
    return ident


@bp.get(f"/{API_ROOT}/collections/<collection_id>/objects/<object_id>/")
@requires("analyst")
@api_scope("share")
@taxii_read
@spec.validate(query=ObjectQuery, resp=Responses(HTTP_200=Envelope), tags=TAGS)
def get_object(collection_id: str, object_id: str) -> ResponseReturnValue:
    """One object of the collection (404 when it holds none with this id)."""
    partner = reading_partner(taxii_server.CHANNEL)
    found = _collection(partner, collection_id)
    ident = _object_id(object_id)
    q = query(ObjectQuery)
    filters = Filters.parse(ids=ident, versions=q.match_version, spec_versions=q.match_spec_version,
                            added_after=q.added_after)
    with platform().db.session() as s:
        taxii_server.require_object(s, partner, platform().settings, ident)
    page = _read(partner, found, "object", filters, q.limit, q.next)
    return taxii_json(page.envelope(), headers=page.headers())


@bp.get(f"/{API_ROOT}/collections/<collection_id>/objects/<object_id>/versions/")
@requires("analyst")
@api_scope("share")
@taxii_read
@spec.validate(query=VersionsQuery, resp=Responses(HTTP_200=Versions), tags=TAGS)
def object_versions(collection_id: str, object_id: str) -> ResponseReturnValue:
    """The versions of one object of the collection (each object has one: its current version)."""
    partner = reading_partner(taxii_server.CHANNEL)
    found = _collection(partner, collection_id)
    ident = _object_id(object_id)
    q = query(VersionsQuery)
    filters = Filters.parse(ids=ident, versions="all", spec_versions=q.match_spec_version,
                            added_after=q.added_after)
    with platform().db.session() as s:
        taxii_server.require_object(s, partner, platform().settings, ident)
    page = _read(partner, found, "versions", filters, q.limit, q.next)
    return taxii_json(page.versions(), headers=page.headers())
