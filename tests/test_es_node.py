"""End-to-end check of scripts/es_node.py: a real Elasticsearch 8.x node on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import es_node  # noqa: E402

pytestmark = pytest.mark.elasticsearch

if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("java not available: cannot start Elasticsearch", allow_module_level=True)


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_es_node_lifecycle(tmp_path: Path) -> None:
    from elasticsearch import Elasticsearch, helpers

    node = es_node.start(workdir=tmp_path / "es", heap="512m")
    try:
        assert node.url == f"http://127.0.0.1:{node.port}"
        assert node.alive()
        es = Elasticsearch(node.url, request_timeout=30)

        info = es.info()
        assert info["version"]["number"].startswith("8."), info
        assert es.ping()

        es.indices.create(
            index="vigie-events",
            settings={"number_of_shards": 1, "number_of_replicas": 0},
            mappings={
                "properties": {
                    "host": {"type": "keyword"},
                    "@timestamp": {"type": "date"},
                    "source_ip": {"type": "ip"},
                    "message": {"type": "text"},
                }
            },
        )
        docs = [
            ("e1", "web-01", "2024-05-01T10:00:00Z", "10.0.0.1", "failed login for root"),
            ("e2", "web-01", "2024-05-01T11:00:00Z", "10.0.0.2", "successful login"),
            ("e3", "web-02", "2024-05-02T09:30:00Z", "192.168.1.7", "failed login for admin"),
            ("e4", "db-01", "2024-05-02T12:00:00Z", "10.0.0.1", "slow query"),
        ]
        ok, errors = helpers.bulk(
            es,
            (
                {
                    "_index": "vigie-events",
                    "_id": doc_id,
                    "host": host,
                    "@timestamp": ts,
                    "source_ip": ip,
                    "message": msg,
                }
                for doc_id, host, ts, ip, msg in docs
            ),
            refresh="wait_for",
        )
        assert ok == len(docs) and not errors

        assert es.get(index="vigie-events", id="e3")["_source"]["host"] == "web-02"

        resp = es.search(
            index="vigie-events",
            query={"term": {"host": "web-01"}},
            aggs={
                "by_host": {"terms": {"field": "host"}},
                "per_day": {"date_histogram": {"field": "@timestamp", "calendar_interval": "day"}},
                "ips": {"cardinality": {"field": "source_ip"}},
            },
        )
        assert resp["hits"]["total"]["value"] == 2
        assert sorted(h["_id"] for h in resp["hits"]["hits"]) == ["e1", "e2"]
        assert [(b["key"], b["doc_count"]) for b in resp["aggregations"]["by_host"]["buckets"]] == [
            ("web-01", 2)
        ]
        assert resp["aggregations"]["ips"]["value"] == 2

        resp = es.search(
            index="vigie-events",
            size=0,
            aggs={"by_host": {"terms": {"field": "host"}}},
        )
        assert {b["key"]: b["doc_count"] for b in resp["aggregations"]["by_host"]["buckets"]} == {
            "web-01": 2,
            "web-02": 1,
            "db-01": 1,
        }

        resp = es.search(index="vigie-events", query={"wildcard": {"host": {"value": "web-*"}}})
        assert sorted(h["_id"] for h in resp["hits"]["hits"]) == ["e1", "e2", "e3"]

        resp = es.search(
            index="vigie-events",
            query={"query_string": {"query": 'message:failed AND source_ip:"10.0.0.0/8"'}},
        )
        assert [h["_id"] for h in resp["hits"]["hits"]] == ["e1"]
    except BaseException:
        print(f"--- {node.log_path} (tail) ---\n" + es_node._tail(node.log_path), file=sys.stderr)
        raise
    finally:
        pid = node.pid
        node.stop()

    assert not node.alive()
    assert _pid_gone(pid)
