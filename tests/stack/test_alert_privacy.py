"""No customer value reaches Elasticsearch: a customer record the sink dead-letters, and a
PostgreSQL error that quotes a row, give alerts with pointers, reasons and offsets only; the
raw record stays in the warehouse's dead-letter table."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from elasticsearch import Elasticsearch

from alerts.document import Severity
from alerts.emitter import AlertEmitter
from tests.support import fetch, produce, sample
from tests.support.streaming import run_until_caught_up, sink_config


def personal_values() -> tuple[str, str, str, float]:
    """A first name too long, a last name, an address that is not one, a latitude out of
    range; this run's own, so alerts of other runs cannot mask or fake a leak."""
    token = uuid.uuid4().hex[:8]
    return (f"Augusta{token}" * 8, f"Lovelace{token}", f"ada.{token}@",
            90 + int(token[:6], 16) / 10**8)


def stored_alerts(es_url: str, label: str, value: str) -> list[dict]:
    """Every alert document whose labels say ``label=value``, as stored (_source)."""
    es = Elasticsearch(es_url)
    es.indices.refresh(index="hoverboard-alerts-*", ignore_unavailable=True)
    hits = es.search(index="hoverboard-alerts-*", ignore_unavailable=True, size=100,
                     query={"term": {f"labels.{label}": value}})["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def found_anywhere(es_url: str, *values: str) -> int:
    """How many alert documents hold any of ``values`` in any field, details included (not
    indexed, so searched in the stored documents)."""
    es = Elasticsearch(es_url)
    es.indices.refresh(index="hoverboard-alerts-*", ignore_unavailable=True)
    hits = es.search(index="hoverboard-alerts-*", ignore_unavailable=True, size=10000,
                     query={"range": {"@timestamp": {"gte": "now-1h"}}})["hits"]["hits"]
    return sum(any(v in json.dumps(hit["_source"]) for v in values) for hit in hits)


def test_a_dead_lettered_customer_gives_an_alert_without_its_values(
        spark, stack_env, warehouse, topic, tmp_path) -> None:  # noqa: F811 - fixtures
    es_url = stack_env["HOVER_ELASTICSEARCH_URL"]
    first, last, email, latitude = personal_values()
    bad = sample("customer", id=4242, customer_email=email,
                 customer_name={"first_name": first, "last_name": last},
                 customer_location={"latitude": latitude, "longitude": 0.5})
    produce(stack_env["HOVER_KAFKA_BOOTSTRAP"], topic, "customer", [bad, sample("customer")])
    config = sink_config("customer", topic, tmp_path)
    alerts = AlertEmitter.from_environment("spark_sink", labels={"query": config.query_name})
    run_until_caught_up(spark, config, warehouse, stack_env["HOVER_KAFKA_BOOTSTRAP"],
                        alerts=alerts)
    alerts.close()

    # The raw record and the validator's full reasons stay in the warehouse...
    [(raw, error, partition, offset)] = fetch(
        warehouse, "SELECT raw_value, error, source_partition, source_offset"
        " FROM platform.dead_letters")
    assert json.loads(bytes(raw)) == bad
    assert first in error and email in error
    # ... the alert says where and why, with the values cut out.
    [alert] = [a for a in stored_alerts(es_url, "query", config.query_name)
               if a["event"]["action"] == "dead_letters"]
    reported = alert["details"]["first"]
    assert (reported["partition"], reported["offset"]) == (partition, offset)
    assert [reason.split(": ")[0] for reason in reported["error"].split("; ")] == [
        "/customer_email", "/customer_location/latitude", "/customer_name/first_name"]
    assert "is greater than the maximum of 90" in reported["error"]
    assert found_anywhere(es_url, first, last, email, str(latitude)) == 0


def test_a_postgresql_error_quoting_a_row_gives_an_alert_without_the_row(
        stack_env, warehouse) -> None:  # noqa: F811 - fixture
    es_url = stack_env["HOVER_ELASTICSEARCH_URL"]
    name, email = f"Ada-{uuid.uuid4().hex[:8]}", f"ada-{uuid.uuid4().hex[:8]}@example.org"
    failures = []
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("CREATE TABLE scratch_customer (id int PRIMARY KEY, name text,"
                     " email text CHECK (email NOT LIKE '%@example.org'))")
        with pytest.raises(psycopg.errors.CheckViolation) as refused:  # DETAIL: Failing row
            conn.execute("INSERT INTO scratch_customer VALUES (1, %s, %s)", (name, email))
        failures.append(refused.value)
        with pytest.raises(psycopg.errors.InvalidTextRepresentation) as refused:  # COPY context
            with conn.cursor() as cursor, cursor.copy("COPY scratch_customer FROM STDIN") as copy:
                copy.write_row((name, name, email))
        failures.append(refused.value)
    assert all(name in str(exc) for exc in failures)  # PostgreSQL did quote the record

    instance = f"privacy-{uuid.uuid4().hex[:8]}"
    alerts = AlertEmitter.from_environment("spark_sink", labels={"query": instance})
    for exc in failures:  # as the sink reports a failed query
        alerts.emit("query_failed", f"{instance} failed: {exc}", Severity.ERROR, error=exc,
                    details={"query": instance})
    alerts.close()

    stored = stored_alerts(es_url, "query", instance)
    assert len(stored) == 2
    assert {a["error"]["type"] for a in stored} == {"CheckViolation", "InvalidTextRepresentation"}
    assert any("violates check constraint" in a["message"] for a in stored)
    assert any("COPY scratch_customer, line 1" in a["error"]["message"] for a in stored)
    assert found_anywhere(es_url, name, email) == 0
