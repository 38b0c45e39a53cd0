"""Ingest: every entity's landing files (and Kafka events) -> bronze -> Silver, in one streaming query.

One query reads every entity's landing folder and, when events are configured, its topic, unioned
with the entity's name in ``_entity``. Each micro-batch, for each entity it holds:

1. appends the rows to ``bronze.<entity>`` as landed, stamped with the ingestion time and batch id;
2. runs the Silver step on the same rows (``pipeline.silver.process_batch``: validation,
   quarantine with reasons, the contract's guarded MERGEs);

then appends one batch-audit row per entity (``ops.silver_batch_audit``) in one commit.

Why one query: on a small machine (two local cores, a small job cluster) every streaming query
polls, plans and commits on its own, and eight of them (bronze and silver per entity) spent more
time waiting for each other than working (``BENCHMARKS.md``, the profile). Silver reading the
micro-batch bronze just wrote, instead of streaming the bronze table, also removes a trigger
interval from the landing -> Silver path.

Exactly once, as before: the checkpoint holds the files (and Kafka offsets) each micro-batch read;
the bronze, quarantine and audit appends carry (writer id, batch id) as Delta's
``txnAppId``/``txnVersion``, so a batch replayed after a crash skips what it had written; the Silver
MERGEs are idempotent (the same rows, the same guarded result).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import StructType

from oms_pipeline.config import PipelineSettings, TableLocator, bronze_table, quarantine_table
from oms_pipeline.contracts import get_contract
from oms_pipeline.io import landing_files
from oms_pipeline.io.events import KafkaSource, read_event_stream
from oms_pipeline.io.landing import read_landing_stream
from oms_pipeline.io.landing_files import LandedFile, LandingReport
from oms_pipeline.io.tables import add_missing_columns, append, ensure_table, table_exists
from oms_pipeline.pipeline.silver import AUDIT_SCHEMA, AUDIT_TABLE, audit_rows, process_batch
from oms_pipeline.pipeline.streams import Trigger, run_stream, start_foreach_batch, writer_id
from oms_pipeline.transforms import silver as T
from oms_pipeline.transforms.bronze import bronze_schema, stamp_batch
from oms_pipeline.transforms.validate import QUARANTINE_LINEAGE

ENTITY_COLUMN = "_entity"
QUERY_NAME = "ingest"

# (batch_id, rows, stats) -> None, called once a micro-batch's writes are done (before Spark
# commits it in the checkpoint): its bronze rows of every entity, tagged with ``_entity``, and
# entity -> the record accounting of its rows.
BatchCallback = Callable[[int, DataFrame, dict[str, dict[str, int]]], None]


class SourcesChanged(ValueError):
    """The checkpoint was made for other sources than the ones this start reads."""


def checkpoint_dir(loc: TableLocator, *, files: bool, events: bool) -> str:
    """The query's checkpoint folder: one per kind of source read (files, events or both), so a
    local run can switch between the landing folders and a broker and resume either."""
    kinds = "+".join(k for k, on in (("files", files), ("events", events)) if on)
    return loc.checkpoint(QUERY_NAME, kinds)


def _sources_file(checkpoint: str) -> str:
    return os.path.join(checkpoint, "_sources.json")


def recorded_sources(checkpoint: str) -> list[str] | None:
    """The sources the query checkpointed in ``checkpoint`` reads, in plan order (None: it never
    started): ``files:<entity>`` and ``events:<entity>:<topic>``."""
    path = _sources_file(checkpoint)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return list(json.load(fh))


def check_sources(checkpoint: str, sources: list[str]) -> None:
    """Record the query's sources beside its checkpoint on the first start; refuse a later start
    that reads others.

    Structured Streaming identifies a query's sources by their position in the plan, and changing
    their number or kind under one checkpoint "is not allowed" (Structured Streaming Programming
    Guide, "Recovery Semantics after Changes in a Streaming Query"): offsets would be read back
    into the wrong source. Raises ``SourcesChanged`` naming both lists and the way out.
    """
    before = recorded_sources(checkpoint)
    if before is None:
        os.makedirs(checkpoint, exist_ok=True)
        with open(_sources_file(checkpoint), "w", encoding="utf-8") as fh:
            json.dump(sources, fh)
    elif before != sources:
        raise SourcesChanged(
            f"the ingest checkpoint {checkpoint} was made for the sources {before}; this start "
            f"reads {sources}. A streaming query cannot change its sources under one "
            "checkpoint: read the same entities, or give a new --checkpoint-root (the new query "
            "reads every source from its beginning)"
        )


def file_streams(loc: TableLocator) -> list[tuple[str, list[int]]]:
    """(stream checkpoint, positions of its file sources) of each ingest query that has read
    landing files: what the landing-file report checks the landed files against."""
    out = []
    for events in (False, True):
        checkpoint = checkpoint_dir(loc, files=True, events=events)
        names = recorded_sources(checkpoint) or []
        files = [i for i, name in enumerate(names) if name.startswith("files:")]
        if files:
            out.append((os.path.join(checkpoint, "stream"), files))
    return out


def account_landing(
    spark: SparkSession, loc: TableLocator, *, use_autoloader: bool
) -> LandingReport:
    """Every landing file, classified against what the ingest queries have read
    (``io.landing_files.account``)."""
    return landing_files.account(spark, loc, file_streams(loc), use_autoloader=use_autoloader)


def prepare_tables(spark: SparkSession, loc: TableLocator, entities: Sequence[str]) -> None:
    """Create the bronze tables and the batch audit before the query starts, and give tables from
    before a lineage column existed that column (older rows read NULL)."""
    ensure_table(spark, loc, "ops", AUDIT_TABLE, AUDIT_SCHEMA)
    for entity in entities:
        contract = get_contract(entity)
        schema = bronze_schema(contract)
        table = bronze_table(entity)
        comment = f"Raw {entity} as landed (contract v{contract.version}), append-only."
        ensure_table(spark, loc, "bronze", table, schema, comment=comment)
        add_missing_columns(spark, loc, "bronze", table, schema)
        bronze = {f.name: f for f in schema.fields}
        lineage = StructType([bronze[c] for c in T.STATE_LINEAGE])
        for silver in contract.silver_tables:
            if table_exists(spark, loc, "silver", silver):
                add_missing_columns(spark, loc, "silver", silver, lineage)
        if table_exists(spark, loc, "ops", quarantine_table(entity)):
            kept = StructType([bronze[c] for c in QUARANTINE_LINEAGE])
            add_missing_columns(spark, loc, "ops", quarantine_table(entity), kept)


def source_stream(
    spark: SparkSession,
    loc: TableLocator,
    entities: Sequence[str],
    *,
    files: bool,
    use_autoloader: bool,
    max_files_per_trigger: int | None,
    events: Mapping[str, KafkaSource],
) -> tuple[DataFrame, list[str]]:
    """(the union of every source, the sources' names in plan order).

    Each entity's landing folder (``files``) and topic (``events``) is read by its own reader
    (``io.landing``, ``io.events``) and tagged with ``_entity``; the union takes every column of
    every entity (absent ones NULL), and the micro-batch selects each entity's own back.
    """
    streams: list[DataFrame] = []
    names: list[str] = []
    for entity in entities:
        contract = get_contract(entity)
        if files:
            streams.append(
                read_landing_stream(
                    spark,
                    contract,
                    loc.landing(entity),
                    use_autoloader=use_autoloader,
                    schema_location=loc.checkpoint(QUERY_NAME, "schema", entity),
                    max_files_per_trigger=max_files_per_trigger,
                ).withColumn(ENTITY_COLUMN, F.lit(entity))
            )
            names.append(f"files:{entity}")
        if entity in events:
            streams.append(
                read_event_stream(spark, contract, events[entity]).withColumn(
                    ENTITY_COLUMN, F.lit(entity)
                )
            )
            names.append(f"events:{entity}:{events[entity].topic}")
    if not streams:
        raise ValueError("ingest reads nothing: give landing files, events or both")
    union = streams[0]
    for stream in streams[1:]:
        union = union.unionByName(stream, allowMissingColumns=True)
    return union, names


def bronze_rows(batch: DataFrame, entity: str) -> DataFrame:
    """``batch``'s rows in the columns of ``bronze.<entity>``, in its order; a column no source of
    the batch has (the Kafka lineage of a file, the file of an event) is NULL."""
    present = set(batch.columns)
    return batch.select(
        *(
            F.col(f.name) if f.name in present else F.lit(None).cast(f.dataType).alias(f.name)
            for f in bronze_schema(get_contract(entity)).fields
        )
    )


def process_ingest_batch(
    spark: SparkSession,
    loc: TableLocator,
    settings: PipelineSettings,
    batch: DataFrame,
    batch_id: int,
    app_id: str,
    on_batch: BatchCallback | None = None,
) -> dict[str, dict[str, int]]:
    """One micro-batch of the ingest query: bronze, then Silver, per entity it holds; then one
    audit append. Returns entity -> the record accounting of its rows."""
    # Read and parse the sources once, eagerly, and cut the lineage: a cached plan is not always
    # substituted inside Delta's MERGE (its source was read and parsed from the landing files
    # again for every MERGE: 13-17 s each instead of 2-4 s on the benchmark's 183,557 events).
    stamped = stamp_batch(batch, batch_id).localCheckpoint()
    present = sorted(r[0] for r in stamped.select(ENTITY_COLUMN).distinct().collect())
    rows: dict[str, DataFrame] = {}
    for entity in present:
        rows[entity] = bronze_rows(stamped.where(F.col(ENTITY_COLUMN) == entity), entity)
        txn = (f"oms-bronze-{entity}-{app_id}", batch_id)
        append(rows[entity], loc, "bronze", bronze_table(entity), txn=txn)
    stats = {
        entity: process_batch(spark, loc, settings, entity, rows[entity], batch_id, app_id)
        for entity in present
    }
    if stats:
        append(
            audit_rows(spark, batch_id, stats),
            loc,
            "ops",
            AUDIT_TABLE,
            txn=(f"oms-audit-{app_id}", batch_id),
        )
    if on_batch is not None:
        on_batch(batch_id, stamped, stats)
    return stats


def start_ingest(
    spark: SparkSession,
    loc: TableLocator,
    settings: PipelineSettings,
    entities: Sequence[str],
    trigger: Trigger,
    *,
    files: bool = True,
    use_autoloader: bool = False,
    max_files_per_trigger: int | None = None,
    events: Mapping[str, KafkaSource] | None = None,
    on_batch: BatchCallback | None = None,
) -> StreamingQuery:
    """Start the ingest query over ``entities``: their landing folders (``files``) and the topics
    of ``events`` (entity -> its Kafka source). ``on_batch`` as in :func:`process_ingest_batch`.

    Raises ``SourcesChanged`` when the checkpoint was made for other sources, ``ValueError``
    when there is nothing to read.
    """
    events = dict(events or {})
    checkpoint = checkpoint_dir(loc, files=files, events=bool(events))
    stream, names = source_stream(
        spark,
        loc,
        entities,
        files=files,
        use_autoloader=use_autoloader,
        max_files_per_trigger=max_files_per_trigger,
        events=events,
    )
    check_sources(checkpoint, names)
    prepare_tables(spark, loc, entities)
    app_id = writer_id(checkpoint)

    def run(batch: DataFrame, batch_id: int) -> None:
        # The batch's own session: under Spark Connect this function runs server-side.
        process_ingest_batch(batch.sparkSession, loc, settings, batch, batch_id, app_id, on_batch)

    writer = stream.writeStream.option("checkpointLocation", os.path.join(checkpoint, "stream"))
    return start_foreach_batch(writer, QUERY_NAME, run, trigger)


def run_ingest(
    spark: SparkSession,
    loc: TableLocator,
    settings: PipelineSettings,
    entities: Sequence[str],
    trigger: Trigger,
    *,
    stop: threading.Event | None = None,
    **options: object,
) -> bool:
    """Run the ingest query (``options`` as for :func:`start_ingest`) through
    :func:`~oms_pipeline.pipeline.streams.run_stream`: availableNow ends once everything there
    is processed, processing-time when the query ends. False when ``stop`` cut the run short."""
    start = partial(start_ingest, spark, loc, settings, entities, trigger, **options)
    return run_stream(start, trigger, stop)


# --- the landing-file report ------------------------------------------------------------------
def report_landing_files(
    spark: SparkSession, loc: TableLocator, *, use_autoloader: bool
) -> tuple[LandingReport, list[LandedFile]]:
    """Account for every landing file, record ``ops.landing_files``, print the report.

    Returns the report and the skipped files not reported by an earlier run (alarm once).
    """
    report = account_landing(spark, loc, use_autoloader=use_autoloader)
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
