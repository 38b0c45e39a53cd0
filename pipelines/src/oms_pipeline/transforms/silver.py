"""Silver transformations per entity: dedupe, derived columns, current state, SCD2 ranges."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from oms_pipeline.transforms.validate import NET_AMOUNT_TYPE, exact_net_amount

SHIPPED_STATUSES = ("SHIPPED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED")


def row_hash(*cols: str) -> Column:
    """Stable content hash of the given columns (used to skip no-op updates)."""
    return F.sha2(F.to_json(F.struct(*[F.col(c) for c in cols])), 256)


def latest_per_key(df: DataFrame, keys: list[str], order_col: str) -> DataFrame:
    """Keep one row per business key: latest ``order_col``, then latest ingestion, then a
    content hash as the final deterministic tie-breaker."""
    tiebreak = F.sha2(F.to_json(F.struct(*[F.col(c) for c in df.columns])), 256)
    w = Window.partitionBy(*keys).orderBy(
        F.col(order_col).desc_nulls_last(), F.col("_ingested_at").desc(), tiebreak.desc()
    )
    return df.withColumn("__rn", F.row_number().over(w)).where("__rn = 1").drop("__rn")


def order_lines(valid: DataFrame) -> DataFrame:
    """Derive the net amount: the source's line amount when given, else qty*price*(1-discount).

    Validation quarantines a line whose computed amount does not fit ``decimal(18,4)``
    (``out_of_range:line_amount``), and the computation here cannot fail a batch either way.
    """
    discount = F.coalesce(F.col("discount"), F.lit(0).cast("decimal(9,4)"))
    return valid.withColumn("discount", discount.cast("decimal(9,4)")).withColumn(
        "net_amount", F.coalesce(F.col("line_amount"), exact_net_amount().try_cast(NET_AMOUNT_TYPE))
    )


def shipment_current_state(events: DataFrame) -> DataFrame:
    """Current state of each shipment from its full event history (order-independent)."""
    w = Window.partitionBy("shipment_id").orderBy(
        F.col("status_ts").desc(), F.col("event_id").desc()
    )
    latest = (
        events.withColumn("__rn", F.row_number().over(w))
        .where("__rn = 1")
        .select(
            "shipment_id",
            "order_id",
            "carrier",
            "service_level",
            F.col("status").alias("current_status"),
            "status_ts",
        )
    )
    milestones = events.groupBy("shipment_id").agg(
        F.min(F.when(F.col("status").isin(*SHIPPED_STATUSES), F.col("status_ts"))).alias(
            "shipped_ts"
        ),
        F.coalesce(
            F.max("actual_delivery_ts"),
            F.min(F.when(F.col("status") == "DELIVERED", F.col("status_ts"))),
        ).alias("delivered_ts"),
        F.max_by(
            "promised_delivery_date",
            F.when(F.col("promised_delivery_date").isNotNull(), F.col("status_ts")),
        ).alias("promised_delivery_date"),
        F.count("*").alias("event_count"),
    )
    state = latest.join(milestones, "shipment_id")
    return state.withColumn(
        "_row_hash",
        row_hash(
            "order_id",
            "carrier",
            "service_level",
            "current_status",
            "status_ts",
            "shipped_ts",
            "delivered_ts",
            "promised_delivery_date",
            "event_count",
        ),
    )


def inventory_stock(events: DataFrame) -> DataFrame:
    """On hand per (sku, location): latest snapshot plus the adjustments after it."""
    keys = ["sku", "location_id"]
    snap_w = Window.partitionBy(*keys).orderBy(F.col("event_ts").desc(), F.col("event_id").desc())
    last_snap = (
        events.where(F.col("event_type") == "SNAPSHOT")
        .withColumn("__rn", F.row_number().over(snap_w))
        .where("__rn = 1")
        .select(*keys, F.col("event_ts").alias("snap_ts"), F.col("quantity").alias("snap_qty"))
    )
    joined = events.join(last_snap, keys, "left")
    after_snap = (F.col("event_type") == "ADJUSTMENT") & (
        F.col("snap_ts").isNull() | (F.col("event_ts") > F.col("snap_ts"))
    )
    status_ts = F.when(F.col("sku_status").isNotNull(), F.col("event_ts"))
    state = joined.groupBy(*keys).agg(
        (
            F.coalesce(F.first("snap_qty", ignorenulls=True), F.lit(0))
            + F.coalesce(F.sum(F.when(after_snap, F.col("quantity"))), F.lit(0))
        )
        # bigint: a sum of adjustments, each within the contract's int range, can exceed int
        # (ANSI mode would fail the whole batch on that overflow).
        .cast("bigint")
        .alias("on_hand"),
        F.max_by("sku_status", status_ts).alias("sku_status"),
        F.first("snap_ts", ignorenulls=True).alias("last_snapshot_ts"),
        F.max("event_ts").alias("last_event_ts"),
        F.count("*").alias("event_count"),
    )
    return state.withColumn(
        "_row_hash",
        row_hash("on_hand", "sku_status", "last_snapshot_ts", "last_event_ts", "event_count"),
    )


# What a current-state row keeps of the record that made it (``SILVER_LINEAGE``'s file and time).
STATE_LINEAGE = ("_source_file", "_landed_at")


def latest_record(events: DataFrame, keys: list[str]) -> DataFrame:
    """Per key, ``STATE_LINEAGE`` of the record whose arrival made its current state: among the
    events ingested last (one bronze batch can bring several), the one that landed first, so the
    state's landing -> Gold lag is that of the slowest record it publishes, never understated.
    Columns: ``keys`` + ``STATE_LINEAGE``."""
    lineage = F.struct(*STATE_LINEAGE)
    # Earliest landing first; an unknown landing time last; then the file name, for determinism.
    earliest = F.coalesce(-F.unix_micros("_landed_at"), F.lit(-(2**62)))
    order = F.struct("_ingested_at", earliest, F.coalesce(F.col("_source_file"), F.lit("")))
    return events.groupBy(*keys).agg(F.max_by(lineage, order).alias("__r")).select(*keys, "__r.*")


CUSTOMER_ATTRS = ("customer_name", "region", "segment", "country", "state", "city")


def customer_versions(valid: DataFrame) -> DataFrame:
    """New SCD2 version candidates of customers: the accepted records with ``_attr_hash``, a
    content hash of ``CUSTOMER_ATTRS``. Their ranges are the Silver contract's (``silver.toml``,
    kind ``scd2``; ``io.tables.merge_silver``)."""
    return valid.withColumn("_attr_hash", row_hash(*CUSTOMER_ATTRS))
