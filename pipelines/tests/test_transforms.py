"""Unit tests of the pure transformations on small in-memory frames."""

from __future__ import annotations

import datetime as dt
import json

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from oms_pipeline.config import PipelineSettings
from oms_pipeline.contracts import get_contract
from oms_pipeline.io.tables import scd2_ranges
from oms_pipeline.transforms import gold as G
from oms_pipeline.transforms import silver as S
from oms_pipeline.transforms.bronze import bronze_schema, parse_json_lines
from oms_pipeline.transforms.validate import quarantine_rows, typed_valid, validate

SETTINGS = PipelineSettings()
NOW = dt.datetime(2025, 6, 1)


def _lines(spark: SparkSession, values: list[str]):
    return spark.createDataFrame(
        [(v, "f.jsonl", NOW) for v in values],
        "value string, _source_file string, _landed_at timestamp",
    )


def _bronze(spark, entity, values):
    """Lines as the bronze table holds them: every ``bronze_schema`` column, the event lineage
    null (a landed file's record)."""
    contract = get_contract(entity)
    df = (
        parse_json_lines(_lines(spark, values), contract)
        .withColumn("_ingested_at", F.lit(NOW))
        .withColumn("_batch_id", F.lit(0).cast("bigint"))
    )
    return df.select(
        *[
            F.col(f.name) if f.name in df.columns else F.lit(None).cast(f.dataType).alias(f.name)
            for f in bronze_schema(contract).fields
        ]
    )


ORDER = {
    "order_id": "O1",
    "line_id": "1",
    "customer_id": "C1",
    "sku": "P1",
    "quantity": 2,
    "unit_price": "10.50",
    "discount": "0.1",
    "currency": "USD",
    "status": "CREATED",
    "order_ts": "2025-01-01T10:00:00Z",
    "event_ts": "2025-01-01T10:00:00Z",
}


def test_parse_json_lines_rescues_drift_and_malformed(spark):
    rows = parse_json_lines(
        _lines(spark, [json.dumps(ORDER | {"channel": "web"}), "{broken", "", "[1]"]),
        get_contract("orders"),
    ).collect()
    assert len(rows) == 3  # the blank line is not a record
    assert json.loads(rows[0]["_rescued_data"]) == {"channel": "web"}
    assert rows[0]["quantity"] == "2"  # kept as landed text; silver casts
    assert json.loads(rows[1]["_rescued_data"]) == {"_corrupt_record": "{broken"}
    assert rows[1]["order_id"] is None and rows[2]["order_id"] is None


def test_validate_collects_every_reason(spark):
    bad = ORDER | {
        "quantity": "two",
        "status": "LOST",
        "order_ts": "1999-01-01T00:00:00Z",
        "event_ts": "2031-01-01T00:00:00Z",
        "customer_id": "",
    }
    # Persisted as silver persists it: its valid and quarantined rows are two filters of one
    # validation, and without the cache each filter is optimised into the whole rule tree.
    v = validate(
        _bronze(spark, "orders", [json.dumps(ORDER), json.dumps(bad), "nope"]),
        get_contract("orders"),
        SETTINGS,
    ).persist()
    good = typed_valid(v, get_contract("orders")).collect()
    assert len(good) == 1 and good[0]["quantity"] == 2
    assert str(good[0]["unit_price"]) == "10.5000"
    q = {r["record"]: r["reasons"] for r in quarantine_rows(v, get_contract("orders")).collect()}
    reasons = next(r for r in q.values() if "malformed_record" not in r)
    assert set(reasons) == {
        "missing:customer_id",
        "invalid_type:quantity",
        "unknown_value:status",
        "implausible:order_ts",
        "implausible:event_ts",
    }
    assert ["malformed_record"] in q.values()


def test_validate_flags_wrong_encoding(spark):
    rec = dict(ORDER, product_name="Caf\ufffd")
    v = validate(_bronze(spark, "orders", [json.dumps(rec)]), get_contract("orders"), SETTINGS)
    assert v.first()["_reasons"] == ["invalid_encoding"]


def test_latest_per_key_keeps_newest_event(spark):
    df = spark.createDataFrame(
        [
            ("O1", "1", "CREATED", NOW, NOW),
            ("O1", "1", "CANCELLED", NOW + dt.timedelta(hours=1), NOW),
            ("O1", "2", "CREATED", NOW, NOW),
        ],
        "order_id string, line_id string, status string, event_ts timestamp, _ingested_at timestamp",
    )
    out = {
        (r.order_id, r.line_id): r.status
        for r in S.latest_per_key(df, ["order_id", "line_id"], "event_ts").collect()
    }
    assert out == {("O1", "1"): "CANCELLED", ("O1", "2"): "CREATED"}


def test_net_amount_prefers_source_amount(spark):
    df = spark.createDataFrame(
        [(3, "10.00", "0.2", None), (1, None, None, "7.1234")],
        "quantity int, unit_price string, discount string, line_amount string",
    ).select(
        "quantity",
        F.col("unit_price").cast("decimal(18,4)").alias("unit_price"),
        F.col("discount").cast("decimal(9,4)").alias("discount"),
        F.col("line_amount").cast("decimal(18,4)").alias("line_amount"),
    )
    assert [str(r.net_amount) for r in S.order_lines(df).collect()] == ["24.0000", "7.1234"]


def test_shipment_state_is_order_independent(spark):
    t = lambda h: NOW + dt.timedelta(hours=h)  # noqa: E731
    ev = spark.createDataFrame(
        [
            ("e3", "S1", "O1", "UPS", "Express", "DELIVERED", t(30), None, t(30)),
            ("e1", "S1", "O1", "UPS", "Express", "CREATED", t(0), dt.date(2025, 6, 3), None),
            ("e2", "S1", "O1", "UPS", "Express", "SHIPPED", t(5), None, None),
        ],
        "event_id string, shipment_id string, order_id string, carrier string, service_level string, "
        "status string, status_ts timestamp, promised_delivery_date date, actual_delivery_ts timestamp",
    )
    s = S.shipment_current_state(ev).first()
    assert s.current_status == "DELIVERED" and s.shipped_ts == t(5) and s.delivered_ts == t(30)
    assert s.promised_delivery_date == dt.date(2025, 6, 3) and s.event_count == 3


def test_inventory_on_hand_is_snapshot_plus_later_adjustments(spark):
    t = lambda d: NOW + dt.timedelta(days=d)  # noqa: E731
    ev = spark.createDataFrame(
        [
            ("a", "ADJUSTMENT", "P1", "L1", 5, None, t(0)),
            ("b", "SNAPSHOT", "P1", "L1", 100, "ACTIVE", t(1)),
            ("c", "ADJUSTMENT", "P1", "L1", -30, None, t(2)),
            ("d", "ADJUSTMENT", "P1", "L2", 7, None, t(2)),
            ("e", "SNAPSHOT", "P1", "L1", 90, "DISCONTINUED", t(1) - dt.timedelta(hours=1)),
        ],
        "event_id string, event_type string, sku string, location_id string, quantity int, "
        "sku_status string, event_ts timestamp",
    )
    out = {(r.location_id): (r.on_hand, r.sku_status) for r in S.inventory_stock(ev).collect()}
    assert out == {"L1": (70, "ACTIVE"), "L2": (7, None)}


def test_scd2_ranges(spark):
    v = spark.createDataFrame(
        [
            ("C1", dt.datetime(2025, 3, 1)),
            ("C1", dt.datetime(2025, 1, 1)),
            ("C2", dt.datetime(2025, 2, 1)),
        ],
        "customer_id string, valid_from timestamp",
    )
    customers = get_contract("customers").silver[0]
    out = sorted(tuple(r) for r in scd2_ranges(v, customers).collect())
    assert out == [
        ("C1", dt.datetime(2025, 1, 1), dt.datetime(2025, 3, 1), False),
        ("C1", dt.datetime(2025, 3, 1), None, True),
        ("C2", dt.datetime(2025, 2, 1), None, True),
    ]


def test_fact_lines_use_customer_version_at_order_time(spark):
    lines = spark.createDataFrame(
        [
            (
                "O1",
                "1",
                "C1",
                "P1",
                dt.datetime(2025, 2, 1),
                "CREATED",
                1,
                None,
                "0",
                "5",
                None,
                "USD",
                None,
                "X",
                dt.datetime(2025, 2, 1),
            ),
            (
                "O2",
                "1",
                "C1",
                "P1",
                dt.datetime(2024, 1, 1),
                "CANCELLED",
                1,
                None,
                "0",
                "5",
                None,
                "USD",
                "West",
                None,
                dt.datetime(2025, 2, 1),
            ),
        ],
        "order_id string, line_id string, customer_id string, sku string, order_ts timestamp, status string, "
        "quantity int, unit_price string, discount string, net_amount string, line_profit string, "
        "currency string, region string, category string, event_ts timestamp",
    )
    versions = spark.createDataFrame(
        [
            ("C1", dt.datetime(2025, 1, 1), "East", "Consumer"),
            ("C1", dt.datetime(2025, 3, 1), "South", "Corporate"),
        ],
        "customer_id string, valid_from timestamp, region string, segment string",
    )
    out = {
        r.order_id: (r.region, r.segment, r.category, r.is_cancelled)
        for r in G.fact_order_lines(lines, versions).collect()
    }
    assert out == {
        "O1": ("East", "Consumer", "X", False),
        "O2": ("West", "Consumer", "Unknown", True),
    }


def test_rfm_scores_are_fixed_thresholds(spark):
    fact = spark.createDataFrame(
        [("C1", f"O{i}", dt.date(2025, 5, 30), False, "1000") for i in range(6)]
        + [
            ("C2", "X1", dt.date(2024, 1, 1), False, "10"),
            ("C3", "Y1", dt.date(2025, 5, 1), True, "99"),
        ],
        "customer_id string, order_id string, order_date date, is_cancelled boolean, net_amount string",
    ).withColumn("net_amount", F.col("net_amount").cast("decimal(18,4)"))
    out = {
        r.customer_id: (r.recency_days, r.frequency, r.rfm_code, r.rfm_segment)
        for r in G.customer_rfm(fact, dt.date(2025, 6, 1)).collect()
    }
    assert out == {"C1": (2, 6, "545", "Champions"), "C2": (517, 1, "111", "Lost")}


def test_dim_date(spark):
    rows = G.dim_date(spark, dt.date(2025, 1, 4), dt.date(2025, 1, 6)).collect()
    assert [(r.date_key, r.day_of_week, r.is_weekend) for r in rows] == [
        (20250104, 6, True),
        (20250105, 7, True),
        (20250106, 1, False),
    ]
