"""Contracts of the ops tables read outside the pipeline: the Gold freshness log.

Plain Python (no Spark import). The table's name, columns, properties and the alert's look-back
window have one home, ``ops.toml`` beside this module, which the stack reads too
(``components/freshnessAlert.ts`` declares the table in Unity Catalog from it). The Databricks SQL
alert the stack deploys reads the table with the query in ``freshness_alert.sql``: one template,
rendered by :func:`freshness_alert_sql` here and by the stack from the same file, so the SQL a
test runs on embedded Spark is the SQL the alert runs on the warehouse.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from typing import Any

from oms_pipeline.contracts.gold import Column

CONTRACT_FILE = "ops.toml"
ALERT_TEMPLATE = "freshness_alert.sql"


# What the contract may say (the stack reads the contract from the package manifest).
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
SIMPLE_TYPES = frozenset(
    {
        *("string", "boolean", "binary", "date", "timestamp", "timestamp_ntz"),
        *("tinyint", "smallint", "int", "bigint", "float", "double"),
    }
)
COLUMN_KEYS = frozenset({"name", "type", "comment", "nullable"})


def is_spark_type(text: str) -> bool:
    """True for a Spark SQL type the contract may use: a simple type, ``decimal(p,s)``,
    ``array<T>`` or ``map<K,V>`` (no spaces, as Unity Catalog's column specs want them)."""
    if text in SIMPLE_TYPES or re.fullmatch(r"decimal\(\d+,\d+\)", text):
        return True
    inner = re.fullmatch(r"(array|map)<(.+)>", text)
    if not inner:
        return False
    kind, args = inner.groups()
    depth, parts, start = 0, [], 0
    for i, ch in enumerate(args):
        depth += {"<": 1, ">": -1, "(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(args[start:i])
            start = i + 1
    parts.append(args[start:])
    return len(parts) == (1 if kind == "array" else 2) and all(map(is_spark_type, parts))


def parse_contract(text: str, where: str) -> dict[str, Any]:
    """The ops contract in ``text`` (TOML), checked. Raises ValueError naming ``where`` and the
    key for a contract the table cannot be built from: a missing or mistyped key, a name that is
    not a lowercase identifier or is declared twice, a type Spark SQL does not have, an unknown
    column key (``nulable``)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where}: not valid TOML: {exc}") from exc

    def fail(key: str, expected: str) -> ValueError:
        return ValueError(f"{where}: {key} must be {expected}")

    def ident(value: object, key: str) -> str:
        if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
            raise fail(key, "a lowercase identifier (letters, digits, _)")
        return value

    ident(doc.get("schema"), "schema")
    log = doc.get("freshness_log")
    if not isinstance(log, dict):
        raise fail("freshness_log", "a table")
    ident(log.get("name"), "freshness_log.name")
    if not isinstance(log.get("comment"), str) or not log["comment"]:
        raise fail("freshness_log.comment", "a non-empty string")
    window = log.get("p95_window_minutes")
    if isinstance(window, bool) or not isinstance(window, int) or window <= 0:
        raise fail("freshness_log.p95_window_minutes", "a positive integer")
    for k, v in log.get("properties", {}).items():
        if not isinstance(v, str):
            raise fail(f"freshness_log.properties.{k}", "a string")
    columns = log.get("columns")
    if not isinstance(columns, list) or not columns:
        raise fail("freshness_log.columns", "a non-empty list")
    seen: set[str] = set()
    for i, c in enumerate(columns):
        at = f"freshness_log.columns[{i}]"
        unknown = sorted(set(c) - COLUMN_KEYS)
        if unknown:
            raise fail(
                f"{at}.{unknown[0]}", f"absent (allowed keys: {', '.join(sorted(COLUMN_KEYS))})"
            )
        name = ident(c.get("name"), f"{at}.name")
        if name in seen:
            raise fail(f"{at}.name", f"unique ({name} is declared twice)")
        seen.add(name)
        if not isinstance(c.get("type"), str) or not is_spark_type(c["type"]):
            raise fail(
                f"{at}.type", "a Spark SQL type such as bigint, timestamp, map<string,bigint>"
            )
        if not isinstance(c.get("comment"), str) or not c["comment"]:
            raise fail(f"{at}.comment", "a non-empty string")
        if not isinstance(c.get("nullable", True), bool):
            raise fail(f"{at}.nullable", "true or false")
    return doc


_CONTRACT = parse_contract(
    resources.files("oms_pipeline.contracts").joinpath(CONTRACT_FILE).read_text(),
    f"oms_pipeline/contracts/{CONTRACT_FILE}",
)
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
    """The table's columns as a Spark DDL string (``name type [NOT NULL], ...``)."""
    return ", ".join(
        f"`{c.name}` {c.type}{'' if c.nullable else ' NOT NULL'}" for c in FRESHNESS_COLUMNS
    )


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
