"""Delta table I/O through the table locator (catalog names on Databricks, paths locally)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from oms_pipeline.config import TableLocator
from oms_pipeline.contracts.gold import (
    GOLD_BY_NAME,
    VIEWS,
    GoldTable,
    _sql_string,
    view_ddl,
    view_inputs,
    view_query,
)
from oms_pipeline.contracts.silver import SilverTable


def _gold_view(layer: str, table: str) -> GoldTable | None:
    """The Gold contract's view of that name (None: a table)."""
    t = GOLD_BY_NAME.get(table) if layer == "gold" else None
    return t if t is not None and t.view else None


def table_exists(spark: SparkSession, loc: TableLocator, layer: str, table: str) -> bool:
    """Whether the table (or Gold view) exists; locally a view exists once what it reads does."""
    name = loc.name(layer, table)
    if loc.uses_catalog:
        return spark.catalog.tableExists(name)
    view = _gold_view(layer, table)
    if view is not None:
        return all(table_exists(spark, loc, "gold", t) for t in view_inputs(view))
    return DeltaTable.isDeltaTable(spark, name)


def create_gold_views(spark: SparkSession, name_of: Callable[[str], str]) -> list[str]:
    """Create or replace every Gold view of the contract (``view_ddl``), each named and reading
    ``name_of(<gold table>)``; returns their names. A table under a view's name (a Gold
    aggregate materialized by an earlier version) is dropped first, as a view cannot replace a
    table (Databricks SQL reference, "CREATE VIEW": OR REPLACE replaces a view)."""
    names = []
    for view in VIEWS:
        name = name_of(view.name)
        if spark.catalog.tableExists(name) and spark.catalog.getTable(name).tableType != "VIEW":
            spark.sql(f"DROP TABLE {name}")
        spark.sql(view_ddl(view, name_of))
        names.append(name)
    return names


# Error conditions that mean "someone else is creating this table right now" (or a creation was
# interrupted): Delta's optimistic concurrency rejects all but one of several concurrent version-0
# commits ("Concurrency control" in the Delta Lake docs: ProtocolChangedException,
# MetadataChangedException, ConcurrentAppendException), and the catalog rejects a second CREATE.
_CREATE_RACE_CONDITIONS = (
    "DELTA_PROTOCOL_CHANGED",
    "DELTA_METADATA_CHANGED",
    "DELTA_CONCURRENT_",
    "TABLE_OR_VIEW_ALREADY_EXISTS",
    "DELTA_TABLE_NOT_FOUND",
    "FileAlreadyExistsException",
)
# Seconds a creator keeps finding the table another writer is creating: a ceiling for a machine
# under load (the winner's first commit is then slow), not a figure a healthy run gets near.
CREATE_WAIT_S = 120
# A version file (JSON commit or Parquet checkpoint) in ``_delta_log/``.
_COMMIT_FILE = re.compile(r"^\d{20}\.(json|checkpoint\..*parquet)$")


def is_create_race(exc: BaseException, path: str | None = None) -> bool:
    """True when ``exc`` says another writer is creating the table at ``path`` right now.

    Besides the conditions above, Delta refuses a create over a folder that is "not empty and
    also not a Delta table" (``DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION``). While another
    creator is between its mkdir of ``_delta_log/`` and its first commit, that is exactly what
    the folder looks like, so the refusal counts as a race when the folder holds nothing but a
    ``_delta_log/`` without commits; a folder with other files stays an error at once.
    """
    text = f"{type(exc).__name__}: {exc}"
    if any(c in text for c in _CREATE_RACE_CONDITIONS):
        return True
    return (
        "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION" in text
        and path is not None
        and os.path.isdir(path)
        and set(os.listdir(path)) <= {"_delta_log"}
    )


def _local_path(loc: TableLocator, layer: str, table: str) -> str | None:
    """The table's folder on this machine's file system, or None for a catalog table."""
    return None if loc.uses_catalog else loc.name(layer, table)


def interrupted_creation(path: str) -> bool:
    """True when ``path`` holds a ``_delta_log/`` folder without a single commit.

    That is what a process killed while creating a path table leaves behind (Delta makes the log
    folder before it writes version 0). Delta's ``CREATE TABLE IF NOT EXISTS`` takes such a folder
    for an existing table and then fails with ``DELTA_TABLE_NOT_FOUND``; no data was ever
    committed there, so the table is simply created anew.
    """
    log = os.path.join(path, "_delta_log")
    if not os.path.isdir(log):
        return False
    return not any(_COMMIT_FILE.match(name) for name in os.listdir(log))


def ensure_table(
    spark: SparkSession,
    loc: TableLocator,
    layer: str,
    table: str,
    schema: StructType,
    *,
    change_data_feed: bool = False,
    comment: str | None = None,
    properties: Mapping[str, str] | None = None,
) -> None:
    """Create the Delta table with ``schema`` when it does not exist yet; idempotent and safe to
    call from several writers at once and after a kill at any instant. ``properties``: Delta
    table properties set at creation (``change_data_feed`` adds ``delta.enableChangeDataFeed``).

    Concurrent creators race for version 0: the losers get a Delta concurrency error, the
    catalog's "already exists" or Delta's "location not empty" over the winner's uncommitted log
    (see :func:`is_create_race`), wait a moment and find the table there. A path table whose
    creation was interrupted (see :func:`interrupted_creation`) is created by an append of no
    rows, which Delta accepts over an empty log and which carries the table properties in the
    same commit; its comment follows in a second commit. Raises the last error when the table
    still does not exist after ``CREATE_WAIT_S`` seconds of attempts, or any other error at once.
    """
    for attempt in Retrying(
        stop=stop_after_delay(CREATE_WAIT_S),
        wait=wait_random_exponential(multiplier=0.2, max=5),
        retry=retry_if_exception(lambda exc: is_create_race(exc, _local_path(loc, layer, table))),
        reraise=True,
    ):
        with attempt:
            if table_exists(spark, loc, layer, table):
                return
            _create(spark, loc, layer, table, schema, change_data_feed, comment, properties)


def _create(
    spark: SparkSession,
    loc: TableLocator,
    layer: str,
    table: str,
    schema: StructType,
    change_data_feed: bool,
    comment: str | None,
    extra_properties: Mapping[str, str] | None = None,
) -> None:
    name = loc.name(layer, table)
    properties = dict(extra_properties or {})
    if change_data_feed:
        properties["delta.enableChangeDataFeed"] = "true"
    if not loc.uses_catalog and interrupted_creation(name):
        spark.createDataFrame([], schema).write.format("delta").mode("append").options(
            **properties
        ).save(name)
        if comment:
            spark.sql(
                f"ALTER TABLE delta.`{name}` SET TBLPROPERTIES ('comment' = {_sql_string(comment)})"
            )
        return
    builder = DeltaTable.createIfNotExists(spark).addColumns(schema)
    builder = builder.tableName(name) if loc.uses_catalog else builder.location(name)
    for key, value in properties.items():
        builder = builder.property(key, value)
    if comment:
        builder = builder.comment(comment)
    builder.execute()


def add_missing_columns(
    spark: SparkSession, loc: TableLocator, layer: str, table: str, schema: StructType
) -> list[str]:
    """Add the (nullable) columns of ``schema`` the existing table lacks; returns their names.

    A table created before a column joined its schema gets it with ``ALTER TABLE ... ADD COLUMNS``
    (rows written before read it as NULL), so appends with the new schema keep working ("Update
    Delta Lake table schema"). Columns are never dropped or retyped here.
    """
    present = {f.name.lower() for f in read_table(spark, loc, layer, table).schema.fields}
    missing = [f for f in schema.fields if f.name.lower() not in present]
    if missing:
        name = loc.name(layer, table)
        target = name if loc.uses_catalog else f"delta.`{name}`"
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE {target} ADD COLUMNS ({columns})")
    return [f.name for f in missing]


def delta_table(spark: SparkSession, loc: TableLocator, layer: str, table: str) -> DeltaTable:
    name = loc.name(layer, table)
    return DeltaTable.forName(spark, name) if loc.uses_catalog else DeltaTable.forPath(spark, name)


def read_table(spark: SparkSession, loc: TableLocator, layer: str, table: str) -> DataFrame:
    """The table (or Gold view; locally its query over the tables' paths)."""
    name = loc.name(layer, table)
    if loc.uses_catalog:
        return spark.read.table(name)
    view = _gold_view(layer, table)
    if view is not None:
        return spark.sql(view_query(view, lambda t: f"delta.`{loc.name('gold', t)}`"))
    return spark.read.format("delta").load(name)


def read_table_stream(
    spark: SparkSession, loc: TableLocator, layer: str, table: str, **options: str
) -> DataFrame:
    reader = spark.readStream.format("delta").options(**options)
    name = loc.name(layer, table)
    return reader.table(name) if loc.uses_catalog else reader.load(name)


def read_changes(
    spark: SparkSession,
    loc: TableLocator,
    layer: str,
    table: str,
    start_version: int,
    end_version: int | None = None,
) -> DataFrame:
    """Change data feed of a table from ``start_version`` to ``end_version`` (both inclusive;
    no end: up to the latest version)."""
    reader = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", str(start_version))
    )
    if end_version is not None:
        reader = reader.option("endingVersion", str(end_version))
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


# Guard -> the condition under which a stored row is replaced by the MERGE's source row (see
# contracts/silver.toml); ``insert_only`` replaces none.
_SILVER_GUARDS: dict[str, Callable[[SilverTable], str]] = {
    "newer": lambda t: f"s.`{t.event_time}` > t.`{t.event_time}`",
    "changed_not_older": lambda t: (
        f"s.`{t.change_column}` <> t.`{t.change_column}`"
        f" AND s.`{t.event_time}` >= t.`{t.event_time}`"
    ),
}


def _on(keys: Iterable[str]) -> str:
    return " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)


def merge_silver(
    spark: SparkSession,
    loc: TableLocator,
    table: SilverTable,
    rows: DataFrame,
) -> None:
    """Write ``rows`` (at most one per ``table.record_keys``) into the Silver table ``table``
    declares, with one MERGE on its row keys; the table is created from the rows' schema (all
    columns nullable, change data feed as declared) when it does not exist.

    - kind ``history`` (guard ``insert_only``): rows whose key is stored already are skipped, so
      a replayed batch inserts nothing;
    - kind ``state``: new keys are inserted, a stored row is replaced only as the guard allows
      (``newer``: a strictly later event time; ``changed_not_older``: a different
      ``change_column`` and an event time not earlier), so an older or replayed event never
      overwrites a newer state;
    - kind ``scd2``: ``rows`` are versions, each starting at its event time (``valid_from``);
      the new ones are inserted with ``valid_to`` NULL and ``current_flag`` true, then the ranges
      of every stored version of the touched keys (:func:`scd2_ranges`) are applied by a second
      MERGE that updates only the ranges that changed, so a late older version slots in.
    """
    if table.kind == "scd2":
        rows = rows.select(
            "*",
            F.col(table.event_time).alias(table.valid_from),
            F.lit(None).cast(rows.schema[table.event_time].dataType).alias(table.valid_to),
            F.lit(True).alias(table.current_flag),
        )
    ensure_like(spark, loc, "silver", table.name, rows, change_data_feed=table.change_data_feed)
    merge = (
        delta_table(spark, loc, "silver", table.name)
        .alias("t")
        .merge(rows.alias("s"), _on(table.row_keys))
    )
    if table.guard in _SILVER_GUARDS:
        merge = merge.whenMatchedUpdateAll(condition=_SILVER_GUARDS[table.guard](table))
    merge.whenNotMatchedInsertAll().execute()
    if table.kind != "scd2":
        return
    keys = list(table.keys)
    versions = read_table(spark, loc, "silver", table.name).join(
        rows.select(*keys).distinct(), keys, "left_semi"
    )
    end, current = table.valid_to, table.current_flag
    (
        delta_table(spark, loc, "silver", table.name)
        .alias("t")
        .merge(scd2_ranges(versions, table).alias("s"), _on(table.row_keys))
        .whenMatchedUpdate(
            condition=f"NOT (t.`{end}` <=> s.`{end}`) OR NOT (t.`{current}` <=> s.`{current}`)",
            set={f"`{end}`": f"s.`{end}`", f"`{current}`": f"s.`{current}`"},
        )
        .execute()
    )


def scd2_ranges(versions: DataFrame, table: SilverTable) -> DataFrame:
    """The range of every version in ``versions`` (all stored versions of some keys of the SCD2
    ``table``): per row key (``keys`` + ``valid_from``), ``valid_to`` = the next version's
    ``valid_from`` (NULL for the latest) and ``current_flag`` = it is the latest."""
    nxt = F.lead(table.valid_from).over(Window.partitionBy(*table.keys).orderBy(table.valid_from))
    return versions.select(
        *table.row_keys, nxt.alias(table.valid_to), nxt.isNull().alias(table.current_flag)
    )


def merge_scoped(
    spark: SparkSession,
    loc: TableLocator,
    layer: str,
    table: str,
    source: DataFrame,
    keys: list[str],
    scope: DataFrame | str | None = None,
) -> int:
    """Upsert ``source``; with ``scope`` (a frame of scope-column values, or "all") also delete
    target rows inside the scope that ``source`` no longer has. One atomic MERGE; rows outside
    the scope are never touched, which is how Gold refreshes only what changed.

    A source row equal (every column, NULLs equal) to the target row of its key is left out,
    and when nothing is left to upsert or delete no MERGE runs and no version is committed: a
    dimension whose members did not change costs a comparison, not a commit. Returns the rows
    upserted or deleted (0: nothing committed).
    """
    if not table_exists(spark, loc, layer, table):
        ensure_like(spark, loc, layer, table, source)
    cols = source.columns
    current = read_table(spark, loc, layer, table)
    same_keys = current.join(source.select(*keys), keys, "left_semi").select(*cols)
    staged = source.subtract(same_keys).withColumn("__op", F.lit("upsert"))
    if scope is not None:
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
    staged = staged.localCheckpoint()
    changed = staged.count()
    if not changed:
        return 0
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
    return changed
