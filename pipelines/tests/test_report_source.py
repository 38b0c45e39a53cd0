"""The local dashboard is generated from the Power BI project: measures from the TMDL (with their
Spark SQL checked against what the DAX means), pages and visuals from the PBIR."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from oms_pipeline.live import measures_doc, pbip, queries
from tests import dax_eval

ROOT = pbip.pbip_root()
TS = dt.datetime(2025, 1, 2, 10, 0)

# A small Gold fixture: blanks where the contracts allow them, a category whose lines are all
# cancelled (its measures are blank), a shipment without an SLA, one without a lead time.
GOLD: dict[str, tuple[str, list[tuple]]] = {
    "fact_order_lines": (
        "order_id string, category string, region string, segment string, quantity int, "
        "net_amount decimal(18,2), profit decimal(18,2), is_cancelled boolean, "
        "event_ts timestamp, order_date_key int",
        [
            ("O1", "A", "East", "Consumer", 2, Decimal("10.00"), Decimal("2.00"), False, TS, 1),
            ("O1", "B", "East", "Consumer", 1, Decimal("5.00"), None, False, TS, 1),
            ("O2", "A", "West", "Corporate", 3, Decimal("7.50"), Decimal("-1.25"), False, TS, 2),
            ("O3", "C", "West", "Corporate", 9, Decimal("99.00"), Decimal("9.00"), True, TS, 2),
        ],
    ),
    "fact_shipments": (
        "shipment_id string, carrier string, service_level string, is_late_vs_sla boolean, "
        "is_on_time_vs_promise boolean, ship_lead_days int, status_ts timestamp, "
        "order_date_key int",
        [
            ("S1", "UPS", "Standard", False, True, 2, TS, 1),
            ("S2", "UPS", "Express", True, False, 5, TS + dt.timedelta(hours=3), 1),
            ("S3", "DHL", "Standard", False, None, 3, TS, 2),
            ("S4", "DHL", "Custom", None, True, None, TS, 2),
            ("S5", "DHL", "Standard", True, True, 8, TS, 2),
        ],
    ),
    "fact_inventory": (
        "product_id string, location_id string, on_hand int, avg_daily_sales double, "
        "is_low_stock boolean, is_stock_out boolean, last_event_ts timestamp",
        [
            ("P1", "WH1", 10, 2.0, False, False, TS),
            ("P2", "WH1", 0, 1.0, True, True, TS),
            ("P1", "WH2", 4, 0.0, True, False, TS + dt.timedelta(hours=1)),
        ],
    ),
    "customer_rfm": (
        "customer_id string, rfm_segment string, recency_days int",
        [("C1", "Champions", 3), ("C2", "Lost", 200), ("C3", "Champions", 10)],
    ),
    "dim_date": (
        "date_key int, date date, year_month string",
        [(1, dt.date(2025, 1, 1), "2025-01"), (2, dt.date(2025, 2, 3), "2025-02")],
    ),
    "dim_product": ("product_id string, category string", [("P1", "A"), ("P2", "B")]),
    "dim_location": ("location_id string", [("WH1",), ("WH2",)]),
    "dim_service_level": (
        "service_level string, sla_days int",
        [("Standard", 3), ("Express", 1), ("Custom", None)],
    ),
}
# A grouping column per measure table for the sliced comparison (never a CALCULATE filter column).
SLICE = {
    "fact_order_lines": "category",
    "fact_shipments": "carrier",
    "fact_inventory": "location_id",
    "customer_rfm": "rfm_segment",
}


@pytest.fixture(scope="module")
def gold(spark: SparkSession) -> dict[str, DataFrame]:
    frames = {}
    for table, (ddl, rows) in GOLD.items():
        frames[table] = spark.createDataFrame(rows, ddl)
        frames[table].createOrReplaceTempView(f"fixture_{table}")
    return frames


def _python_rows(table: str) -> list[dict[str, Any]]:
    ddl, rows = GOLD[table]
    names = [c.split()[0] for c in re.sub(r"\([^)]*\)", "", ddl).split(",")]
    return [dict(zip(names, r, strict=True)) for r in rows]


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def _dax_value(name: str, ctx: dict[str, list[dict]]) -> Any:
    model = queries.measures()
    parsed = {m: dax_eval.parse(model[m].dax) for m in model}
    return _plain(dax_eval.evaluate(parsed[name], ctx, parsed))


def _approx(v: Any) -> Any:
    return pytest.approx(v) if isinstance(v, float) else v


# --- measures: TMDL <-> SQL -----------------------------------------------------------------


def test_every_tmdl_measure_has_exactly_one_sql_definition() -> None:
    model = queries.measures()
    tmdl = pbip.read_measures(ROOT / pbip.MODEL_DIR)
    assert list(model) == [m.name for m in tmdl]
    assert model["Revenue"].table == "fact_order_lines"
    assert model["Revenue"].dax.startswith("CALCULATE ( SUM ( fact_order_lines[net_amount] )")
    assert model["On-time % (SLA)"].format_string == "0.0%"


def test_a_tmdl_measure_without_sql_is_refused() -> None:
    tmdl = [*pbip.read_measures(ROOT / pbip.MODEL_DIR)]
    tmdl.append(pbip.TmdlMeasure("Gross Margin", "fact_order_lines", "1", None, ""))
    with pytest.raises(queries.MeasureMapError, match=r"without a Spark SQL.*Gross Margin"):
        queries.join_measures(tmdl, queries.MEASURE_SQL)


def test_a_sql_definition_without_tmdl_measure_is_refused() -> None:
    tmdl = pbip.read_measures(ROOT / pbip.MODEL_DIR)
    sql = queries.MEASURE_SQL | {"Returns": "COUNT(*)"}
    with pytest.raises(queries.MeasureMapError, match=r"without a TMDL measure.*Returns"):
        queries.join_measures(tmdl, sql)


def test_tmdl_reader_reads_quoted_names_descriptions_and_multiline_expressions(
    tmp_path: Path,
) -> None:
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "t.tmdl").write_text(
        "/// The table.\ntable 'My T'\n\tlineageTag: x\n\n"
        "\t/// Sums it.\n\tmeasure 'It''s' = SUM ( 'My T'[v] )\n\t\tformatString: #,0\n\n"
        "\tmeasure Multi =\n\t\t\tVAR x = 1\n\t\t\tRETURN x\n\t\tlineageTag: y\n\n"
        "\tcolumn v\n\t\tdataType: int64\n",
        encoding="utf-8",
    )
    got = pbip.read_measures(tmp_path)
    assert got == [
        pbip.TmdlMeasure("It's", "My T", "SUM ( 'My T'[v] )", "#,0", "Sums it."),
        pbip.TmdlMeasure("Multi", "My T", "VAR x = 1 RETURN x", None, ""),
    ]
    (tmp_path / "tables" / "t.tmdl").write_text("table t\n\tmeasure M =\n\t\tformatString: 0\n")
    with pytest.raises(pbip.PbipError, match="measure 'M' has no DAX expression"):
        pbip.read_measures(tmp_path)


def test_each_measure_sql_equals_what_its_dax_means(
    spark: SparkSession, gold: dict[str, DataFrame]
) -> None:
    model = queries.measures()
    ctx = {t: _python_rows(t) for t in GOLD}
    for name, m in model.items():
        col = SLICE[m.table]
        out = queries.evaluate_sets(
            gold[m.table], [name], {"total": [], "sliced": [col]}, lambda t: f"fixture_{t}"
        )
        sql, dax = out["total"][0][name], _dax_value(name, ctx)
        assert sql == _approx(dax), f"{name}: its Spark SQL gives {sql}, its DAX {dax} (total)"
        for row in out["sliced"]:
            sliced = {**ctx, m.table: [r for r in ctx[m.table] if r[col] == row[col]]}
            sql, dax = row[name], _dax_value(name, sliced)
            assert sql == _approx(dax), f"{name}: Spark SQL {sql}, DAX {dax} ({col} = {row[col]})"


def test_dax_evaluator_refuses_shapes_it_does_not_know() -> None:
    for dax in ("SUMX ( t, t[a] * t[b] )", "CALCULATE ( [M], t[a] > 1 )", "t[a] + 1"):
        with pytest.raises(dax_eval.Unsupported):
            dax_eval.evaluate(dax_eval.parse(dax), {"t": []}, {"M": dax_eval.parse("1")})


# --- docs ------------------------------------------------------------------------------------


def test_committed_measures_page_is_current() -> None:
    path = measures_doc.doc_path(ROOT)
    assert path.read_text(encoding="utf-8") == measures_doc.render(queries.measures()), (
        "docs/measures.md is stale: run .venv/bin/python -m oms_pipeline.live.measures_doc"
    )


# --- pages and visuals: PBIR -----------------------------------------------------------------


def test_pages_and_visuals_are_read_from_pbir() -> None:
    pages = pbip.read_pages(ROOT / pbip.REPORT_DIR)
    assert [p.display_name for p in pages] == [
        "Order trends",
        "Shipment SLA",
        "Inventory levels",
        "Revenue",
    ]
    visual_dirs = sorted((ROOT / pbip.REPORT_DIR).glob("pages/*/visuals/*"))
    assert sorted(v.name for p in pages for v in p.visuals) == sorted(d.name for d in visual_dirs)
    by_day = next(v for v in pages[0].visuals if v.name == "ordersByDay")
    assert (by_day.title, by_day.type) == ("Orders and units by day", "lineChart")
    assert [f.ref for f in by_day.columns] == ["dim_date.date"]
    assert [f.name for f in by_day.measures] == ["Orders", "Units"]


def test_a_visual_field_that_is_not_a_column_or_measure_is_refused(tmp_path: Path) -> None:
    src = ROOT / pbip.REPORT_DIR / "pages/orderTrends/visuals/ordersCard/visual.json"
    doc = json.loads(src.read_text(encoding="utf-8"))
    proj = doc["visual"]["query"]["queryState"]["Values"]["projections"][0]
    proj["field"] = {"Aggregation": {"Function": 0}}
    path = tmp_path / "visual.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(pbip.PbipError, match=r"not supported; allowed: a Column or a Measure"):
        pbip.read_visual(path)


def _visuals(data: dict) -> dict[str, dict]:
    return {v["name"]: v for p in data["pages"] for v in p["visuals"]}


def test_dashboard_data_follows_each_visuals_bindings(gold: dict[str, DataFrame]) -> None:
    data = queries.report_data(
        pbip.read_pages(ROOT / pbip.REPORT_DIR),
        pbip.read_relationships(ROOT / pbip.MODEL_DIR),
        gold.get,
        lambda t: f"fixture_{t}",
    )
    v = _visuals(data)
    assert data["pages"][0]["displayName"] == "Order trends"
    # Orders and units by dim_date.date, through fact_order_lines.order_date_key -> dim_date.
    assert v["ordersByDay"]["rows"] == [
        {"dim_date.date": "2025-01-01", "Orders": 1, "Units": 3},
        {"dim_date.date": "2025-02-03", "Orders": 1, "Units": 3},
    ]
    # Sorted by the measure, descending, as the visual's sortDefinition says.
    assert [(r["fact_order_lines.region"], r["Orders"]) for r in v["ordersByRegion"]["rows"]] == [
        ("East", 1),
        ("West", 1),
    ]
    assert v["revenueCard"]["rows"] == [{"Revenue": 22.5}]
    assert v["revenueCard"]["measures"] == [{"name": "Revenue", "role": "Values"}]
    # A dimension reached through fact_inventory.product_id -> dim_product.
    assert v["onHandByCategory"]["rows"] == [
        {"dim_product.category": "A", "Stock On Hand": 14},
        {"dim_product.category": "B", "Stock On Hand": 0},
    ]
    # Two columns of the dimension plus three measures, one row per service level.
    lead = {r["dim_service_level.service_level"]: r for r in v["leadByService"]["rows"]}
    assert lead["Standard"]["dim_service_level.sla_days"] == 3
    assert lead["Standard"]["Shipments"] == 3
    assert v["customersByRfm"]["rows"][0] == {
        "customer_rfm.rfm_segment": "Champions",
        "Customers": 2,
    }
    assert data["totals"]["Orders"] == 2 and data["totals"]["Shipments"] == 5


def test_visuals_of_a_table_not_in_gold_yet_have_no_rows(gold: dict[str, DataFrame]) -> None:
    data = queries.report_data(
        pbip.read_pages(ROOT / pbip.REPORT_DIR),
        pbip.read_relationships(ROOT / pbip.MODEL_DIR),
        lambda t: None if t == "fact_inventory" else gold.get(t),
        lambda t: f"fixture_{t}",
    )
    v = _visuals(data)
    assert v["onHandCard"]["rows"] == [] and data["totals"]["Stock On Hand"] is None
    assert v["ordersCard"]["rows"] == [{"Orders": 2}]
