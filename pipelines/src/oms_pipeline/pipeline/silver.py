"""Silver: bronze stream -> validation -> quarantine | dedupe -> guarded MERGE, per entity."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts import get_contract
from oms_pipeline.io.tables import (
    add_missing_columns,
    append,
    delta_table,
    ensure_like,
    ensure_table,
    merge_insert_new,
    read_table,
    read_table_stream,
    table_exists,
)
from oms_pipeline.pipeline.streams import Trigger, finish, start_foreach_batch, writer_id
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

# The silver tables of each entity whose rows carry the landing time of their record: accepted
# records (``SILVER_LINEAGE``) and current states (``STATE_LINEAGE``, of the record that made it).
LINEAGE_TABLES = {
    "orders": ("order_lines",),
    "shipments": ("shipment_events", "shipments"),
    "inventory": ("inventory_events", "inventory_stock"),
    "customers": ("customers",),
}


def quarantine_table(entity: str) -> str:
    return f"quarantine_{entity}"


def _merge_orders(spark: SparkSession, loc: TableLocator, valid: DataFrame) -> int:
    lines = T.latest_per_key(T.order_lines(valid), ["order_id", "line_id"], "event_ts")
    ensure_like(spark, loc, "silver", "order_lines", lines, change_data_feed=True)
    # Event-time guard: an older or replayed event never overwrites a newer line state.
    (
        delta_table(spark, loc, "silver", "order_lines")
        .alias("t")
        .merge(lines.alias("s"), "t.order_id = s.order_id AND t.line_id = s.line_id")
        .whenMatchedUpdateAll(condition="s.event_ts > t.event_ts")
        .whenNotMatchedInsertAll()
        .execute()
    )
    return lines.count()


def _merge_shipments(spark: SparkSession, loc: TableLocator, valid: DataFrame) -> int:
    events = T.latest_per_key(valid, ["event_id"], "status_ts")
    ensure_like(spark, loc, "silver", "shipment_events", events, change_data_feed=True)
    merge_insert_new(spark, loc, "silver", "shipment_events", events, ["event_id"])
    touched = events.select("shipment_id").distinct()
    history = read_table(spark, loc, "silver", "shipment_events").join(
        touched, "shipment_id", "left_semi"
    )
    keys = ["shipment_id"]
    state = T.shipment_current_state(history).join(T.latest_record(history, keys), keys)
    ensure_like(spark, loc, "silver", "shipments", state, change_data_feed=True)
    (
        delta_table(spark, loc, "silver", "shipments")
        .alias("t")
        .merge(state.alias("s"), "t.shipment_id = s.shipment_id")
        .whenMatchedUpdateAll(condition="s._row_hash <> t._row_hash AND s.status_ts >= t.status_ts")
        .whenNotMatchedInsertAll()
        .execute()
    )
    return events.count()


def _merge_inventory(spark: SparkSession, loc: TableLocator, valid: DataFrame) -> int:
    events = T.latest_per_key(valid, ["event_id"], "event_ts")
    ensure_like(spark, loc, "silver", "inventory_events", events, change_data_feed=True)
    merge_insert_new(spark, loc, "silver", "inventory_events", events, ["event_id"])
    keys = ["sku", "location_id"]
    touched = events.select(*keys).distinct()
    history = read_table(spark, loc, "silver", "inventory_events").join(touched, keys, "left_semi")
    stock = T.inventory_stock(history).join(T.latest_record(history, keys), keys)
    ensure_like(spark, loc, "silver", "inventory_stock", stock, change_data_feed=True)
    (
        delta_table(spark, loc, "silver", "inventory_stock")
        .alias("t")
        .merge(stock.alias("s"), "t.sku = s.sku AND t.location_id = s.location_id")
        .whenMatchedUpdateAll(
            condition="s._row_hash <> t._row_hash AND s.last_event_ts >= t.last_event_ts"
        )
        .whenNotMatchedInsertAll()
        .execute()
    )
    return events.count()


def _merge_customers(spark: SparkSession, loc: TableLocator, valid: DataFrame) -> int:
    versions = T.latest_per_key(
        T.customer_versions(valid), ["customer_id", "valid_from"], "updated_ts"
    ).select(
        "*",
        F.lit(None).cast("timestamp").alias("valid_to"),
        F.lit(True).alias("is_current"),
    )
    ensure_like(spark, loc, "silver", "customers", versions, change_data_feed=True)
    # SCD2: every new (customer_id, updated_ts) is a version; a replayed one is not re-inserted.
    merge_insert_new(spark, loc, "silver", "customers", versions, ["customer_id", "valid_from"])
    touched = versions.select("customer_id").distinct()
    all_versions = read_table(spark, loc, "silver", "customers").join(
        touched, "customer_id", "left_semi"
    )
    ranges = T.scd2_ranges(all_versions)
    (
        delta_table(spark, loc, "silver", "customers")
        .alias("t")
        .merge(ranges.alias("s"), "t.customer_id = s.customer_id AND t.valid_from = s.valid_from")
        .whenMatchedUpdate(
            condition="NOT (t.valid_to <=> s.valid_to) OR NOT (t.is_current <=> s.is_current)",
            set={"valid_to": "s.valid_to", "is_current": "s.is_current"},
        )
        .execute()
    )
    return versions.count()


MERGERS: dict[str, Callable[[SparkSession, TableLocator, DataFrame], int]] = {
    "orders": _merge_orders,
    "shipments": _merge_shipments,
    "inventory": _merge_inventory,
    "customers": _merge_customers,
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
    for table in LINEAGE_TABLES[entity]:
        if table_exists(spark, loc, "silver", table):
            add_missing_columns(spark, loc, "silver", table, lineage)
    if table_exists(spark, loc, "ops", quarantine_table(entity)):
        kept = StructType([bronze[c] for c in QUARANTINE_LINEAGE])
        add_missing_columns(spark, loc, "ops", quarantine_table(entity), kept)
    options = {}
    if max_files_per_trigger:
        options["maxFilesPerTrigger"] = str(max_files_per_trigger)
    stream = read_table_stream(spark, loc, "bronze", entity, **options)
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
    entities: list[str],
    trigger: Trigger,
    *,
    max_files_per_trigger: int | None = None,
) -> list[StreamingQuery]:
    queries = []
    for entity in entities:
        q = start_silver(
            spark, loc, settings, entity, trigger, max_files_per_trigger=max_files_per_trigger
        )
        finish(q, trigger)
        queries.append(q)
    return queries
