"""Dashboard data: the Power BI model's measures, evaluated with Spark over the Gold tables.

Every metric the local dashboards show is one of ``MEASURES`` -- keyed by the measure's name in
``powerbi/OmsLakehouse.SemanticModel`` and written as the Spark SQL aggregate that computes the
same thing over the same Gold table (documented side by side in docs/local-dashboards.md). The
views group these measures by a time bucket or a dimension column, exactly as a Power BI visual
slices a measure.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from oms_pipeline.config import TableLocator
from oms_pipeline.io.tables import read_table, table_exists


@dataclass(frozen=True)
class Measure:
    table: str
    sql: str  # a Spark SQL aggregate over ``table``
    dax: str  # the Power BI definition it mirrors, for the docs and the page's tooltips


NOT_CANCELLED = "NOT is_cancelled"
MEASURES: dict[str, Measure] = {
    "Revenue": Measure(
        "fact_order_lines",
        f"SUM(CASE WHEN {NOT_CANCELLED} THEN net_amount END)",
        "CALCULATE(SUM(fact_order_lines[net_amount]), fact_order_lines[is_cancelled] = FALSE())",
    ),
    "Orders": Measure(
        "fact_order_lines",
        f"COUNT(DISTINCT CASE WHEN {NOT_CANCELLED} THEN order_id END)",
        "CALCULATE(DISTINCTCOUNT(fact_order_lines[order_id]), "
        "fact_order_lines[is_cancelled] = FALSE())",
    ),
    "Units": Measure(
        "fact_order_lines",
        f"SUM(CASE WHEN {NOT_CANCELLED} THEN quantity END)",
        "CALCULATE(SUM(fact_order_lines[quantity]), fact_order_lines[is_cancelled] = FALSE())",
    ),
    "Profit": Measure(
        "fact_order_lines",
        f"SUM(CASE WHEN {NOT_CANCELLED} THEN profit END)",
        "CALCULATE(SUM(fact_order_lines[profit]), fact_order_lines[is_cancelled] = FALSE())",
    ),
    "Average Order Value": Measure(
        "fact_order_lines",
        f"SUM(CASE WHEN {NOT_CANCELLED} THEN net_amount END) / "
        f"NULLIF(COUNT(DISTINCT CASE WHEN {NOT_CANCELLED} THEN order_id END), 0)",
        "DIVIDE([Revenue], [Orders])",
    ),
    "Cancelled Lines": Measure(
        "fact_order_lines",
        "COUNT_IF(is_cancelled)",
        "CALCULATE(COUNTROWS(fact_order_lines), fact_order_lines[is_cancelled] = TRUE())",
    ),
    "Shipments": Measure("fact_shipments", "COUNT(*)", "COUNTROWS(fact_shipments)"),
    "On-time % (SLA)": Measure(
        "fact_shipments",
        "COUNT_IF(is_late_vs_sla = FALSE) / NULLIF(COUNT(is_late_vs_sla), 0)",
        "DIVIDE(CALCULATE(COUNTROWS(fact_shipments), fact_shipments[is_late_vs_sla] = FALSE()), "
        "CALCULATE(COUNTROWS(fact_shipments), NOT ISBLANK(fact_shipments[is_late_vs_sla])))",
    ),
    "On-time % (promise)": Measure(
        "fact_shipments",
        "COUNT_IF(is_on_time_vs_promise = TRUE) / NULLIF(COUNT(is_on_time_vs_promise), 0)",
        "DIVIDE(CALCULATE(COUNTROWS(fact_shipments), "
        "fact_shipments[is_on_time_vs_promise] = TRUE()), CALCULATE(COUNTROWS(fact_shipments), "
        "NOT ISBLANK(fact_shipments[is_on_time_vs_promise])))",
    ),
    "Late Shipments (SLA)": Measure(
        "fact_shipments",
        "COUNT_IF(is_late_vs_sla = TRUE)",
        "CALCULATE(COUNTROWS(fact_shipments), fact_shipments[is_late_vs_sla] = TRUE())",
    ),
    "Average Lead Time (days)": Measure(
        "fact_shipments", "AVG(ship_lead_days)", "AVERAGE(fact_shipments[ship_lead_days])"
    ),
    "P90 Lead Time (days)": Measure(
        "fact_shipments",
        "PERCENTILE(ship_lead_days, 0.9)",
        "PERCENTILEX.INC(FILTER(fact_shipments, NOT ISBLANK(fact_shipments[ship_lead_days])), "
        "fact_shipments[ship_lead_days], 0.9)",
    ),
    "Stock On Hand": Measure("fact_inventory", "SUM(on_hand)", "SUM(fact_inventory[on_hand])"),
    "Days of Cover": Measure(
        "fact_inventory",
        "SUM(on_hand) / NULLIF(SUM(avg_daily_sales), 0)",
        "DIVIDE([Stock On Hand], SUM(fact_inventory[avg_daily_sales]))",
    ),
    "Low-stock Items": Measure(
        "fact_inventory",
        "COUNT_IF(is_low_stock)",
        "CALCULATE(COUNTROWS(fact_inventory), fact_inventory[is_low_stock] = TRUE())",
    ),
    "Stock-outs": Measure(
        "fact_inventory",
        "COUNT_IF(is_stock_out)",
        "CALCULATE(COUNTROWS(fact_inventory), fact_inventory[is_stock_out] = TRUE())",
    ),
    "Customers": Measure(
        "customer_rfm", "COUNT(DISTINCT customer_id)", "DISTINCTCOUNT(customer_rfm[customer_id])"
    ),
}


def _json(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def evaluate(df: DataFrame, measures: list[str], by: list[str] | None = None) -> list[dict]:
    """Rows of ``by`` columns plus one value per measure (named like the Power BI measure)."""
    aggs = [F.expr(MEASURES[m].sql).alias(m) for m in measures]
    out = df.groupBy(*by).agg(*aggs) if by else df.agg(*aggs)
    if by:
        out = out.orderBy(*by)
    return [{k: _json(v) for k, v in r.asDict().items()} for r in out.collect()]


def time_bucket(span: dt.timedelta) -> str:
    """The coarsest-useful bucket so a trend has at most about 100 points."""
    if span <= dt.timedelta(days=4):
        return "hour"
    if span <= dt.timedelta(days=120):
        return "day"
    if span <= dt.timedelta(days=1500):
        return "week"
    return "month"


def _gold(spark: SparkSession, loc: TableLocator, table: str) -> DataFrame | None:
    return (
        read_table(spark, loc, "gold", table) if table_exists(spark, loc, "gold", table) else None
    )


def _kpis(df: DataFrame | None, measures: list[str]) -> dict[str, Any]:
    if df is None:
        return dict.fromkeys(measures)
    return evaluate(df, measures)[0]


def dashboard(spark: SparkSession, loc: TableLocator) -> dict[str, Any]:
    """The four views' data: order trends, shipment SLA, inventory levels, revenue."""
    lines = _gold(spark, loc, "fact_order_lines")
    ships = _gold(spark, loc, "fact_shipments")
    inv = _gold(spark, loc, "fact_inventory")
    rfm = _gold(spark, loc, "customer_rfm")
    products = _gold(spark, loc, "dim_product")

    bucket = "day"
    if lines is not None:
        lo, hi = lines.agg(F.min("order_ts"), F.max("order_ts")).first() or (None, None)
        if lo is not None and hi is not None:
            bucket = time_bucket(hi - lo)
    period = F.date_trunc(bucket, F.col("order_ts")).alias("period")

    orders_view: dict[str, Any] = {
        "kpis": _kpis(lines, ["Orders", "Units", "Average Order Value", "Cancelled Lines"])
    }
    revenue_view: dict[str, Any] = {
        "kpis": _kpis(lines, ["Revenue", "Profit", "Average Order Value"])
    }
    revenue_view["kpis"]["Customers"] = _kpis(rfm, ["Customers"])["Customers"]
    if lines is not None:
        by_period = evaluate(lines.select("*", period), ["Orders", "Units", "Revenue"], ["period"])
        orders_view["trend"] = [
            {"period": r["period"], "Orders": r["Orders"], "Units": r["Units"]} for r in by_period
        ]
        revenue_view["trend"] = [
            {"period": r["period"], "Revenue": r["Revenue"]} for r in by_period
        ]
        revenue_view["by_category"] = evaluate(lines, ["Revenue", "Profit"], ["category"])
        revenue_view["by_region"] = evaluate(lines, ["Revenue"], ["region"])
        orders_view["by_segment"] = evaluate(lines, ["Orders"], ["segment"])
    sla_view: dict[str, Any] = {
        "kpis": _kpis(
            ships,
            [
                "Shipments",
                "On-time % (SLA)",
                "On-time % (promise)",
                "Late Shipments (SLA)",
                "Average Lead Time (days)",
                "P90 Lead Time (days)",
            ],
        )
    }
    if ships is not None:
        sla_view["by_service_level"] = evaluate(
            ships,
            ["Shipments", "On-time % (SLA)", "Late Shipments (SLA)", "P90 Lead Time (days)"],
            ["service_level"],
        )
        sla_view["trend"] = evaluate(
            ships.where(F.col("order_ts").isNotNull()).select("*", period),
            ["On-time % (SLA)", "Shipments"],
            ["period"],
        )
    inv_view: dict[str, Any] = {
        "kpis": _kpis(inv, ["Stock On Hand", "Days of Cover", "Low-stock Items", "Stock-outs"])
    }
    if inv is not None:
        inv_view["by_location"] = evaluate(
            inv, ["Stock On Hand", "Days of Cover", "Stock-outs"], ["location_id"]
        )
        if products is not None:
            with_cat = inv.join(
                products.select("product_id", "category"), "product_id", "left"
            ).fillna({"category": "Unknown"})
            inv_view["by_category"] = evaluate(
                with_cat, ["Stock On Hand", "Days of Cover", "Low-stock Items"], ["category"]
            )
    return {
        "bucket": bucket,
        "views": {
            "orders": orders_view,
            "sla": sla_view,
            "inventory": inv_view,
            "revenue": revenue_view,
        },
        "measures": {k: {"table": m.table, "dax": m.dax} for k, m in MEASURES.items()},
    }


LAYER_TABLES = {
    "bronze": ("orders", "shipments", "inventory", "customers"),
    "silver": ("order_lines", "shipments", "inventory_stock", "customers"),
    "gold": ("fact_order_lines", "fact_shipments", "fact_inventory", "dim_customer"),
    "ops": (
        "quarantine_orders",
        "quarantine_shipments",
        "quarantine_inventory",
        "quarantine_customers",
    ),
}


def layer_counts(spark: SparkSession, loc: TableLocator) -> dict[str, dict[str, int]]:
    """Row counts per table of each layer (Delta answers COUNT(*) from its file statistics)."""
    out: dict[str, dict[str, int]] = {}
    for layer, tables in LAYER_TABLES.items():
        out[layer] = {
            t: read_table(spark, loc, layer, t).count()
            for t in tables
            if table_exists(spark, loc, layer, t)
        }
    return out
