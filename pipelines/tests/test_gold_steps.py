"""The Gold steps as declared: every Gold table has one step, the order follows the declared
inputs, bad declarations are refused with the step and the input named, and a step cannot read
what it does not declare."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from pyspark.sql import SparkSession

from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts.gold import GOLD_BY_NAME, GOLD_TABLES, MATERIALIZED, VIEWS, view_inputs
from oms_pipeline.contracts.silver import SILVER_TABLES
from oms_pipeline.io.tables import create_gold_views, current_version, merge_scoped, read_table
from oms_pipeline.pipeline.gold import (
    GOLD_STEPS,
    KEY_SETS,
    SOURCES,
    GoldContext,
    GoldStep,
    UndeclaredInput,
    check_sources,
    step_order,
)
from oms_pipeline.transforms import gold as G


def _step(name: str) -> GoldStep:
    return next(s for s in GOLD_STEPS if s.table == name)


def test_every_gold_table_has_exactly_one_step_and_no_view_has_one() -> None:
    assert sorted(s.table for s in GOLD_STEPS) == sorted(t.name for t in MATERIALIZED)
    assert {t.name for t in GOLD_TABLES} - {t.name for t in MATERIALIZED} == {
        "agg_sales_daily",
        "agg_shipment_sla_daily",
    }
    view = GoldStep("agg_sales_daily", ("gold.fact_order_lines",), lambda c, _k: None)
    with pytest.raises(ValueError, match=r"agg_sales_daily, views of the Gold contract"):
        step_order((*GOLD_STEPS, view))


def test_each_step_runs_after_the_steps_whose_tables_and_key_sets_it_reads() -> None:
    order = [s.table for s in step_order()]
    for step in GOLD_STEPS:
        inputs = list(step.inputs)
        for name in inputs:  # key sets' own inputs count too
            kind, _, what = name.partition(".")
            if kind == "keys" and what in KEY_SETS:
                inputs.extend(KEY_SETS[what].inputs)
        for name in inputs:
            kind, _, what = name.partition(".")
            if kind == "gold" and what != step.table:
                assert order.index(what) < order.index(step.table), (step.table, name)
    # dim_customer reads the customers of affected orders from fact_order_lines as refreshed.
    assert order.index("fact_order_lines") < order.index("dim_customer")


def test_an_unknown_input_is_refused_naming_the_step_and_what_is_allowed() -> None:
    bad = dataclasses.replace(_step("dim_date"), inputs=("gold.fact_orders",))
    with pytest.raises(ValueError, match=r"dim_date: unknown input 'gold.fact_orders'.*allowed"):
        step_order((*GOLD_STEPS[:-1], bad))


def test_a_silver_input_gold_does_not_consume_is_refused() -> None:
    bad = dataclasses.replace(_step("dim_date"), inputs=("silver.shipment_state",))
    with pytest.raises(ValueError, match=r"dim_date: unknown input 'silver.shipment_state'"):
        step_order((*GOLD_STEPS[:-1], bad))


def test_a_silver_table_renamed_in_the_contract_alone_is_refused_naming_it() -> None:
    check_sources(SOURCES)  # the declared layout
    renamed = {
        e: tuple(
            dataclasses.replace(t, name="shipment_state") if t.name == "shipments" else t
            for t in tables
        )
        for e, tables in SILVER_TABLES.items()
    }
    with pytest.raises(ValueError, match=r"Gold reads Silver tables shipments that .*silver.toml"):
        check_sources(SOURCES, renamed)


def test_steps_that_read_each_other_are_refused_as_a_cycle() -> None:
    fact = dataclasses.replace(
        _step("fact_order_lines"), inputs=(*_step("fact_order_lines").inputs, "gold.dim_date")
    )
    steps = tuple(fact if s.table == "fact_order_lines" else s for s in GOLD_STEPS)
    with pytest.raises(ValueError, match="cycle"):
        step_order(steps)


def test_a_step_cannot_read_a_table_it_does_not_declare(spark: SparkSession, tmp_path) -> None:
    loc = TableLocator(lakehouse_root=str(tmp_path / "lh"), landing_root=str(tmp_path / "in"))
    ctx = GoldContext(spark, loc, PipelineSettings(), dt.date(2025, 1, 1), False, {})
    sneaky = GoldStep("dim_date", ("silver.shipments",), lambda c, _k: c.gold("fact_order_lines"))
    with pytest.raises(UndeclaredInput, match=r"gold\.fact_order_lines is read but not declared"):
        ctx.run(sneaky)


def test_a_merge_of_rows_gold_already_holds_commits_nothing(spark: SparkSession, tmp_path) -> None:
    """Only rows that differ from the target row of their key are written (NULLs compare
    equal); a MERGE left with nothing to upsert or delete commits no version."""
    loc = TableLocator(lakehouse_root=str(tmp_path / "lh"), landing_root=str(tmp_path / "in"))
    ddl = "id string, label string, n int"
    rows = [("a", "A", 1), ("b", None, 2), ("c", "C", None)]
    assert merge_scoped(spark, loc, "gold", "dim_x", spark.createDataFrame(rows, ddl), ["id"]) == 3
    first = current_version(spark, loc, "gold", "dim_x")

    same = spark.createDataFrame(list(reversed(rows)), ddl)
    assert merge_scoped(spark, loc, "gold", "dim_x", same, ["id"], scope="all") == 0
    assert current_version(spark, loc, "gold", "dim_x") == first

    # b changes, c is gone from the scope "all": one commit, two rows touched, a untouched.
    changed = spark.createDataFrame([("a", "A", 1), ("b", "B", 2)], ddl)
    assert merge_scoped(spark, loc, "gold", "dim_x", changed, ["id"], scope="all") == 2
    assert current_version(spark, loc, "gold", "dim_x") == first + 1
    got = sorted(tuple(r) for r in read_table(spark, loc, "gold", "dim_x").collect())
    assert got == [("a", "A", 1), ("b", "B", 2)]


def _empty_gold(spark: SparkSession, table: str):
    cols = GOLD_BY_NAME[table].columns
    return spark.createDataFrame([], ", ".join(f"`{c.name}` {c.type}" for c in cols))


def test_each_view_yields_the_contract_columns_and_types(spark: SparkSession) -> None:
    for view in VIEWS:
        frame = G.gold_view(view.name, {t: _empty_gold(spark, t) for t in view_inputs(view)})
        got = [(f.name, f.dataType.simpleString()) for f in frame.schema.fields]
        assert got == [(c.name, c.type.replace(" ", "")) for c in view.columns], view.name


def test_a_view_that_reads_anything_but_a_gold_table_is_refused(monkeypatch) -> None:
    import oms_pipeline.contracts.gold as gold

    monkeypatch.setattr(gold, "_view_text", lambda _t: "SELECT * FROM {silver_orders}")
    with pytest.raises(ValueError, match=r"agg_sales_daily reads \{silver_orders\}.*fact_order"):
        view_inputs(GOLD_BY_NAME["agg_sales_daily"])


def test_views_are_created_with_their_comments_and_replace_a_materialized_aggregate(
    spark: SparkSession, tmp_path
) -> None:
    """The DDL Unity Catalog gets, run on Spark's own catalog: a table left under a view's name
    by an earlier version is dropped, the view carries the contract's comments."""
    spark.sql("CREATE DATABASE IF NOT EXISTS views_test")
    name_of = lambda t: f"views_test.{t}"  # noqa: E731
    try:
        for t in {t for v in VIEWS for t in view_inputs(v)}:
            _empty_gold(spark, t).write.format("delta").save(str(tmp_path / t))
            spark.sql(f"CREATE TABLE {name_of(t)} USING DELTA LOCATION '{tmp_path / t}'")
        _empty_gold(spark, "agg_sales_daily").write.format("delta").saveAsTable(
            name_of("agg_sales_daily"), path=str(tmp_path / "agg_sales_daily")
        )
        assert create_gold_views(spark, name_of) == [name_of(v.name) for v in VIEWS]
        assert create_gold_views(spark, name_of)  # idempotent
        view = GOLD_BY_NAME["agg_sales_daily"]
        assert spark.catalog.getTable(name_of(view.name)).tableType == "VIEW"
        described = {
            r["col_name"]: r["comment"]
            for r in spark.sql(f"DESCRIBE TABLE {name_of(view.name)}").collect()
        }
        assert described == {c.name: c.description for c in view.columns}
    finally:
        spark.sql("DROP DATABASE views_test CASCADE")
