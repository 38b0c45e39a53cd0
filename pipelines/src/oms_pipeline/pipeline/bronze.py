"""Bronze: landing files or Kafka events -> one append-only Delta table per entity, with lineage.

Both sources write the same table (``bronze.<entity>``) through the same idempotent writer, each
with its own checkpoint: ``<checkpoints>/bronze/<entity>/stream`` for files,
``<checkpoints>/bronze/<entity>/kafka/stream`` for events.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from functools import partial

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from oms_pipeline.config import TableLocator, bronze_table
from oms_pipeline.contracts import get_contract
from oms_pipeline.io import landing_files
from oms_pipeline.io.events import KafkaSource, read_event_stream
from oms_pipeline.io.landing import read_landing_stream
from oms_pipeline.io.landing_files import LandedFile, LandingReport
from oms_pipeline.io.tables import add_missing_columns, append, ensure_table
from oms_pipeline.pipeline.streams import Trigger, run_streams, start_foreach_batch, writer_id
from oms_pipeline.transforms.bronze import bronze_schema, stamp_batch


def start_bronze(
    spark: SparkSession,
    loc: TableLocator,
    entity: str,
    trigger: Trigger,
    *,
    use_autoloader: bool,
    max_files_per_trigger: int | None = None,
    events: KafkaSource | None = None,
) -> StreamingQuery:
    """Start the bronze stream of ``entity``: from its landing folder, or from ``events``.

    Exactly once into bronze: the checkpoint holds the files (or Kafka offsets) each micro-batch
    read, and the append carries (writer id, batch id) as Delta's ``txnAppId``/``txnVersion``,
    so a batch replayed after a crash between its append and its checkpoint commit is skipped.
    """
    contract = get_contract(entity)
    table = bronze_table(entity)
    ensure_table(
        spark,
        loc,
        "bronze",
        table,
        bronze_schema(contract),
        comment=f"Raw {entity} as landed (contract v{contract.version}), append-only.",
    )
    # A bronze table from before a lineage column existed (``_landed_at``, the Kafka lineage)
    # gets it here.
    add_missing_columns(spark, loc, "bronze", table, bronze_schema(contract))
    if events is None:
        stream = read_landing_stream(
            spark,
            contract,
            loc.landing(entity),
            use_autoloader=use_autoloader,
            schema_location=loc.checkpoint("bronze", entity, "schema"),
            max_files_per_trigger=max_files_per_trigger,
        )
        checkpoint, name = loc.checkpoint("bronze", entity), f"bronze_{entity}"
    else:
        stream = read_event_stream(spark, contract, events)
        checkpoint, name = loc.checkpoint("bronze", entity, "kafka"), f"bronze_{entity}_kafka"
    app_id = f"oms-bronze-{entity}-{writer_id(checkpoint)}"

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        # txnAppId/txnVersion: a batch replayed after a failure is skipped by Delta.
        append(stamp_batch(batch, batch_id), loc, "bronze", table, txn=(app_id, batch_id))

    writer = stream.writeStream.option("checkpointLocation", os.path.join(checkpoint, "stream"))
    return start_foreach_batch(writer, name, write_batch, trigger)


def run_bronze(
    spark: SparkSession,
    loc: TableLocator,
    entities: Sequence[str],
    trigger: Trigger,
    *,
    use_autoloader: bool,
    max_files_per_trigger: int | None = None,
    events: Mapping[str, KafkaSource | None] | None = None,
    stop: threading.Event | None = None,
) -> bool:
    """Run the bronze stream of each entity (``events``: entity -> its Kafka source, if any)
    through :func:`run_streams`: availableNow ends once each has processed what is there,
    processing-time once one of them ends. False when ``stop`` cut the run short."""
    starts = [
        partial(
            start_bronze,
            spark,
            loc,
            entity,
            trigger,
            use_autoloader=use_autoloader,
            max_files_per_trigger=max_files_per_trigger,
            events=(events or {}).get(entity),
        )
        for entity in entities
    ]
    return run_streams(starts, trigger, stop)


def report_landing_files(
    spark: SparkSession, loc: TableLocator, *, use_autoloader: bool
) -> tuple[LandingReport, list[LandedFile]]:
    """Account for every landing file, record ``ops.landing_files``, print the report.

    Returns the report and the skipped files not reported by an earlier run (alarm once).
    """
    report = landing_files.account(spark, loc, use_autoloader=use_autoloader)
    new = landing_files.record(spark, loc, report)
    landing_files.log_report(report, new)
    return report, new


class SkippedLandingFiles(RuntimeError):
    """Raised by the periodic landing-file report when a file is skipped for the first time."""


def start_landing_report(
    spark: SparkSession, loc: TableLocator, trigger: Trigger, *, use_autoloader: bool
) -> StreamingQuery:
    """The landing-file report as a streaming query: one report per ``trigger`` interval.

    A micro-batch (``rate-micro-batch`` source, one row per batch) runs
    ``report_landing_files``; when a file is skipped that no earlier report listed, the batch
    fails with ``SkippedLandingFiles`` after recording it, so the query -- and the job task that
    awaits it -- fails once per new skipped file, and a restart carries on.
    """

    def tick(batch: DataFrame, _batch_id: int) -> None:
        # The batch's own session: Spark Connect runs foreachBatch in a separate client.
        _report, new = report_landing_files(batch.sparkSession, loc, use_autoloader=use_autoloader)
        if new:
            raise SkippedLandingFiles(
                f"{len(new)} landing file(s) skipped (ops.landing_files): "
                + "; ".join(f"{f.path}: {f.reason}" for f in new[:10])
            )

    writer = (
        spark.readStream.format("rate-micro-batch")
        .option("rowsPerBatch", "1")
        .load()
        .writeStream.option("checkpointLocation", loc.checkpoint("landing_files"))
    )
    return start_foreach_batch(writer, "landing_files", tick, trigger)
