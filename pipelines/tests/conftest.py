"""One embedded Spark + Delta session per test process (local[2], UTC, UI off), and the order
in which pytest-xdist hands the modules to its workers (scripts/test runs the suite on two)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from oms_pipeline.config import TableLocator
from oms_pipeline.session import local_session

FIXTURES = Path(__file__).parent / "fixtures"
# Spark's defaults for every Spark the tests start, in-process or as a subprocess (see the file).
os.environ["SPARK_CONF_DIR"] = str(Path(__file__).parent / "spark-conf")
MAPPINGS = Path(__file__).parent.parent / "mappings"


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    os.environ.setdefault("TZ", "UTC")
    session = local_session(
        "oms-tests",
        master="local[2]",
        shuffle_partitions=2,
        warehouse_dir=str(tmp_path_factory.mktemp("warehouse")),
        # One session serves the whole suite (well over a hundred tests and their tables).
        conf={"spark.driver.memory": "4g"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def loc(tmp_path: Path) -> TableLocator:
    """A fresh local lakehouse and landing folder per test."""
    (tmp_path / "landing").mkdir()
    return TableLocator(
        lakehouse_root=str(tmp_path / "lakehouse"), landing_root=str(tmp_path / "landing")
    )


# Test modules slowest first, as measured with ``pytest --durations=0``: pytest-xdist
# (``--dist loadfile --no-loadscope-reorder``, scripts/test) hands one whole module to a worker at a
# time in this order, so the long ones start first and the short ones fill in around them; every
# other module follows in collection order. A module runs whole on one worker, so its
# module-scoped fixtures are built once.
SLOWEST_FIRST = (
    "test_live_run",
    "test_powerbi_refresh",
    "test_live_run_sigterm",
    "test_superstore",
    "test_streaming",
    "test_kafka_source",
    "test_freshness_log",
    "test_shared_tables",
    "test_live_kafka",
    "test_generated_e2e",
    "test_job_parameters_e2e",
    "test_report_source",
    "test_bad_values",
    "test_landing_files",
    "test_exports",
    "test_transforms",
    "test_live_units",
)


_STALE = [m for m in SLOWEST_FIRST if not (Path(__file__).parent / f"{m}.py").exists()]
if _STALE:  # a renamed or removed module would silently lose its place in the order
    raise RuntimeError(f"conftest.SLOWEST_FIRST names no test module: {', '.join(_STALE)}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: in-module order kept
