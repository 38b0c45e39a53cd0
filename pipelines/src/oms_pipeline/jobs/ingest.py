"""Job task: landing files (Autoloader on Databricks, file stream locally) or Kafka events
(Event Hubs' Kafka endpoint on Databricks, a local broker elsewhere) -> bronze tables.

``--source kafka`` reads one entity's topic: ``--entity``, ``--kafka-bootstrap-servers`` and
``--kafka-topic`` are required; ``--kafka-service-credential`` names the Unity Catalog service
credential that authenticates to Event Hubs (absent: a local PLAINTEXT broker).

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
from oms_pipeline.io.events import KafkaSource
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
        help="files: the landing folders (default); kafka: one entity's topic",
    )
    p.add_argument("--kafka-bootstrap-servers", help="host:port of the Kafka endpoint")
    p.add_argument("--kafka-topic", help="the entity's topic (event hub)")
    p.add_argument(
        "--kafka-service-credential",
        help="Unity Catalog service credential for Event Hubs (absent: local PLAINTEXT broker)",
    )
    p.add_argument(
        "--max-offsets-per-trigger", type=int, default=None, help="cap Kafka records per batch"
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


KAFKA_FLAGS = (
    "kafka_bootstrap_servers",
    "kafka_topic",
    "kafka_service_credential",
    "max_offsets_per_trigger",
)


def _check_source(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit 2 (argparse) naming the flag when flags do not fit ``--source``."""
    given = [f"--{f.replace('_', '-')}" for f in KAFKA_FLAGS if getattr(args, f) is not None]
    if args.source == "files":
        if given:
            parser.error(f"{', '.join(given)}: only with --source kafka")
        return
    missing = [
        flag
        for flag, value in (
            ("--kafka-bootstrap-servers", args.kafka_bootstrap_servers),
            ("--kafka-topic", args.kafka_topic),
        )
        if not value
    ]
    if missing:
        parser.error(f"--source kafka needs {' and '.join(missing)}")
    if not args.entity or len(args.entity) != 1:
        parser.error("--source kafka reads one topic: give exactly one --entity")
    if args.files_report_only or args.fail_on_skipped or args.max_files_per_trigger:
        parser.error(
            "--files-report-only, --fail-on-skipped and --max-files-per-trigger are for "
            "--source files"
        )


def kafka_source_from(args: argparse.Namespace) -> KafkaSource:
    return KafkaSource(
        bootstrap_servers=args.kafka_bootstrap_servers,
        topic=args.kafka_topic,
        service_credential=args.kafka_service_credential,
        max_offsets_per_trigger=args.max_offsets_per_trigger,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_source(parser, args)
    if args.source == "kafka":
        try:
            source = kafka_source_from(args)
        except ValueError as exc:
            parser.error(str(exc))
    from oms_pipeline.pipeline.bronze import (
        report_landing_files,
        run_bronze,
        start_landing_report,
    )
    from oms_pipeline.pipeline.streams import run_streams

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

    if args.source == "kafka":
        run_bronze(
            spark, loc, args.entity, trigger, use_autoloader=False, events={args.entity[0]: source}
        )
        return 0

    if args.files_report_only:
        if trigger.available_now:
            return report()
        # Continuous: a report every interval; a new skipped file fails the query (and the task).
        run_streams(
            [lambda: start_landing_report(spark, loc, trigger, use_autoloader=use_autoloader)],
            trigger,
        )
        return 0

    entities = args.entity or list(ENTITIES)
    run_bronze(
        spark,
        loc,
        entities,
        trigger,
        use_autoloader=use_autoloader,
        max_files_per_trigger=args.max_files_per_trigger,
    )
    if set(entities) == set(ENTITIES):
        return report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
