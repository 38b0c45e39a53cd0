"""The one landing reader: Autoloader on Databricks, the plain file stream locally.

Both paths yield the same columns -- every contract field as STRING, plus ``_rescued_data`` and
``_source_file`` -- so bronze has a single code path after this function.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from oms_pipeline.contracts.base import EntityContract
from oms_pipeline.transforms.bronze import CORRUPT_COLUMN, conform_to_contract, parse_json_lines


def read_landing_stream(
    spark: SparkSession,
    contract: EntityContract,
    path: str,
    *,
    use_autoloader: bool,
    schema_location: str | None = None,
    max_files_per_trigger: int | None = None,
) -> DataFrame:
    """Stream the JSON-lines files of one entity folder.

    Autoloader (``cloudFiles``): JSON with every contract field hinted as STRING, the schema
    tracked in ``schema_location`` and ``schemaEvolutionMode=rescue`` so new columns and type
    mismatches land in ``_rescued_data`` instead of failing or widening the table; malformed
    lines are kept whole in ``_corrupt_record`` (PERMISSIVE) and folded into ``_rescued_data``.

    Plain file stream (local): the files are read as text lines (fixed schema, so no inference)
    and parsed with ``from_json`` against the contract -- see ``parse_json_lines``.
    """
    if use_autoloader:
        if not schema_location:
            raise ValueError("Autoloader needs a schema location")
        reader = (
            spark.readStream.format("cloudFiles")
            .option("cloudFiles.format", "json")
            .option("cloudFiles.schemaLocation", schema_location)
            .option("cloudFiles.schemaHints", contract.schema_hints())
            .option("cloudFiles.schemaEvolutionMode", "rescue")
            .option("cloudFiles.inferColumnTypes", "false")
            .option("rescuedDataColumn", "_rescued_data")
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
            .option("encoding", "UTF-8")
        )
        if max_files_per_trigger:
            reader = reader.option("cloudFiles.maxFilesPerTrigger", str(max_files_per_trigger))
        raw = reader.load(path).withColumn("_source_file", F.col("_metadata.file_path"))
        return conform_to_contract(raw, contract)

    reader = spark.readStream.format("text").option("encoding", "UTF-8")
    if max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", str(max_files_per_trigger))
    lines = reader.load(path).select(
        F.col("value"), F.col("_metadata.file_path").alias("_source_file")
    )
    return parse_json_lines(lines, contract)
