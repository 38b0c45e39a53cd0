"""Delta table I/O through the table locator (catalog names on Databricks, paths locally)."""

from __future__ import annotations

from collections.abc import Iterable

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from oms_pipeline.config import TableLocator


def table_exists(spark: SparkSession, loc: TableLocator, layer: str, table: str) -> bool:
    name = loc.name(layer, table)
    if loc.uses_catalog:
        return spark.catalog.tableExists(name)
    return DeltaTable.isDeltaTable(spark, name)


def ensure_table(
    spark: SparkSession,
    loc: TableLocator,
    layer: str,
    table: str,
    schema: StructType,
    *,
    change_data_feed: bool = False,
    comment: str | None = None,
) -> None:
    """Create the Delta table with ``schema`` when it does not exist yet."""
    if table_exists(spark, loc, layer, table):
        return
    builder = DeltaTable.createIfNotExists(spark).addColumns(schema)
    name = loc.name(layer, table)
    builder = builder.tableName(name) if loc.uses_catalog else builder.location(name)
    if change_data_feed:
        builder = builder.property("delta.enableChangeDataFeed", "true")
    if comment:
        builder = builder.comment(comment)
    builder.execute()


def delta_table(spark: SparkSession, loc: TableLocator, layer: str, table: str) -> DeltaTable:
    name = loc.name(layer, table)
    return DeltaTable.forName(spark, name) if loc.uses_catalog else DeltaTable.forPath(spark, name)


def read_table(spark: SparkSession, loc: TableLocator, layer: str, table: str) -> DataFrame:
    name = loc.name(layer, table)
    if loc.uses_catalog:
        return spark.read.table(name)
    return spark.read.format("delta").load(name)


def read_table_stream(
    spark: SparkSession, loc: TableLocator, layer: str, table: str, **options: str
) -> DataFrame:
    reader = spark.readStream.format("delta").options(**options)
    name = loc.name(layer, table)
    return reader.table(name) if loc.uses_catalog else reader.load(name)


def read_changes(
    spark: SparkSession, loc: TableLocator, layer: str, table: str, start_version: int
) -> DataFrame:
    """Change data feed of a table from ``start_version`` (inclusive)."""
    reader = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", str(start_version))
    )
    name = loc.name(layer, table)
    return reader.table(name) if loc.uses_catalog else reader.load(name)


def current_version(spark: SparkSession, loc: TableLocator, layer: str, table: str) -> int:
    row = delta_table(spark, loc, layer, table).history(1).select("version").first()
    return int(row[0]) if row else -1


def append(
    df: DataFrame,
    loc: TableLocator,
    layer: str,
    table: str,
    *,
    txn: tuple[str, int] | None = None,
) -> None:
    """Append; ``txn`` = (application id, batch id) makes a foreachBatch append idempotent."""
    writer = df.write.format("delta").mode("append")
    if txn is not None:
        writer = writer.option("txnAppId", txn[0]).option("txnVersion", str(txn[1]))
    name = loc.name(layer, table)
    if loc.uses_catalog:
        writer.saveAsTable(name)
    else:
        writer.save(name)


def overwrite(df: DataFrame, loc: TableLocator, layer: str, table: str) -> None:
    writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    name = loc.name(layer, table)
    if loc.uses_catalog:
        writer.saveAsTable(name)
    else:
        writer.save(name)


def merge_replace_scope(
    spark: SparkSession,
    loc: TableLocator,
    layer: str,
    table: str,
    source: DataFrame,
    keys: Iterable[str],
    scope_condition: str | None,
) -> None:
    """Make the target equal ``source`` within a scope, atomically, in one MERGE.

    Rows matching on ``keys`` are updated, new rows inserted, and target rows inside the scope
    (``scope_condition`` over alias ``t``) that the source no longer has are deleted. Rows
    outside the scope are untouched -- this is how Gold reprocesses only affected keys.
    """
    keys = list(keys)
    target = delta_table(spark, loc, layer, table)
    cond = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    merge = (
        target.alias("t")
        .merge(source.alias("s"), cond)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
    )
    if scope_condition:
        merge = merge.whenNotMatchedBySourceDelete(condition=scope_condition)
    merge.execute()


def _nullable(schema: StructType) -> StructType:
    return StructType([f.__class__(f.name, f.dataType, True, f.metadata) for f in schema.fields])


def ensure_like(
    spark: SparkSession,
    loc: TableLocator,
    layer: str,
    table: str,
    df: DataFrame,
    *,
    change_data_feed: bool = False,
    comment: str | None = None,
) -> None:
    """Create the table with the (all-nullable) schema of ``df`` if it does not exist."""
    ensure_table(
        spark,
        loc,
        layer,
        table,
        _nullable(df.schema),
        change_data_feed=change_data_feed,
        comment=comment,
    )


def merge_insert_new(
    spark: SparkSession,
    loc: TableLocator,
    layer: str,
    table: str,
    source: DataFrame,
    keys: Iterable[str],
) -> None:
    """Insert source rows whose key is not in the target yet (idempotent append)."""
    cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    (
        delta_table(spark, loc, layer, table)
        .alias("t")
        .merge(source.alias("s"), cond)
        .whenNotMatchedInsertAll()
        .execute()
    )


def merge_scoped(
    spark: SparkSession,
    loc: TableLocator,
    layer: str,
    table: str,
    source: DataFrame,
    keys: list[str],
    scope: DataFrame | str | None = None,
) -> None:
    """Upsert ``source``; with ``scope`` (a frame of scope-column values, or "all") also delete
    target rows inside the scope that ``source`` no longer has. One atomic MERGE; rows outside the scope are
    never touched, which is how Gold refreshes only what changed.
    """
    if not table_exists(spark, loc, layer, table):
        ensure_like(spark, loc, layer, table, source)
    cols = source.columns
    staged = source.withColumn("__op", F.lit("upsert"))
    if scope is not None:
        current = read_table(spark, loc, layer, table)
        if isinstance(scope, str):
            if scope != "all":
                raise ValueError(f"scope must be a DataFrame, 'all' or None, not {scope!r}")
            in_scope = current
        else:
            in_scope = current.join(scope, scope.columns, "left_semi")
        stale = in_scope.select(*keys).join(source.select(*keys), keys, "left_anti")
        staged = staged.unionByName(
            stale.withColumn("__op", F.lit("delete")), allowMissingColumns=True
        )
    cond = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    values = {f"`{c}`": f"s.`{c}`" for c in cols}
    (
        delta_table(spark, loc, layer, table)
        .alias("t")
        .merge(staged.alias("s"), cond)
        .whenMatchedDelete(condition="s.__op = 'delete'")
        .whenMatchedUpdate(set=values)
        .whenNotMatchedInsert(condition="s.__op = 'upsert'", values=values)
        .execute()
    )
