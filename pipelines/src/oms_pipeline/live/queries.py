"""Dashboard data: the Power BI report's pages, each visual's measures evaluated with Spark.

The measures are read from the semantic model (``powerbi/OmsLakehouse.SemanticModel``, TMDL):
name, home table, DAX, format string and description. The one hand-written part is
``MEASURE_SQL``: for every TMDL measure, keyed by the same name, the Spark SQL aggregate that
computes it over its home Gold table. ``measures()`` joins the two and raises ``MeasureMapError``
when a TMDL measure has no SQL or a SQL entry has no TMDL measure.

The pages and visuals are read from the report (``powerbi/OmsLakehouse.Report``, PBIR):
``dashboard()`` evaluates each visual's measures grouped by the columns it binds, joining a
dimension through the model's active relationship exactly as the report slices a measure.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from oms_pipeline.config import TableLocator
from oms_pipeline.io.tables import read_table, table_exists
from oms_pipeline.live import pbip


class MeasureMapError(ValueError):
    """The TMDL measures and ``MEASURE_SQL`` do not name the same measures."""


NOT_CANCELLED = "NOT is_cancelled"
# TMDL measure name -> Spark SQL aggregate over the measure's home Gold table. ``{table}`` names
# another Gold table (resolved to its catalog name or Delta path) for a measure whose DAX reads
# several tables. A DAX BLANK is SQL NULL: DIVIDE's blank on a zero denominator, and COUNTROWS /
# DISTINCTCOUNT over no rows (blank, not 0), are NULLIF(..., 0).
MEASURE_SQL: dict[str, str] = {
    "Revenue": f"SUM(CASE WHEN {NOT_CANCELLED} THEN net_amount END)",
    "Orders": f"NULLIF(COUNT(DISTINCT CASE WHEN {NOT_CANCELLED} THEN order_id END), 0)",
    "Units": f"SUM(CASE WHEN {NOT_CANCELLED} THEN quantity END)",
    "Profit": f"SUM(CASE WHEN {NOT_CANCELLED} THEN profit END)",
    "Average Order Value": f"SUM(CASE WHEN {NOT_CANCELLED} THEN net_amount END) / "
    f"NULLIF(COUNT(DISTINCT CASE WHEN {NOT_CANCELLED} THEN order_id END), 0)",
    "Cancelled Lines": "NULLIF(COUNT_IF(is_cancelled), 0)",
    "Latest Gold Event": "GREATEST(MAX(event_ts), (SELECT MAX(status_ts) FROM {fact_shipments}), "
    "(SELECT MAX(last_event_ts) FROM {fact_inventory}))",
    "Shipments": "NULLIF(COUNT(*), 0)",
    "On-time % (SLA)": "COUNT_IF(is_late_vs_sla = FALSE) / NULLIF(COUNT(is_late_vs_sla), 0)",
    "On-time % (promise)": "COUNT_IF(is_on_time_vs_promise = TRUE) "
    "/ NULLIF(COUNT(is_on_time_vs_promise), 0)",
    "Late Shipments (SLA)": "NULLIF(COUNT_IF(is_late_vs_sla = TRUE), 0)",
    "Average Lead Time (days)": "AVG(ship_lead_days)",
    # PERCENTILE: exact, linear interpolation between ranks, nulls ignored (PERCENTILEX.INC).
    "P90 Lead Time (days)": "PERCENTILE(ship_lead_days, 0.9)",
    "Stock On Hand": "SUM(on_hand)",
    "Days of Cover": "SUM(on_hand) / NULLIF(SUM(avg_daily_sales), 0)",
    "Low-stock Items": "NULLIF(COUNT_IF(is_low_stock), 0)",
    "Stock-outs": "NULLIF(COUNT_IF(is_stock_out), 0)",
    "Customers": "NULLIF(COUNT(DISTINCT customer_id), 0)",
    "Average Recency (days)": "AVG(recency_days)",
}

_TABLE_REF = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Measure:
    """A model measure: TMDL ``name``/``table``/``dax``/``format_string``/``description``,
    and ``sql``, its Spark SQL aggregate over ``table`` (from ``MEASURE_SQL``)."""

    name: str
    table: str
    dax: str
    sql: str
    format_string: str | None
    description: str

    def sql_for(self, table_ref: Callable[[str], str]) -> str:
        """``sql`` with each ``{table}`` replaced by ``table_ref(table)``."""
        return _TABLE_REF.sub(lambda m: table_ref(m.group(1)), self.sql)


def join_measures(tmdl: list[pbip.TmdlMeasure], sql: dict[str, str]) -> dict[str, Measure]:
    """TMDL measures with their SQL, in TMDL order; ``MeasureMapError`` unless 1:1 by name."""
    names = [m.name for m in tmdl]
    dupes = sorted({n for n in names if names.count(n) > 1})
    no_sql = [n for n in names if n not in sql]
    no_tmdl = sorted(set(sql) - set(names))
    problems = []
    if dupes:
        problems.append(f"measures defined twice in TMDL: {', '.join(dupes)}")
    if no_sql:
        problems.append(
            f"TMDL measures without a Spark SQL definition in MEASURE_SQL: {', '.join(no_sql)}"
        )
    if no_tmdl:
        problems.append(
            f"MEASURE_SQL entries without a TMDL measure of that name: {', '.join(no_tmdl)}"
        )
    if problems:
        raise MeasureMapError(
            "; ".join(problems) + " (every measure of powerbi/OmsLakehouse.SemanticModel needs "
            "exactly one entry in oms_pipeline.live.queries.MEASURE_SQL)"
        )
    return {
        m.name: Measure(m.name, m.table, m.expression, sql[m.name], m.format_string, m.description)
        for m in tmdl
    }


@functools.cache
def measures(root: Path | None = None) -> dict[str, Measure]:
    """The model's measures by name (``root``: the ``powerbi/`` folder, default ``pbip_root()``)."""
    model = (root or pbip.pbip_root()) / pbip.MODEL_DIR
    return join_measures(pbip.read_measures(model), MEASURE_SQL)


def _json(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def evaluate(df: DataFrame, names: list[str], by: list[str] | None = None) -> list[dict]:
    """Rows of ``by`` columns plus one value per measure (named like the Power BI measure)."""
    return evaluate_sets(df, names, {"rows": by or []})["rows"]


def evaluate_sets(
    df: DataFrame,
    names: list[str],
    sets: dict[str, list[str]],
    table_ref: Callable[[str], str] = lambda t: t,
) -> dict[str, list[dict]]:
    """Several slicings of the same measures in one Spark job (GROUP BY GROUPING SETS).

    ``sets`` maps a result name to its grouping columns (``[]``: the grand total). Each result
    is a list of rows with those columns and one value per measure, ordered by the columns.
    ``table_ref`` resolves a ``{table}`` in a measure's SQL to a relation name.
    """
    model = measures()
    cols = sorted({c for group in sets.values() for c in group})
    aggs = [F.expr(model[m].sql_for(table_ref)).alias(m) for m in names]
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
                picked.append({k: _json(d[k]) for k in [*group, *names]})
        picked.sort(key=lambda x: tuple("" if x[c] is None else str(x[c]) for c in group))
        out[name] = picked
    return out


def _home_table(visual: pbip.Visual, model: dict[str, Measure]) -> str:
    unknown = [f.name for f in visual.measures if f.name not in model]
    if unknown:
        raise pbip.PbipError(
            f"visual {visual.name!r} binds measures the model does not define: {unknown}"
        )
    tables = sorted({model[f.name].table for f in visual.measures})
    if len(tables) != 1:
        raise pbip.PbipError(
            f"visual {visual.name!r} binds measures of {tables or 'no table'}; the local "
            "dashboard evaluates a visual with measures of exactly one home table"
        )
    return tables[0]


def check_report(root: Path | None = None) -> None:
    """Refuse a report the local dashboard cannot draw, before a run starts: a TMDL measure
    without its Spark SQL, a visual binding a measure the model does not define or measures of
    more than one home table. Raises ``pbip.PbipError`` naming the file."""
    root = root or pbip.pbip_root()
    model = measures(root)
    report = root / pbip.REPORT_DIR
    for page in pbip.read_pages(report):
        for v in (v for v in page.visuals if v.measures):
            try:
                _home_table(v, model)
            except pbip.PbipError as e:
                path = report / "pages" / page.name / "visuals" / v.name / "visual.json"
                raise pbip.PbipError(f"{path}: {e}") from None


def _sort_rows(rows: list[dict], visual: pbip.Visual, key_of: Callable[[pbip.Field], str]) -> None:
    # PBIR sortDefinition, last key first so the first key wins; blanks last as in Power BI.
    for s in reversed(visual.sort):
        k = key_of(s.field)
        present = [r for r in rows if r.get(k) is not None]
        blank = [r for r in rows if r.get(k) is None]
        present.sort(key=lambda r, k=k: r[k], reverse=s.descending)
        rows[:] = present + blank


def _visual_columns(visual: pbip.Visual) -> dict[str, str]:
    """Field ref -> internal column alias (PBIR refs contain dots and spaces)."""
    return {f.ref: f"_c_{f.entity}__{f.name}" for f in visual.columns}


def _sliceable(
    fact: DataFrame,
    table: str,
    refs: set[tuple[str, str]],
    relationships: list[pbip.Relationship],
    dim: Callable[[str], DataFrame | None],
) -> DataFrame:
    """``fact`` plus one aliased column per (entity, column), dimensions joined by relationship."""
    out = fact
    by_entity: dict[str, list[str]] = {}
    for entity, column in sorted(refs):
        by_entity.setdefault(entity, []).append(column)
    for entity, columns in by_entity.items():
        alias = {c: f"_c_{entity}__{c}" for c in columns}
        if entity == table:
            out = out.select("*", *[F.col(c).alias(a) for c, a in alias.items()])
            continue
        rel = [
            r for r in relationships if r.active and r.from_table == table and r.to_table == entity
        ]
        if not rel:
            raise pbip.PbipError(
                f"a visual slices measures of {table} by {entity}.{columns[0]}, but the model "
                f"has no active relationship {table} -> {entity}"
            )
        r = rel[0]
        other = dim(entity)
        if other is None:  # dimension not built yet: every row is in the blank member
            out = out.select("*", *[F.lit(None).alias(a) for a in alias.values()])
            continue
        key = f"_k_{entity}"
        other = other.select(
            F.col(r.to_column).alias(key), *[F.col(c).alias(a) for c, a in alias.items()]
        )
        out = out.join(other, out[r.from_column] == other[key], "left").drop(key)
    return out


def report_data(
    pages: list[pbip.Page],
    relationships: list[pbip.Relationship],
    gold: Callable[[str], DataFrame | None],
    table_ref: Callable[[str], str],
) -> dict[str, Any]:
    """Each page's visuals with their rows, and the grand total of every bound measure.

    One Spark job per home table of the bound measures (grouping sets: one set per visual).
    A visual's ``rows`` are dicts keyed by the bound column refs (``"dim_date.date"``) and the
    measure names; ``[]`` while its home table is not in Gold yet.
    """
    model = measures()
    visuals = [v for p in pages for v in p.visuals]
    home = {v.name: _home_table(v, model) for v in visuals if v.measures}
    results: dict[str, list[dict]] = {}
    totals: dict[str, Any] = {}
    for table in sorted(set(home.values())):
        mine = [v for v in visuals if home.get(v.name) == table]
        names = list(dict.fromkeys(f.name for v in mine for f in v.measures))
        totals |= dict.fromkeys(names)
        fact = gold(table)
        if fact is None:
            continue
        refs = {(f.entity, f.name) for v in mine for f in v.columns}
        src = _sliceable(fact, table, refs, relationships, gold)
        # One grouping set per distinct grouping (a repeated set would repeat its rows).
        groupings = {v.name: tuple(_visual_columns(v).values()) for v in mine}
        sets = {"|".join(g): list(g) for g in [(), *groupings.values()]}
        out = evaluate_sets(src, names, sets, table_ref)
        totals |= out[""][0] if out[""] else {}
        for v in mine:
            back = {a: ref for ref, a in _visual_columns(v).items()}
            keep = set(back) | {f.name for f in v.measures}
            results[v.name] = [
                {back.get(k, k): val for k, val in r.items() if k in keep}
                for r in out["|".join(groupings[v.name])]
            ]
    page_data = []
    for page in pages:
        vis = []
        for v in page.visuals:
            rows = results.get(v.name, [])
            _sort_rows(rows, v, lambda f: f.ref if f.kind == "column" else f.name)
            vis.append(
                {
                    "name": v.name,
                    "title": v.title,
                    "type": v.type,
                    "columns": [{"ref": f.ref, "name": f.name, "role": f.role} for f in v.columns],
                    "measures": [{"name": f.name, "role": f.role} for f in v.measures],
                    "rows": rows,
                }
            )
        page_data.append({"name": page.name, "displayName": page.display_name, "visuals": vis})
    return {"pages": page_data, "totals": totals}


def _gold(spark: SparkSession, loc: TableLocator, table: str) -> DataFrame | None:
    return (
        read_table(spark, loc, "gold", table) if table_exists(spark, loc, "gold", table) else None
    )


def _table_ref(loc: TableLocator) -> Callable[[str], str]:
    def ref(table: str) -> str:
        name = loc.name("gold", table)
        return name if loc.uses_catalog else f"delta.`{name}`"

    return ref


def dashboard(spark: SparkSession, loc: TableLocator, root: Path | None = None) -> dict[str, Any]:
    """The report's pages with each visual's data over the Gold tables of ``loc``.

    ``{"pages": [{"name", "displayName", "visuals": [{"name", "title", "type", "columns",
    "measures", "rows"}]}], "totals": {measure: value}, "measures": {name: {"table", "dax",
    "sql", "format", "description"}}}``. ``root``: the ``powerbi/`` folder.
    """
    root = root or pbip.pbip_root()
    data = report_data(
        pbip.read_pages(root / pbip.REPORT_DIR),
        pbip.read_relationships(root / pbip.MODEL_DIR),
        lambda t: _gold(spark, loc, t),
        _table_ref(loc),
    )
    data["measures"] = {
        m.name: {
            "table": m.table,
            "dax": m.dax,
            "sql": m.sql,
            "format": m.format_string,
            "description": m.description,
        }
        for m in measures(root).values()
    }
    return data
