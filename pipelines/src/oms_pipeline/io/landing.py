"""The one landing reader: Autoloader on Databricks, the plain file stream locally.

Both paths yield the same columns -- every contract field as STRING, plus ``_rescued_data``,
``_source_file`` and ``_landed_at`` (the file's path and modification time) -- so bronze has a single code path after this function.

Both paths also see the same files (``docs/landing-files.md``):

- an entity folder that does not exist yet is an empty source, not an error: the folder is read
  through a one-name glob (``<landing>/{orders}``), and Spark resolves a glob at every listing
  instead of checking the path once when the stream starts (the plain path fails with
  ``PATH_NOT_FOUND``). No job needs write access to the landing volume to create folders;
- files in sub-folders of an entity folder are read too (``recursiveFileLookup``), except under
  names starting with ``_`` or ``.`` (temporary and bookkeeping files, skipped by every Spark file
  source);
- a file is read once: a file changed after it was read is not read again
  (``cloudFiles.allowOverwrites`` false, the file source's own behaviour). Landing files are
  immutable; ``oms_pipeline.io.landing_files`` reports any that changed.
"""

from __future__ import annotations

import os

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from oms_pipeline.contracts.base import EntityContract
from oms_pipeline.transforms.bronze import (
    CORRUPT_COLUMN,
    conform_to_contract,
    parse_json_lines,
    raw_schema,
)

GLOB_CHARACTERS = "{}[]*?\\"


def source_path(folder: str) -> str:
    """``<parent>/{<name>}``: the entity folder as a glob that matches nothing while it is absent.

    Raises ``ValueError`` when the folder path itself holds glob characters (``{}[]*?\\``): they
    would be read as a pattern and silently select other folders.
    """
    folder = folder.rstrip("/")
    bad = sorted({c for c in folder if c in GLOB_CHARACTERS})
    if bad:
        raise ValueError(
            f"landing folder {folder!r} contains glob character(s) {' '.join(bad)}; "
            "use a path made of letters, digits, '-', '_', '.', '/' and ':'"
        )
    parent, name = os.path.split(folder)
    return f"{parent}/{{{name}}}"


def file_source_options(max_files_per_trigger: int | None = None) -> dict[str, str]:
    """Options of the plain file stream source (local runs)."""
    options = {"encoding": "UTF-8", "recursiveFileLookup": "true"}
    if max_files_per_trigger:
        options["maxFilesPerTrigger"] = str(max_files_per_trigger)
    return options


def autoloader_options(
    schema_location: str, max_files_per_trigger: int | None = None
) -> dict[str, str]:
    """Options of the Autoloader (``cloudFiles``) source on Databricks.

    - ``cloudFiles.allowOverwrites`` false, stated rather than defaulted: "Auto Loader FAQ" --
      with it, an appended or overwritten file is reprocessed whole and "you must handle duplicate
      records yourself"; Databricks recommends ingesting immutable files only. A changed file is
      reported by the landing-file accounting instead (``docs/landing-files.md``).
    - ``cloudFiles.includeExistingFiles`` true: files landed before the stream's first start are
      ingested ("Auto Loader options").
    - ``recursiveFileLookup`` true: files in sub-folders are read, as by the local source.
    - the schema is given (every contract field as STRING), so there is nothing to infer and an
      empty or absent folder starts an empty stream; unexpected columns and type mismatches go to
      ``_rescued_data`` (``schemaEvolutionMode=rescue``, "Configure schema inference and
      evolution in Auto Loader"); malformed lines are kept whole in ``_corrupt_record``.
    """
    options = {
        "cloudFiles.format": "json",
        "cloudFiles.schemaLocation": schema_location,
        "cloudFiles.schemaEvolutionMode": "rescue",
        "cloudFiles.inferColumnTypes": "false",
        "cloudFiles.allowOverwrites": "false",
        "cloudFiles.includeExistingFiles": "true",
        "recursiveFileLookup": "true",
        "rescuedDataColumn": "_rescued_data",
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": CORRUPT_COLUMN,
        "encoding": "UTF-8",
    }
    if max_files_per_trigger:
        options["cloudFiles.maxFilesPerTrigger"] = str(max_files_per_trigger)
    return options


def read_landing_stream(
    spark: SparkSession,
    contract: EntityContract,
    path: str,
    *,
    use_autoloader: bool,
    schema_location: str | None = None,
    max_files_per_trigger: int | None = None,
) -> DataFrame:
    """Stream the JSON-lines files of one entity folder (``path``; it need not exist yet).

    Autoloader (``cloudFiles``): JSON read with the contract's all-STRING schema and the options
    of ``autoloader_options``; a malformed line's text is folded into ``_rescued_data``.

    Plain file stream (local): the files are read as text lines (fixed schema, so no inference)
    and parsed with ``from_json`` against the contract -- see ``parse_json_lines``.
    """
    if use_autoloader:
        if not schema_location:
            raise ValueError("Autoloader needs a schema location")
        schema = raw_schema(contract).add(CORRUPT_COLUMN, "string")
        raw = (
            spark.readStream.format("cloudFiles")
            .options(**autoloader_options(schema_location, max_files_per_trigger))
            .schema(schema)
            .load(source_path(path))
            .withColumn("_source_file", F.col("_metadata.file_path"))
            .withColumn("_landed_at", F.col("_metadata.file_modification_time"))
        )
        return conform_to_contract(raw, contract)

    lines = (
        spark.readStream.format("text")
        .options(**file_source_options(max_files_per_trigger))
        .load(source_path(path))
        .select(
            F.col("value"),
            F.col("_metadata.file_path").alias("_source_file"),
            F.col("_metadata.file_modification_time").alias("_landed_at"),
        )
    )
    return parse_json_lines(lines, contract)
