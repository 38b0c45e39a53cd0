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
    return evaluate_sets(df, measures, {"rows": by or []})["rows"]


def evaluate_sets(
    df: DataFrame, measures: list[str], sets: dict[str, list[str]]
) -> dict[str, list[dict]]:
    """Several slicings of the same measures in one Spark job (GROUP BY GROUPING SETS).

    ``sets`` maps a result name to its grouping columns (``[]``: the grand total). Each result
    is a list of rows with those columns and one value per measure, ordered by the columns.
    """
    cols = sorted({c for group in sets.values() for c in group})
    aggs = [F.expr(MEASURES[m].sql).alias(m) for m in measures]
    if cols:
        gid = F.grouping_id().alias("_gid")
        rows = (
            df.groupingSets([[F.col(c) for c in g] for g in sets.values()], *cols)
            .agg(gid, *aggs)
            .collect()
        )
    else:
        rows = [r.asDict() | {"_gid": 0} for r in df.agg(*aggs).collect()]  # type: ignore[misc]

    def gid_of(group: list[str]) -> int:
        # grouping_id(): one bit per grouping column, set when the column is NOT grouped.
        return sum(1 << (len(cols) - 1 - i) for i, c in enumerate(cols) if c not in group)

    out: dict[str, list[dict]] = {}
    for name, group in sets.items():
        want = gid_of(group)
        picked = []
        for r in rows:
            d = r if isinstance(r, dict) else r.asDict()
            if d["_gid"] == want:
                picked.append({k: _json(d[k]) for k in [*group, *measures]})
        picked.sort(key=lambda x: tuple("" if x[c] is None else str(x[c]) for c in group))
        out[name] = picked
    return out


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


ORDER_MEASURES = ["Orders", "Units", "Revenue", "Profit", "Average Order Value", "Cancelled Lines"]
SHIP_MEASURES = [
    "Shipments",
    "On-time % (SLA)",
    "On-time % (promise)",
    "Late Shipments (SLA)",
    "Average Lead Time (days)",
    "P90 Lead Time (days)",
]
INV_MEASURES = ["Stock On Hand", "Days of Cover", "Low-stock Items", "Stock-outs"]


def _pick(row: dict[str, Any] | None, names: list[str]) -> dict[str, Any]:
    return {n: (row or {}).get(n) for n in names}


def dashboard(spark: SparkSession, loc: TableLocator) -> dict[str, Any]:
    """The four views' data: order trends, shipment SLA, inventory levels, revenue.

    One Spark job per Gold fact table (grouping sets), plus one for the time span.
    """
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

    o: dict[str, list[dict]] = {}
    if lines is not None:
        o = evaluate_sets(
            lines.select("*", period),
            ORDER_MEASURES,
            {
                "total": [],
                "trend": ["period"],
                "by_category": ["category"],
                "by_region": ["region"],
                "by_segment": ["segment"],
            },
        )
    total = o.get("total", [None])[0] if o.get("total") else None
    customers = evaluate(rfm, ["Customers"])[0]["Customers"] if rfm is not None else None
    orders_view = {
        "kpis": _pick(total, ["Orders", "Units", "Average Order Value", "Cancelled Lines"]),
        "trend": [_pick(r, ["period", "Orders", "Units"]) for r in o.get("trend", [])],
        "by_segment": [_pick(r, ["segment", "Orders"]) for r in o.get("by_segment", [])],
    }
    revenue_view = {
        "kpis": _pick(total, ["Revenue", "Profit", "Average Order Value"])
        | {"Customers": customers},
        "trend": [_pick(r, ["period", "Revenue"]) for r in o.get("trend", [])],
        "by_category": [
            _pick(r, ["category", "Revenue", "Profit"]) for r in o.get("by_category", [])
        ],
        "by_region": [_pick(r, ["region", "Revenue"]) for r in o.get("by_region", [])],
    }
    sh: dict[str, list[dict]] = {}
    if ships is not None:
        sh = evaluate_sets(
            ships.select("*", period),
            SHIP_MEASURES,
            {"total": [], "by_service_level": ["service_level"], "trend": ["period"]},
        )
    sla_view = {
        "kpis": _pick(sh["total"][0] if sh.get("total") else None, SHIP_MEASURES),
        "by_service_level": sh.get("by_service_level", []),
        "trend": [r for r in sh.get("trend", []) if r["period"] is not None],
    }
    iv: dict[str, list[dict]] = {}
    if inv is not None:
        src = inv
        if products is not None:
            src = inv.join(products.select("product_id", "category"), "product_id", "left")
        else:
            src = inv.withColumn("category", F.lit(None).cast("string"))
        src = src.fillna({"category": "Unknown"})
        iv = evaluate_sets(
            src,
            INV_MEASURES,
            {"total": [], "by_location": ["location_id"], "by_category": ["category"]},
        )
    inv_view = {
        "kpis": _pick(iv["total"][0] if iv.get("total") else None, INV_MEASURES),
        "by_location": iv.get("by_location", []),
        "by_category": iv.get("by_category", []),
    }
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
