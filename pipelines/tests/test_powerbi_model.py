"""The Power BI semantic model in powerbi/ reads only what the Gold contract declares.

Parses the TMDL table files (no Spark needed): each model table must be a Gold table, each
partition must read that same table from the `gold` schema, and each column's sourceColumn must be
a contract column with a compatible Power BI data type.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from oms_pipeline.contracts.gold import GOLD_BY_NAME, GOLD_SCHEMA

MODEL = (
    Path(__file__).resolve().parents[2] / "powerbi" / "OmsLakehouse.SemanticModel" / "definition"
)

# Spark SQL type of the contract -> TMDL dataType Power BI uses for it.
TMDL_TYPE = {
    "string": "string",
    "int": "int64",
    "bigint": "int64",
    "double": "double",
    "boolean": "boolean",
    "date": "dateTime",
    "timestamp": "dateTime",
}


def tmdl_type(spark_type: str) -> str:
    return "decimal" if spark_type.startswith("decimal") else TMDL_TYPE[spark_type]


def parse_table(text: str) -> dict:
    """Table name, columns (name -> {dataType, sourceColumn}) and the partition's M source."""
    table = re.search(r"^table\s+(\S+)", text, re.M).group(1)
    columns: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        m = re.match(r"^\t(column|measure|partition)\s+('(?:[^']|'')+'|\S+)", line)
        if m:
            current = {} if m.group(1) == "column" else None
            if current is not None:
                columns[m.group(2).strip("'")] = current
            continue
        prop = re.match(r"^\t\t(dataType|sourceColumn):\s*(.+?)\s*$", line)
        if prop and current is not None:
            current[prop.group(1)] = prop.group(2)
    source = text.split("source =", 1)[1] if "source =" in text else ""
    return {"table": table, "columns": columns, "source": source}


TABLE_FILES = sorted((MODEL / "tables").glob("*.tmdl"))


def test_model_has_the_star_schema_tables():
    names = {parse_table(f.read_text())["table"] for f in TABLE_FILES}
    assert {"fact_order_lines", "fact_shipments", "fact_inventory", "dim_date"} <= names
    assert names <= set(GOLD_BY_NAME), f"not in the Gold contract: {names - set(GOLD_BY_NAME)}"


@pytest.mark.parametrize("path", TABLE_FILES, ids=[f.stem for f in TABLE_FILES])
def test_table_reads_gold_contract_columns(path: Path):
    parsed = parse_table(path.read_text())
    contract = GOLD_BY_NAME[parsed["table"]]
    assert f'[Name = "{GOLD_SCHEMA}", Kind = "Schema"]' in parsed["source"]
    assert f'[Name = "{contract.name}", Kind = "Table"]' in parsed["source"]
    assert parsed["columns"], "a model table without columns"
    for name, props in parsed["columns"].items():
        source = props.get("sourceColumn")
        assert source in contract.column_names, f"{contract.name}.{source} is not in the contract"
        expected = tmdl_type(contract.column(source).type)
        assert props.get("dataType") == expected, (
            f"{contract.name}.{name}: dataType {props.get('dataType')}, contract type "
            f"{contract.column(source).type} maps to {expected}"
        )


def test_relationships_join_contract_keys():
    text = (MODEL / "relationships.tmdl").read_text()
    pairs = re.findall(r"fromColumn:\s*(\S+)\.(\S+)\s+toColumn:\s*(\S+)\.(\S+)", text)
    assert len(pairs) >= 8
    for from_table, from_col, to_table, to_col in pairs:
        fact = GOLD_BY_NAME[from_table]
        dim = GOLD_BY_NAME[to_table]
        assert dim.primary_key == (to_col,), f"{to_table}.{to_col} is not {to_table}'s key"
        assert any(
            fk.ref_table == to_table and fk.columns == (from_col,) for fk in fact.foreign_keys
        ), f"{from_table}.{from_col} -> {to_table} is not a declared foreign key"


def test_imported_tables_are_the_contract_dimensions_the_refresh_task_watches():
    """The refresh task watches the contract's dimensions; the model imports (Dual) exactly those."""
    from oms_pipeline.pipeline.powerbi_dimensions import DIMENSION_TABLES

    modes = {}
    for f in TABLE_FILES:
        text = f.read_text()
        modes[parse_table(text)["table"]] = re.findall(r"^\t\tmode:\s*(\w+)", text, re.M)
    imported = {t for t, m in modes.items() if set(m) & {"dual", "import"}}
    assert imported == set(DIMENSION_TABLES)
    assert all(m == ["dual"] for t, m in modes.items() if t in imported)
