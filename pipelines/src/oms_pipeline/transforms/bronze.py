"""Bronze transformations: parse landed lines against the contract and stamp lineage."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from oms_pipeline.contracts.base import EntityContract

CORRUPT_COLUMN = "_corrupt_record"
RESCUED_COLUMN = "_rescued_data"
# Key of ``_rescued_data`` listing (comma-separated) the contract fields whose landed value is a
# JSON object or array; the contract declares every field a scalar, so silver rejects them.
NON_SCALAR_KEY = "_non_scalar"
# ``_landed_at``: when the record landed, the start of its landing -> Gold lag
# (``oms_pipeline.pipeline.freshness_log``): for a landed file its modification time as the file
# source records it (``_metadata.file_modification_time``, "File metadata column"), for an event
# its Kafka record timestamp.
# The lineage the landing reader yields with every record (bronze then stamps the batch).
FILE_LINEAGE = ("_source_file", "_landed_at")
# Lineage of a record read from Kafka (Event Hubs): where the broker keeps it and when it
# appended it (the record's timestamp: log-append or create time, per the topic's
# ``message.timestamp.type``). Null for landed files, whose lineage is ``_source_file``.
EVENT_LINEAGE = (
    StructField("_kafka_topic", StringType(), True),
    StructField("_kafka_partition", IntegerType(), True),
    StructField("_kafka_offset", LongType(), True),
    StructField("_kafka_timestamp", TimestampType(), True),
)
LINEAGE_COLUMNS = (
    "_rescued_data",
    *FILE_LINEAGE,
    "_ingested_at",
    "_batch_id",
    *(f.name for f in EVENT_LINEAGE),
)


def raw_schema(contract: EntityContract) -> StructType:
    """Every contract field as STRING: bronze keeps values as landed; silver casts them."""
    return StructType([StructField(f.name, StringType(), True) for f in contract.fields])


def bronze_schema(contract: EntityContract) -> StructType:
    return StructType(
        [
            *raw_schema(contract).fields,
            StructField("_rescued_data", StringType(), True),
            StructField("_source_file", StringType(), True),
            StructField("_landed_at", TimestampType(), True),
            StructField("_ingested_at", TimestampType(), True),
            StructField("_batch_id", LongType(), True),
            *EVENT_LINEAGE,
        ]
    )


def _known_keys(contract: EntityContract) -> Column:
    return F.array(*[F.lit(n) for n in contract.field_names])


def _exactly_one_value(value: Column) -> Column:
    """True when ``value`` is one JSON document and nothing else.

    ``from_json`` (and ``parse_json``) stop at the end of the first value and ignore what follows,
    so ``{...}{...}`` would keep the first object and drop the second. Wrapped as ``[value]`` a
    second value needs a comma (then the array has two elements) and anything after a stray ``]``
    is ignored; wrapped as ``{"_": value}`` the same holds for a stray ``}``. A line passes only
    when both wrappers parse to exactly one value, which no trailing content survives.
    """
    as_array = F.json_array_length(F.concat(F.lit("["), value, F.lit("]")))
    as_member = F.get_json_object(F.concat(F.lit('{"_":'), value, F.lit("}")), "$._")
    return F.coalesce((as_array == 1) & as_member.isNotNull(), F.lit(False))


def _non_scalar_fields(contract: EntityContract) -> Column:
    """Comma-separated contract fields whose landed JSON value is an object or an array.

    ``from_json`` into a STRING field keeps an object or array as its JSON text, which a plain
    string could also spell; only the parsed document tells them apart. The document is parsed
    (as a VARIANT) only for lines with a field whose text starts with ``{`` or ``[``.
    """
    suspect = F.lit(False)
    for n in contract.field_names:
        suspect = suspect | F.coalesce(
            F.substring(F.col(f"r.{n}"), 1, 1).isin("{", "["), F.lit(False)
        )
    doc = F.when(suspect, F.try_parse_json(F.col("value")))
    flags = [
        F.when(
            F.coalesce(
                F.schema_of_variant(F.try_variant_get(doc, f"$.{n}", "variant")).rlike(
                    "^(OBJECT|ARRAY)"
                ),
                F.lit(False),
            ),
            F.lit(n),
        )
        for n in contract.field_names
    ]
    return F.when(suspect, F.concat_ws(",", *flags))


def parse_json_lines(
    lines: DataFrame,
    contract: EntityContract,
    *,
    lineage: tuple[str, ...] = FILE_LINEAGE,
    keep_blank: bool = False,
) -> DataFrame:
    """Parse a ``value`` text column (one JSON document per line) into contract columns.

    ``lineage`` columns of ``lines`` are passed through unchanged.

    - blank lines (and empty files) produce no rows -- unless ``keep_blank`` (events: every
      record is accounted for), when a blank or null ``value`` is a malformed record;
    - a line that is not exactly one JSON object (invalid, truncated, wrongly encoded, two
      objects ``{...}{...}``, an object followed by other text) keeps all contract columns null
      and its raw text in ``_rescued_data`` as ``{"_corrupt_record": ...}``;
    - keys outside the contract (schema drift) are kept in ``_rescued_data`` as a JSON object;
    - scalar values of the wrong JSON type are kept as their text; silver decides whether they
      cast. Objects and arrays are kept as their JSON text too, and their field names are listed
      under ``_rescued_data._non_scalar`` so silver rejects them as ``invalid_type:<field>``.
    """
    parse_schema = StructType(
        [*raw_schema(contract).fields, StructField(CORRUPT_COLUMN, StringType(), True)]
    )
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_COLUMN}
    if keep_blank:
        kept = lines.withColumn("value", F.coalesce(F.col("value"), F.lit("")))
    else:
        kept = lines.where(F.length(F.trim(F.col("value"))) > 0)
    parsed = kept.select(
        F.from_json(F.col("value"), parse_schema, options).alias("r"),
        F.from_json(F.col("value"), "map<string,string>").alias("m"),
        _exactly_one_value(F.col("value")).alias("__one"),
        F.col("value"),
        *[F.col(c) for c in lineage],
    )
    extra = F.map_filter(F.col("m"), lambda k, _v: ~F.array_contains(_known_keys(contract), k))
    non_scalar = _non_scalar_fields(contract)
    flagged = F.when(
        F.coalesce(F.length(non_scalar) > 0, F.lit(False)),
        F.map_concat(extra, F.create_map(F.lit(NON_SCALAR_KEY), non_scalar)),
    ).otherwise(extra)
    # from_json yields a null struct or a set corrupt field for unparseable text; either way the
    # raw line is what is rescued.
    is_corrupt = (
        F.col("r").isNull()
        | F.col(f"r.{CORRUPT_COLUMN}").isNotNull()
        | F.col("m").isNull()
        | ~F.col("__one")
    )
    rescued = (
        F.when(is_corrupt, F.to_json(F.struct(F.col("value").alias(CORRUPT_COLUMN))))
        .when(F.size(flagged) > 0, F.to_json(flagged))
        .otherwise(F.lit(None).cast("string"))
    )
    return parsed.select(
        *[
            F.when(is_corrupt, F.lit(None).cast("string")).otherwise(F.col(f"r.{n}")).alias(n)
            for n in contract.field_names
        ],
        rescued.alias(RESCUED_COLUMN),
        *[F.col(c) for c in lineage],
    )


def parse_events(records: DataFrame, contract: EntityContract) -> DataFrame:
    """Parse the rows of Spark's Kafka source (one JSON object per record value) like lines.

    Every record yields one row: a value that is not exactly one JSON object -- including an
    empty or null value -- is kept whole in ``_rescued_data`` as ``{"_corrupt_record": ...}``,
    which silver quarantines as ``malformed_record``. The value's bytes are read as UTF-8, as
    the file source reads landing files. Lineage: ``EVENT_LINEAGE`` from the record's topic,
    partition, offset and timestamp; ``_landed_at`` the record's timestamp; ``_source_file`` is
    null.
    """
    lines = records.select(
        F.col("value").cast("string").alias("value"),
        F.lit(None).cast("string").alias("_source_file"),
        F.col("timestamp").alias("_landed_at"),
        *[
            F.col(source).cast(field.dataType).alias(field.name)
            for source, field in zip(
                ("topic", "partition", "offset", "timestamp"), EVENT_LINEAGE, strict=True
            )
        ],
    )
    lineage = (*FILE_LINEAGE, *(f.name for f in EVENT_LINEAGE))
    return parse_json_lines(lines, contract, lineage=lineage, keep_blank=True)


def conform_to_contract(df: DataFrame, contract: EntityContract) -> DataFrame:
    """Shape an Autoloader frame like ``parse_json_lines`` output.

    Columns Autoloader inferred beyond the contract (present in the first files it sampled) are
    folded into ``_rescued_data`` together with any corrupt record, so bronze never widens.
    """
    known = set(contract.field_names) | {
        RESCUED_COLUMN,
        CORRUPT_COLUMN,
        *FILE_LINEAGE,
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
        *FILE_LINEAGE,
    )


def stamp_batch(df: DataFrame, batch_id: int) -> DataFrame:
    """Add ingestion time and the micro-batch id (known only inside foreachBatch)."""
    return df.withColumn("_ingested_at", F.current_timestamp()).withColumn(
        "_batch_id", F.lit(batch_id).cast("bigint")
    )
