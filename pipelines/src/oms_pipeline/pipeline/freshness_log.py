"""The Gold freshness log: per Gold refresh, the landing -> Gold lag of what it published.

A refresh publishes the Silver changes after the versions the previous refresh consumed, up to
the versions it consumed itself (``RefreshReport.previous_versions`` / ``versions``; the whole
tables when none was consumed before). Each changed Silver row leads back to the landed record
that made it, and silver keeps that record's landing time with it (``_landed_at``, from bronze:
the landing file's modification time, or the Kafka record timestamp of an event):

- ``order_lines``: inserted and updated rows carry their record's lineage themselves;
- ``customers``: inserted versions carry it (an update only closes an older version's range);
- ``shipments`` / ``inventory_stock`` (current state per key): inserted and updated states carry
  the lineage of the event that made them (of the last-ingested ones, the earliest landed:
  ``transforms.silver.latest_record``), one record per state row.

Gold reads each change feed up to its latest version, which a Silver commit landing during the
refresh can move past the version it records; such rows are counted by the next refresh, so
their lag is, if anything, overstated.

The lag of a row is the refresh's publish time minus its landing time, in seconds; a landing
time after the publish, or none (a row written before silver kept it), counts as missing
(``rows_without_landing_time``), never as a negative lag. A refresh that publishes nothing is
recorded too (no rows, no lags): a heartbeat, so "no refresh for 3 x the objective" means that
Gold stopped refreshing, not that nothing landed. The table's name, columns and properties are
the contract ``oms_pipeline.contracts.ops`` (``ops.toml``); the stack's SQL alert reads it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from oms_pipeline.config import TableLocator
from oms_pipeline.contracts.ops import (
    FRESHNESS_COLUMNS,
    FRESHNESS_COMMENT,
    FRESHNESS_PROPERTIES,
    FRESHNESS_TABLE,
    freshness_ddl,
)
from oms_pipeline.io.tables import (
    add_missing_columns,
    append,
    ensure_table,
    read_changes,
    read_table,
    table_exists,
)
from oms_pipeline.pipeline.gold import SOURCES, RefreshReport

CHANGED = ("insert", "update_postimage")
# What the log needs of each published row's record: column -> type.
RECORD = {"_source_file": "string", "_landed_at": "timestamp"}


# The change-feed rows that are newly published records, per Silver source of Gold: an update
# of a customer version only closes its range, so only its inserts are new.
PUBLISHED_CHANGES: dict[str, tuple[str, ...]] = {
    "order_lines": CHANGED,
    "customers": ("insert",),
    "shipments": CHANGED,
    "inventory_stock": CHANGED,
}
assert set(PUBLISHED_CHANGES) == set(SOURCES), "every Silver source of Gold needs its changes"


def _with_record(df: DataFrame) -> DataFrame:
    """``df`` with the ``RECORD`` columns, null where a table predates them."""
    for name, kind in RECORD.items():
        if name not in df.columns:
            df = df.withColumn(name, F.lit(None).cast(kind))
    return df


def _published(
    spark: SparkSession, loc: TableLocator, source: str, start: int, end: int
) -> DataFrame:
    """The ``RECORD`` of each row of ``source`` changed in versions ``start..end`` (the whole
    table for start 0 on a table never consumed)."""
    if start == 0:
        rows = read_table(spark, loc, "silver", source)
    else:
        rows = read_changes(spark, loc, "silver", source, start, end).where(
            F.col("_change_type").isin(*PUBLISHED_CHANGES[source])
        )
    return _with_record(rows).select(*RECORD)


def published_records(spark: SparkSession, loc: TableLocator, report: RefreshReport) -> DataFrame:
    """One row per Silver row the refresh published first: ``_source_file`` (null for an
    event), ``_landed_at`` (null when unknown)."""
    out: DataFrame = spark.createDataFrame([], ", ".join(f"{c} {t}" for c, t in RECORD.items()))
    for source in SOURCES:
        end = report.versions.get(source, -1)
        start = report.previous_versions.get(source, -1) + 1
        if end < 0 or end < start or not table_exists(spark, loc, "silver", source):
            continue
        out = out.unionByName(_published(spark, loc, source, start, end))
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
            # An event has no file but a landing time (its record timestamp); a row with
            # neither predates the lineage and is only counted as without a landing time.
            F.count_if(F.col("_source_file").isNull() & F.col("_landed_at").isNotNull()).alias(
                "events"
            ),
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


def _log_schema(spark: SparkSession) -> StructType:
    return spark.createDataFrame([], freshness_ddl()).schema


# Logs this process has prepared, by table name: a refresh only appends to a prepared log.
_PREPARED: set[str] = set()


def prepare_freshness_log(spark: SparkSession, loc: TableLocator) -> None:
    """Create ``ops.<FRESHNESS_TABLE>`` as the contract declares it (columns, NOT NULL, comment,
    properties) unless it exists, and add the columns a table from an older contract lacks.

    Call it once per process at start (the Gold job's start, the live run's start), off the
    refresh path; :func:`record_refresh` calls it itself for a log this process has not prepared
    yet, so a log is never created by a bare append (without its comment and properties). On
    Databricks the stack declares the table (``components/freshnessAlert.ts``), so this finds it.
    """
    schema = _log_schema(spark)
    ensure_table(
        spark,
        loc,
        "ops",
        FRESHNESS_TABLE,
        schema,
        comment=FRESHNESS_COMMENT,
        properties=FRESHNESS_PROPERTIES,
    )
    add_missing_columns(spark, loc, "ops", FRESHNESS_TABLE, schema)
    _PREPARED.add(loc.name("ops", FRESHNESS_TABLE))


def record_refresh(
    spark: SparkSession,
    loc: TableLocator,
    report: RefreshReport,
    published_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Append the refresh's row to ``ops.<FRESHNESS_TABLE>``; returns it.

    ``published_at`` (UTC; default now) is when the refresh had published every Gold table: call
    this right after ``refresh_gold`` returns. The first call in a process that did not run
    :func:`prepare_freshness_log` for ``loc`` runs it; later calls only append.
    """
    if loc.name("ops", FRESHNESS_TABLE) not in _PREPARED:
        prepare_freshness_log(spark, loc)
    published_at = published_at or dt.datetime.now(dt.UTC)
    row = refresh_row(spark, loc, report, published_at, str(uuid.uuid4()))
    append(spark.createDataFrame([row], _log_schema(spark)), loc, "ops", FRESHNESS_TABLE)
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
