"""Elasticsearch of the local stack: a real node, reached through the official client."""

from __future__ import annotations

import uuid

from elasticsearch import Elasticsearch


def test_document_indexed_and_found(stack_env) -> None:
    es = Elasticsearch(stack_env["HOVER_ELASTICSEARCH_URL"], request_timeout=30)
    index = f"test-roundtrip-{uuid.uuid4().hex[:8]}"
    es.indices.create(index=index, mappings={"properties": {
        "@timestamp": {"type": "date"}, "message": {"type": "text"},
        "service": {"type": "keyword"},
    }})
    try:
        es.index(index=index, id="1", document={
            "@timestamp": "2026-11-27T09:00:00Z", "service": "ingest_api",
            "message": "kafka unreachable, answering 503",
        })
        es.indices.refresh(index=index)
        hits = es.search(index=index, query={"match": {"message": "unreachable"}})["hits"]
        assert hits["total"]["value"] == 1
        assert hits["hits"][0]["_source"]["service"] == "ingest_api"
    finally:
        es.indices.delete(index=index)
