"""Contracts, generated constraint DDL, table locator and job argument parsers (no Spark)."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from oms_pipeline.config import TableLocator
from oms_pipeline.contracts import CONTRACTS, get_contract, ops
from oms_pipeline.contracts import silver as silver_contract
from oms_pipeline.contracts.gold import GOLD_BY_NAME, GOLD_TABLES, MATERIALIZED, constraint_ddl
from oms_pipeline.jobs import gold_refresh, ingest


def test_every_gold_key_and_reference_resolves():
    for t in GOLD_TABLES:
        assert t.primary_key, t.name
        for k in t.primary_key:
            assert not t.column(k).nullable, (t.name, k)
        for fk in t.foreign_keys:
            ref = GOLD_BY_NAME[fk.ref_table]
            assert fk.ref_columns == ref.primary_key, (t.name, fk)
            for c in fk.columns:
                assert t.column(c).type == ref.column(fk.ref_columns[0]).type
        assert all(c.description for c in t.columns)


def test_gold_contract_lists_the_star_schema():
    names = {t.name for t in GOLD_TABLES}
    assert {"dim_date", "dim_customer", "dim_product", "fact_order_lines"} <= names
    assert {"fact_shipments", "fact_inventory", "agg_sales_daily", "customer_rfm"} <= names


def test_constraint_ddl_is_ordered_and_exact():
    ddl = constraint_ddl("oms_dev")
    pk = "ALTER TABLE `oms_dev`.`gold`.`fact_order_lines` ADD CONSTRAINT `pk_fact_order_lines` PRIMARY KEY (`order_id`, `line_id`) NOT ENFORCED RELY"
    fk = (
        "ALTER TABLE `oms_dev`.`gold`.`fact_order_lines` ADD CONSTRAINT "
        "`fk_fact_order_lines_customer_id` FOREIGN KEY (`customer_id`) REFERENCES "
        "`oms_dev`.`gold`.`dim_customer` (`customer_id`) NOT ENFORCED"
    )
    assert pk in ddl and fk in ddl
    assert "ALTER TABLE `oms_dev`.`gold`.`dim_date` ALTER COLUMN `date_key` SET NOT NULL" in ddl
    first_fk = min(i for i, s in enumerate(ddl) if "FOREIGN KEY" in s)
    last_pk = max(i for i, s in enumerate(ddl) if "PRIMARY KEY" in s)
    assert last_pk < first_fk
    n_fk = sum(len(t.foreign_keys) for t in MATERIALIZED)
    assert sum("FOREIGN KEY" in s for s in ddl) == n_fk
    assert sum("PRIMARY KEY" in s for s in ddl) == len(MATERIALIZED)
    assert not [s for s in ddl if "agg_sales_daily" in s]  # a view: no constraints
    assert all("`" in s for s in constraint_ddl("odd`name"))
    assert "`odd``name`" in constraint_ddl("odd`name")[0]


def test_entity_contracts():
    assert set(CONTRACTS) == {"orders", "shipments", "inventory", "customers"}
    orders = get_contract("orders")
    assert orders.business_key == ("order_id", "line_id")
    assert "order_id STRING" in orders.schema_hints()
    with pytest.raises(ValueError, match="unknown entity"):
        get_contract("returns")


def test_table_locator():
    uc = TableLocator(catalog="oms_dev")
    assert uc.name("gold", "dim_date") == "oms_dev.gold.dim_date"
    assert uc.landing("orders") == "/Volumes/oms_dev/ops/landing/orders"
    assert uc.checkpoint("bronze", "orders") == "/Volumes/oms_dev/ops/checkpoints/bronze/orders"
    local = TableLocator(lakehouse_root="/lh")
    assert local.name("silver", "order_lines") == "/lh/silver/order_lines"
    assert local.checkpoint("silver", "orders") == "/lh/_checkpoints/silver/orders"
    with pytest.raises(ValueError):
        TableLocator()
    with pytest.raises(ValueError):
        local.name("platinum", "x")


def test_job_parsers_accept_the_databricks_parameters():
    b = ingest.build_parser().parse_args(
        [
            "--catalog",
            "oms_dev",
            "--entity",
            "orders",
            "--entity",
            "customers",
            "--trigger",
            "processingTime",
            "--processing-time",
            "1 minute",
            "--kafka-bootstrap-servers",
            "ns.servicebus.windows.net:9093",
            "--kafka-topic",
            "orders=oms-orders",
            "--kafka-topic",
            "customers=oms-customers",
        ]
    )
    assert b.entity == ["orders", "customers"] and b.autoloader == "auto"
    assert b.kafka_topic == ["orders=oms-orders", "customers=oms-customers"]
    assert b.trigger == "processingTime" and not b.no_files
    g = gold_refresh.build_parser().parse_args(
        ["--catalog", "oms_dev", "--as-of-date", "2025-03-01", "--sla-days", '{"Express": 1}']
    )
    assert str(g.as_of_date) == "2025-03-01" and g.sla_days == {"Express": 1}
    with pytest.raises(SystemExit):
        ingest.build_parser().parse_args(
            ["--catalog", "c", "--lakehouse-root", "/x", "--entity", "orders"]
        )


def test_contract_pages_are_up_to_date():
    from pathlib import Path

    from oms_pipeline.contracts.docs import render_all

    docs = Path(__file__).resolve().parents[2] / "docs" / "contracts"
    for name, text in render_all().items():
        assert (docs / name).read_text(encoding="utf-8") == text, (
            f"regenerate docs/contracts/{name}"
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("p95_window_minutes = 15", "p95_window_minutes = 1.5"),
            "p95_window_minutes must be a positive integer",
        ),
        (('type = "bigint"', 'type = "bgint"'), r"columns\[4\]\.type must be a Spark SQL type"),
        (("nullable = false", "nulable = false"), r"columns\[0\]\.nulable must be absent"),
        (("nullable = false", 'nullable = "no"'), r"columns\[0\]\.nullable must be true or false"),
        (('name = "files"', 'name = "rows"'), r"columns\[6\]\.name must be unique"),
        (
            ('name = "gold_freshness"', 'name = "gold-freshness"'),
            "freshness_log.name must be a lowercase identifier",
        ),
        (('schema = "ops"', ""), "schema must be a lowercase identifier"),
        (("[freshness_log]", "[freshness_log"), "not valid TOML"),
    ],
)
def test_ops_contract_refuses_what_the_table_cannot_be_built_from(change, message):
    good = resources.files("oms_pipeline.contracts").joinpath(ops.CONTRACT_FILE).read_text()
    old, new = change
    assert old in good
    with pytest.raises(ValueError, match=message) as err:
        ops.parse_contract(good.replace(old, new, 1), "ops.toml")
    assert str(err.value).startswith("ops.toml")


def test_ops_contract_is_the_log_table_and_its_types():
    assert (
        ops.parse_contract(
            resources.files("oms_pipeline.contracts").joinpath(ops.CONTRACT_FILE).read_text(), "x"
        )["freshness_log"]["name"]
        == ops.FRESHNESS_TABLE
    )
    assert [ops.is_spark_type(t) for t in ("map<string,bigint>", "decimal(18,4)", "bgint")] == [
        True,
        True,
        False,
    ]


def _silver_toml() -> str:
    return (
        resources.files("oms_pipeline.contracts")
        .joinpath(silver_contract.CONTRACT_FILE)
        .read_text()
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[[orders.tables]]", "[[orders.tables]"), "not valid TOML"),
        (
            ('kind = "scd2"', 'kind = "scd"'),
            "customers.tables[0] (customers).kind must be one of history, state, scd2, not 'scd'",
        ),
        (
            ('guard = "insert_only"', 'guard = "newer"'),
            "shipments.tables[0] (shipment_events).guard must be one of insert_only for a "
            "history table, not 'newer'",
        ),
        (
            ('guard = "newer"', 'guard = "newer"\nmerge_on = "x"'),
            "orders.tables[0] (order_lines).merge_on must be absent (keys of a state table: "
            "change_column, change_data_feed, event_time, guard, keys, kind, name)",
        ),
        (
            ('"line_id"]', '"line-id"]'),
            "orders.tables[0] (order_lines).keys[1] must be a lowercase identifier",
        ),
        (('keys = ["event_id"]\n', ""), "shipments.tables[0].keys must be present"),
        (
            ('change_column = "_row_hash"\n', ""),
            "shipments.tables[1] (shipments).change_column must be present",
        ),
        (
            ('current_flag = "is_current"\n', ""),
            "customers.tables[0] (customers).current_flag must be present",
        ),
        (
            ('guard = "newer"', 'guard = "newer"\nchange_column = "_row_hash"'),
            "orders.tables[0] (order_lines).change_column must be absent",
        ),
        (
            ('name = "shipments"', 'name = "shipment_events"'),
            "shipments.tables[1] (shipment_events).name must be unique",
        ),
        (
            ('kind = "state"\nkeys = ["shipment_id"]', 'kind = "history"\nkeys = ["shipment_id"]'),
            "shipments.tables[1] (shipments).kind must be state: a table after the first",
        ),
        (
            (
                'kind = "history"\nkeys = ["event_id"]\nevent_time = "status_ts"\nguard = "insert_only"',
                'kind = "state"\nkeys = ["event_id"]\nevent_time = "status_ts"\nguard = "newer"',
            ),
            "shipments.tables[0] (shipment_events).kind must be history when more tables follow",
        ),
        (
            ("change_data_feed = true", 'change_data_feed = "on"'),
            "orders.tables[0] (order_lines).change_data_feed must be true or false",
        ),
    ],
)
def test_silver_contract_refuses_what_the_merge_cannot_run(change, message):
    good = _silver_toml()
    old, new = change
    assert old in good
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        silver_contract.parse_contract(good.replace(old, new, 1), "silver.toml")
    assert str(err.value).startswith("silver.toml: ")


def test_silver_contract_names_the_landed_entities_and_their_fields():
    fields = {c.name: c.field_names for c in CONTRACTS.values()}
    layout = silver_contract.parse_contract(_silver_toml(), "silver.toml")
    silver_contract.check_entities(layout, fields, "silver.toml")
    without_customers = {e: t for e, t in layout.items() if e != "customers"}
    with pytest.raises(ValueError, match="must be the landed entities orders, shipments"):
        silver_contract.check_entities(without_customers, fields, "silver.toml")
    renamed = _silver_toml().replace('"line_id"]', '"line_no"]', 1)
    with pytest.raises(
        ValueError,
        match=re.escape("orders.tables[0] (order_lines).keys must be fields of the orders"),
    ):
        silver_contract.check_entities(
            silver_contract.parse_contract(renamed, "silver.toml"), fields, "silver.toml"
        )


def test_entity_contracts_read_their_silver_tables_from_the_layout():
    assert {e: c.silver_tables for e, c in CONTRACTS.items()} == {
        "orders": ("order_lines",),
        "shipments": ("shipment_events", "shipments"),
        "inventory": ("inventory_events", "inventory_stock"),
        "customers": ("customers",),
    }
    (customers,) = get_contract("customers").silver
    assert customers.kind == "scd2"
    assert customers.row_keys == ("customer_id", "valid_from")
    stock = get_contract("inventory").silver[1]
    assert (stock.guard, stock.event_time, stock.change_column) == (
        "changed_not_older",
        "last_event_ts",
        "_row_hash",
    )


def test_job_as_of_date_refuses_a_non_date_naming_the_form(capsys):
    from oms_pipeline.jobs import gold_refresh

    with pytest.raises(SystemExit) as exc:
        gold_refresh.build_parser().parse_args(["--as-of-date", "2025-02-30"])
    assert exc.value.code == 2
    assert "--as-of-date: '2025-02-30': expected a date YYYY-MM-DD" in capsys.readouterr().err
