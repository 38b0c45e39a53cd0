"""The job tasks the stack declares, run end to end on embedded Spark with the stack's own parameters.

`test/fixtures/job-params.<stack>.json` is what the Pulumi program passes to each task (a mocha spec
regenerates it from the program and fails when it is stale). Here every task's entry point runs with
exactly those arguments; only what cannot exist off Databricks is substituted: the catalog becomes a
local lakehouse folder, the /Volumes paths become local folders, and Autoloader (`cloudFiles`)
becomes the plain file stream. Continuous (processing-time) tasks are stopped once their data is in.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from oms_pipeline.config import TableLocator
from oms_pipeline.io.tables import read_table, table_exists
from oms_pipeline.sources.factory import FeedConfig, generate

FIXTURES = Path(__file__).resolve().parents[2] / "test" / "fixtures"
SCRIPTS = {ep.name: ep for ep in entry_points(group="console_scripts")}


def local_args(params: list[str], fixture: dict, root: Path) -> list[str]:
    """The stack's parameters with Databricks-only locations swapped for local ones."""
    volumes = {v: str(root / k) for k, v in fixture["volumePaths"].items()}
    out: list[str] = []
    it = iter(params)
    for arg in it:
        if arg == "--catalog":
            assert next(it) == fixture["catalog"]
            out += ["--lakehouse-root", str(root / "lakehouse")]
        elif arg == "--autoloader":
            next(it)
            out += ["--autoloader", "off"]
        else:
            out.append(volumes.get(arg, arg))
    assert not any("/Volumes/" in a for a in out), out
    return out


def run_tasks(spark: SparkSession, tasks: list[dict], fixture: dict, root: Path, done) -> None:
    """Runs tasks' entry points; continuous ones in threads, stopped once `done()` holds.

    A continuous task runs until it is stopped: one that ends before -- returning or raising --
    fails the test at once with what it returned or raised (it would never catch up).
    """
    threads: dict[str, threading.Thread] = {}
    ended: dict[str, str] = {}

    def continuous(key: str, main, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
        try:
            ended[key] = f"returned {main(argv)!r}"
        except BaseException as exc:
            ended[key] = f"raised {exc!r}"

    # A safety net for a machine under load, not an expected duration: each wait ends as soon as
    # its condition holds.
    deadline = time.monotonic() + 1800

    def wait(what: str, condition) -> None:  # type: ignore[no-untyped-def]
        while not condition():
            assert not ended, f"continuous tasks ended before {what}: {ended}"
            assert time.monotonic() < deadline, f"continuous tasks: no {what} in 30 min"
            time.sleep(1)

    try:
        for task in tasks:
            main = SCRIPTS[task["entryPoint"]].load()
            argv = local_args(task["parameters"], fixture, root)
            if "processingTime" not in argv:
                assert main(argv) == 0, task["taskKey"]
                continue
            # Each continuous task starts one streaming query; they start one after another (the
            # tasks of one job share this process and its session here, unlike on Databricks,
            # where each task has its own Python process; concurrent first starts are covered by
            # test_shared_tables).
            key, running = task["taskKey"], len(spark.streams.active)
            t = threading.Thread(target=continuous, args=(key, main, argv), daemon=True)
            t.start()
            threads[key] = t
            wait(f"stream of {key}", lambda n=running: len(spark.streams.active) > n)
        if threads:
            wait("catching up", done)
    finally:  # never leave streams running into the next test, also when this one fails
        for q in spark.streams.active:
            q.stop()
        for t in threads.values():
            t.join(timeout=60)
        spark.streams.resetTerminated()


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_job_tasks_build_gold_from_landing(spark: SparkSession, tmp_path: Path, stack: str):
    fixture = json.loads((FIXTURES / f"job-params.{stack}.json").read_text())
    landing = tmp_path / "landing"
    manifest = generate(
        str(landing),
        FeedConfig(seed=5, orders=40, customers=15, products=10, files_per_entity=2),
    )
    loc = TableLocator(lakehouse_root=str(tmp_path / "lakehouse"), landing_root=str(landing))
    tasks = sorted(fixture["jobs"]["ingestion"], key=lambda t: t["taskKey"])
    report = [t for t in tasks if "--files-report-only" in t["parameters"]]
    ingest = [t for t in tasks if t["entryPoint"] == "oms-ingest" and t not in report]
    assert len(ingest) == len(report) == 1

    def count(layer: str, table: str) -> int:
        return (
            read_table(spark, loc, layer, table).count()
            if table_exists(spark, loc, layer, table)
            else -1
        )

    audited = {}

    def ingested() -> bool:
        if not all(count("bronze", e) == n for e, n in manifest.lines_written.items()):
            return False
        rows = (
            read_table(spark, loc, "ops", "silver_batch_audit")
            .groupBy("entity")
            .agg(F.sum("rows_in").alias("n"))
            .collect()
        )
        audited.update({r.entity: r.n for r in rows})
        return audited == manifest.lines_written

    run_tasks(spark, ingest, fixture, tmp_path, ingested)
    assert ingested(), "every landed line is in bronze and accounted for by silver"

    def files_accounted() -> bool:
        if not table_exists(spark, loc, "ops", "landing_files"):
            return False
        got = read_table(spark, loc, "ops", "landing_files").groupBy("status").count().collect()
        return {r["status"]: r["count"] for r in got} == {"ingested": manifest_files}

    manifest_files = sum(len(files) for _d, _s, files in os.walk(landing))
    run_tasks(spark, report, fixture, tmp_path, files_accounted)
    assert files_accounted(), "every landing file is ingested"

    # Gold: its own triggered job (dev), or a processing-time loop in the always-on ingestion
    # job (prod), stopped here after one refresh once silver is complete.
    gold = [
        t for ts in fixture["jobs"].values() for t in ts if t["entryPoint"] == "oms-gold-refresh"
    ]
    assert len(gold) == 1
    for task in gold:
        argv = local_args(task["parameters"], fixture, tmp_path)
        if "processingTime" in argv:
            argv += ["--max-refreshes", "1"]
        assert SCRIPTS[task["entryPoint"]].load()(argv) == 0, task["taskKey"]

    expected: dict[str, Decimal] = defaultdict(Decimal)
    for line in manifest.order_lines:
        if line["status"] != "CANCELLED":
            expected[line["order_date"]] += Decimal(line["net_amount"])
    sales = read_table(spark, loc, "gold", "agg_sales_daily")
    got = {
        str(r.order_date): r.revenue
        for r in sales.groupBy("order_date").agg(F.sum("revenue").alias("revenue")).collect()
        if r.revenue
    }
    assert got == dict(expected)
    assert read_table(spark, loc, "gold", "fact_shipments").count() == len(manifest.shipments)
    stock = {
        (r.product_id, r.location_id): r.on_hand
        for r in read_table(spark, loc, "gold", "fact_inventory").collect()
    }
    assert stock == {(s["sku"], s["location_id"]): s["on_hand"] for s in manifest.stock}
