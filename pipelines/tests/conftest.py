"""One embedded Spark + Delta session for the whole run (local[2], UTC, UI off)."""

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
