"""Gold refresh: reprocess only the keys and dates touched since the last refresh.

Silver tables carry a change data feed. The refresh reads each feed from the version after the
one it last consumed (kept in ``ops.gold_progress``), derives the affected order ids, dates,
shipments, customers, products and stock keys -- from pre- and post-images, so a row that moved
(e.g. a new order date) clears its old group too -- and MERGEs only those into Gold.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts.gold import GOLD_BY_NAME, GOLD_TABLES
from oms_pipeline.io.tables import (
    current_version,
    merge_scoped,
    overwrite,
    read_changes,
    read_table,
    table_exists,
)
from oms_pipeline.transforms import gold as G

PROGRESS_TABLE = "gold_progress"
SOURCES = ("order_lines", "shipments", "inventory_stock", "customers")


@dataclass
class RefreshReport:
    full: bool
    versions: dict[str, int]
    affected_orders: int = 0
    affected_dates: int = 0
    affected_shipments: int = 0
    affected_customers: int = 0
    affected_products: int = 0


def settings_fingerprint(settings: PipelineSettings, as_of: dt.date) -> str:
    payload = dataclasses.asdict(settings) | {"as_of_date": as_of.isoformat()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _read_progress(spark: SparkSession, loc: TableLocator) -> dict[str, str]:
    if not table_exists(spark, loc, "ops", PROGRESS_TABLE):
        return {}
    return {
        r["source"]: r["value"] for r in read_table(spark, loc, "ops", PROGRESS_TABLE).collect()
    }


def _write_progress(spark: SparkSession, loc: TableLocator, progress: dict[str, str]) -> None:
    df = spark.createDataFrame(sorted(progress.items()), "source string, value string")
    overwrite(df, loc, "ops", PROGRESS_TABLE)


def _silver(spark: SparkSession, loc: TableLocator, table: str) -> DataFrame | None:
    return (
        read_table(spark, loc, "silver", table)
        if table_exists(spark, loc, "silver", table)
        else None
    )


def _changes(
    spark: SparkSession, loc: TableLocator, table: str, last: int | None, full: bool
) -> tuple[DataFrame | None, int]:
    """(changed rows or None if nothing changed, current version). Full: the whole table."""
    if not table_exists(spark, loc, "silver", table):
        return None, -1
    version = current_version(spark, loc, "silver", table)
    if full or last is None:
        return read_table(spark, loc, "silver", table), version
    if version <= last:
        return None, version
    return read_changes(spark, loc, "silver", table, last + 1), version


def _union(*frames: DataFrame) -> DataFrame | None:
    """The union (by column name) of key frames, or None when there are none."""
    out: DataFrame | None = None
    for frame in frames:
        out = frame if out is None else out.unionByName(frame)
    return out


def _conform(df: DataFrame, table: str) -> DataFrame:
    """Select and cast to the Gold contract (column order and types)."""
    t = GOLD_BY_NAME[table]
    return df.select(*[F.col(c.name).cast(c.type).alias(c.name) for c in t.columns])


def _default_as_of(lines: DataFrame | None) -> dt.date:
    if lines is None:
        return dt.date(1970, 1, 1)
    row = lines.agg(F.max(F.to_date("order_ts"))).first()
    return row[0] if row and row[0] else dt.date(1970, 1, 1)


def refresh_gold(
    spark: SparkSession,
    loc: TableLocator,
    settings: PipelineSettings,
    *,
    full_refresh: bool = False,
) -> RefreshReport:
    progress = _read_progress(spark, loc)
    lines_all = _silver(spark, loc, "order_lines")
    as_of = settings.as_of_date or _default_as_of(lines_all)
    fingerprint = settings_fingerprint(settings, as_of)
    full = full_refresh or progress.get("settings") != fingerprint

    def last(name: str) -> int | None:
        v = progress.get(name)
        return int(v) if v is not None else None

    ch: dict[str, DataFrame | None] = {}
    versions: dict[str, int] = {}
    for src in SOURCES:
        ch[src], versions[src] = _changes(spark, loc, src, last(src), full)
    report = RefreshReport(full=full, versions=versions)
    if not full and all(c is None for c in ch.values()):
        return report  # nothing new in silver since the last refresh

    customers_all = _silver(spark, loc, "customers")
    shipments_all = _silver(spark, loc, "shipments")
    stock_all = _silver(spark, loc, "inventory_stock")

    # --- affected keys ---------------------------------------------------------------------
    changed_customer_ids = (
        ch["customers"].select("customer_id").distinct() if ch["customers"] is not None else None
    )
    order_keys = []
    if ch["order_lines"] is not None:
        order_keys.append(ch["order_lines"].select("order_id"))
    if changed_customer_ids is not None and lines_all is not None:
        order_keys.append(
            lines_all.join(changed_customer_ids, "customer_id", "left_semi").select("order_id")
        )
    affected_orders = _union(*order_keys)
    if affected_orders is not None:
        affected_orders = affected_orders.distinct().localCheckpoint()
        report.affected_orders = affected_orders.count()

    # --- fact_order_lines + agg_sales_daily ----------------------------------------------------
    if affected_orders is not None and lines_all is not None:
        old_dates = (
            read_table(spark, loc, "gold", "fact_order_lines")
            .join(affected_orders, "order_id", "left_semi")
            .select("order_date")
            if table_exists(spark, loc, "gold", "fact_order_lines")
            else None
        )
        versions_df = customers_all if customers_all is not None else _empty_customers(spark)
        new_lines = _conform(
            G.fact_order_lines(
                lines_all.join(affected_orders, "order_id", "left_semi"), versions_df
            ),
            "fact_order_lines",
        ).localCheckpoint()
        dates = new_lines.select("order_date")
        if old_dates is not None:
            dates = dates.unionByName(old_dates)
        dates = dates.distinct().localCheckpoint()
        report.affected_dates = dates.count()
        merge_scoped(spark, loc, "gold", "fact_order_lines", new_lines, ["order_id", "line_id"])
        fact = read_table(spark, loc, "gold", "fact_order_lines")
        sales = _conform(
            G.agg_sales_daily(fact.join(dates, "order_date", "left_semi")), "agg_sales_daily"
        )
        merge_scoped(
            spark,
            loc,
            "gold",
            "agg_sales_daily",
            sales,
            list(GOLD_BY_NAME["agg_sales_daily"].primary_key),
            scope=dates,
        )

    fact_all = (
        read_table(spark, loc, "gold", "fact_order_lines")
        if table_exists(spark, loc, "gold", "fact_order_lines")
        else None
    )

    # --- shipments ---------------------------------------------------------------------------
    ship_keys = []
    if ch["shipments"] is not None:
        ship_keys.append(ch["shipments"].select("shipment_id"))
    if affected_orders is not None and shipments_all is not None:
        ship_keys.append(
            shipments_all.join(affected_orders, "order_id", "left_semi").select("shipment_id")
        )
    affected_ships = _union(*ship_keys)
    sla = G.sla_frame(spark, settings)
    if affected_ships is not None and shipments_all is not None and fact_all is not None:
        affected_ships = affected_ships.distinct().localCheckpoint()
        report.affected_shipments = affected_ships.count()
        sla_date, _ = G.sla_date_basis()
        old = (
            read_table(spark, loc, "gold", "fact_shipments")
            .join(affected_ships, "shipment_id", "left_semi")
            .select(sla_date.alias("sla_date"))
            if table_exists(spark, loc, "gold", "fact_shipments")
            else None
        )
        headers = G.order_headers(fact_all)
        new_ships = _conform(
            G.fact_shipments(
                shipments_all.join(affected_ships, "shipment_id", "left_semi"), headers, sla
            ),
            "fact_shipments",
        ).localCheckpoint()
        sdates = new_ships.select(sla_date.alias("sla_date"))
        if old is not None:
            sdates = sdates.unionByName(old)
        sdates = sdates.distinct().localCheckpoint()
        merge_scoped(spark, loc, "gold", "fact_shipments", new_ships, ["shipment_id"])
        fs = read_table(spark, loc, "gold", "fact_shipments")
        in_scope = (
            fs.withColumn("__d", sla_date)
            .join(sdates.withColumnRenamed("sla_date", "__d"), "__d", "left_semi")
            .drop("__d")
        )
        agg = _conform(
            G.agg_shipment_sla_daily(in_scope),
            "agg_shipment_sla_daily",
        )
        merge_scoped(
            spark,
            loc,
            "gold",
            "agg_shipment_sla_daily",
            agg,
            list(GOLD_BY_NAME["agg_shipment_sla_daily"].primary_key),
            scope=sdates,
        )

    # --- dimensions --------------------------------------------------------------------------
    cust_keys = []
    if changed_customer_ids is not None:
        cust_keys.append(changed_customer_ids)
    if affected_orders is not None and fact_all is not None:
        cust_keys.append(
            fact_all.join(affected_orders, "order_id", "left_semi").select("customer_id")
        )
    affected_customers = _union(*cust_keys)
    if affected_customers is not None:
        affected_customers = affected_customers.distinct().localCheckpoint()
        report.affected_customers = affected_customers.count()
        versions_df = customers_all if customers_all is not None else _empty_customers(spark)
        order_customers = (
            fact_all.select("customer_id")
            if fact_all is not None
            else versions_df.select("customer_id")
        )
        dim = _conform(
            G.dim_customer(
                versions_df.join(affected_customers, "customer_id", "left_semi"),
                order_customers.join(affected_customers, "customer_id", "left_semi"),
            ),
            "dim_customer",
        )
        merge_scoped(spark, loc, "gold", "dim_customer", dim, ["customer_id"])

    prod_keys = []
    if ch["order_lines"] is not None:
        prod_keys.append(ch["order_lines"].select(F.col("sku").alias("product_id")))
    if ch["inventory_stock"] is not None:
        prod_keys.append(ch["inventory_stock"].select(F.col("sku").alias("product_id")))
    affected_products = _union(*prod_keys)
    stock_df = stock_all if stock_all is not None else _empty_stock(spark)
    if affected_products is not None:
        affected_products = affected_products.distinct().localCheckpoint()
        report.affected_products = affected_products.count()
        lines_df = lines_all if lines_all is not None else None
        sold = (
            lines_df.join(
                affected_products.withColumnRenamed("product_id", "sku"), "sku", "left_semi"
            )
            if lines_df is not None
            else _empty_lines(spark)
        )
        stocked = stock_df.join(
            affected_products.withColumnRenamed("product_id", "sku"), "sku", "left_semi"
        )
        merge_scoped(
            spark,
            loc,
            "gold",
            "dim_product",
            _conform(G.dim_product(sold, stocked), "dim_product"),
            ["product_id"],
        )

    if ch["inventory_stock"] is not None:
        locs = _conform(ch["inventory_stock"].select("location_id").distinct(), "dim_location")
        merge_scoped(spark, loc, "gold", "dim_location", locs, ["location_id"])

    levels = sla.select("service_level")
    if shipments_all is not None:
        levels = levels.unionByName(shipments_all.select("service_level")).distinct()
    merge_scoped(
        spark,
        loc,
        "gold",
        "dim_service_level",
        _conform(levels.join(sla, "service_level", "left"), "dim_service_level"),
        ["service_level"],
    )

    # --- inventory and RFM (depend on the as-of date) ----------------------------------------
    if stock_all is not None:
        fact_for_cover = fact_all if fact_all is not None else _empty_fact(spark)
        if full:
            inv = G.fact_inventory(stock_all, fact_for_cover, as_of, settings)
            merge_scoped(
                spark,
                loc,
                "gold",
                "fact_inventory",
                _conform(inv, "fact_inventory"),
                ["product_id", "location_id"],
                scope="all",
            )
        elif affected_products is not None and report.affected_products:
            skus = affected_products.withColumnRenamed("product_id", "sku")
            inv = G.fact_inventory(
                stock_all.join(skus, "sku", "left_semi"), fact_for_cover, as_of, settings
            )
            merge_scoped(
                spark,
                loc,
                "gold",
                "fact_inventory",
                _conform(inv, "fact_inventory"),
                ["product_id", "location_id"],
            )

    if fact_all is not None and (full or affected_customers is not None):
        if full:
            rfm = _conform(G.customer_rfm(fact_all, as_of), "customer_rfm")
            merge_scoped(spark, loc, "gold", "customer_rfm", rfm, ["customer_id"], scope="all")
        else:
            assert affected_customers is not None
            src = fact_all.join(affected_customers, "customer_id", "left_semi")
            rfm = _conform(G.customer_rfm(src, as_of), "customer_rfm")
            merge_scoped(
                spark, loc, "gold", "customer_rfm", rfm, ["customer_id"], scope=affected_customers
            )

    _refresh_dim_date(spark, loc)

    new_progress = dict(progress)
    for src, v in versions.items():
        if v >= 0:
            new_progress[src] = str(v)
    new_progress["settings"] = fingerprint
    _write_progress(spark, loc, new_progress)
    return report


def _refresh_dim_date(spark: SparkSession, loc: TableLocator) -> None:
    bounds = []
    if table_exists(spark, loc, "gold", "fact_order_lines"):
        bounds.append(
            read_table(spark, loc, "gold", "fact_order_lines").select(
                F.col("order_date").alias("d")
            )
        )
    if table_exists(spark, loc, "gold", "fact_shipments"):
        fs = read_table(spark, loc, "gold", "fact_shipments")
        # Every date agg_shipment_sla_daily can be dated by (G.sla_date_basis) has a member.
        for c in ("order_ts", "shipped_ts", "delivered_ts", "status_ts", "promised_delivery_date"):
            bounds.append(fs.select(F.to_date(c).alias("d")))
    if not bounds:
        return
    u = bounds[0]
    for b in bounds[1:]:
        u = u.unionByName(b)
    row = u.agg(F.min("d"), F.max("d")).first()
    if not row or row[0] is None:
        return
    dates = _conform(G.dim_date(spark, row[0], row[1]), "dim_date")
    merge_scoped(spark, loc, "gold", "dim_date", dates, ["date_key"])


def _empty(spark: SparkSession, ddl: str) -> DataFrame:
    return spark.createDataFrame([], ddl)


def _empty_customers(spark: SparkSession) -> DataFrame:
    return _empty(
        spark,
        "customer_id string, customer_name string, region string, segment string, "
        "country string, state string, city string, updated_ts timestamp, valid_from timestamp",
    )


def _empty_stock(spark: SparkSession) -> DataFrame:
    return _empty(
        spark,
        "sku string, location_id string, on_hand int, sku_status string, "
        "last_snapshot_ts timestamp, last_event_ts timestamp",
    )


def _empty_lines(spark: SparkSession) -> DataFrame:
    return _empty(
        spark,
        "sku string, product_name string, category string, sub_category string, "
        "event_ts timestamp, order_ts timestamp",
    )


def _empty_fact(spark: SparkSession) -> DataFrame:
    t = GOLD_BY_NAME["fact_order_lines"]
    return _empty(spark, ", ".join(f"{c.name} {c.type}" for c in t.columns))


def gold_table_names() -> list[str]:
    return [t.name for t in GOLD_TABLES]
