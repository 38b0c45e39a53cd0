"""Silver validation: cast landed text to contract types and collect every rule violation.

ANSI mode is on in Spark 4, so a plain ``cast`` or an arithmetic overflow fails the whole
micro-batch (and every retry of it). Every cast here is a ``try_cast`` and every derived value is
checked before silver computes it, so one record's value is a quarantine reason, never a failed
stream:

- ``invalid_type:<field>``: not a value of the declared type (a date that is not ISO-8601, a
  JSON object or array where the contract declares a scalar, text in a number field);
- ``out_of_range:<field>``: a number that does not fit the declared type (integer overflow, more
  integer digits or decimal places than ``decimal(p,s)`` holds), a value outside the contract's
  bounds, or a net amount ``quantity * unit_price * (1 - discount)`` beyond ``decimal(18,4)``;
- ``inconsistent:line_amount``: a landed amount that disagrees with its price (tolerance in
  ``contracts.entities``).
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from oms_pipeline.config import PipelineSettings
from oms_pipeline.contracts.base import EntityContract, Field
from oms_pipeline.contracts.entities import LINE_AMOUNT_TOLERANCE_ABS, LINE_AMOUNT_TOLERANCE_REL
from oms_pipeline.transforms.bronze import CORRUPT_COLUMN, NON_SCALAR_KEY, RESCUED_COLUMN

REASONS = "_reasons"
REPLACEMENT_CHAR = "\ufffd"
NET_AMOUNT_TYPE = "decimal(18,4)"
# Lineage every accepted record keeps in silver: its landing file (null for an event), the bronze
# batch and ingestion time, and when it landed (bronze ``_landed_at``: the start of its
# landing -> Gold lag, for files and events alike).
SILVER_LINEAGE = ("_source_file", "_batch_id", "_ingested_at", "_landed_at")
# A quarantined record also keeps where the broker holds it when it arrived as an event (null for
# a file's line), so a bad event can be found and replayed from its topic.
QUARANTINE_LINEAGE = (*SILVER_LINEAGE, "_kafka_topic", "_kafka_partition", "_kafka_offset")
# Spark casts more spellings than ISO-8601 (``2025`` is 2025-01-01, ``2025-3`` is 2025-03-01):
# a landed time must be spelled in full, so a partial or foreign date is never reinterpreted.
ISO_TIMESTAMP = (
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
)
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
NUMERIC_PREFIXES = ("decimal", "int", "bigint", "smallint", "tinyint", "double", "float")


def _raw(name: str) -> Column:
    return F.col(f"`{name}`")


def _blank(name: str) -> Column:
    return _raw(name).isNull() | (F.trim(_raw(name)) == "")


def _typed(name: str) -> Column:
    return F.col(f"`__t_{name}`")


def exact_net_amount(col: Callable[[str], Column] = F.col) -> Column:
    """``quantity * unit_price * (1 - discount)`` (discount 0 when absent), unrounded.

    ``col`` resolves a contract field name to its typed column. The product of the typed inputs
    (at most int x decimal(18,4) x decimal(10,4)) fits Spark's decimal(38,6), so it cannot fail;
    only narrowing it to the ``decimal(18,4)`` of a net amount can overflow (use ``try_cast``).
    """
    discount = F.coalesce(col("discount"), F.lit(0).cast("decimal(9,4)"))
    return col("quantity") * col("unit_price") * (F.lit(1) - discount)


def _order_amount_rules() -> list[Column]:
    qty, price, amount = _typed("quantity"), _typed("unit_price"), _typed("line_amount")
    exact = exact_net_amount(_typed)
    tolerance = F.greatest(
        F.lit(LINE_AMOUNT_TOLERANCE_ABS), F.abs(exact).cast("double") * LINE_AMOUNT_TOLERANCE_REL
    )
    return [
        F.when(
            amount.isNull()
            & qty.isNotNull()
            & price.isNotNull()
            & exact.try_cast(NET_AMOUNT_TYPE).isNull(),
            F.lit("out_of_range:line_amount"),
        ),
        # A negative amount is already out_of_range (contract min 0): one reason is enough.
        F.when(
            (amount >= 0) & (F.abs(amount - exact).cast("double") > tolerance),
            F.lit("inconsistent:line_amount"),
        ),
    ]


def _entity_rules(contract: EntityContract) -> list[Column]:
    """Rules that involve more than one field."""
    rules: list[Column] = []
    if contract.name == "orders":
        rules.extend(_order_amount_rules())
        rules.append(
            F.when(
                _blank("unit_price") & _blank("line_amount"),
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


def _non_scalar(name: str) -> Column:
    """The landed value of ``name`` was a JSON object or array (flagged by bronze)."""
    listed = F.get_json_object(F.col(RESCUED_COLUMN), f"$.{NON_SCALAR_KEY}")
    return F.array_contains(F.split(F.coalesce(listed, F.lit("")), ","), name)


def _typed_value(f: Field) -> Column:
    """The landed text as ``f.type``; null when it is not exactly a value of that type."""
    cast = F.when(~_non_scalar(f.name), _raw(f.name).try_cast(f.type))
    if f.type == "timestamp":
        return F.when(F.trim(_raw(f.name)).rlike(ISO_TIMESTAMP), cast)
    if f.type == "date":
        return F.when(F.trim(_raw(f.name)).rlike(ISO_DATE), cast)
    return cast


def _type_checks(f: Field, blank: Column, non_scalar: Column) -> list[Column]:
    """``invalid_type`` for a value that is not of the declared type; ``out_of_range`` for a
    number that is one but does not fit it (overflow, too many digits or decimal places)."""
    raw, typed = _raw(f.name), _typed(f.name)
    invalid = F.lit(f"invalid_type:{f.name}")
    checks = [F.when(non_scalar, invalid)]
    if not f.type.startswith(NUMERIC_PREFIXES):
        return [*checks, F.when(~blank & typed.isNull(), invalid)]
    number = raw.try_cast("double")
    finite = number.isNotNull() & ~F.isnan(number) & (F.abs(number) < F.lit(float("inf")))
    integral = F.lit(True) if f.type.startswith("decimal") else number == F.floor(number)
    fits_nowhere = ~blank & typed.isNull()
    checks.append(F.when(fits_nowhere & ~(finite & integral), invalid))
    checks.append(F.when(fits_nowhere & finite & integral, F.lit(f"out_of_range:{f.name}")))
    if f.type.startswith("decimal"):
        # try_cast rounds extra decimal places away; the value must be representable exactly.
        exact = raw.try_cast("decimal(38,18)")
        checks.append(
            F.when(
                typed.isNotNull() & exact.isNotNull() & (exact != typed),
                F.lit(f"out_of_range:{f.name}"),
            )
        )
    return checks


def validate(df: DataFrame, contract: EntityContract, settings: PipelineSettings) -> DataFrame:
    """Return the bronze rows with typed contract columns and an array ``_reasons``.

    An empty ``_reasons`` means the row is valid. Lineage columns are kept; the raw landed text
    is kept as ``_raw_record`` (JSON) for the quarantine.
    """
    typed_cols = [_typed_value(f).alias(f"__t_{f.name}") for f in contract.fields]
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
        typed, blank = _typed(f.name), _blank(f.name)
        if f.required:
            checks.append(F.when(~corrupt & blank, F.lit(f"missing:{f.name}")))
        checks.extend(_type_checks(f, blank, _non_scalar(f.name)))
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
    reasons = F.array_distinct(F.filter(F.array(*checks), lambda r: r.isNotNull()))
    # A malformed line has no fields to judge: its only reason is that it is malformed.
    reasons = F.when(corrupt, F.array(F.lit("malformed_record"))).otherwise(reasons)
    return staged.withColumn(REASONS, reasons)


def typed_valid(validated: DataFrame, contract: EntityContract) -> DataFrame:
    """Valid rows with the typed columns under the contract names, plus lineage."""
    return validated.where(F.size(REASONS) == 0).select(
        *[_typed(n).alias(n) for n in contract.field_names],
        *[F.col(c) for c in SILVER_LINEAGE],
    )


def quarantine_rows(validated: DataFrame, contract: EntityContract) -> DataFrame:
    """Invalid rows in the quarantine layout (one row per rejected record, all its reasons)."""
    return validated.where(F.size(REASONS) > 0).select(
        F.lit(contract.name).alias("entity"),
        F.lit(contract.version).alias("contract_version"),
        F.col(REASONS).alias("reasons"),
        F.col("_raw_record").alias("record"),
        *[F.col(c) for c in QUARANTINE_LINEAGE],
        F.current_timestamp().alias("_quarantined_at"),
    )
