"""Tables are created once, whoever gets there first: concurrent creators (the four silver tasks
starting together) and a creation cut short by a kill (a ``_delta_log/`` folder without a commit)
both end with one usable table."""

from __future__ import annotations

import threading
from pathlib import Path

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from oms_pipeline.config import TableLocator
from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.io.tables import ensure_table, is_create_race, read_table, table_exists
from oms_pipeline.jobs import ingest
from oms_pipeline.pipeline.silver import AUDIT_SCHEMA, AUDIT_TABLE
from oms_pipeline.sources.factory import FeedConfig, generate


def all_at_once(targets: list) -> list[BaseException]:
    """Run the callables in threads released together; the errors they raised."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(fn) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_creators_all_find_one_table(spark: SparkSession, loc: TableLocator) -> None:
    errors = all_at_once(
        [lambda: ensure_table(spark, loc, "ops", AUDIT_TABLE, AUDIT_SCHEMA) for _ in range(4)]
    )
    assert errors == []
    assert read_table(spark, loc, "ops", AUDIT_TABLE).schema.fieldNames() == AUDIT_SCHEMA.names


def test_a_non_empty_location_is_a_race_only_while_it_holds_just_an_uncommitted_log(
    tmp_path: Path,
) -> None:
    refusal = AnalysisException(
        "[DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION] Cannot create table. The associated "
        "location is not empty and also not a Delta table."
    )
    (tmp_path / "_delta_log").mkdir()
    assert is_create_race(refusal, str(tmp_path))
    (tmp_path / "part-00000.parquet").write_bytes(b"PAR1")
    assert not is_create_race(refusal, str(tmp_path))
    assert not is_create_race(refusal, None)


def test_a_creation_cut_short_by_a_kill_is_completed(
    spark: SparkSession, loc: TableLocator
) -> None:
    # What a kill between Delta's mkdir of the log and its first commit leaves behind.
    log = Path(loc.name("silver", "customers")) / "_delta_log"
    log.mkdir(parents=True)
    (log / ".00000000000000000000.json.3f2a.tmp").write_text('{"commitInfo"')
    assert not table_exists(spark, loc, "silver", "customers")
    ensure_table(
        spark, loc, "silver", "customers", AUDIT_SCHEMA, change_data_feed=True, comment="It's one"
    )
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{loc.name('silver', 'customers')}`").first()
    assert detail["properties"]["delta.enableChangeDataFeed"] == "true"
    assert detail["description"] == "It's one"
    assert read_table(spark, loc, "silver", "customers").count() == 0


def test_the_job_entry_point_accounts_for_every_bronze_row_of_its_first_batch(
    spark: SparkSession, tmp_path: Path
) -> None:
    """One ingest task: its first micro-batch holds every entity, and writes bronze, Silver and
    one audit row per entity into tables created before the query started."""
    landing, root = tmp_path / "landing", tmp_path / "lakehouse"
    generate(
        str(landing),
        FeedConfig(seed=3, orders=30, customers=10, products=8, files_per_entity=1),
    )
    where = ["--lakehouse-root", str(root), "--landing-root", str(landing)]
    assert ingest.main([*where, "--autoloader", "off"]) == 0
    loc = TableLocator(lakehouse_root=str(root), landing_root=str(landing))
    audit = read_table(spark, loc, "ops", AUDIT_TABLE)
    assert sorted(r[0] for r in audit.select("entity").distinct().collect()) == sorted(ENTITIES)
    assert {r[0] for r in audit.select("silver_batch_id").distinct().collect()} == {0}
    for entity in ENTITIES:
        # Every bronze row of the entity is accounted for in its first (only) batch.
        bronze_rows = read_table(spark, loc, "bronze", entity).count()
        row = audit.where(f"entity = '{entity}'").first()
        assert row["rows_in"] == bronze_rows == row["accepted"] + row["quarantined"]
