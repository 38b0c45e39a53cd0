"""End to end on generated data: Gold equals what the generator says it generated, late events
refresh only what they touch, and re-running or replaying changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from oms_pipeline import cli
from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts.gold import GOLD_BY_NAME
from oms_pipeline.io.tables import current_version, read_table, table_exists
from oms_pipeline.live.runner import run_once
from oms_pipeline.sources.factory import FeedConfig, Manifest, generate

AS_OF = dt.date(2025, 3, 1)
SLA = {"Standard": 5, "Express": 1, "Economy": 7}
SETTINGS = PipelineSettings(as_of_date=AS_OF, sla_days=SLA)


@pytest.fixture(scope="module")
def generated(spark: SparkSession, tmp_path_factory) -> tuple[TableLocator, Manifest]:
    root = tmp_path_factory.mktemp("generated")
    loc = TableLocator(lakehouse_root=str(root / "lh"), landing_root=str(root / "landing"))
    manifest = generate(
        loc.landing_root,
        # A batch a day, so a late event touches one day of many; more customer versions (SCD2).
        FeedConfig(
            seed=11,
            orders=150,
            customers=40,
            products=20,
            malformed_rate=0.02,
            step_minutes=24 * 60,
            customer_update_rate=0.05,
        ),
    )
    report = run_once(spark, loc, SETTINGS)
    assert report.full
    return loc, manifest


def test_every_landed_record_is_accounted_for(spark, generated):
    loc, m = generated
    audit = read_table(spark, loc, "ops", "silver_batch_audit")
    for entity in ("orders", "shipments", "inventory", "customers"):
        bronze = read_table(spark, loc, "bronze", entity).count()
        assert bronze == m.lines_written[entity]
        a = (
            audit.where(F.col("entity") == entity)
            .agg(F.sum("rows_in"), F.sum("accepted"), F.sum("quarantined"))
            .first()
        )
        assert a[0] == bronze
        assert a[2] == m.malformed[entity]
        q = (
            read_table(spark, loc, "ops", f"quarantine_{entity}").count()
            if table_exists(spark, loc, "ops", f"quarantine_{entity}")
            else 0
        )
        assert q == m.malformed[entity]
        assert a[1] == m.valid_records[entity] + m.duplicates[entity]


def test_oms_sql_reads_the_gold_views_as_unity_catalog_would(spark, generated, capsys):
    """``oms sql`` registers the local tables and creates the Gold views with the DDL the gold
    refresh job runs on Unity Catalog; the view then agrees with the local read of it."""
    loc, _ = generated
    query = "SELECT CAST(SUM(revenue) AS STRING) AS r, COUNT(*) AS n FROM gold.agg_sales_daily"
    assert cli.main(["sql", "--lakehouse", loc.lakehouse_root, query, "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    sales = read_table(spark, loc, "gold", "agg_sales_daily")
    assert got == {"r": str(sales.agg(F.sum("revenue")).first()[0]), "n": sales.count()}
    assert got["n"] > 0


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM bronze.orders",
        "UPDATE silver.orders SET status = 'X'",
        "INSERT INTO gold.dim_date SELECT * FROM gold.dim_date",
        "WITH d AS (SELECT * FROM gold.dim_date) INSERT INTO gold.dim_date SELECT * FROM d",
        "MERGE INTO gold.dim_date t USING gold.dim_date s ON t.date_key = s.date_key WHEN MATCHED THEN DELETE",
        "TRUNCATE TABLE ops.silver_batch_audit",
        "DROP TABLE gold.fact_order_lines",
        "CREATE TABLE gold.x AS SELECT 1 AS a",
        "OPTIMIZE gold.fact_order_lines",
        "SET spark.sql.ansi.enabled = false",
    ],
)  # fmt: skip
def test_oms_sql_refuses_what_would_change_the_lakehouse(spark, generated, statement, capsys):
    loc, _ = generated
    versions = sorted(Path(loc.lakehouse_root).glob("*/*/_delta_log/*.json"))
    assert cli.main(["sql", "--lakehouse", loc.lakehouse_root, statement]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("Query refused: oms sql only reads the lakehouse") and "Traceback" not in err
    )
    assert sorted(Path(loc.lakehouse_root).glob("*/*/_delta_log/*.json")) == versions


@pytest.mark.parametrize(
    ("statement", "said"),
    [
        ("SHOW TABLES IN gold", "fact_order_lines"),
        ("DESCRIBE gold.dim_date", "date_key"),
        ("EXPLAIN SELECT * FROM gold.agg_sales_daily", "Physical Plan"),
        ("WITH d AS (SELECT COUNT(*) AS n FROM gold.dim_date) SELECT n > 0 AS any FROM d", "true"),
    ],
)
def test_oms_sql_runs_queries_and_read_only_commands(generated, statement, said, capsys):
    loc, _ = generated
    assert cli.main(["sql", "--lakehouse", loc.lakehouse_root, statement, "--limit", "50"]) == 0
    assert said in capsys.readouterr().out


@pytest.mark.parametrize("query", ["SELECT 1/0 AS x", "SELECT CAST('abc' AS INT) AS x", "SELEC x"])
def test_a_query_that_fails_is_refused_with_sparks_message(generated, query, capsys):
    loc, _ = generated
    assert cli.main(["sql", "--lakehouse", loc.lakehouse_root, query]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Query refused: [") and "Traceback" not in err


def test_gold_sales_match_the_manifest(spark, generated):
    loc, m = generated
    expected: dict[tuple, Decimal] = defaultdict(Decimal)
    orders: dict[str, set] = defaultdict(set)
    for line in m.order_lines:
        if line["status"] != "CANCELLED":
            key = (line["order_date"], line["region"], line["segment"], line["category"])
            expected[key] += Decimal(line["net_amount"])
            orders[key].add(line["order_id"])
    rows = read_table(spark, loc, "gold", "agg_sales_daily").where("line_count > 0").collect()
    got = {(str(r.order_date), r.region, r.segment, r.category): r.revenue for r in rows}
    assert got == dict(expected)
    assert {(str(r.order_date), r.region, r.segment, r.category): r.order_count for r in rows} == {
        k: len(v) for k, v in orders.items()
    }


def test_gold_shipments_stock_and_rfm_match_the_manifest(spark, generated):
    loc, m = generated
    fs = {r.shipment_id: r for r in read_table(spark, loc, "gold", "fact_shipments").collect()}
    assert len(fs) == len(m.shipments)
    for s in m.shipments:
        r = fs[s["shipment_id"]]
        assert r.is_late_vs_sla == s["late_vs_sla"]
        assert r.is_delivered == s["delivered"]
        assert r.current_status == s["status"]
        assert r.is_on_time_vs_promise == s["on_time_vs_promise"]
        assert abs(r.ship_lead_days - s["ship_lead_days"]) < 1e-9
    agg = (
        read_table(spark, loc, "gold", "agg_shipment_sla_daily")
        .agg(F.sum("late_vs_sla_count"), F.sum("shipment_count"))
        .first()
    )
    assert agg[0] == sum(s["late_vs_sla"] for s in m.shipments)
    assert agg[1] == len(m.shipments)
    stock = {
        (r.product_id, r.location_id): r.on_hand
        for r in read_table(spark, loc, "gold", "fact_inventory").collect()
    }
    assert stock == {(s["sku"], s["location_id"]): s["on_hand"] for s in m.stock}
    buyers = {line["customer_id"] for line in m.order_lines if line["status"] != "CANCELLED"}
    assert read_table(spark, loc, "gold", "customer_rfm").count() == len(buyers)


def test_late_cancellation_refreshes_only_its_day_and_replay_changes_nothing(spark, generated):
    loc, m = generated
    victim = next(line for line in m.order_lines if line["status"] != "CANCELLED")
    sales = read_table(spark, loc, "gold", "agg_sales_daily")
    day_before = (
        sales.where(F.col("order_date") == victim["order_date"]).agg(F.sum("revenue")).first()[0]
    )
    total_before = sales.agg(F.sum("revenue")).first()[0]

    raw = next(
        json.loads(x)
        for f in sorted(Path(loc.landing("orders")).glob("*.jsonl"))
        for x in f.read_text().splitlines()
        if x.startswith("{") and f'"line_id": "{victim["line_id"]}"' in x and '"CREATED"' in x
    )
    late = raw | {"status": "CANCELLED", "event_ts": "2025-03-01T00:00:00Z"}
    Path(loc.landing("orders"), "late.jsonl").write_text(json.dumps(late) + "\n")
    report = run_once(spark, loc, SETTINGS)
    assert not report.full
    assert report.affected_orders == 1
    sales = read_table(spark, loc, "gold", "agg_sales_daily")
    day_after = (
        sales.where(F.col("order_date") == victim["order_date"]).agg(F.sum("revenue")).first()[0]
    )
    assert day_before - day_after == Decimal(victim["net_amount"])
    assert total_before - sales.agg(F.sum("revenue")).first()[0] == Decimal(victim["net_amount"])

    # Re-run with nothing new, then replay every landed file under a new name: no Gold change.
    gold_tables = (
        "fact_order_lines",
        "agg_sales_daily",
        "fact_shipments",
        "customer_rfm",
        "fact_inventory",
    )
    written = [t for t in gold_tables if not GOLD_BY_NAME[t].view]
    versions = {t: current_version(spark, loc, "gold", t) for t in written}
    snap = {t: sorted(map(tuple, read_table(spark, loc, "gold", t).collect())) for t in gold_tables}
    report = run_once(spark, loc, SETTINGS)
    assert report.affected_orders == 0
    assert {t: current_version(spark, loc, "gold", t) for t in written} == versions
    for entity in ("orders", "shipments", "inventory", "customers"):
        for f in sorted(Path(loc.landing(entity)).glob("*.jsonl")):
            shutil.copy(f, f.with_name("replay-" + f.name))
    run_once(spark, loc, SETTINGS)
    assert {
        t: sorted(map(tuple, read_table(spark, loc, "gold", t).collect())) for t in gold_tables
    } == snap


# Every model measure (live/queries.py measures()) recomputed from the aggregate that summarises
# its fact, or the reason it has no aggregate to reconcile with.
AGGREGATE_EQUIVALENT = {
    "Revenue": ("agg_sales_daily", "SUM(revenue)"),
    "Units": ("agg_sales_daily", "SUM(quantity)"),
    "Profit": ("agg_sales_daily", "SUM(profit)"),
    "Cancelled Lines": ("agg_sales_daily", "SUM(cancelled_line_count)"),
    "Shipments": ("agg_shipment_sla_daily", "SUM(shipment_count)"),
    "On-time % (SLA)": (
        "agg_shipment_sla_daily",
        "1 - SUM(late_vs_sla_count) / SUM(sla_evaluated_count)",
    ),
    "On-time % (promise)": (
        "agg_shipment_sla_daily",
        "1 - SUM(late_vs_promise_count) / SUM(promise_evaluated_count)",
    ),
    "Late Shipments (SLA)": ("agg_shipment_sla_daily", "SUM(late_vs_sla_count)"),
    "Average Lead Time (days)": (
        "agg_shipment_sla_daily",
        "SUM(ship_lead_days_sum) / SUM(ship_lead_days_count)",
    ),
    "Customers": ("customer_rfm", "COUNT(*)"),
}
NOT_ADDITIVE = {
    "Orders": "distinct orders; agg_sales_daily.order_count is per group",
    "Average Order Value": "revenue / distinct orders",
    "P90 Lead Time (days)": "a percentile; recomputed from fact_shipments",
    "Stock On Hand": "fact_inventory has no aggregate",
    "Days of Cover": "fact_inventory has no aggregate",
    "Low-stock Items": "fact_inventory has no aggregate",
    "Stock-outs": "fact_inventory has no aggregate",
    "Average Recency (days)": "customer_rfm has no aggregate",
    "Latest Gold Event": "the latest event over three facts; no aggregate",
}


def test_every_dashboard_measure_reconciles_with_its_aggregate(spark, generated):
    from oms_pipeline.live.queries import measures

    model = measures()
    loc, _ = generated
    assert set(model) == set(AGGREGATE_EQUIVALENT) | set(NOT_ADDITIVE)
    # Shipments whose order is missing are reconciled in test_bad_values and test_exports (the
    # generated data set has none).
    for name, (agg_table, expr) in AGGREGATE_EQUIVALENT.items():
        m = model[name]
        fact_value = read_table(spark, loc, "gold", m.table).agg(F.expr(m.sql)).first()[0]
        agg_value = read_table(spark, loc, "gold", agg_table).agg(F.expr(expr)).first()[0]
        if fact_value is None:
            # No row counts (e.g. no line reports a profit): the measure is blank, as DAX over
            # no rows; the aggregate stores 0 as its contract says (docs/metrics.md).
            fact_value = 0
        if name == "Customers":
            # customer_rfm is itself the measure's table: reconcile it with the order lines.
            lines = read_table(spark, loc, "gold", "fact_order_lines").where(
                ~F.col("is_cancelled") & (F.col("order_date") <= F.lit(AS_OF))
            )
            agg_value = lines.select("customer_id").distinct().count()
        assert agg_value == pytest.approx(fact_value), name


def test_a_dimension_is_rebuilt_only_when_a_change_can_alter_its_members(spark, generated):
    """A new order of a known customer for a known product, as the dimensions hold them,
    rebuilds neither dimension; a new product name and an unknown customer do, and land."""
    loc, _ = generated
    orders = Path(loc.landing("orders"))
    line = json.loads(next(x for x in sorted(orders.glob("*.jsonl"))[0].read_text().splitlines()))
    product = read_table(spark, loc, "gold", "dim_product").where(
        F.col("product_id") == line["sku"]
    )
    known = product.first()
    same = line | {
        "order_id": "DIM-1",
        "line_id": "DIM-1-1",
        "status": "CREATED",
        "product_name": known["product_name"],
        "category": known["category"],
        "sub_category": known["sub_category"],
    }
    (orders / "dim-same.jsonl").write_text(json.dumps(same) + "\n")
    report = run_once(spark, loc, SETTINGS)
    assert report.affected_orders == 1 and report.step_rows["fact_order_lines"] == 1
    # Skipped: their key sets are empty (a step that ran and found nothing to write shows 0).
    assert "dim_product" not in report.step_rows and "dim_customer" not in report.step_rows

    renamed = same | {
        "order_id": "DIM-2",
        "line_id": "DIM-2-1",
        "customer_id": "C-NEW-1",
        "product_name": "Renamed product",
        "event_ts": "2025-12-31T00:00:00Z",  # later than every landed line
    }
    (orders / "dim-new.jsonl").write_text(json.dumps(renamed) + "\n")
    report = run_once(spark, loc, SETTINGS)
    assert report.step_rows["dim_product"] == 1 and report.step_rows["dim_customer"] == 1
    now = read_table(spark, loc, "gold", "dim_product").where(F.col("product_id") == line["sku"])
    assert now.first()["product_name"] == "Renamed product"
    assert now.first()["name_variants"] == known["name_variants"] + 1
    inferred = read_table(spark, loc, "gold", "dim_customer").where("customer_id = 'C-NEW-1'")
    assert [r["is_inferred"] for r in inferred.collect()] == [True]
