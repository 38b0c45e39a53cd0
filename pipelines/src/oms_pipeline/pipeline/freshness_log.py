"""The Gold freshness log: per Gold refresh, the landing -> Gold lag of what it published.

A refresh publishes the Silver changes after the versions the previous refresh consumed, up to
the versions it consumed itself (``RefreshReport.previous_versions`` / ``versions``; the whole
tables when none was consumed before). Each changed Silver row leads back to the landed record
that made it, and bronze holds that record's landing time (``_landed_at``: the landing file's
modification time as the file source records it):

- ``order_lines``: inserted and updated rows carry their record's ``_source_file`` themselves;
- ``customers``: inserted versions carry it (an update only closes an older version's range);
- ``shipments`` / ``inventory_stock`` (current state per key): the latest event of the key in
  ``shipment_events`` / ``inventory_events`` ingested before the state's commit.

Gold reads each change feed up to its latest version, which a Silver commit landing during the
refresh can move past the version it records; such rows are counted by the next refresh, so
their lag is, if anything, overstated.

The lag of a row is the refresh's publish time minus its file's landing time, in seconds; a
landing time after the publish counts as missing (``rows_without_landing_time``), never as a
negative lag. A
refresh that publishes nothing is recorded too (no files, no lags): a heartbeat, so "no refresh
for 3 x the objective" means that Gold stopped refreshing, not that nothing landed. The table's
name and columns are the contract ``oms_pipeline.contracts.ops``; the stack's SQL alert reads it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from oms_pipeline.config import TableLocator
from oms_pipeline.contracts.ops import FRESHNESS_COLUMNS, FRESHNESS_TABLE, freshness_ddl
from oms_pipeline.io.tables import append, ensure_table, read_changes, read_table, table_exists
from oms_pipeline.pipeline.gold import SOURCES, RefreshReport

CHANGED = ("insert", "update_postimage")


@dataclass(frozen=True)
class Lineage:
    """How a Silver source Gold consumes leads back to landed records.

    ``entity``: the bronze table of its records; ``change_types``: the change-feed rows that are
    newly published records; ``events`` / ``keys``: for a current-state table, the event table
    holding the lineage and the state's key columns (None: the rows carry it themselves).
    """

    entity: str
    change_types: tuple[str, ...] = CHANGED
    events: str | None = None
    keys: tuple[str, ...] = ()


LINEAGE: dict[str, Lineage] = {
    "order_lines": Lineage("orders"),
    "customers": Lineage("customers", change_types=("insert",)),
    "shipments": Lineage("shipments", events="shipment_events", keys=("shipment_id",)),
    "inventory_stock": Lineage("inventory", events="inventory_events", keys=("sku", "location_id")),
}
assert set(LINEAGE) == set(SOURCES), "every Silver source of Gold needs its lineage"


def _published(
    spark: SparkSession, loc: TableLocator, source: str, start: int, end: int
) -> DataFrame:
    """Rows of ``source`` changed in versions ``start..end`` (the whole table for start 0 on a
    table never consumed), with ``_commit_timestamp`` (null for the whole table)."""
    if start == 0:
        return read_table(spark, loc, "silver", source).withColumn(
            "_commit_timestamp", F.lit(None).cast("timestamp")
        )
    lin = LINEAGE[source]
    changes = read_changes(spark, loc, "silver", source, start, end)
    return changes.where(F.col("_change_type").isin(*lin.change_types))


def _records(spark: SparkSession, loc: TableLocator, source: str, rows: DataFrame) -> DataFrame:
    """(``_source_file``, ``_ingested_at``) of the landed record behind each published row."""
    lin = LINEAGE[source]
    if lin.events is None:
        return rows.select("_source_file", "_ingested_at")
    keys = list(lin.keys)
    changed = rows.groupBy(*keys).agg(F.max("_commit_timestamp").alias("_committed"))
    events = read_table(spark, loc, "silver", lin.events).select(
        *keys, "_source_file", "_ingested_at"
    )
    before = events.join(changed, keys).where(
        F.col("_committed").isNull() | (F.col("_ingested_at") <= F.col("_committed"))
    )
    latest = Window.partitionBy(*keys).orderBy(
        F.col("_ingested_at").desc(), F.col("_source_file").desc()
    )
    return (
        before.withColumn("__rn", F.row_number().over(latest))
        .where("__rn = 1")
        .select("_source_file", "_ingested_at")
    )


def _landing_times(
    spark: SparkSession, loc: TableLocator, entity: str, records: DataFrame
) -> DataFrame:
    """``records`` with the landing time of their file from ``bronze.<entity>`` (null when the
    bronze record has none). Bronze is read only within the records' ingestion-time range."""
    lo, hi = records.agg(F.min("_ingested_at"), F.max("_ingested_at")).first() or (None, None)
    if lo is None:
        return records.withColumn("_landed_at", F.lit(None).cast("timestamp"))
    landed = (
        read_table(spark, loc, "bronze", entity)
        .where(F.col("_ingested_at").between(F.lit(lo), F.lit(hi)))
        .select("_source_file", "_landed_at")
        .distinct()
    )
    return records.join(landed, "_source_file", "left")


def published_records(spark: SparkSession, loc: TableLocator, report: RefreshReport) -> DataFrame:
    """One row per Silver row the refresh published first: ``_source_file``, ``_landed_at``."""
    out: DataFrame = spark.createDataFrame([], "_source_file string, _landed_at timestamp")
    for source in SOURCES:
        end = report.versions.get(source, -1)
        start = report.previous_versions.get(source, -1) + 1
        if end < 0 or end < start or not table_exists(spark, loc, "silver", source):
            continue
        rows = _published(spark, loc, source, start, end)
        records = _records(spark, loc, source, rows)
        timed = _landing_times(spark, loc, LINEAGE[source].entity, records)
        out = out.unionByName(timed.select("_source_file", "_landed_at"))
    return out


def refresh_row(
    spark: SparkSession,
    loc: TableLocator,
    report: RefreshReport,
    published_at: dt.datetime,
    refresh_id: str,
) -> dict[str, Any]:
    """The freshness-log row of one refresh (column -> value, as in the contract)."""
    published = F.lit(published_at).cast("timestamp")
    # A landing time after the publish (a clock ahead, a file touched after it landed) is no lag:
    # it counts as unknown rather than as a negative lag that would pull p95 down.
    landed = F.when(F.col("_landed_at") <= published, F.col("_landed_at"))
    records = published_records(spark, loc, report).withColumn("_landed_at", landed)
    lag = (F.unix_micros(published) - F.unix_micros(F.col("_landed_at"))) / 1e6
    stats = (
        records.select("_source_file", "_landed_at", lag.alias("lag"))
        .agg(
            F.count_distinct("_source_file").alias("files"),
            F.count("lag").alias("rows"),
            F.count_if(F.col("_landed_at").isNull()).alias("rows_without_landing_time"),
            F.min("lag").alias("min_lag_seconds"),
            F.percentile("lag", 0.5).alias("p50_lag_seconds"),
            F.percentile("lag", 0.95).alias("p95_lag_seconds"),
            F.max("lag").alias("max_lag_seconds"),
        )
        .first()
    )
    assert stats is not None  # a global aggregate has one row
    return {
        "refresh_id": refresh_id,
        "refreshed_at": published_at,
        "full_refresh": report.full,
        "silver_versions": {k: v for k, v in sorted(report.versions.items()) if v >= 0},
        **stats.asDict(),
    }


def record_refresh(
    spark: SparkSession,
    loc: TableLocator,
    report: RefreshReport,
    published_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Append the refresh's row to ``ops.<FRESHNESS_TABLE>`` (created on first use); returns it.

    ``published_at`` (UTC; default now) is when the refresh had published every Gold table: call
    this right after ``refresh_gold`` returns.
    """
    published_at = published_at or dt.datetime.now(dt.UTC)
    row = refresh_row(spark, loc, report, published_at, str(uuid.uuid4()))
    schema = spark.createDataFrame([], freshness_ddl()).schema
    ensure_table(
        spark,
        loc,
        "ops",
        FRESHNESS_TABLE,
        schema,
        comment="Landing -> Gold lag of what each Gold refresh published (one row per refresh).",
    )
    append(spark.createDataFrame([row], schema), loc, "ops", FRESHNESS_TABLE)
    return row


def recent_refreshes(spark: SparkSession, loc: TableLocator, limit: int = 10) -> list[dict]:
    """The latest ``limit`` rows of the log, newest first (JSON-ready; [] before the first)."""
    if not table_exists(spark, loc, "ops", FRESHNESS_TABLE):
        return []
    shown = [c.name for c in FRESHNESS_COLUMNS if c.name != "silver_versions"]
    rows = (
        read_table(spark, loc, "ops", FRESHNESS_TABLE)
        .orderBy(F.col("refreshed_at").desc())
        .limit(limit)
        .select(*shown)
        .collect()
    )
    return [
        {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.asDict().items()}
        for r in rows
    ]
