"""The package manifest (``oms_pipeline/manifest.json``) the stack deploys the package from."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from oms_pipeline import config, manifest
from oms_pipeline.config import TableLocator
from oms_pipeline.contracts.entities import CONTRACTS
from oms_pipeline.contracts.gold import GOLD_CONTRACT_VERSION, GOLD_SCHEMA
from oms_pipeline.contracts.ops import OPS_SCHEMA

BUILT = manifest.build(manifest.scripts_from_pyproject())


def test_the_committed_manifest_is_the_one_the_sources_build():
    # A stale manifest.json would make the stack deploy facts the package no longer has.
    committed = manifest.SOURCE_MANIFEST.read_text("utf-8")
    assert committed == manifest.render(BUILT), manifest.stale_message(committed)
    assert manifest.shipped() == BUILT
    assert manifest.main(["--check"]) == 0


def test_a_stale_manifest_names_what_changed():
    changed = json.loads(manifest.render(BUILT))
    changed["entities"]["orders"]["contract_version"] = "0"
    changed["volumes"].pop(next(iter(changed["volumes"])))
    where = manifest.differences(changed, BUILT)
    assert "entities.orders.contract_version" in where
    assert any(w.startswith("volumes.") for w in where) and len(where) == 2
    assert manifest.differences(BUILT, BUILT) == []


def test_entry_points_resolve_to_callables_and_jobs_are_the_job_modules():
    for script, target in BUILT["entry_points"].items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), script
    jobs = {
        p.stem
        for p in Path(importlib.import_module("oms_pipeline.jobs").__file__).parent.glob("*.py")
        if p.stem not in {"__init__", "common"}
    }
    assert set(BUILT["jobs"]) == jobs
    for job, script in BUILT["jobs"].items():
        assert BUILT["entry_points"][script] == f"oms_pipeline.jobs.{job}:main"


def test_entities_and_tables_are_the_contracts():
    assert list(BUILT["entities"]) == list(CONTRACTS)
    for name, entity in BUILT["entities"].items():
        contract = CONTRACTS[name]
        assert entity["contract_version"] == contract.version
        assert entity["silver"] == {"schema": "silver", "tables": list(contract.silver_tables)}
        assert entity["bronze"] == {"schema": "bronze", "table": config.bronze_table(name)}
        assert entity["quarantine"] == {"schema": OPS_SCHEMA, "table": f"quarantine_{name}"}
        for kind in ("bronze", "silver", "quarantine"):
            assert entity[kind]["schema"] in config.LAYERS
    assert BUILT["contracts"]["gold"] == {"schema": GOLD_SCHEMA, "version": GOLD_CONTRACT_VERSION}
    assert set(BUILT["contracts"]["files"]) == {
        "contracts/freshness_alert.sql",
        "contracts/ops.toml",
        "contracts/silver.toml",
        # The Gold views' queries.
        "contracts/agg_sales_daily.sql",
        "contracts/agg_shipment_sla_daily.sql",
    }


def test_layers_and_volumes_are_where_the_jobs_read_and_write():
    assert [layer["name"] for layer in BUILT["layers"]] == list(config.LAYERS)
    loc = TableLocator(catalog="oms_dev")
    path = BUILT["volume_path"]
    volume = {
        v: path.format(catalog="oms_dev", schema=body["schema"], volume=v)
        for v, body in BUILT["volumes"].items()
    }
    assert loc.landing("orders") == f"{volume['landing']}/orders"
    assert loc.checkpoint("bronze", "orders") == f"{volume['checkpoints']}/bronze/orders"
    assert volume["artifacts"] == "/Volumes/oms_dev/ops/artifacts"


def test_a_script_target_that_is_not_module_function_is_refused():
    with pytest.raises(ValueError, match=r"oms-x = 'oms_pipeline\.jobs\.silver' must be"):
        manifest.build({"oms-x": "oms_pipeline.jobs.silver"})
    with pytest.raises(ValueError, match=r"both run oms_pipeline\.jobs\.silver"):
        manifest.build({"a": "oms_pipeline.jobs.silver:main", "b": "oms_pipeline.jobs.silver:main"})


def test_a_missing_or_malformed_pyproject_is_named(tmp_path: Path):
    missing = tmp_path / "pyproject.toml"
    with pytest.raises(ValueError, match=r"cannot read pyproject\.toml"):
        manifest.scripts_from_pyproject(missing)
    missing.write_text('[project]\nscripts = ["oms-silver"]\n')
    with pytest.raises(ValueError, match=r"pyproject.toml: \[project.scripts\] must be a table"):
        manifest.scripts_from_pyproject(missing)
