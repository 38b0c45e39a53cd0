"""Silver: bronze stream -> validation -> quarantine | dedupe -> guarded MERGE, per entity."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from oms_pipeline.config import PipelineSettings, TableLocator, bronze_table, quarantine_table
from oms_pipeline.contracts import get_contract
from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.io.tables import (
    add_missing_columns,
    append,
    ensure_like,
    ensure_table,
    merge_silver,
    read_table,
    read_table_stream,
    table_exists,
)
from oms_pipeline.pipeline.streams import Trigger, run_streams, start_foreach_batch, writer_id
from oms_pipeline.transforms import silver as T
from oms_pipeline.transforms.bronze import bronze_schema
from oms_pipeline.transforms.validate import (
    QUARANTINE_LINEAGE,
    REASONS,
    quarantine_rows,
    typed_valid,
    validate,
)

AUDIT_TABLE = "silver_batch_audit"
# One row per silver micro-batch and entity: the record accounting of the batch.
AUDIT_SCHEMA = StructType(
    [
        StructField("entity", StringType()),
        StructField("silver_batch_id", LongType()),
        *(
            StructField(c, LongType())
            for c in ("rows_in", "accepted", "quarantined", "duplicates_in_batch")
        ),
        StructField("processed_at", TimestampType()),
    ]
)

# (entity, batch_id, batch, stats) -> None, called after a silver micro-batch is written.
BatchCallback = Callable[[str, int, DataFrame, dict[str, int]], None]


# How an entity's accepted (typed, valid) records become the rows of its first Silver table, for
# the entities whose rows are not the records as accepted; the tables, their keys and the guards
# of their MERGEs are the Silver contract's (silver.toml).
ROWS: dict[str, Callable[[DataFrame], DataFrame]] = {
    "orders": T.order_lines,
    "customers": T.customer_versions,
}
# How an entity's current state (its table after the first) is computed from the first table's
# history of the touched keys.
STATES: dict[str, Callable[[DataFrame], DataFrame]] = {
    "shipments": T.shipment_current_state,
    "inventory": T.inventory_stock,
}


def merge_entity(entity: str, spark: SparkSession, loc: TableLocator, valid: DataFrame) -> int:
    """Write one batch of accepted records of ``entity`` into its Silver tables, in the order and
    with the MERGE each declares (``EntityContract.silver``, via
    :func:`~oms_pipeline.io.tables.merge_silver`). Returns the number of distinct rows the batch
    gave the first table (the batch's duplicates are the rest).

    The first table gets the latest row per row key of the batch (latest event time, then latest
    ingestion); an SCD2 table also gets its ranges recomputed (``io.tables.scd2_ranges``). A
    later table is the current state of the first's stored history for the keys the batch touched
    (``STATES``), with the lineage of the record that made it (``T.latest_record``).
    """
    first, *states = get_contract(entity).silver
    rows = ROWS[entity](valid) if entity in ROWS else valid
    rows = T.latest_per_key(rows, list(first.record_keys), first.event_time)
    merge_silver(spark, loc, first, rows)
    for table in states:
        keys = list(table.keys)
        history = read_table(spark, loc, "silver", first.name).join(
            rows.select(*keys).distinct(), keys, "left_semi"
        )
        state = STATES[entity](history).join(T.latest_record(history, keys), keys)
        merge_silver(spark, loc, table, state)
    return rows.count()


_UNMAPPED = [e for e in ENTITIES if len(get_contract(e).silver) > 1 and e not in STATES]
if _UNMAPPED:
    raise ValueError(
        "pipeline/silver.py: STATES must cover every entity with a state table after its "
        f"history in the Silver contract; missing: {', '.join(_UNMAPPED)}"
    )

MERGERS: dict[str, Callable[[SparkSession, TableLocator, DataFrame], int]] = {
    entity: partial(merge_entity, entity) for entity in ENTITIES
}


def process_batch(
    spark: SparkSession,
    loc: TableLocator,
    settings: PipelineSettings,
    entity: str,
    batch: DataFrame,
    batch_id: int,
    app_id: str = "",
) -> dict[str, int]:
    """One silver micro-batch. Returns the record accounting of the batch."""
    contract = get_contract(entity)
    validated = validate(batch, contract, settings).persist()
    try:
        counts = validated.agg(
            F.count("*").alias("rows_in"),
            F.count_if(F.size(REASONS) > 0).alias("quarantined"),
        ).first()
        rows_in, quarantined = int(counts["rows_in"]), int(counts["quarantined"])
        if quarantined:
            bad = quarantine_rows(validated, contract)
            ensure_like(spark, loc, "ops", quarantine_table(entity), bad)
            append(
                bad,
                loc,
                "ops",
                quarantine_table(entity),
                txn=(f"oms-quarantine-{entity}-{app_id}", batch_id),
            )
        accepted = rows_in - quarantined
        unique = MERGERS[entity](spark, loc, typed_valid(validated, contract)) if accepted else 0
        stats = {
            "rows_in": rows_in,
            "accepted": accepted,
            "quarantined": quarantined,
            "duplicates_in_batch": accepted - unique,
        }
        audit = spark.createDataFrame(
            [(entity, int(batch_id), *stats.values(), None)], AUDIT_SCHEMA
        ).withColumn("processed_at", F.current_timestamp())
        append(audit, loc, "ops", AUDIT_TABLE, txn=(f"oms-audit-{entity}-{app_id}", batch_id))
        return stats
    finally:
        validated.unpersist()


def prepare_silver(spark: SparkSession, loc: TableLocator) -> None:
    """Create the tables every entity's silver stream writes (the batch audit).

    The four silver tasks of the Databricks job start together; had each created the audit table
    on its first micro-batch, Delta would have rejected all but one of the concurrent creations
    (``DELTA_PROTOCOL_CHANGED``) and failed those batches. Creation here runs before any stream
    starts and is idempotent with retry (:func:`~oms_pipeline.io.tables.ensure_table`), so tasks
    starting at the same instant all find the table.
    """
    ensure_table(spark, loc, "ops", AUDIT_TABLE, AUDIT_SCHEMA)


def start_silver(
    spark: SparkSession,
    loc: TableLocator,
    settings: PipelineSettings,
    entity: str,
    trigger: Trigger,
    *,
    max_files_per_trigger: int | None = None,
    on_batch: BatchCallback | None = None,
) -> StreamingQuery:
    """Start the silver stream of one entity. ``on_batch`` (optional) is called after each
    committed micro-batch with (entity, batch_id, batch, stats) -- e.g. for freshness tracking.

    The tables the four entities' streams share are created first (:func:`prepare_silver`), so
    no micro-batch ever creates a table another stream writes too.
    """
    prepare_silver(spark, loc)
    # Tables from before a lineage column joined their rows get it (older rows read NULL).
    bronze = {f.name: f for f in bronze_schema(get_contract(entity)).fields}
    lineage = StructType([bronze[c] for c in T.STATE_LINEAGE])
    for table in get_contract(entity).silver_tables:
        if table_exists(spark, loc, "silver", table):
            add_missing_columns(spark, loc, "silver", table, lineage)
    if table_exists(spark, loc, "ops", quarantine_table(entity)):
        kept = StructType([bronze[c] for c in QUARANTINE_LINEAGE])
        add_missing_columns(spark, loc, "ops", quarantine_table(entity), kept)
    options = {}
    if max_files_per_trigger:
        options["maxFilesPerTrigger"] = str(max_files_per_trigger)
    stream = read_table_stream(spark, loc, "bronze", bronze_table(entity), **options)
    app_id = writer_id(loc.checkpoint("silver", entity))

    def run(batch: DataFrame, batch_id: int) -> None:
        # The batch's own session: under Spark Connect this function runs server-side.
        stats = process_batch(batch.sparkSession, loc, settings, entity, batch, batch_id, app_id)
        if on_batch is not None:
            on_batch(entity, batch_id, batch, stats)

    writer = stream.writeStream.option(
        "checkpointLocation", loc.checkpoint("silver", entity, "stream")
    )
    return start_foreach_batch(writer, f"silver_{entity}", run, trigger)


def run_silver(
    spark: SparkSession,
    loc: TableLocator,
    settings: PipelineSettings,
    entities: Sequence[str],
    trigger: Trigger,
    *,
    max_files_per_trigger: int | None = None,
    on_batch: BatchCallback | None = None,
    stop: threading.Event | None = None,
) -> bool:
    """Run the silver stream of each entity through :func:`run_streams` (see
    :func:`run_bronze`); ``on_batch`` as in :func:`start_silver`. False when ``stop`` cut the
    run short."""
    starts = [
        partial(
            start_silver,
            spark,
            loc,
            settings,
            entity,
            trigger,
            max_files_per_trigger=max_files_per_trigger,
            on_batch=on_batch,
        )
        for entity in entities
    ]
    return run_streams(starts, trigger, stop)
