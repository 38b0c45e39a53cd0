"""One record's value never stops or bends the pipeline: every value that cannot be represented,
is of the wrong shape or sign, or disagrees with its price is quarantined with a reason, and the
rest of its batch goes on. Gold aggregates reconcile with the facts they summarise."""

from __future__ import annotations

import datetime as dt
import json

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from oms_pipeline.config import PipelineSettings
from oms_pipeline.contracts import get_contract
from oms_pipeline.contracts.gold import GOLD_BY_NAME
from oms_pipeline.io.tables import read_table
from oms_pipeline.pipeline.ingest import run_ingest
from oms_pipeline.pipeline.streams import Trigger
from oms_pipeline.transforms import gold as G
from oms_pipeline.transforms.bronze import parse_json_lines
from oms_pipeline.transforms.validate import validate

from .test_streaming import counts, land

SETTINGS = PipelineSettings()
NOW = dt.datetime(2025, 6, 1)
ONCE = Trigger(available_now=True)

ORDER = {
    "order_id": "O1", "line_id": "1", "customer_id": "C1", "sku": "P1", "quantity": 2,
    "unit_price": "10.00", "currency": "USD", "status": "CREATED",
    "order_ts": "2025-01-01T10:00:00Z", "event_ts": "2025-01-01T10:00:00Z",
}  # fmt: skip
# The barcode typed into the price field: fits decimal(18,4) alone, but 100 x it does not.
BARCODE_LINE = ORDER | {"line_id": "2", "unit_price": "4006381333931", "quantity": 100}


def _reasons(spark: SparkSession, entity: str, records: list[dict | str]) -> list[list[str]]:
    """Validation reasons per landed line, in landing order ([] = accepted)."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    df = spark.createDataFrame(
        [(v, f"{i:04d}", NOW) for i, v in enumerate(lines)],
        "value string, _source_file string, _landed_at timestamp",
    )
    contract = get_contract(entity)
    bronze = (
        parse_json_lines(df, contract)
        .withColumn("_ingested_at", F.lit(NOW))
        .withColumn("_batch_id", F.lit(0).cast("bigint"))
    )
    validated = validate(bronze, contract, SETTINGS).select("_source_file", "_reasons")
    rows = validated.orderBy("_source_file").collect()
    return [sorted(r["_reasons"]) for r in rows]


# --- 1. one value never stops a stream ------------------------------------------------------


def test_decimal_precision_is_out_of_range_not_a_failed_cast(spark):
    assert _reasons(
        spark,
        "orders",
        [
            ORDER,
            BARCODE_LINE,
            ORDER | {"unit_price": "123456789012345.5"},  # 15 integer digits > decimal(18,4)
            ORDER | {"unit_price": "10.00005"},  # 5 decimal places: try_cast would round
            ORDER | {"discount": "0.12345"},
            ORDER | {"line_amount": "1e20"},
            ORDER | {"unit_price": "ten"},
        ],
    ) == [
        [],
        ["out_of_range:line_amount"],
        ["out_of_range:unit_price"],
        ["out_of_range:unit_price"],
        ["out_of_range:discount"],
        ["out_of_range:line_amount"],
        ["invalid_type:unit_price"],
    ]


def test_integer_overflow_is_out_of_range(spark):
    assert _reasons(
        spark,
        "orders",
        [ORDER | {"quantity": "99999999999"}, ORDER | {"quantity": "2.5"}],
    ) == [["out_of_range:quantity"], ["invalid_type:quantity"]]
    inv = {
        "event_id": "E1", "event_type": "ADJUSTMENT", "sku": "P1", "location_id": "L1",
        "quantity": "3000000000", "event_ts": "2025-01-01T10:00:00Z",
    }  # fmt: skip
    assert _reasons(spark, "inventory", [inv]) == [["out_of_range:quantity"]]


def test_dates_and_timestamps_must_be_complete_iso_values_in_range(spark):
    ship = {
        "event_id": "E1", "shipment_id": "S1", "order_id": "O1", "carrier": "UPS",
        "service_level": "Standard", "status": "SHIPPED", "status_ts": "2025-01-01T10:00:00Z",
    }  # fmt: skip
    assert _reasons(
        spark,
        "shipments",
        [
            ship,
            ship | {"status_ts": "2025"},  # Spark would read 2025-01-01
            ship | {"status_ts": "10000-01-01T00:00:00Z"},
            ship | {"status_ts": "0001-01-01T00:00:00Z"},
            ship | {"promised_delivery_date": "9999-12-31"},
            ship | {"promised_delivery_date": "2025-3-1"},
            ship | {"actual_delivery_ts": "2025-01-02 10:00:00+01:00", "status": "DELIVERED"},
        ],
    ) == [
        [],
        ["invalid_type:status_ts"],
        ["invalid_type:status_ts"],
        ["implausible:status_ts"],
        ["implausible:promised_delivery_date"],
        ["invalid_type:promised_delivery_date"],
        [],
    ]


def test_divisions_have_no_zero_denominator(spark):
    """Rates and days of cover with nothing to divide by are null, not a failed refresh."""
    sla = spark.createDataFrame([("Standard", 5)], "service_level string, sla_days int")
    ships = spark.createDataFrame(
        [("S1", "O1", "UPS", "Standard", "CREATED", dt.datetime(2025, 1, 2), None, None, None)],
        "shipment_id string, order_id string, carrier string, service_level string, "
        "current_status string, status_ts timestamp, shipped_ts timestamp, "
        "delivered_ts timestamp, promised_delivery_date date",
    )
    headers = spark.createDataFrame(
        [], "order_id string, order_ts timestamp, customer_id string, region string"
    )
    fact = G.fact_shipments(ships, headers, sla)
    agg = G.gold_view("agg_shipment_sla_daily", {"fact_shipments": fact}).first()
    assert agg["on_time_vs_sla_rate"] is None and agg["on_time_vs_promise_rate"] is None
    stock = spark.createDataFrame(
        [("P1", "L1", 5, "ACTIVE", None, dt.datetime(2025, 1, 1))],
        "sku string, location_id string, on_hand int, sku_status string, "
        "last_snapshot_ts timestamp, last_event_ts timestamp",
    )
    lines = spark.createDataFrame(
        [], "product_id string, quantity int, is_cancelled boolean, order_date date"
    )
    inv = G.fact_inventory(stock, lines, dt.date(2025, 1, 31), SETTINGS).first()
    assert inv["days_of_cover"] is None and not inv["is_low_stock"]


def test_stock_on_hand_summed_beyond_int_range_does_not_overflow(spark):
    """Adjustments each within the contract's range can add up beyond a 32-bit int."""
    from oms_pipeline.transforms.silver import inventory_stock

    big = get_contract("inventory").field("quantity").max_value
    n = 2_200  # 2,200 x 1,000,000 > 2**31 - 1
    events = spark.createDataFrame(
        [
            (f"E{i}", "ADJUSTMENT", "P1", "L1", big, None, dt.datetime(2025, 1, 1, 0, 0, i % 60))
            for i in range(n)
        ],
        "event_id string, event_type string, sku string, location_id string, quantity int, "
        "sku_status string, event_ts timestamp",
    )
    row = inventory_stock(events).first()
    assert row["on_hand"] == n * big > 2**31 - 1


def test_a_value_that_cannot_be_represented_is_quarantined_and_the_stream_goes_on(spark, loc):
    land(loc, "orders", "a.jsonl", [json.dumps(ORDER), json.dumps(BARCODE_LINE)])
    run_ingest(spark, loc, SETTINGS, ["orders"], ONCE)
    q = read_table(spark, loc, "ops", "quarantine_orders").collect()
    assert [list(r["reasons"]) for r in q] == [["out_of_range:line_amount"]]
    assert json.loads(q[0]["record"])["unit_price"] == "4006381333931"
    # The stream goes on: the next file's line merges (a failed batch would be retried for ever).
    land(loc, "orders", "b.jsonl", [json.dumps(ORDER | {"line_id": "3"})])
    run_ingest(spark, loc, SETTINGS, ["orders"], ONCE)
    lines = read_table(spark, loc, "silver", "order_lines")
    assert sorted(r["line_id"] for r in lines.collect()) == ["1", "3"]
    assert counts(spark, loc, "orders") == (3, 3, 2, 1)


# --- 11. a value of the wrong shape or sign --------------------------------------------------


def test_objects_and_arrays_where_a_scalar_is_declared_are_invalid_type(spark):
    customer = {
        "customer_id": "C1", "region": "West", "segment": "Consumer",
        "updated_ts": "2025-01-01T10:00:00Z",
    }  # fmt: skip
    assert _reasons(
        spark,
        "orders",
        [
            ORDER | {"customer_id": {"id": "C00001"}, "sku": ["P0001", "P0002"]},
            ORDER | {"quantity": [2]},
            # Text that merely looks like JSON is a string like any other.
            ORDER | {"product_name": "[Refurb] Lamp {v2}", "category": '{"a":1}'},
        ],
    ) == [["invalid_type:customer_id", "invalid_type:sku"], ["invalid_type:quantity"], []]
    assert _reasons(
        spark, "customers", [customer | {"segment": {"name": "Consumer"}}, customer | {"city": []}]
    ) == [["invalid_type:segment"], ["invalid_type:city"]]


def test_amounts_are_checked_for_sign_and_against_the_price(spark):
    """Tolerance: max(0.01, 1 % of quantity x unit_price x (1 - discount))."""
    assert _reasons(
        spark,
        "orders",
        [
            ORDER | {"line_amount": "-500.00"},  # a CREATED sale of 2 x 10.00
            ORDER | {"line_amount": "500.00"},
            ORDER | {"line_amount": "20.19"},  # 0.95 % off: within tolerance
            ORDER | {"line_amount": "20.21"},  # 1.05 % off
            ORDER | {"line_amount": "18.00", "discount": "0.1"},
            ORDER | {"unit_price": None, "line_amount": "18.00"},  # nothing to compare with
            ORDER | {"line_amount": "-1", "unit_price": None},
        ],
    ) == [
        ["out_of_range:line_amount"],
        ["inconsistent:line_amount"],
        [],
        ["inconsistent:line_amount"],
        [],
        [],
        ["out_of_range:line_amount"],
    ]


def test_a_line_that_is_not_exactly_one_json_object_is_malformed(spark):
    one, two = json.dumps(ORDER), json.dumps(ORDER | {"line_id": "2"})
    assert _reasons(
        spark,
        "orders",
        [one + two, one + " " + two, one + "}", one + "] [1", one + " trailing", one + "  "],
    ) == [["malformed_record"]] * 5 + [[]]


# --- 9. every Gold aggregate reconciles with its fact ---------------------------------------


def _shipments(spark):
    sla = spark.createDataFrame([("Standard", 2)], "service_level string, sla_days int")
    t = dt.datetime
    rows = [
        # shipment, order, status, status_ts, shipped, delivered, promised
        ("S1", "O1", "DELIVERED", t(2025, 1, 5), t(2025, 1, 2), t(2025, 1, 5), dt.date(2025, 1, 4)),
        ("S2", "O2", "DELIVERED", t(2025, 1, 4), t(2025, 1, 2), t(2025, 1, 4), dt.date(2025, 1, 6)),
        # orders missing (quarantined): still shipments, still evaluated against the promise
        ("S3", "O3", "DELIVERED", t(2025, 1, 9), t(2025, 1, 3), t(2025, 1, 9), dt.date(2025, 1, 6)),
        ("S4", "O4", "SHIPPED", t(2025, 1, 3), t(2025, 1, 3), None, None),
        ("S5", "O5", "CREATED", t(2025, 1, 7), None, None, None),
    ]
    ships = spark.createDataFrame(
        [(s, o, "UPS", "Standard", st, ts, sh, de, pr) for s, o, st, ts, sh, de, pr in rows],
        "shipment_id string, order_id string, carrier string, service_level string, "
        "current_status string, status_ts timestamp, shipped_ts timestamp, "
        "delivered_ts timestamp, promised_delivery_date date",
    )
    headers = spark.createDataFrame(
        [("O1", t(2025, 1, 1), "C1", "West"), ("O2", t(2025, 1, 1), "C2", "East")],
        "order_id string, order_ts timestamp, customer_id string, region string",
    )
    return G.fact_shipments(ships, headers, sla)


# measure in the aggregate -> the same measure over fact_shipments
SLA_RECONCILIATION = {
    "shipment_count": "COUNT(*)",
    "shipped_count": "COUNT_IF(is_shipped)",
    "delivered_count": "COUNT_IF(is_delivered)",
    "sla_evaluated_count": "COUNT(is_late_vs_sla)",
    "late_vs_sla_count": "COUNT_IF(is_late_vs_sla)",
    "promise_evaluated_count": "COUNT(is_on_time_vs_promise)",
    "late_vs_promise_count": "COUNT_IF(NOT is_on_time_vs_promise)",
    "ship_lead_days_sum": "COALESCE(SUM(ship_lead_days), 0)",
    "ship_lead_days_count": "COUNT(ship_lead_days)",
}


def test_shipment_sla_aggregate_keeps_shipments_whose_order_is_missing(spark):
    fact = _shipments(spark)
    agg = G.gold_view("agg_shipment_sla_daily", {"fact_shipments": fact})
    totals = agg.agg(*[F.sum(c).alias(c) for c in SLA_RECONCILIATION]).first().asDict()
    assert (
        totals
        == fact.agg(*[F.expr(e).alias(c) for c, e in SLA_RECONCILIATION.items()]).first().asDict()
    )
    assert totals["shipment_count"] == 5 and totals["late_vs_promise_count"] == 2
    # Undated orders land where their own milestones put them, named by date_basis.
    by_date = agg.groupBy("sla_date", "date_basis").agg(F.sum("shipment_count"))
    assert {(r[0], r[1]): r[2] for r in by_date.collect()} == {
        (dt.date(2025, 1, 1), "order"): 2,
        (dt.date(2025, 1, 6), "promise"): 1,
        (dt.date(2025, 1, 3), "shipped"): 1,
        (dt.date(2025, 1, 7), "status"): 1,
    }
    assert set(GOLD_BY_NAME["agg_shipment_sla_daily"].primary_key) >= {"sla_date", "date_basis"}


def test_sales_aggregate_reconciles_with_order_lines(spark):
    lines = (
        spark.createDataFrame(
            [
                (
                    "O1",
                    "1",
                    dt.date(2025, 1, 1),
                    "West",
                    "Consumer",
                    "Tech",
                    False,
                    2,
                    "20.00",
                    "5.00",
                ),
                ("O1", "2", dt.date(2025, 1, 1), "West", "Consumer", "Toys", True, 1, "9.99", None),
                (
                    "O2",
                    "1",
                    dt.date(2025, 1, 2),
                    "Unknown",
                    "Unknown",
                    "Unknown",
                    False,
                    3,
                    "30.0",
                    "-1",
                ),
            ],
            "order_id string, line_id string, order_date date, region string, segment string, "
            "category string, is_cancelled boolean, quantity int, net_amount string, profit string",
        )
        .withColumn("net_amount", F.col("net_amount").cast("decimal(18,4)"))
        .withColumn("profit", F.col("profit").cast("decimal(18,4)"))
    )
    agg = G.gold_view("agg_sales_daily", {"fact_order_lines": lines}).agg(
        F.sum("revenue"), F.sum("quantity"), F.sum("profit"), F.sum("line_count"),
        F.sum("cancelled_line_count"), F.sum("cancelled_amount"),
    ).first()  # fmt: skip
    live = lines.where(~F.col("is_cancelled"))
    fact = live.agg(F.sum("net_amount"), F.sum("quantity"), F.sum("profit"), F.count("*")).first()
    dead = lines.where("is_cancelled").agg(F.count("*"), F.sum("net_amount")).first()
    assert list(agg) == [*fact, *dead]
