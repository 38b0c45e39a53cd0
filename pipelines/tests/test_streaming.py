"""Streaming integration: failure and restart, replays, out-of-order events, schema drift and
malformed files -- every landed record is accounted for."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts import get_contract
from oms_pipeline.io.tables import ensure_table, read_table, table_exists
from oms_pipeline.pipeline import ingest as ingest_mod
from oms_pipeline.pipeline import silver as silver_mod
from oms_pipeline.pipeline.ingest import prepare_tables, process_ingest_batch, run_ingest
from oms_pipeline.pipeline.streams import Trigger
from oms_pipeline.transforms.bronze import bronze_schema
from oms_pipeline.transforms.validate import (
    QUARANTINE_LINEAGE,
    SILVER_LINEAGE,
    quarantine_rows,
    validate,
)

SETTINGS = PipelineSettings()
ONCE = Trigger(available_now=True)


def order(oid: str, line: str, status: str, event_ts: str, **extra) -> dict:
    return {
        "order_id": oid, "line_id": line, "customer_id": "C1", "sku": "P1", "quantity": 1,
        "unit_price": "10.00", "currency": "USD", "status": status,
        "order_ts": "2025-01-01T08:00:00Z", "event_ts": event_ts, **extra,
    }  # fmt: skip


def land(loc: TableLocator, entity: str, name: str, lines: list[str] | bytes) -> Path:
    folder = Path(loc.landing(entity))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(lines, bytes):
        path.write_bytes(lines)
    else:
        path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return path


def ingest(spark: SparkSession, loc: TableLocator, entities: list[str], **options) -> bool:
    """Everything landed so far through bronze and Silver (availableNow)."""
    return run_ingest(spark, loc, SETTINGS, entities, ONCE, **options)


def ingest_events(
    spark: SparkSession, loc: TableLocator, entity: str, events: list[dict], batch_id: int = 0
) -> None:
    """Run one micro-batch of the ingest query on records as the Kafka source reads them: every
    contract field as landed (string), no landing file, the broker's coordinates and timestamp.
    Each event gives its fields plus ``offset`` and ``landed_at`` (the record timestamp)."""
    schema = bronze_schema(get_contract(entity))
    rows = []
    for e in events:
        fields = {k: None if v is None else str(v) for k, v in e.items()}
        offset, landed_at = int(fields.pop("offset")), e["landed_at"]
        del fields["landed_at"]
        rows.append(
            {
                **dict.fromkeys(schema.names),
                **fields,
                "_landed_at": landed_at,
                "_kafka_topic": f"oms.{entity}",
                "_kafka_partition": 0,
                "_kafka_offset": offset,
                "_kafka_timestamp": landed_at,
            }
        )
    batch = spark.createDataFrame(rows, schema).drop("_ingested_at", "_batch_id")
    prepare_tables(spark, loc, [entity])
    batch = batch.withColumn(ingest_mod.ENTITY_COLUMN, F.lit(entity))
    process_ingest_batch(spark, loc, SETTINGS, batch, batch_id, "e" * 32)


def snapshot(spark: SparkSession, loc: TableLocator, layer: str, table: str) -> list[tuple]:
    df = read_table(spark, loc, layer, table)
    cols = [c for c in df.columns if c not in SILVER_LINEAGE]
    return sorted(tuple(r) for r in df.select(*cols).collect())


def counts(spark: SparkSession, loc: TableLocator, entity: str) -> tuple[int, int, int, int]:
    bronze = read_table(spark, loc, "bronze", entity).count()
    audit = read_table(spark, loc, "ops", "silver_batch_audit").where(F.col("entity") == entity)
    a = audit.agg(F.sum("rows_in"), F.sum("accepted"), F.sum("quarantined")).first()
    q = (
        read_table(spark, loc, "ops", f"quarantine_{entity}").count()
        if table_exists(spark, loc, "ops", f"quarantine_{entity}")
        else 0
    )
    assert a[0] == a[1] + a[2]
    return bronze, int(a[0]), int(a[1]), q


class Boom(RuntimeError):
    pass


def test_bronze_and_silver_survive_a_failure_mid_stream(spark, loc, monkeypatch):
    for i in range(3):
        land(
            loc,
            "orders",
            f"o{i}.jsonl",
            [
                json.dumps(order(f"O{i}", str(k), "CREATED", "2025-01-01T08:00:00Z"))
                for k in range(4)
            ],
        )
    real_append = ingest_mod.append
    bronze_appends = {"n": 0}

    def failing_append(df, loc_, layer, *a, **kw):
        real_append(df, loc_, layer, *a, **kw)  # the write commits, then the batch "crashes"
        if layer == "bronze":
            bronze_appends["n"] += 1
            if bronze_appends["n"] == 2:
                raise Boom("after the bronze append")

    # The second micro-batch crashes after its bronze append, before Silver.
    monkeypatch.setattr(ingest_mod, "append", failing_append)
    with pytest.raises(Exception, match=r"Boom|after the bronze append"):
        ingest(spark, loc, ["orders"], max_files_per_trigger=1)
    monkeypatch.setattr(ingest_mod, "append", real_append)
    assert read_table(spark, loc, "bronze", "orders").count() == 8
    assert read_table(spark, loc, "silver", "order_lines").count() == 4

    # Its replay crashes again, after the Silver MERGE and before the audit.
    real_merge = silver_mod.MERGERS["orders"]
    merges = {"n": 0}

    def failing_merge(*a, **kw):
        n = real_merge(*a, **kw)
        merges["n"] += 1
        if merges["n"] == 1:
            raise Boom("after merge")
        return n

    monkeypatch.setitem(silver_mod.MERGERS, "orders", failing_merge)
    with pytest.raises(Exception, match=r"Boom|after merge"):
        ingest(spark, loc, ["orders"], max_files_per_trigger=1)
    monkeypatch.setitem(silver_mod.MERGERS, "orders", real_merge)
    ingest(spark, loc, ["orders"], max_files_per_trigger=1)
    bronze = read_table(spark, loc, "bronze", "orders")
    # The replayed batches were skipped by Delta's idempotent writes: no loss, no duplicate.
    assert bronze.count() == 12
    assert bronze.select("order_id", "line_id").distinct().count() == 12
    assert read_table(spark, loc, "silver", "order_lines").count() == 12
    b, rows_in, accepted, q = counts(spark, loc, "orders")
    assert (b, rows_in, accepted, q) == (12, 12, 12, 0)


def test_replay_and_out_of_order_events_never_overwrite_newer_state(spark, loc):
    land(loc, "orders", "a.jsonl", [
        json.dumps(order("O1", "1", "CANCELLED", "2025-01-01T10:00:00Z")),
        json.dumps(order("O2", "1", "CREATED", "2025-01-01T08:00:00Z")),
        json.dumps(order("O2", "1", "CONFIRMED", "2025-01-01T09:00:00Z")),  # same batch: latest wins
        json.dumps(order("O2", "1", "CONFIRMED", "2025-01-01T09:00:00Z")),  # exact duplicate
    ])  # fmt: skip
    land(
        loc,
        "customers",
        "a.jsonl",
        [
            json.dumps(
                {
                    "customer_id": "C1",
                    "region": "West",
                    "segment": "Corporate",
                    "updated_ts": "2025-02-01T00:00:00Z",
                }
            )
        ],
    )
    ingest(spark, loc, ["orders", "customers"])
    # A later file brings older (late) events.
    land(
        loc, "orders", "b.jsonl", [json.dumps(order("O1", "1", "CREATED", "2025-01-01T08:00:00Z"))]
    )
    land(
        loc,
        "customers",
        "b.jsonl",
        [
            json.dumps(
                {
                    "customer_id": "C1",
                    "region": "East",
                    "segment": "Consumer",
                    "updated_ts": "2025-01-01T00:00:00Z",
                }
            )
        ],
    )
    ingest(spark, loc, ["orders", "customers"])
    lines = {
        (r.order_id): r.status for r in read_table(spark, loc, "silver", "order_lines").collect()
    }
    assert lines == {"O1": "CANCELLED", "O2": "CONFIRMED"}
    cust = sorted(
        (str(r.valid_from), str(r.valid_to), r.is_current, r.region)
        for r in read_table(spark, loc, "silver", "customers").collect()
    )
    assert cust == [
        ("2025-01-01 00:00:00", "2025-02-01 00:00:00", False, "East"),
        ("2025-02-01 00:00:00", "None", True, "West"),
    ]
    before = {t: snapshot(spark, loc, "silver", t) for t in ("order_lines", "customers")}
    # Replay: the same files dropped again under new names, and the pipeline re-run.
    for entity in ("orders", "customers"):
        for f in sorted(Path(loc.landing(entity)).glob("*.jsonl")):
            shutil.copy(f, f.with_name("replay-" + f.name))
    ingest(spark, loc, ["orders", "customers"])
    after = {t: snapshot(spark, loc, "silver", t) for t in ("order_lines", "customers")}
    assert after == before
    b, rows_in, accepted, q = counts(spark, loc, "orders")
    assert b == rows_in == accepted == 10 and q == 0


def test_drift_and_malformed_files_are_all_accounted(spark, loc):
    good = [json.dumps(order(f"O{i}", "1", "CREATED", "2025-01-01T08:00:00Z")) for i in range(3)]
    land(loc, "orders", "good.jsonl", good)
    land(loc, "orders", "drift.jsonl", [
        json.dumps(order("D1", "1", "CREATED", "2025-01-01T08:00:00Z", channel="web", gift=True)),
        json.dumps(order("D2", "1", "CREATED", "2025-01-01T08:00:00Z", quantity="three")),
        json.dumps(order("D3", "1", "CREATED", "2025-01-01T08:00:00Z", quantity=2.5)),
    ])  # fmt: skip
    land(
        loc,
        "orders",
        "broken.jsonl",
        ['{"order_id": "X1", "line_id":', "not json at all", good[0][:25]],
    )
    land(loc, "orders", "empty.jsonl", [])
    land(loc, "orders", "blank-lines.jsonl", ["", "   ", good[1]])
    land(
        loc,
        "orders",
        "latin1.jsonl",
        (
            json.dumps(
                order("L1", "1", "CREATED", "2025-01-01T08:00:00Z", product_name="Café"),
                ensure_ascii=False,
            )
            + "\n"
        ).encode("latin-1"),
    )
    land(loc, "orders", "utf16.jsonl", (good[2] + "\n").encode("utf-16"))
    ingest(spark, loc, ["orders"])

    b, rows_in, accepted, q = counts(spark, loc, "orders")
    assert b == rows_in and rows_in == accepted + q
    bronze = read_table(spark, loc, "bronze", "orders")
    drift = bronze.where(F.col("order_id") == "D1").first()
    assert json.loads(drift["_rescued_data"]) == {"channel": "web", "gift": "true"}
    assert drift["_source_file"].endswith("drift.jsonl")
    assert bronze.where(F.col("_source_file").endswith("empty.jsonl")).count() == 0

    quarantine = read_table(spark, loc, "ops", "quarantine_orders")
    by_file: dict[str, list[list[str]]] = {}
    for r in quarantine.collect():
        assert r["_batch_id"] is not None and r["reasons"]
        by_file.setdefault(r["_source_file"].rsplit("/", 1)[-1], []).append(r["reasons"])
    assert sorted(by_file["drift.jsonl"]) == [["invalid_type:quantity"], ["invalid_type:quantity"]]
    assert by_file["broken.jsonl"] == [["malformed_record"]] * 3
    assert by_file["latin1.jsonl"] == [["invalid_encoding"]]
    assert all(r == ["malformed_record"] for r in by_file["utf16.jsonl"])
    # good (3) + D1 + the good line among blank lines; duplicates of O1/O2 keys merge.
    silver = {r.order_id for r in read_table(spark, loc, "silver", "order_lines").collect()}
    assert silver == {"O0", "O1", "O2", "D1"}
    assert accepted == 5


def test_a_quarantined_event_keeps_its_broker_coordinates(spark, loc):
    """A bad event is quarantined with its topic, partition and offset, also into a quarantine
    table created before those columns existed (it gains them; older rows read NULL)."""
    contract = get_contract("orders")
    empty = spark.createDataFrame([], bronze_schema(contract))
    layout = quarantine_rows(validate(empty, contract, SETTINGS), contract).schema
    new = set(QUARANTINE_LINEAGE) - {"_source_file", "_batch_id", "_ingested_at"}
    legacy = type(layout)([f for f in layout.fields if f.name not in new])
    ensure_table(spark, loc, "ops", "quarantine_orders", legacy)
    at = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
    good = order("O1", "1", "CREATED", "2025-01-01T08:00:00Z")
    bad = {**order("O2", "1", "CREATED", "2025-01-01T08:00:00Z"), "quantity": "many"}
    ingest_events(
        spark,
        loc,
        "orders",
        [{**good, "offset": 6, "landed_at": at}, {**bad, "offset": 7, "landed_at": at}],
    )
    (row,) = read_table(spark, loc, "ops", "quarantine_orders").collect()
    assert (row["_kafka_topic"], row["_kafka_partition"], row["_kafka_offset"]) == (
        "oms.orders",
        0,
        7,
    )
    assert row["_source_file"] is None and row["_landed_at"].replace(tzinfo=dt.UTC) == at
    assert list(row["reasons"]) == ["invalid_type:quantity"]
    (line,) = read_table(spark, loc, "silver", "order_lines").collect()
    assert line["order_id"] == "O1" and line["_landed_at"].replace(tzinfo=dt.UTC) == at
