"""Job task: landing files -> bronze tables (Autoloader on Databricks, file stream locally).

With every entity (the default) the run ends with the landing-file report: every file under the
landing root is ingested, pending or reported as skipped (``ops.landing_files``, console).
``--files-report-only`` runs the report alone (the ingestion job's ``landing_files`` task): once
with ``--trigger availableNow``, where ``--fail-on-skipped`` exits 3 when a file is skipped that
no earlier report listed; every ``--processing-time`` interval in a continuous run, where such a
file fails the task. Either way the job's failure notifications raise the alarm once per file.
"""

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

SKIPPED_EXIT_CODE = 3


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
    p.add_argument(
        "--source",
        choices=("files", "kafka"),
        default="files",
        help="files: landing files (the default); kafka: the entity's Kafka topic",
    )
    p.add_argument(
        "--kafka-bootstrap-servers",
        help="host:port of the Kafka bootstrap server (Event Hubs: <namespace>.servicebus.windows.net:9093)",
    )
    p.add_argument("--kafka-topic", help="topic of the entity (named after the entity)")
    p.add_argument(
        "--kafka-service-credential",
        help="Unity Catalog service credential (absent: a local PLAINTEXT broker)",
    )
    p.add_argument(
        "--files-report-only",
        action="store_true",
        help="only account for the landing files (no ingestion)",
    )
    p.add_argument(
        "--fail-on-skipped",
        action="store_true",
        help=f"exit {SKIPPED_EXIT_CODE} when a landing file is skipped that no run reported before",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.source == "kafka":
        raise NotImplementedError(
            "--source kafka: the Kafka bronze source is not implemented yet; allowed: --source files"
        )
    from oms_pipeline.pipeline.bronze import (
        report_landing_files,
        run_bronze,
        start_landing_report,
    )

    use_autoloader = on_databricks() if args.autoloader == "auto" else args.autoloader == "on"
    spark = get_spark("oms-bronze-ingest")
    loc = locator_from(args)
    trigger = trigger_from(args)

    def report() -> int:
        _report, new = report_landing_files(spark, loc, use_autoloader=use_autoloader)
        if new and args.fail_on_skipped:
            print(
                f"ERROR {len(new)} landing file(s) skipped (see ops.landing_files); "
                "move each into an entity folder or re-drop it under a new name",
                flush=True,
            )
            return SKIPPED_EXIT_CODE
        return 0

    if args.files_report_only:
        if trigger.available_now:
            return report()
        # Continuous: a report every interval; a new skipped file fails the query (and the task).
        start_landing_report(spark, loc, trigger, use_autoloader=use_autoloader).awaitTermination()
        return 0

    entities = args.entity or list(ENTITIES)
    queries = run_bronze(
        spark,
        loc,
        entities,
        trigger,
        use_autoloader=use_autoloader,
        max_files_per_trigger=args.max_files_per_trigger,
    )
    if args.trigger == "processingTime":
        spark.streams.awaitAnyTermination()
    del queries
    if set(entities) == set(ENTITIES):
        return report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
