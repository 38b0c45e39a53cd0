"""Job task: landing files (Autoloader on Databricks, file stream locally) and Kafka events
(Event Hubs' Kafka endpoint on Databricks, a local broker elsewhere) -> bronze -> Silver, in one
streaming query (``pipeline.ingest``).

Events are read too when ``--kafka-bootstrap-servers`` is given: ``--kafka-topic ENTITY=TOPIC``
names each entity's topic (default: the entity's name, ``io.events.entity_topic``), and
``--kafka-service-credential`` the Unity Catalog service credential that authenticates to Event
Hubs (absent: a local PLAINTEXT broker). ``--no-files`` reads events only.

With every entity's landing folder read (the default), an availableNow run ends with the
landing-file report: every file under the landing root is ingested, pending or reported as
skipped (``ops.landing_files``, console). ``--files-report-only`` runs the report alone (the
ingestion job's ``landing_files`` task): once with ``--trigger availableNow``, where
``--fail-on-skipped`` exits 3 when a file is skipped that no earlier report listed; every
``--processing-time`` interval in a continuous run, where such a file fails the task. Either way
the job's failure notifications raise the alarm once per file.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.io.events import KafkaSource, entity_topic
from oms_pipeline.jobs.common import (
    add_entity_arg,
    add_location_args,
    add_trigger_args,
    locator_from,
    settings_from,
    trigger_from,
)
from oms_pipeline.session import get_spark, on_databricks

SKIPPED_EXIT_CODE = 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oms-ingest", description=__doc__, allow_abbrev=False)
    add_location_args(p)
    add_entity_arg(p, multiple=True)
    add_trigger_args(p)
    p.add_argument(
        "--autoloader",
        choices=("auto", "on", "off"),
        default="auto",
        help="auto: Autoloader on Databricks, plain file stream elsewhere",
    )
    p.add_argument("--no-files", action="store_true", help="read no landing folders (events only)")
    p.add_argument("--kafka-bootstrap-servers", help="host:port of the Kafka endpoint")
    p.add_argument(
        "--kafka-topic",
        action="append",
        metavar="ENTITY=TOPIC",
        help="an entity's topic (event hub); repeat per entity (default: the entity's name)",
    )
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


KAFKA_FLAGS = ("kafka_topic", "kafka_service_credential", "max_offsets_per_trigger")


def kafka_sources_from(
    parser: argparse.ArgumentParser, args: argparse.Namespace, entities: Sequence[str]
) -> dict[str, KafkaSource]:
    """Entity -> its Kafka source, from the flags; exits 2 (argparse) naming the flag that does not
    fit: Kafka flags without ``--kafka-bootstrap-servers``, a topic flag that is not
    ``ENTITY=TOPIC`` or names an entity not read, a malformed server or topic."""
    if not args.kafka_bootstrap_servers:
        given = [f"--{f.replace('_', '-')}" for f in KAFKA_FLAGS if getattr(args, f) is not None]
        if given:
            parser.error(f"{', '.join(given)}: only with --kafka-bootstrap-servers")
        return {}
    topics = {e: entity_topic(e) for e in entities}
    for item in args.kafka_topic or []:
        entity, sep, topic = item.partition("=")
        if not sep or entity not in topics:
            parser.error(
                f"--kafka-topic {item!r}: expected ENTITY=TOPIC with ENTITY one of "
                f"{', '.join(entities)}"
            )
        topics[entity] = topic
    try:
        return {
            e: KafkaSource(
                bootstrap_servers=args.kafka_bootstrap_servers,
                topic=topic,
                service_credential=args.kafka_service_credential,
                max_offsets_per_trigger=args.max_offsets_per_trigger,
            )
            for e, topic in topics.items()
        }
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    entities = args.entity or list(ENTITIES)
    events = kafka_sources_from(parser, args, entities)
    if args.no_files and not events:
        parser.error("--no-files reads events only: give --kafka-bootstrap-servers")
    if args.files_report_only and (events or args.no_files):
        parser.error(
            "--files-report-only accounts for landing files: no Kafka flags, no --no-files"
        )
    from oms_pipeline.pipeline.ingest import (
        report_landing_files,
        run_ingest,
        start_landing_report,
    )
    from oms_pipeline.pipeline.streams import run_stream

    use_autoloader = on_databricks() if args.autoloader == "auto" else args.autoloader == "on"
    spark = get_spark("oms-ingest")
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
        run_stream(
            lambda: start_landing_report(spark, loc, trigger, use_autoloader=use_autoloader),
            trigger,
        )
        return 0

    run_ingest(
        spark,
        loc,
        settings_from(args),
        entities,
        trigger,
        files=not args.no_files,
        use_autoloader=use_autoloader,
        max_files_per_trigger=args.max_files_per_trigger,
        events=events,
    )
    if not args.no_files and set(entities) == set(ENTITIES) and trigger.available_now:
        return report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
