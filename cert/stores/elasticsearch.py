"""Elasticsearch event store (production).

Events go to monthly indices ``<prefix>-events-YYYY.MM`` chosen by ``@timestamp``, under one
index template with ECS mappings. Each document's ``_id`` is its ``event.id`` and bulk writes
use ``op_type=create``, so a replay never duplicates: an existing id answers 409 and is counted
as a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError
from elasticsearch.helpers import streaming_bulk

from cert.ecs import Event, format_ts, get, parse_ts
from cert.errors import StoreUnavailable
from cert.stores.base import EventQuery, EventStore, WriteResult

PAGE = 5000

IP_FIELDS = ("source.ip", "destination.ip", "client.ip", "server.ip", "host.ip", "related.ip",
             "source.nat.ip", "destination.nat.ip", "threat.indicator.ip")
DATE_FIELDS = ("@timestamp", "event.ingested", "event.created", "event.start", "event.end")
LONG_FIELDS = ("source.port", "destination.port", "source.bytes", "destination.bytes", "network.bytes",
               "network.packets", "http.response.status_code", "http.response.body.bytes", "process.pid",
               "winlog.event_id", "dns.id")
TEXT_FIELDS = ("message",)


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
    for f in DATE_FIELDS:
        _nested(f, {"type": "date"}, props)
    for f in LONG_FIELDS:
        _nested(f, {"type": "long"}, props)
    for f in TEXT_FIELDS:
        _nested(f, {"type": "text"}, props)
    _nested("event.original", {"type": "keyword", "index": False, "doc_values": False}, props)
    return {
        "dynamic_templates": [
            {"strings_as_keyword": {"match_mapping_type": "string",
                                    "mapping": {"type": "keyword", "ignore_above": 1024}}},
        ],
        "properties": props,
    }


class ElasticsearchEventStore(EventStore):
    backend = "elasticsearch"

    def __init__(self, url: str, prefix: str = "vigie", client: Elasticsearch | None = None) -> None:
        self.prefix = prefix
        self.pattern = f"{prefix}-events-*"
        self.es = client or Elasticsearch(url, request_timeout=60, retry_on_timeout=True, max_retries=3)
        self._template_ready = False

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
                    "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
                    "mappings": ecs_mappings(),
                },
            )
        except (TransportError, ApiError) as exc:
            raise StoreUnavailable(f"Elasticsearch: cannot install the index template: {exc}") from exc
        self._template_ready = True

    def index_for(self, event: Event) -> str:
        ts = parse_ts(str(get(event, "@timestamp")))
        return f"{self.prefix}-events-{ts:%Y.%m}"

    # -- interface --------------------------------------------------------------------------
    def write(self, events: Sequence[Event]) -> WriteResult:
        self.ensure_template()
        failed: list[tuple[Event, str]] = []
        actions = []
        kept: list[Event] = []
        for ev in events:
            eid = get(ev, "event.id")
            try:
                index = self.index_for(ev)
            except (ValueError, TypeError) as exc:
                failed.append((ev, f"bad timestamp: {exc}"))
                continue
            if not eid:
                failed.append((ev, "event without event.id"))
                continue
            actions.append({"_op_type": "create", "_index": index, "_id": str(eid), "_source": ev})
            kept.append(ev)
        written = duplicates = 0
        try:
            results = streaming_bulk(self.es, actions, chunk_size=2000, raise_on_error=False,
                                     raise_on_exception=False, max_retries=3)
            for ev, (ok, info) in zip(kept, results, strict=True):
                item = info.get("create", {})
                if ok:
                    written += 1
                elif item.get("status") == 409:
                    duplicates += 1
                else:
                    err = item.get("error", {})
                    reason = err.get("reason", str(err)) if isinstance(err, dict) else str(err)
                    failed.append((ev, f"elasticsearch rejected the event: {reason}"))
        except (TransportError, ApiError) as exc:
            raise StoreUnavailable(f"Elasticsearch unreachable: {exc}") from exc
        return WriteResult(written=written, duplicates=duplicates, failed=failed)

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
