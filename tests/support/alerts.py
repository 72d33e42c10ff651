"""Alerts as they arrived in Elasticsearch."""

from __future__ import annotations

from elasticsearch import Elasticsearch


def alerts_with(es_url: str, token: str) -> list[dict]:
    """Every alert document whose message contains ``token``."""
    es = Elasticsearch(es_url)
    es.indices.refresh(index="hoverboard-alerts-*", ignore_unavailable=True)
    hits = es.search(index="hoverboard-alerts-*", ignore_unavailable=True,
                     query={"match_phrase": {"message": token}})["hits"]["hits"]
    return [h["_source"] for h in hits]
