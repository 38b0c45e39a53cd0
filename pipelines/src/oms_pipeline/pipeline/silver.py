"""Silver: one entity's bronze rows -> validation -> quarantine | dedupe -> guarded MERGE.

The ingest query (``pipeline.ingest``) runs it on each micro-batch, after bronze."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from oms_pipeline.config import PipelineSettings, TableLocator, quarantine_table
from oms_pipeline.contracts import get_contract
from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.io.tables import append, ensure_like, merge_silver, read_table
from oms_pipeline.transforms import silver as T
from oms_pipeline.transforms.validate import REASONS, quarantine_rows, typed_valid, validate

AUDIT_TABLE = "silver_batch_audit"
AUDIT_COUNTS = ("rows_in", "accepted", "quarantined", "duplicates_in_batch")
# One row per silver micro-batch and entity: the record accounting of the batch.
AUDIT_SCHEMA = StructType(
    [
        StructField("entity", StringType()),
        StructField("silver_batch_id", LongType()),
        *(StructField(c, LongType()) for c in AUDIT_COUNTS),
        StructField("processed_at", TimestampType()),
    ]
)

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
    """The Silver step of one micro-batch of ``entity``'s bronze rows: validation, quarantine
    (appended with the transaction id (``app_id``, ``batch_id``)) and the contract's MERGEs.
    Returns the record accounting of the rows (the audit row's counts, :func:`audit_rows`)."""
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
        return stats
    finally:
        validated.unpersist()


def audit_rows(spark: SparkSession, batch_id: int, stats: dict[str, dict[str, int]]) -> DataFrame:
    """The batch-audit rows of one micro-batch (``AUDIT_SCHEMA``): entity -> its accounting, as
    :func:`process_batch` returns it; ``processed_at`` is the time of the write."""
    rows = [(e, int(batch_id), *(s[c] for c in AUDIT_COUNTS), None) for e, s in stats.items()]
    return spark.createDataFrame(rows, AUDIT_SCHEMA).withColumn(
        "processed_at", F.current_timestamp()
    )
