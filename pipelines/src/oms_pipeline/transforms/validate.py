"""Silver validation: cast landed text to contract types and collect every rule violation.

ANSI mode is on in Spark 4, so all casts are ``try_cast``: a value that does not fit its type
becomes a quarantine reason (``invalid_type:<field>``) rather than a failed job.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from oms_pipeline.config import PipelineSettings
from oms_pipeline.contracts.base import EntityContract
from oms_pipeline.transforms.bronze import CORRUPT_COLUMN, RESCUED_COLUMN

REASONS = "_reasons"
REPLACEMENT_CHAR = "\ufffd"


def _raw(name: str) -> Column:
    return F.col(f"`{name}`")


def _typed(name: str) -> Column:
    return F.col(f"`__t_{name}`")


def _entity_rules(contract: EntityContract) -> list[Column]:
    """Rules that involve more than one field."""
    rules: list[Column] = []
    if contract.name == "orders":
        rules.append(
            F.when(
                _typed("unit_price").isNull() & _typed("line_amount").isNull(),
                F.lit("missing:unit_price_or_line_amount"),
            )
        )
        rules.append(
            F.when(
                _typed("currency").isNotNull() & ~_typed("currency").rlike("^[A-Z]{3}$"),
                F.lit("invalid_format:currency"),
            )
        )
        rules.append(
            F.when(
                _typed("event_ts") < _typed("order_ts"),
                F.lit("inconsistent:event_ts_before_order_ts"),
            )
        )
    if contract.name == "inventory":
        rules.append(
            F.when(
                (_typed("event_type") == "SNAPSHOT") & (_typed("quantity") < 0),
                F.lit("out_of_range:quantity"),
            )
        )
    return rules


def validate(df: DataFrame, contract: EntityContract, settings: PipelineSettings) -> DataFrame:
    """Return the bronze rows with typed contract columns and an array ``_reasons``.

    An empty ``_reasons`` means the row is valid. Lineage columns are kept; the raw landed text
    is kept as ``_raw_record`` (JSON) for the quarantine.
    """
    typed_cols = [_raw(f.name).try_cast(f.type).alias(f"__t_{f.name}") for f in contract.fields]
    raw_record = F.to_json(
        F.struct(*[_raw(n) for n in contract.field_names], F.col(RESCUED_COLUMN))
    ).alias("_raw_record")
    staged = df.select("*", *typed_cols, raw_record)

    corrupt = F.get_json_object(F.col(RESCUED_COLUMN), f"$.{CORRUPT_COLUMN}").isNotNull()
    checks: list[Column] = [F.when(corrupt, F.lit("malformed_record"))]
    text_fields = [f.name for f in contract.fields if f.type == "string"]
    bad_text = F.lit(False)
    for name in text_fields:
        bad_text = bad_text | F.coalesce(F.instr(_raw(name), REPLACEMENT_CHAR) > 0, F.lit(False))
    checks.append(F.when(~corrupt & bad_text, F.lit("invalid_encoding")))

    upper_ts = F.col("_ingested_at") + F.expr(f"INTERVAL {settings.max_future_skew_days} DAYS")
    for f in contract.fields:
        raw, typed = _raw(f.name), _typed(f.name)
        blank = raw.isNull() | (F.trim(raw) == "")
        if f.required:
            checks.append(F.when(~corrupt & blank, F.lit(f"missing:{f.name}")))
        checks.append(F.when(~blank & typed.isNull(), F.lit(f"invalid_type:{f.name}")))
        if f.min_value is not None:
            checks.append(F.when(typed < F.lit(f.min_value), F.lit(f"out_of_range:{f.name}")))
        if f.max_value is not None:
            checks.append(F.when(typed > F.lit(f.max_value), F.lit(f"out_of_range:{f.name}")))
        if f.allowed:
            checks.append(
                F.when(
                    typed.isNotNull() & ~typed.isin(*f.allowed), F.lit(f"unknown_value:{f.name}")
                )
            )
        if f.type == "timestamp":
            checks.append(
                F.when(
                    (typed < F.to_timestamp(F.lit(settings.min_plausible_ts))) | (typed > upper_ts),
                    F.lit(f"implausible:{f.name}"),
                )
            )
        if f.type == "date":
            checks.append(
                F.when(
                    (typed < F.to_date(F.lit(settings.min_plausible_ts[:10])))
                    | (typed > F.date_add(F.to_date(F.col("_ingested_at")), 3650)),
                    F.lit(f"implausible:{f.name}"),
                )
            )
    checks.extend(_entity_rules(contract))
    reasons = F.filter(F.array(*checks), lambda r: r.isNotNull())
    # A malformed line has no fields to judge: its only reason is that it is malformed.
    reasons = F.when(corrupt, F.array(F.lit("malformed_record"))).otherwise(reasons)
    return staged.withColumn(REASONS, reasons)


def typed_valid(validated: DataFrame, contract: EntityContract) -> DataFrame:
    """Valid rows with the typed columns under the contract names, plus lineage."""
    return validated.where(F.size(REASONS) == 0).select(
        *[_typed(n).alias(n) for n in contract.field_names],
        F.col("_source_file"),
        F.col("_batch_id"),
        F.col("_ingested_at"),
    )


def quarantine_rows(validated: DataFrame, contract: EntityContract) -> DataFrame:
    """Invalid rows in the quarantine layout (one row per rejected record, all its reasons)."""
    return validated.where(F.size(REASONS) > 0).select(
        F.lit(contract.name).alias("entity"),
        F.lit(contract.version).alias("contract_version"),
        F.col(REASONS).alias("reasons"),
        F.col("_raw_record").alias("record"),
        F.col("_source_file"),
        F.col("_batch_id"),
        F.col("_ingested_at"),
        F.current_timestamp().alias("_quarantined_at"),
    )
