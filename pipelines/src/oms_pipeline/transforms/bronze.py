"""Bronze transformations: parse landed lines against the contract and stamp lineage."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from oms_pipeline.contracts.base import EntityContract

CORRUPT_COLUMN = "_corrupt_record"
RESCUED_COLUMN = "_rescued_data"
LINEAGE_COLUMNS = ("_rescued_data", "_source_file", "_ingested_at", "_batch_id")


def raw_schema(contract: EntityContract) -> StructType:
    """Every contract field as STRING: bronze keeps values as landed; silver casts them."""
    return StructType([StructField(f.name, StringType(), True) for f in contract.fields])


def bronze_schema(contract: EntityContract) -> StructType:
    return StructType(
        [
            *raw_schema(contract).fields,
            StructField("_rescued_data", StringType(), True),
            StructField("_source_file", StringType(), True),
            StructField("_ingested_at", TimestampType(), True),
            StructField("_batch_id", LongType(), True),
        ]
    )


def _known_keys(contract: EntityContract) -> Column:
    return F.array(*[F.lit(n) for n in contract.field_names])


def parse_json_lines(lines: DataFrame, contract: EntityContract) -> DataFrame:
    """Parse a ``value`` text column (one JSON document per line) into contract columns.

    - blank lines (and empty files) produce no rows;
    - a line that is not a JSON object (invalid, truncated, wrongly encoded) keeps all contract
      columns null and its raw text in ``_rescued_data`` as ``{"_corrupt_record": ...}``;
    - keys outside the contract (schema drift) are kept in ``_rescued_data`` as a JSON object;
    - values of the wrong JSON type are kept as their text; silver decides whether they cast.
    """
    parse_schema = StructType(
        [*raw_schema(contract).fields, StructField(CORRUPT_COLUMN, StringType(), True)]
    )
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_COLUMN}
    non_blank = lines.where(F.length(F.trim(F.col("value"))) > 0)
    parsed = non_blank.select(
        F.from_json(F.col("value"), parse_schema, options).alias("r"),
        F.from_json(F.col("value"), "map<string,string>").alias("m"),
        F.col("value"),
        F.col("_source_file"),
    )
    extra = F.map_filter(F.col("m"), lambda k, _v: ~F.array_contains(_known_keys(contract), k))
    # from_json yields a null struct or a set corrupt field for unparseable text; either way the
    # raw line is what is rescued.
    is_corrupt = (
        F.col("r").isNull() | F.col(f"r.{CORRUPT_COLUMN}").isNotNull() | F.col("m").isNull()
    )
    rescued = (
        F.when(is_corrupt, F.to_json(F.struct(F.col("value").alias(CORRUPT_COLUMN))))
        .when(F.size(extra) > 0, F.to_json(extra))
        .otherwise(F.lit(None).cast("string"))
    )
    return parsed.select(
        *[
            F.when(is_corrupt, F.lit(None).cast("string")).otherwise(F.col(f"r.{n}")).alias(n)
            for n in contract.field_names
        ],
        rescued.alias(RESCUED_COLUMN),
        F.col("_source_file"),
    )


def conform_to_contract(df: DataFrame, contract: EntityContract) -> DataFrame:
    """Shape an Autoloader frame like ``parse_json_lines`` output.

    Columns Autoloader inferred beyond the contract (present in the first files it sampled) are
    folded into ``_rescued_data`` together with any corrupt record, so bronze never widens.
    """
    known = set(contract.field_names) | {
        RESCUED_COLUMN,
        CORRUPT_COLUMN,
        "_source_file",
        "_metadata",
    }
    extras = [c for c in df.columns if c not in known]
    pieces: list[Column] = []
    if extras:
        pieces.append(F.to_json(F.struct(*[F.col(c).cast("string") for c in extras])))
    if RESCUED_COLUMN in df.columns:
        pieces.append(F.col(RESCUED_COLUMN))
    corrupt = (
        F.to_json(F.struct(F.col(CORRUPT_COLUMN).alias(CORRUPT_COLUMN)))
        if CORRUPT_COLUMN in df.columns
        else None
    )
    rescued: Column = F.lit(None).cast("string")
    for p in reversed(pieces):
        rescued = F.coalesce(p, rescued)
    if corrupt is not None:
        rescued = F.when(F.col(CORRUPT_COLUMN).isNotNull(), corrupt).otherwise(rescued)
    return df.select(
        *[
            (F.col(n).cast("string") if n in df.columns else F.lit(None).cast("string")).alias(n)
            for n in contract.field_names
        ],
        rescued.alias(RESCUED_COLUMN),
        F.col("_source_file"),
    )


def stamp_batch(df: DataFrame, batch_id: int) -> DataFrame:
    """Add ingestion time and the micro-batch id (known only inside foreachBatch)."""
    return df.withColumn("_ingested_at", F.current_timestamp()).withColumn(
        "_batch_id", F.lit(batch_id).cast("bigint")
    )
