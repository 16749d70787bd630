"""Elasticsearch event store (production).

Events go to monthly indices ``<prefix>-events-YYYY.MM`` chosen by ``@timestamp``, under one
index template with ECS mappings. Each document's ``_id`` is its ``event.id`` and bulk writes
use ``op_type=create``, so a replay never duplicates: an existing id answers 409 and is counted
as a duplicate.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
from elasticsearch import ApiError, Elasticsearch, TransportError
from elasticsearch.serializer import OrjsonSerializer

from cert.core.ecs import Event, format_ts, get, parse_ts
from cert.core.errors import StoreUnavailable
from cert.core.event_store import AggregateQuery, EventQuery, EventStore, ResumeKey, WriteResult
from cert.storage.events.aggregation import stream as stream_rows
from cert.storage.events.es_composite import CompositeReader, bucket_range

if TYPE_CHECKING:
    import pandas as pd

PAGE = 5000
BULK_BYTES = 8 * 1024 * 1024
BULK_RETRIES = 5  # per-item 429s (a node short of memory or threads): 1+2+4+8+8 s before giving up
BULK_CONNECTIONS = 2  # writes in flight at once, one request each: two write threads of the node at work

IP_FIELDS = ("source.ip", "destination.ip", "client.ip", "server.ip", "host.ip", "related.ip",
             "source.nat.ip", "destination.nat.ip", "threat.indicator.ip")
GEO_FIELDS = ("source.geo.location", "destination.geo.location", "client.geo.location", "host.geo.location")
DATE_FIELDS = ("@timestamp", "event.ingested", "event.created", "event.start", "event.end")
LONG_FIELDS = ("source.port", "destination.port", "source.bytes", "destination.bytes", "network.bytes",
               "network.packets", "http.response.status_code", "http.response.body.bytes", "process.pid",
               "winlog.event_id", "dns.id")
TEXT_FIELDS = ("message",)
CASELESS = "caseless"  # multi-field of every dynamic string field: lowercased keyword
CASELESS_MAX = 8191  # characters (4 bytes each at most: under Lucene's 32766-byte term limit)


def _chunks(docs: list[tuple[Event, bytes]]) -> Iterator[list[tuple[Event, bytes]]]:
    """Consecutive runs of documents of at most BULK_BYTES each (a larger document alone)."""
    limit = BULK_BYTES
    chunk: list[tuple[Event, bytes]] = []
    size = 0
    for doc in docs:
        if chunk and size + len(doc[1]) > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(doc)
        size += len(doc[1])
    if chunk:
        yield chunk


def _reason(item: dict[str, Any]) -> str:
    err = item.get("error", {})
    return str(err.get("reason", err)) if isinstance(err, dict) else str(err)


def _nested(path: str, spec: dict[str, Any], root: dict[str, Any]) -> None:
    parts = path.split(".")
    cur = root
    for p in parts[:-1]:
        cur = cur.setdefault(p, {"properties": {}})["properties"]
    cur[parts[-1]] = spec


def ecs_mappings() -> dict[str, Any]:
    props: dict[str, Any] = {}
    for f in IP_FIELDS:
        _nested(f, {"type": "ip"}, props)
    for f in GEO_FIELDS:
        _nested(f, {"type": "geo_point"}, props)
    for f in DATE_FIELDS:
        _nested(f, {"type": "date"}, props)
    for f in LONG_FIELDS:
        _nested(f, {"type": "long"}, props)
    for f in TEXT_FIELDS:
        _nested(f, {"type": "text"}, props)
    _nested("event.original", {"type": "keyword", "index": False, "doc_values": False}, props)
    return {
        # a vendor text that happens to look like a date must not turn its field into a date field
        "date_detection": False,
        "dynamic_templates": [
            # ``<field>.caseless`` (ECS's name for it): the same value through the built-in lowercase
            # normalizer, for case-insensitive rule queries (Sigma's default; scheduled hunts)
            {"strings_as_keyword": {"match_mapping_type": "string",
                                    "mapping": {"type": "keyword", "ignore_above": 1024, "fields": {
                                        CASELESS: {"type": "keyword", "normalizer": "lowercase",
                                                   "ignore_above": CASELESS_MAX}}}}},
        ],
        "properties": props,
    }


class ElasticsearchEventStore(EventStore):
    backend = "elasticsearch"
    write_concurrency = BULK_CONNECTIONS

    def __init__(self, url: str, prefix: str = "vigie", client: Elasticsearch | None = None) -> None:
        self.prefix = prefix
        self.pattern = f"{prefix}-events-*"
        self.es = client or Elasticsearch(url, request_timeout=60, retry_on_timeout=True, max_retries=3,
                                          serializer=OrjsonSerializer())
        self._template_ready = False
        self._heads: dict[str, bytes] = {}  # "YYYY-MM-" -> start of the action line (``_head``)

    # -- set-up ---------------------------------------------------------------------------
    def ensure_template(self) -> None:
        if self._template_ready:
            return
        try:
            self.es.indices.put_index_template(
                name=f"{self.prefix}-events",
                index_patterns=[self.pattern],
                priority=200,
                template={
                    # Windows events alone bring ~650 distinct paths (each with its .caseless twin):
                    # raise the default 1,000-field limit rather than reject real events
                    "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s",
                                 "index.mapping.total_fields.limit": 10000},
                    "mappings": ecs_mappings(),
                },
            )
        except (TransportError, ApiError) as exc:
            raise StoreUnavailable(f"Elasticsearch: cannot install the index template: {exc}") from exc
        self._template_ready = True

    def index_for(self, event: Event) -> str:
        ts = get(event, "@timestamp")
        if ts.__class__ is str and len(ts) > 10 and ts[-1] == "Z" and ts[4] == "-" and ts[7] == "-" \
                and ts[:4].isdigit() and ts[5:7].isdigit():  # UTC as finalize validated it: no parsing
            return f"{self.prefix}-events-{ts[:4]}.{ts[5:7]}"
        when = parse_ts(str(ts))
        return f"{self.prefix}-events-{when:%Y.%m}"

    # -- interface --------------------------------------------------------------------------
    def write(self, events: Sequence[Event]) -> WriteResult:
        """``_bulk`` requests of ``create`` actions of at most ~8 MB each, one after another on one
        connection (``write_concurrency`` writes may run at once from different threads), the
        events serialised here with orjson (an event that cannot be serialised fails alone).
        Per-item 429s are retried with backoff; a bulk refused as a whole, or items refused for
        want of resources (429 after retries, 502-504), mean the store is unavailable:
        ``StoreUnavailable``, and the caller keeps the batch (the spool)."""
        self.ensure_template()
        failed: list[tuple[Event, str]] = []
        docs: list[tuple[Event, bytes]] = []
        dumps = orjson.dumps
        heads = self._heads
        for ev in events:
            meta = ev.get("event")
            eid = meta.get("id") if meta.__class__ is dict else None
            if eid is None:
                eid = get(ev, "event.id")
            ts = ev.get("@timestamp")
            # UTC as ``finalize`` validated it (``YYYY-MM-...Z``): the month's action head, cached
            head = heads.get(ts[:8]) if ts.__class__ is str and len(ts) > 10 and ts[-1] == "Z" else None
            if head is None:
                try:
                    head = self._head(ev)
                except (ValueError, TypeError) as exc:
                    failed.append((ev, f"bad timestamp: {exc}"))
                    continue
            if not eid:
                failed.append((ev, "event without event.id"))
                continue
            try:
                body = dumps(ev)
            except TypeError as exc:  # orjson.JSONEncodeError
                failed.append((ev, f"cannot serialise the event: {exc}"))
                continue
            docs.append((ev, b"".join((head, dumps(eid if eid.__class__ is str else str(eid)), b"}}\n", body,
                                       b"\n"))))
        written = duplicates = 0
        pending = docs
        for attempt in range(BULK_RETRIES + 1):
            retry: list[tuple[Event, bytes]] = []
            for chunk in _chunks(pending):
                items = self._bulk(b"".join(a for _, a in chunk))
                for (ev, action), item in zip(chunk, items, strict=True):
                    status = int(item.get("status", 0))
                    if 200 <= status < 300:
                        written += 1
                    elif status == 409:
                        duplicates += 1
                    elif status == 429 and attempt < BULK_RETRIES:
                        retry.append((ev, action))
                    elif status in (429, 502, 503, 504):
                        raise StoreUnavailable(f"Elasticsearch refused events (no resources): {_reason(item)}")
                    else:
                        failed.append((ev, f"elasticsearch rejected the event: {_reason(item)}"))
            if not retry:
                break
            pending = retry
            time.sleep(min(2.0 ** attempt, 8.0))
        return WriteResult(written=written, duplicates=duplicates, failed=failed)

    def _head(self, event: Event) -> bytes:
        """The start of an event's ``create`` action line, up to its ``_id`` (the index by month);
        kept by "YYYY-MM-" for UTC timestamps in ``finalize``'s form."""
        index = self.index_for(event)
        head = b'{"create":{"_index":' + orjson.dumps(index) + b',"_id":'
        ts = get(event, "@timestamp")
        if ts.__class__ is str and len(ts) > 10 and ts[-1] == "Z" and ts[4] == "-" and ts[7] == "-" \
                and ts[:4].isdigit() and ts[5:7].isdigit():  # index_for's own test: the month is ts[:7]
            if len(self._heads) >= 1024:
                self._heads.clear()
            self._heads[ts[:8]] = head
        return head

    def _bulk(self, body: bytes) -> list[dict[str, Any]]:
        try:
            resp = self.es.bulk(operations=body,  # type: ignore[arg-type] # NDJSON bytes, sent as they are
                                filter_path="items.*.status,items.*.error")
        except ApiError as exc:  # the whole request refused (429, 503...)
            raise StoreUnavailable(f"Elasticsearch refused the bulk request: {exc}") from exc
        except TransportError as exc:
            raise StoreUnavailable(f"Elasticsearch unreachable: {exc}") from exc
        return [next(iter(item.values())) for item in resp.get("items", [])]

    def get(self, ids: Iterable[str]) -> list[Event]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        found: dict[str, Event] = {}
        for i in range(0, len(wanted), 1000):
            chunk = wanted[i : i + 1000]
            resp = self._search(query={"ids": {"values": chunk}}, size=len(chunk))
            for hit in resp["hits"]["hits"]:
                found[hit["_id"]] = hit["_source"]
        return [found[i] for i in wanted if i in found]

    def _filters(self, query: EventQuery) -> dict[str, Any]:
        filters: list[dict[str, Any]] = []
        ts: dict[str, str] = {}
        if query.start:
            ts["gte"] = format_ts(query.start)
        if query.end:
            ts["lt"] = format_ts(query.end)
        if ts:
            filters.append({"range": {"@timestamp": ts}})
        ing: dict[str, str] = {}
        if query.ingested_after:
            ing["gt"] = format_ts(query.ingested_after)
        if query.ingested_until:
            ing["lte"] = format_ts(query.ingested_until)
        if ing:
            filters.append({"range": {"event.ingested": ing}})
        for field, values in query.terms.items():
            filters.append({"terms": {field: list(values)}})
        return {"bool": {"filter": filters}} if filters else {"match_all": {}}

    def search(self, query: EventQuery) -> list[Event]:
        order = "asc" if query.oldest_first else "desc"
        sort = [{"@timestamp": order}, {"event.id": order}]
        out: list[Event] = []
        after: list[Any] | None = None
        while len(out) < query.limit:
            size = min(PAGE, query.limit - len(out))
            resp = self._search(query=self._filters(query), size=size, sort=sort, search_after=after)
            hits = resp["hits"]["hits"]
            out.extend(h["_source"] for h in hits)
            if len(hits) < size:
                break
            after = hits[-1]["sort"]
        return out

    def page(self, query: EventQuery) -> tuple[list[Event], ResumeKey | None]:
        order = "asc" if query.oldest_first else "desc"
        sort = [{"@timestamp": order}, {"event.id": order}]
        after = list(query.after) if query.after is not None else None
        size = min(query.limit, PAGE)
        resp = self._search(query=self._filters(query), size=size, sort=sort, search_after=after)
        hits = resp["hits"]["hits"]
        key = tuple(hits[-1]["sort"]) if hits and len(hits) == size else None
        return [h["_source"] for h in hits], key

    def aggregate(self, query: AggregateQuery) -> Iterator[pd.DataFrame]:
        """Composite aggregations over slices of the range (``es_composite``), read a page of
        groups at a time: the node groups, memory holds one page and one chunk."""
        where = self._filters(EventQuery(start=query.start, end=query.end, terms=dict(query.terms)))
        reader = CompositeReader(self._search, query, where, self._without_lists)
        return stream_rows(query, reader.rows())

    def _without_lists(self, query: AggregateQuery, bucket: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
        """A group some of whose events hold a list in a group field (the composite aggregation
        counted them in one group per value), measured again from its events without them: rare,
        and bounded by the group's events."""
        key = bucket["key"]
        terms: dict[str, list[Any]] = {k: list(v) for k, v in query.terms.items()}
        for i, f in enumerate(query.group):
            terms[f] = [key[f"g{i}"]] if f not in terms or key[f"g{i}"] in terms[f] else []
        start, end = bucket_range(query, bucket)
        from cert.core.aggregate import reference_aggregate

        for part in reference_aggregate(self, replace(query, start=start, end=end, terms=terms)):
            for row in part.itertuples(index=False, name=None):
                values = list(row)
                if query.bucket_seconds:
                    width = len(query.group)
                    values[width] = int(values[width].timestamp())
                yield tuple(values)

    def count(self, query: EventQuery | None = None) -> int:
        try:
            resp = self.es.count(index=self.pattern, query=self._filters(query or EventQuery()),
                                 ignore_unavailable=True, allow_no_indices=True)
        except (TransportError, ApiError) as exc:
            raise StoreUnavailable(f"Elasticsearch: {exc}") from exc
        return int(resp["count"])

    def _search(self, **kwargs: Any) -> Any:
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            return self.es.search(index=self.pattern, ignore_unavailable=True, allow_no_indices=True,
                                  track_total_hits=False, **kwargs)
        except (TransportError, ApiError) as exc:
            raise StoreUnavailable(f"Elasticsearch: {exc}") from exc

    def refresh(self) -> None:
        try:
            self.es.indices.refresh(index=self.pattern, ignore_unavailable=True, allow_no_indices=True)
        except (TransportError, ApiError) as exc:
            raise StoreUnavailable(f"Elasticsearch: {exc}") from exc

    def ping(self) -> bool:
        return bool(self.es.ping())

    def close(self) -> None:
        self.es.close()
