"""The Unity Catalog comments generated from the Gold contract (plain SQL text, no Spark)."""

from __future__ import annotations

from oms_pipeline.contracts.gold import MATERIALIZED, VIEWS, comment_ddl


def test_one_table_comment_and_one_column_comment_per_contract_column() -> None:
    ddl = comment_ddl("oms_dev")
    tables = [s for s in ddl if s.startswith("COMMENT ON TABLE")]
    columns = [s for s in ddl if " ALTER COLUMN " in s]
    assert len(tables) == len(MATERIALIZED)
    assert len(columns) == sum(len(t.columns) for t in MATERIALIZED)
    assert len(ddl) == len(tables) + len(columns)
    # A view's comments are in its CREATE VIEW (view_ddl), not in ALTER statements.
    assert VIEWS and not [s for s in ddl for v in VIEWS if f"`{v.name}`" in s]


def test_statements_name_the_table_and_carry_the_contract_text() -> None:
    table = MATERIALIZED[0]
    col = table.columns[0]
    ddl = comment_ddl("oms_dev", "gold")
    fqn = f"`oms_dev`.`gold`.`{table.name}`"
    assert ddl[0] == f"COMMENT ON TABLE {fqn} IS '{table.description} Grain: {table.grain}.'"
    assert ddl[1] == f"ALTER TABLE {fqn} ALTER COLUMN `{col.name}` COMMENT '{col.description}'"


def test_quotes_and_backslashes_are_escaped(monkeypatch) -> None:
    import dataclasses

    import oms_pipeline.contracts.gold as gold

    t = gold.MATERIALIZED[0]
    tricky = dataclasses.replace(
        t,
        description="Customer's \\ view",
        columns=(dataclasses.replace(t.columns[0], description="it's 'quoted'"),),
    )
    monkeypatch.setattr(gold, "MATERIALIZED", (tricky,))
    ddl = gold.comment_ddl("c`at")
    assert ddl[0].startswith("COMMENT ON TABLE `c``at`.`gold`.")
    assert "IS 'Customer\\'s \\\\ view Grain: " in ddl[0]
    assert ddl[1].endswith("COMMENT 'it\\'s \\'quoted\\''")
    # Every statement is a single literal: no unescaped quote ends it early.
    for sql in ddl:
        body = (
            sql.split(" IS ", 1)[-1] if sql.startswith("COMMENT") else sql.rsplit(" COMMENT ", 1)[1]
        )
        assert body.startswith("'") and body.endswith("'")
        inner = body[1:-1].replace("\\\\", "").replace("\\'", "")
        assert "'" not in inner
