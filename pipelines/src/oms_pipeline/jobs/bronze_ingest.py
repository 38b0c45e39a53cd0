"""Job task: landing files -> bronze tables (Autoloader on Databricks, file stream locally)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.jobs.common import (
    add_entity_arg,
    add_location_args,
    add_trigger_args,
    locator_from,
    trigger_from,
)
from oms_pipeline.session import get_spark, on_databricks


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oms-bronze-ingest", description=__doc__)
    add_location_args(p)
    add_entity_arg(p, multiple=True)
    add_trigger_args(p)
    p.add_argument(
        "--autoloader",
        choices=("auto", "on", "off"),
        default="auto",
        help="auto: Autoloader on Databricks, plain file stream elsewhere",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from oms_pipeline.pipeline.bronze import run_bronze

    use_autoloader = on_databricks() if args.autoloader == "auto" else args.autoloader == "on"
    spark = get_spark("oms-bronze-ingest")
    queries = run_bronze(
        spark,
        locator_from(args),
        args.entity or list(ENTITIES),
        trigger_from(args),
        use_autoloader=use_autoloader,
        max_files_per_trigger=args.max_files_per_trigger,
    )
    if args.trigger == "processingTime":
        spark.streams.awaitAnyTermination()
    del queries
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
