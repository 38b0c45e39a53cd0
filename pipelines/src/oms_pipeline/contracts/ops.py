"""Contracts of the ops tables read outside the pipeline: the Gold freshness log.

Plain Python (no Spark import). The Databricks SQL alert the stack deploys reads this table with
the query in ``freshness_alert.sql``: one template, rendered by :func:`freshness_alert_sql` here
and by the stack (``components/freshness.ts``) from the same file, so the SQL a test runs on
embedded Spark is the SQL the alert runs on the warehouse.
"""

from __future__ import annotations

from importlib import resources

from oms_pipeline.contracts.gold import Column

OPS_SCHEMA = "ops"
# One row per Gold refresh: the landing -> Gold lag of the records it published.
FRESHNESS_TABLE = "gold_freshness"
FRESHNESS_COLUMNS: tuple[Column, ...] = (
    Column("refresh_id", "string", "Unique id of the Gold refresh (UUID).", nullable=False),
    Column(
        "refreshed_at",
        "timestamp",
        "When the refresh had published every Gold table (UTC); the end of each lag.",
        nullable=False,
    ),
    Column("full_refresh", "boolean", "True when the refresh rebuilt Gold from whole Silver."),
    Column(
        "silver_versions",
        "map<string,bigint>",
        "Silver table -> the last version the refresh consumed (its change data feed).",
    ),
    Column("files", "bigint", "Landing files whose records the refresh published first."),
    Column(
        "rows",
        "bigint",
        "Silver rows the refresh published first whose landing time is known (the lags' count).",
    ),
    Column(
        "rows_without_landing_time",
        "bigint",
        "Rows published first whose bronze record has no landing time (ingested before bronze "
        "recorded one); not in the lags.",
    ),
    Column("min_lag_seconds", "double", "Smallest landing -> Gold lag of those rows, seconds."),
    Column("p50_lag_seconds", "double", "Median landing -> Gold lag, seconds (exact percentile)."),
    Column("p95_lag_seconds", "double", "95th percentile landing -> Gold lag, seconds (exact)."),
    Column("max_lag_seconds", "double", "Largest landing -> Gold lag, seconds."),
)
ALERT_TEMPLATE = "freshness_alert.sql"


def freshness_ddl() -> str:
    """The table's columns as a Spark DDL string (``name type, ...``)."""
    return ", ".join(f"`{c.name}` {c.type}" for c in FRESHNESS_COLUMNS)


def freshness_alert_sql(table: str, objective_seconds: int) -> str:
    """The alert query over ``table`` (a table name, or ``delta.`<path>``` locally).

    One row: the worst per-refresh p95 lag of the last 15 minutes, seconds since the last
    refresh, the thresholds, and the two verdicts the alerts evaluate (``p95_over_objective``,
    ``refresh_overdue``). Raises ValueError for a non-positive or non-integer objective.
    """
    if isinstance(objective_seconds, bool) or not isinstance(objective_seconds, int):
        raise ValueError(f"objective_seconds must be an integer, not {objective_seconds!r}")
    if objective_seconds <= 0:
        raise ValueError(f"objective_seconds must be > 0, not {objective_seconds}")
    template = resources.files("oms_pipeline.contracts").joinpath(ALERT_TEMPLATE).read_text()
    return template.replace("{table}", table).replace("{objective_seconds}", str(objective_seconds))
