"""Gold transformations: star-schema facts and dimensions, BI aggregates. Pure functions.

Every definition here is written out in docs/metrics.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from oms_pipeline.config import PipelineSettings
from oms_pipeline.contracts.gold import gold_table, view_inputs, view_query

UNKNOWN = "Unknown"
MONEY = "decimal(22,4)"


def date_key(col: Column) -> Column:
    return (F.year(col) * 10000 + F.month(col) * 100 + F.dayofmonth(col)).cast("int")


def _days_between(later: Column, earlier: Column) -> Column:
    return (F.unix_seconds(later) - F.unix_seconds(earlier)) / F.lit(86400.0)


def fact_order_lines(lines: DataFrame, customer_versions: DataFrame) -> DataFrame:
    """Order lines with region and segment as of the order time.

    The customer version valid at ``order_ts`` is used; an order placed before the first known
    version takes the earliest version. Region: the order's ship-to region, else the customer's.
    """
    cv = customer_versions.select(
        "customer_id",
        F.col("valid_from").alias("__vf"),
        F.col("region").alias("__c_region"),
        F.col("segment").alias("__c_segment"),
    )
    j = lines.join(cv, "customer_id", "left")
    covers = F.coalesce(F.col("__vf") <= F.col("order_ts"), F.lit(False))
    w = Window.partitionBy("order_id", "line_id").orderBy(
        covers.desc(),
        F.when(covers, F.col("__vf")).desc_nulls_last(),
        F.col("__vf").asc_nulls_last(),
    )
    best = j.withColumn("__rn", F.row_number().over(w)).where("__rn = 1")
    order_date = F.to_date("order_ts")
    return best.select(
        "order_id",
        "line_id",
        date_key(order_date).alias("order_date_key"),
        "customer_id",
        F.col("sku").alias("product_id"),
        "order_ts",
        order_date.alias("order_date"),
        "status",
        (F.col("status") == "CANCELLED").alias("is_cancelled"),
        "quantity",
        "unit_price",
        "discount",
        "net_amount",
        F.col("line_profit").alias("profit"),
        "currency",
        F.coalesce("region", "__c_region", F.lit(UNKNOWN)).alias("region"),
        F.coalesce("__c_segment", F.lit(UNKNOWN)).alias("segment"),
        F.coalesce("category", F.lit(UNKNOWN)).alias("category"),
        "event_ts",
    )


def gold_view(name: str, inputs: Mapping[str, DataFrame]) -> DataFrame:
    """The Gold contract's view ``name`` evaluated over ``inputs`` (Gold table name -> frame of
    that table's rows): its query (``contracts/<name>.sql``) run with each input as a temporary
    view. Raises ValueError naming the view and the missing input."""
    view = gold_table(name)
    missing = [t for t in view_inputs(view) if t not in inputs]
    if missing:
        raise ValueError(f"view gold.{name} reads {', '.join(missing)}; give a frame for each")
    spark = next(iter(inputs.values())).sparkSession
    for table, frame in inputs.items():
        frame.createOrReplaceTempView(f"__gold_view_input_{table}")
    return spark.sql(view_query(view, lambda t: f"__gold_view_input_{t}"))


def order_headers(fact_lines: DataFrame) -> DataFrame:
    """One row per order: order time, customer and region (first line by line_id)."""
    w = Window.partitionBy("order_id").orderBy("line_id")
    return (
        fact_lines.withColumn("__rn", F.row_number().over(w))
        .where("__rn = 1")
        .select("order_id", "order_ts", "customer_id", "region")
    )


def sla_frame(spark: SparkSession, settings: PipelineSettings) -> DataFrame:
    rows = sorted(settings.sla_days.items())
    return spark.createDataFrame(rows, "service_level string, sla_days int")


def fact_shipments(shipments: DataFrame, headers: DataFrame, sla: DataFrame) -> DataFrame:
    j = shipments.join(headers, "order_id", "left").join(sla, "service_level", "left")
    ship_lead = _days_between(F.col("shipped_ts"), F.col("order_ts"))
    delivery_lead = _days_between(F.col("delivered_ts"), F.col("order_ts"))
    delivered_date = F.to_date("delivered_ts")
    return j.select(
        "shipment_id",
        "order_id",
        "customer_id",
        date_key(F.to_date("order_ts")).alias("order_date_key"),
        date_key(F.to_date("shipped_ts")).alias("ship_date_key"),
        date_key(delivered_date).alias("delivery_date_key"),
        "carrier",
        "service_level",
        F.coalesce("region", F.lit(UNKNOWN)).alias("region"),
        "current_status",
        "status_ts",
        "order_ts",
        "shipped_ts",
        "delivered_ts",
        "promised_delivery_date",
        ship_lead.alias("ship_lead_days"),
        delivery_lead.alias("delivery_lead_days"),
        "sla_days",
        F.col("shipped_ts").isNotNull().alias("is_shipped"),
        F.col("delivered_ts").isNotNull().alias("is_delivered"),
        F.when(
            F.col("shipped_ts").isNotNull()
            & F.col("sla_days").isNotNull()
            & F.col("order_ts").isNotNull(),
            ship_lead > F.col("sla_days"),
        ).alias("is_late_vs_sla"),
        F.when(
            F.col("delivered_ts").isNotNull() & F.col("promised_delivery_date").isNotNull(),
            delivered_date <= F.col("promised_delivery_date"),
        ).alias("is_on_time_vs_promise"),
    )


def dim_customer(customer_versions: DataFrame, order_customers: DataFrame) -> DataFrame:
    """Current attributes per customer plus inferred members for ids only seen on orders."""
    w = Window.partitionBy("customer_id").orderBy(F.col("valid_from").desc())
    stats = customer_versions.groupBy("customer_id").agg(
        F.min("valid_from").alias("first_valid_from"),
        F.count("*").cast("int").alias("version_count"),
    )
    current = (
        customer_versions.withColumn("__rn", F.row_number().over(w))
        .where("__rn = 1")
        .join(stats, "customer_id")
        .select(
            "customer_id",
            "customer_name",
            F.coalesce("region", F.lit(UNKNOWN)).alias("region"),
            F.coalesce("segment", F.lit(UNKNOWN)).alias("segment"),
            "country",
            "state",
            "city",
            "first_valid_from",
            F.col("valid_from").alias("updated_ts"),
            "version_count",
            F.lit(False).alias("is_inferred"),
        )
    )
    inferred = (
        order_customers.select("customer_id")
        .distinct()
        .join(current.select("customer_id"), "customer_id", "left_anti")
        .select(
            "customer_id",
            F.lit(None).cast("string").alias("customer_name"),
            F.lit(UNKNOWN).alias("region"),
            F.lit(UNKNOWN).alias("segment"),
            F.lit(None).cast("string").alias("country"),
            F.lit(None).cast("string").alias("state"),
            F.lit(None).cast("string").alias("city"),
            F.lit(None).cast("timestamp").alias("first_valid_from"),
            F.lit(None).cast("timestamp").alias("updated_ts"),
            F.lit(0).alias("version_count"),
            F.lit(True).alias("is_inferred"),
        )
    )
    return current.unionByName(inferred)


def dim_product(lines: DataFrame, stock: DataFrame) -> DataFrame:
    """Latest name / category per product id (ties broken by name, descending)."""
    w = Window.partitionBy("sku").orderBy(
        F.col("event_ts").desc(), F.col("order_ts").desc(), F.col("product_name").desc_nulls_last()
    )
    sold = (
        lines.withColumn("__rn", F.row_number().over(w))
        .withColumn(
            "name_variants", F.size(F.collect_set("product_name").over(Window.partitionBy("sku")))
        )
        .where("__rn = 1")
        .select(
            F.col("sku").alias("product_id"),
            "product_name",
            F.coalesce("category", F.lit(UNKNOWN)).alias("category"),
            F.coalesce("sub_category", F.lit(UNKNOWN)).alias("sub_category"),
            F.col("name_variants").cast("int").alias("name_variants"),
        )
    )
    status = stock.groupBy(F.col("sku").alias("product_id")).agg(
        F.max_by("sku_status", "last_event_ts").alias("sku_status")
    )
    stocked_only = status.select("product_id").join(
        sold.select("product_id"), "product_id", "left_anti"
    )
    all_ids = sold.select("product_id").unionByName(stocked_only)
    return (
        all_ids.join(sold, "product_id", "left")
        .join(status, "product_id", "left")
        .select(
            "product_id",
            "product_name",
            F.coalesce("category", F.lit(UNKNOWN)).alias("category"),
            F.coalesce("sub_category", F.lit(UNKNOWN)).alias("sub_category"),
            F.coalesce("name_variants", F.lit(0)).cast("int").alias("name_variants"),
            "sku_status",
        )
    )


def dim_date(spark: SparkSession, start: dt.date, end: dt.date) -> DataFrame:
    days = F.explode(F.sequence(F.lit(start), F.lit(end))).alias("date")
    d = spark.range(1).select(days)
    return d.select(
        date_key(F.col("date")).alias("date_key"),
        "date",
        F.year("date").alias("year"),
        F.quarter("date").alias("quarter"),
        F.month("date").alias("month"),
        F.date_format("date", "MMMM").alias("month_name"),
        F.date_format("date", "yyyy-MM").alias("year_month"),
        F.dayofmonth("date").alias("day_of_month"),
        (((F.dayofweek("date") + 5) % 7) + 1).alias("day_of_week"),
        F.date_format("date", "EEEE").alias("day_name"),
        F.dayofweek("date").isin(1, 7).alias("is_weekend"),
    )


def fact_inventory(
    stock: DataFrame, fact_lines: DataFrame, as_of: dt.date, settings: PipelineSettings
) -> DataFrame:
    """Stock with days of cover from trailing sales (window ends at the as-of date)."""
    n = settings.trailing_sales_days
    start = as_of - dt.timedelta(days=n - 1)
    sales = (
        fact_lines.where(
            ~F.col("is_cancelled") & F.col("order_date").between(F.lit(start), F.lit(as_of))
        )
        .groupBy("product_id")
        .agg(F.sum("quantity").cast("bigint").alias("trailing_sales_qty"))
    )
    locations = stock.groupBy(F.col("sku").alias("product_id")).agg(
        F.count("*").alias("__n_locations")
    )
    j = (
        stock.withColumnRenamed("sku", "product_id")
        .join(sales, "product_id", "left")
        .join(locations, "product_id", "left")
    )
    qty = F.coalesce(F.col("trailing_sales_qty"), F.lit(0)).cast("bigint")
    avg_daily = qty / F.lit(float(n)) / F.col("__n_locations")
    cover = F.when(avg_daily > 0, F.col("on_hand") / avg_daily)
    return j.select(
        "product_id",
        "location_id",
        F.lit(as_of).alias("as_of_date"),
        "on_hand",
        "sku_status",
        "last_snapshot_ts",
        "last_event_ts",
        qty.alias("trailing_sales_qty"),
        avg_daily.cast("double").alias("avg_daily_sales"),
        cover.cast("double").alias("days_of_cover"),
        (
            (F.col("on_hand") > 0)
            & F.coalesce(cover < F.lit(settings.low_stock_days_of_cover), F.lit(False))
        ).alias("is_low_stock"),
        (F.col("on_hand") <= 0).alias("is_stock_out"),
    )


def _score(col: Column, thresholds: list[tuple[float, int]], default: int) -> Column:
    expr = None
    for bound, score in thresholds:
        cond = col <= bound if thresholds[0][0] < thresholds[-1][0] else col >= bound
        expr = F.when(cond, F.lit(score)) if expr is None else expr.when(cond, F.lit(score))
    assert expr is not None
    return expr.otherwise(F.lit(default))


def customer_rfm(fact_lines: DataFrame, as_of: dt.date) -> DataFrame:
    """RFM per customer with non-cancelled orders on or before the as-of date.

    Scores use fixed thresholds (not quantiles), so a customer's score does not depend on
    other customers and the table can be refreshed per affected customer.
    """
    live = fact_lines.where(~F.col("is_cancelled") & (F.col("order_date") <= F.lit(as_of)))
    agg = live.groupBy("customer_id").agg(
        F.max("order_date").alias("last_order_date"),
        F.count_distinct("order_id").alias("frequency"),
        F.sum("net_amount").cast(MONEY).alias("monetary"),
    )
    recency = F.datediff(F.lit(as_of), F.col("last_order_date"))
    r = _score(recency, [(30, 5), (90, 4), (180, 3), (365, 2)], 1)
    f = _score(F.col("frequency"), [(10, 5), (5, 4), (3, 3), (2, 2)], 1)
    m = _score(F.col("monetary"), [(5000, 5), (2000, 4), (1000, 3), (250, 2)], 1)
    scored = agg.select(
        "customer_id",
        F.lit(as_of).alias("as_of_date"),
        "last_order_date",
        recency.cast("int").alias("recency_days"),
        "frequency",
        "monetary",
        r.alias("r_score"),
        f.alias("f_score"),
        m.alias("m_score"),
    )
    rs, fs = F.col("r_score"), F.col("f_score")
    segment = (
        F.when((rs >= 4) & (fs >= 4), "Champions")
        .when((rs >= 3) & (fs >= 4), "Loyal")
        .when((rs >= 4) & (fs == 1), "New")
        .when(rs >= 3, "Potential")
        .when((rs <= 2) & (fs >= 3), "At Risk")
        .when(rs == 1, "Lost")
        .otherwise("Hibernating")
    )
    return scored.withColumn(
        "rfm_code", F.concat_ws("", "r_score", "f_score", "m_score")
    ).withColumn("rfm_segment", segment)
