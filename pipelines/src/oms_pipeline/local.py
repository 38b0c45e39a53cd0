"""Local runner: the whole flow (landing -> bronze -> silver -> gold) on a folder lakehouse.

python -m oms_pipeline.local run --landing DIR --lakehouse DIR [--continuous ...]
python -m oms_pipeline.local show --lakehouse DIR gold.fact_order_lines [--limit 20]
python -m oms_pipeline.local sql --lakehouse DIR "SELECT * FROM gold.agg_sales_daily"
python -m oms_pipeline.local generate --landing DIR [--seed 7 --orders 2000 ...]
python -m oms_pipeline.local import-export --mapping superstore.yaml --csv FILE --landing DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession

from oms_pipeline.config import LAYERS, PipelineSettings, TableLocator
from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.pipeline.gold import RefreshReport, refresh_gold
from oms_pipeline.pipeline.streams import Trigger, stop_between_batches


def run_once(
    spark: SparkSession,
    loc: TableLocator,
    settings: PipelineSettings,
    *,
    entities: Sequence[str] = ENTITIES,
    max_files_per_trigger: int | None = None,
) -> RefreshReport:
    """Process everything landed so far through every layer (availableNow), then stop."""
    from oms_pipeline.pipeline.bronze import report_landing_files, run_bronze
    from oms_pipeline.pipeline.silver import run_silver

    trigger = Trigger(available_now=True)
    run_bronze(
        spark,
        loc,
        list(entities),
        trigger,
        use_autoloader=False,
        max_files_per_trigger=max_files_per_trigger,
    )
    report_landing_files(spark, loc, use_autoloader=False)
    run_silver(spark, loc, settings, list(entities), trigger)
    return refresh_gold(spark, loc, settings)


def run_continuous(
    spark: SparkSession,
    loc: TableLocator,
    settings: PipelineSettings,
    *,
    processing_time: str,
    gold_every_s: float,
    duration_s: float | None,
) -> None:
    """Bronze and silver streams on a processing-time trigger; Gold refreshed on an interval."""
    from oms_pipeline.pipeline.bronze import start_bronze
    from oms_pipeline.pipeline.silver import start_silver

    trigger = Trigger(available_now=False, processing_time=processing_time)
    for e in ENTITIES:
        start_bronze(spark, loc, e, trigger, use_autoloader=False)
    # Silver reads bronze tables: start once bronze has created them.
    for e in ENTITIES:
        start_silver(spark, loc, settings, e, trigger)
    started = time.monotonic()
    try:
        while duration_s is None or time.monotonic() - started < duration_s:
            time.sleep(gold_every_s)
            for q in spark.streams.active:
                if q.exception():
                    raise RuntimeError(f"{q.name} failed: {q.exception()}")
            print(json.dumps(refresh_gold(spark, loc, settings).__dict__, default=str), flush=True)
    finally:
        for q in spark.streams.active:
            stop_between_batches(q)


def register_views(spark: SparkSession, loc: TableLocator) -> list[str]:
    """Expose every local Delta table as ``layer.table`` and as temp view ``layer_table``."""
    from delta.tables import DeltaTable

    assert loc.lakehouse_root is not None
    names = []
    for layer in LAYERS:
        base = os.path.join(loc.lakehouse_root, layer)
        if not os.path.isdir(base):
            continue
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
        for table in sorted(os.listdir(base)):
            path = os.path.join(base, table)
            if not DeltaTable.isDeltaTable(spark, path):
                continue
            spark.read.format("delta").load(path).createOrReplaceTempView(f"{layer}_{table}")
            spark.sql(f"CREATE TABLE IF NOT EXISTS {layer}.{table} USING DELTA LOCATION '{path}'")
            names.append(f"{layer}.{table}")
    return names


def _print(df: DataFrame, limit: int, fmt: str) -> None:
    if fmt == "json":
        for row in df.limit(limit).collect():
            print(json.dumps(row.asDict(recursive=True), default=str))
    else:
        df.show(limit, truncate=False)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oms-local", description="Run the OMS pipeline locally.")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="landing -> bronze -> silver -> gold")
    run.add_argument("--landing", required=True, help="landing folder (one sub-folder per entity)")
    run.add_argument("--lakehouse", required=True, help="local lakehouse folder")
    run.add_argument("--as-of-date", default=None, help="YYYY-MM-DD (default: latest order date)")
    run.add_argument(
        "--continuous", action="store_true", help="processing-time streams instead of one pass"
    )
    run.add_argument("--processing-time", default="10 seconds")
    run.add_argument(
        "--gold-every", type=float, default=30.0, help="seconds between Gold refreshes"
    )
    run.add_argument("--duration", type=float, default=None, help="stop after N seconds")

    for name in ("show", "sql"):
        s = sub.add_parser(name, help="print a table" if name == "show" else "run a SQL query")
        s.add_argument("--lakehouse", required=True)
        s.add_argument("target", help="layer.table" if name == "show" else "SQL text")
        s.add_argument("--limit", type=int, default=20)
        s.add_argument("--format", choices=("table", "json"), default="table")

    gen = sub.add_parser("generate", help="write synthetic OMS landing files")
    gen.add_argument("--landing", required=True)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--orders", type=int, default=2000)
    gen.add_argument("--customers", type=int, default=300)
    gen.add_argument("--products", type=int, default=120)
    gen.add_argument("--malformed-rate", type=float, default=0.01)
    gen.add_argument("--files", type=int, default=4, help="files per entity")
    gen.add_argument("--manifest", default=None, help="write the generation manifest here (JSON)")

    imp = sub.add_parser("import-export", help="CSV export + mapping -> landing JSON lines")
    imp.add_argument("--mapping", required=True)
    imp.add_argument("--csv", required=True)
    imp.add_argument("--landing", required=True)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "generate":
        from oms_pipeline.generator import GeneratorConfig, generate

        manifest = generate(
            args.landing,
            GeneratorConfig(
                seed=args.seed,
                orders=args.orders,
                customers=args.customers,
                products=args.products,
                malformed_rate=args.malformed_rate,
                files_per_entity=args.files,
            ),
        )
        if args.manifest:
            manifest.write(args.manifest)
        print(json.dumps(manifest.summary(), indent=2))
        return 0
    if args.command == "import-export":
        from oms_pipeline.exports import IMPORT_ERRORS, convert_export, load_mapping

        try:
            counts = convert_export(load_mapping(args.mapping), args.csv, args.landing)
        except IMPORT_ERRORS as e:
            print(f"Import refused: {e}", file=sys.stderr)
            return 2
        print(json.dumps(counts, indent=2))
        return 0

    from oms_pipeline.session import local_session

    root = os.path.abspath(args.lakehouse)
    spark = local_session(
        "oms-local", shuffle_partitions=2, warehouse_dir=os.path.join(root, "_warehouse")
    )
    if args.command == "run":
        import datetime as dt

        loc = TableLocator(lakehouse_root=root, landing_root=os.path.abspath(args.landing))
        settings = PipelineSettings(
            as_of_date=dt.date.fromisoformat(args.as_of_date) if args.as_of_date else None
        )
        if args.continuous:
            run_continuous(
                spark,
                loc,
                settings,
                processing_time=args.processing_time,
                gold_every_s=args.gold_every,
                duration_s=args.duration,
            )
        else:
            print(json.dumps(run_once(spark, loc, settings).__dict__, default=str))
        return 0
    loc = TableLocator(lakehouse_root=root)
    register_views(spark, loc)
    df = spark.table(args.target) if args.command == "show" else spark.sql(args.target)
    _print(df, args.limit, args.format)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
