"""Applies the Gold views, informational key constraints and comments (Unity Catalog only)."""

from __future__ import annotations

from pyspark.sql import SparkSession

from oms_pipeline.config import TableLocator
from oms_pipeline.contracts.gold import comment_ddl, constraint_ddl
from oms_pipeline.io.tables import create_gold_views


def apply_gold_views(spark: SparkSession, loc: TableLocator) -> list[str]:
    """Create or replace the Gold contract's views under the catalog of ``loc``; returns their
    names."""
    return create_gold_views(spark, lambda table: loc.name("gold", table))


def apply_gold_constraints(spark: SparkSession, catalog: str) -> int:
    """Run the PRIMARY/FOREIGN KEY DDL generated from the Gold contract; returns the count.

    Open-source Delta has no PRIMARY/FOREIGN KEY constraints, so this runs on Databricks only.
    """
    statements = constraint_ddl(catalog)
    for sql in statements:
        spark.sql(sql)
    return len(statements)


def apply_gold_comments(spark: SparkSession, catalog: str) -> int:
    """Write the Gold contract's table and column descriptions as Unity Catalog comments."""
    statements = comment_ddl(catalog)
    for sql in statements:
        spark.sql(sql)
    return len(statements)
