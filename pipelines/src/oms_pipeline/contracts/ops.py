"""Contracts of the ops tables read outside the pipeline: the Gold freshness log.

Plain Python (no Spark import). The table's name, columns, properties and the alert's look-back
window have one home, ``ops.toml`` beside this module, which the stack reads too
(``components/freshnessAlert.ts`` declares the table in Unity Catalog from it). The Databricks SQL
alert the stack deploys reads the table with the query in ``freshness_alert.sql``: one template,
rendered by :func:`freshness_alert_sql` here and by the stack from the same file, so the SQL a
test runs on embedded Spark is the SQL the alert runs on the warehouse.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from oms_pipeline.contracts.gold import Column

CONTRACT_FILE = "ops.toml"
ALERT_TEMPLATE = "freshness_alert.sql"


def _contract() -> dict[str, Any]:
    text = resources.files("oms_pipeline.contracts").joinpath(CONTRACT_FILE).read_text()
    return tomllib.loads(text)


_CONTRACT = _contract()
OPS_SCHEMA: str = _CONTRACT["schema"]
# One row per Gold refresh: the landing -> Gold lag of the records it published.
_FRESHNESS = _CONTRACT["freshness_log"]
FRESHNESS_TABLE: str = _FRESHNESS["name"]
FRESHNESS_COMMENT: str = _FRESHNESS["comment"]
FRESHNESS_PROPERTIES: dict[str, str] = dict(_FRESHNESS.get("properties", {}))
# How far back the p95 verdict looks, minutes.
P95_WINDOW_MINUTES: int = _FRESHNESS["p95_window_minutes"]
FRESHNESS_COLUMNS: tuple[Column, ...] = tuple(
    Column(c["name"], c["type"], c["comment"], nullable=c.get("nullable", True))
    for c in _FRESHNESS["columns"]
)


def freshness_ddl() -> str:
    """The table's columns as a Spark DDL string (``name type, ...``)."""
    return ", ".join(f"`{c.name}` {c.type}" for c in FRESHNESS_COLUMNS)


def freshness_alert_sql(table: str, objective_seconds: int) -> str:
    """The alert query over ``table`` (a table name, or ``delta.`<path>``` locally).

    One row: the worst per-refresh p95 lag of the last ``P95_WINDOW_MINUTES``, seconds since the
    last refresh, the thresholds, and the two verdicts the alerts evaluate
    (``p95_over_objective``, ``refresh_overdue``). Raises ValueError for a non-positive or
    non-integer objective.
    """
    if isinstance(objective_seconds, bool) or not isinstance(objective_seconds, int):
        raise ValueError(f"objective_seconds must be an integer, not {objective_seconds!r}")
    if objective_seconds <= 0:
        raise ValueError(f"objective_seconds must be > 0, not {objective_seconds}")
    template = resources.files("oms_pipeline.contracts").joinpath(ALERT_TEMPLATE).read_text()
    values = {
        "{table}": table,
        "{objective_seconds}": str(objective_seconds),
        "{window_minutes}": str(P95_WINDOW_MINUTES),
    }
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    return template
