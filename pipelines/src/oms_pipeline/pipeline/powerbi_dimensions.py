"""Which Gold dimensions changed since the Power BI model last imported them.

The semantic model's dimensions are Dual: it holds an imported copy that only a model refresh
renews, and on shared capacity a model gets eight refreshes a day ("Datasets - Refresh Dataset In
Group", Limitations). So the refresh task asks for one only when a dimension's rows changed since
the last refresh that *succeeded*, recorded per table in ``ops.powerbi_dimension_watermark``.

A dimension changed when its Delta version moved past the watermark's *and* its content
fingerprint differs: Gold's MERGE commits a new version on every refresh that touches a
dimension, even when it rewrites the same values, so the version alone would spend the budget on
refreshes that change nothing. The fingerprint covers keys and attributes (an attribute change,
such as a customer's new segment, makes the imported copy as stale as a new key does).

Which tables are dimensions comes from the Gold contract (``kind == "dimension"``); the Power BI
model test checks that exactly those are the model's Dual tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from oms_pipeline.config import TableLocator
from oms_pipeline.contracts.gold import GOLD_TABLES
from oms_pipeline.io.tables import (
    current_version,
    ensure_table,
    merge_scoped,
    read_table,
    table_exists,
)

#: Gold tables the model imports (Dual): the contract's dimensions, in contract order.
DIMENSION_TABLES: tuple[str, ...] = tuple(t.name for t in GOLD_TABLES if t.kind == "dimension")

#: ``ops`` table holding, per dimension, what the last successful model refresh imported.
WATERMARK_TABLE = "powerbi_dimension_watermark"
WATERMARK_SCHEMA = StructType(
    [
        StructField("table_name", StringType(), False),
        StructField("delta_version", LongType(), False),
        StructField("fingerprint", StringType(), False),
        StructField("refreshed_at", TimestampType(), False),
        StructField("request_id", StringType(), True),
    ]
)


@dataclass(frozen=True)
class DimensionState:
    """A dimension as of one Delta version: ``fingerprint`` is ``"<rows>:<hash sum>"``."""

    table: str
    version: int
    fingerprint: str


def fingerprint(df: DataFrame) -> str:
    """Order-independent fingerprint of a frame: row count and the sum of 64-bit row hashes.

    Columns are hashed in name order, so a reordered schema is the same content; an added or
    renamed column is a change. The sum is taken as decimal(38,0), which cannot overflow for
    fewer than 10^19 rows (a bigint sum would, and ANSI mode raises on overflow).
    """
    cols = sorted(df.columns)
    row_hash = F.xxhash64(*[F.col(f"`{c}`") for c in cols]).cast("decimal(38,0)")
    row = df.agg(F.count(F.lit(1)).alias("n"), F.sum(row_hash).alias("h")).first()
    rows, total = (int(row["n"]), row["h"]) if row else (0, None)
    return f"{rows}:{total if total is not None else 0}"


def read_watermark(spark: SparkSession, loc: TableLocator) -> dict[str, DimensionState]:
    """Table -> state imported by the last successful refresh; empty before the first one."""
    if not table_exists(spark, loc, "ops", WATERMARK_TABLE):
        return {}
    return {
        r["table_name"]: DimensionState(r["table_name"], int(r["delta_version"]), r["fingerprint"])
        for r in read_table(spark, loc, "ops", WATERMARK_TABLE).collect()
    }


def current_state(
    spark: SparkSession,
    loc: TableLocator,
    last: Mapping[str, DimensionState],
    tables: Iterable[str] = DIMENSION_TABLES,
) -> dict[str, DimensionState]:
    """Table -> current state of each dimension that exists in Gold.

    A table whose version equals the watermark's is not read (its fingerprint is the
    watermark's); any other is scanned once for its fingerprint.
    """
    out: dict[str, DimensionState] = {}
    for table in tables:
        if not table_exists(spark, loc, "gold", table):
            continue
        version = current_version(spark, loc, "gold", table)
        seen = last.get(table)
        if seen is not None and seen.version == version:
            out[table] = seen
        else:
            out[table] = DimensionState(
                table, version, fingerprint(read_table(spark, loc, "gold", table))
            )
    return out


def changed_tables(
    current: Mapping[str, DimensionState], last: Mapping[str, DimensionState]
) -> list[str]:
    """Dimensions whose content differs from what the last successful refresh imported."""
    return [
        t
        for t, state in current.items()
        if t not in last or last[t].fingerprint != state.fingerprint
    ]


def record_refresh(
    spark: SparkSession,
    loc: TableLocator,
    states: Iterable[DimensionState],
    refreshed_at: dt.datetime,
    request_id: str | None,
) -> None:
    """Record ``states`` as imported by a successful refresh (one MERGE keyed on the table)."""
    rows = [
        (s.table, s.version, s.fingerprint, refreshed_at.replace(tzinfo=None), request_id)
        for s in states
    ]
    if not rows:
        return
    ensure_table(spark, loc, "ops", WATERMARK_TABLE, WATERMARK_SCHEMA)
    df = spark.createDataFrame(rows, WATERMARK_SCHEMA)
    merge_scoped(spark, loc, "ops", WATERMARK_TABLE, df, ["table_name"])
