"""Landing files: absent entity folders, files changed after ingestion, and the accounting that
makes every file under the landing root ingested, pending or reported (landed = ingested +
pending + skipped + ignored)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.io.landing import autoloader_options, file_source_options, source_path
from oms_pipeline.io.landing_files import LANDING_FILES_TABLE
from oms_pipeline.io.tables import read_table
from oms_pipeline.jobs import ingest as ingest_job
from oms_pipeline.pipeline.ingest import account_landing

ORDER = {
    "order_id": "O-5", "line_id": "1", "customer_id": "C1", "sku": "P1", "quantity": 1,
    "unit_price": "10.00", "currency": "USD", "status": "CREATED",
    "order_ts": "2025-03-10T08:00:00Z", "event_ts": "2025-03-10T08:00:00Z",
}  # fmt: skip


def order(oid: str, status: str, event_ts: str) -> str:
    return json.dumps(ORDER | {"order_id": oid, "status": status, "event_ts": event_ts})


def write(path: Path, lines: list[str], *, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def ingest(loc: TableLocator, *extra: str) -> int:
    assert loc.lakehouse_root and loc.landing_root
    argv = ["--lakehouse-root", loc.lakehouse_root, "--landing-root", loc.landing_root]
    return ingest_job.main([*argv, "--autoloader", "off", *extra])


def statuses(spark: SparkSession, loc: TableLocator) -> dict[str, tuple[str, str | None]]:
    rows = read_table(spark, loc, "ops", LANDING_FILES_TABLE).collect()
    root = loc.landing_root or ""
    return {os.path.relpath(r["path"], root): (r["status"], r["reason"]) for r in rows}


# --- 2. an entity folder that does not exist yet is empty ------------------------------------


def test_bronze_job_with_only_orders_landed_ingests_orders_and_empties(spark, loc):
    # The first drop holds only orders/: shipments/, inventory/, customers/ do not exist.
    write(
        Path(loc.landing("orders")) / "orders-1.jsonl",
        [order("O-1", "CREATED", "2025-03-10T08:00:00Z")],
    )
    assert ingest(loc) == 0
    assert read_table(spark, loc, "bronze", "orders").count() == 1
    for e in ENTITIES:
        if e != "orders":
            assert read_table(spark, loc, "bronze", e).count() == 0, e
            assert not os.path.exists(loc.landing(e)), "the reader must not need the folder"


def test_a_folder_created_after_the_first_run_is_picked_up(spark, loc):
    assert ingest(loc, "--entity", "shipments") == 0  # nothing landed at all
    ship = {"shipment_id": "S1", "order_id": "O-1", "event_ts": "2025-03-10T09:00:00Z"}
    write(Path(loc.landing("shipments")) / "nested" / "s-1.jsonl", [json.dumps(ship)])
    assert ingest(loc, "--entity", "shipments") == 0
    assert read_table(spark, loc, "bronze", "shipments").count() == 1


def test_one_shot_local_run_with_a_missing_landing_root(spark, tmp_path):
    from oms_pipeline.live.runner import run_once

    loc = TableLocator(
        lakehouse_root=str(tmp_path / "lake"), landing_root=str(tmp_path / "never-created")
    )
    run_once(spark, loc, PipelineSettings())
    for e in ENTITIES:
        assert read_table(spark, loc, "bronze", e).count() == 0


def test_a_missing_landing_root_is_empty_but_warned_about(tmp_path, capsys):
    """Nothing landed is valid, but a mistyped landing path must not pass silently."""
    from oms_pipeline.io.landing_files import LandingReport, classify, log_report

    root = str(tmp_path / "lnading")
    log_report(LandingReport(classify(root, {}), root))
    out = capsys.readouterr().out
    assert "0 landed" in out
    assert f"WARNING landing root {root} does not exist" in out
    (tmp_path / "landing").mkdir()
    log_report(LandingReport(classify(str(tmp_path / "landing"), {}), str(tmp_path / "landing")))
    assert "WARNING" not in capsys.readouterr().out


def test_source_path_is_a_one_name_glob_and_refuses_glob_characters():
    assert (
        source_path("/Volumes/oms_dev/ops/landing/orders/")
        == "/Volumes/oms_dev/ops/landing/{orders}"
    )
    with pytest.raises(ValueError, match=r"glob character\(s\) \* \["):
        source_path("/data/[x]*/orders")


# --- 3. a corrected file re-dropped under the same name is reported, never silent ------------


def test_overwritten_file_is_reported_loudly_once(spark, loc, capsys):
    path = Path(loc.landing("orders")) / "orders-2025-03-10.jsonl"
    write(path, [order("O-5", "CREATED", "2025-03-10T08:00:00Z")], mtime=1_741_600_000)
    assert ingest(loc, "--fail-on-skipped") == 0
    # The same name, overwritten with a later event for O-5 and a new line O-6.
    write(
        path,
        [
            order("O-5", "CANCELLED", "2025-03-10T10:00:00Z"),
            order("O-6", "CREATED", "2025-03-10T10:00:00Z"),
        ],
        mtime=1_741_610_000,
    )
    assert ingest(loc, "--fail-on-skipped") == ingest_job.SKIPPED_EXIT_CODE
    out = capsys.readouterr().out
    assert "WARNING landing file skipped: " + str(path) in out
    assert "changed_after_ingest" in out and "since it was ingested" in out
    # Only the version read is in bronze; the change is reported, not half-applied.
    assert [r["status"] for r in read_table(spark, loc, "bronze", "orders").collect()] == [
        "CREATED"
    ]
    assert statuses(spark, loc)["orders/orders-2025-03-10.jsonl"] == (
        "skipped",
        "changed_after_ingest",
    )
    # Reported once: the next run still lists it but does not fail again.
    assert ingest(loc, "--fail-on-skipped") == 0
    assert "(reported before)" in capsys.readouterr().out


def test_same_size_overwrite_and_appended_record_are_both_detected(spark, loc):
    a = write(
        Path(loc.landing("orders")) / "a.jsonl",
        [order("O-5", "CREATED", "2025-03-10T08:00:00Z")],
        mtime=1_741_600_000,
    )
    b = write(
        Path(loc.landing("orders")) / "b.jsonl",
        [order("O-7", "CREATED", "2025-03-10T08:00:00Z")],
        mtime=1_741_600_000,
    )
    assert ingest(loc) == 0
    write(a, [order("O-8", "CREATED", "2025-03-10T08:00:00Z")], mtime=1_741_600_100)  # same size
    with b.open("a", encoding="utf-8") as fh:  # a record appended to a processed file
        fh.write(order("O-9", "CREATED", "2025-03-10T09:00:00Z") + "\n")
    os.utime(b, (1_741_600_200, 1_741_600_200))
    assert ingest(loc) == 0  # not failing without --fail-on-skipped, but reported
    got = statuses(spark, loc)
    assert got["orders/a.jsonl"] == ("skipped", "changed_after_ingest")
    assert got["orders/b.jsonl"] == ("skipped", "changed_after_ingest")
    assert sorted(r["order_id"] for r in read_table(spark, loc, "bronze", "orders").collect()) == [
        "O-5",
        "O-7",
    ]


def test_autoloader_and_file_source_options_state_the_decision():
    opts = autoloader_options("/Volumes/c/ops/checkpoints/bronze/orders/schema", 100)
    assert opts["cloudFiles.allowOverwrites"] == "false"
    assert opts["cloudFiles.includeExistingFiles"] == "true"
    assert opts["recursiveFileLookup"] == "true"
    assert opts["cloudFiles.maxFilesPerTrigger"] == "100"
    assert file_source_options(5) == {
        "encoding": "UTF-8", "recursiveFileLookup": "true", "maxFilesPerTrigger": "5"
    }  # fmt: skip


# --- 10. every file under the landing root is accounted for ----------------------------------


def test_every_landed_file_is_ingested_pending_or_reported(spark, loc, capsys):
    root = Path(loc.landing_root or "")
    line = order("O-1", "CREATED", "2025-03-10T08:00:00Z")
    write(root / "orders" / "a.jsonl", [line])
    write(
        root / "orders" / "batch-9.jsonl" / "part-0.jsonl",
        [order("O-9", "CREATED", "2025-03-10T08:00:00Z")],
    )
    write(root / "orders" / "batch-9.jsonl" / "_SUCCESS", [])
    write(root / "orders" / "empty.jsonl", [])
    write(root / "orders" / ".o-2.jsonl.tmp", [line])
    write(root / "notes.txt", ["hello"])
    write(root / "returns" / "r-1.jsonl", [line])
    write(root / "_feed" / "state.json", ["{}"])
    assert ingest(loc, "--fail-on-skipped") == ingest_job.SKIPPED_EXIT_CODE
    assert sorted(r["order_id"] for r in read_table(spark, loc, "bronze", "orders").collect()) == [
        "O-1",
        "O-9",
    ]
    assert statuses(spark, loc) == {
        "orders/a.jsonl": ("ingested", None),
        "orders/batch-9.jsonl/part-0.jsonl": ("ingested", None),
        "orders/empty.jsonl": ("ingested", None),
        "orders/batch-9.jsonl/_SUCCESS": ("ignored", "hidden_name"),
        "orders/.o-2.jsonl.tmp": ("ignored", "hidden_name"),
        "_feed/state.json": ("ignored", "hidden_name"),
        "notes.txt": ("skipped", "outside_entity_folder"),
        "returns/r-1.jsonl": ("skipped", "outside_entity_folder"),
    }
    out = capsys.readouterr().out
    assert "landing files: 8 landed = 3 ingested + 0 pending + 2 skipped + 3 ignored" in out
    # A file landed after the run is pending until the next run reads it.
    write(root / "customers" / "c-1.jsonl", [json.dumps({"customer_id": "C1"})])
    report = account_landing(spark, loc, use_autoloader=False)
    c = report.counts
    assert (
        c["pending"] == 1
        and c["landed"] == c["ingested"] + c["pending"] + c["skipped"] + c["ignored"]
    )
    assert ingest(loc) == 0
    assert statuses(spark, loc)["customers/c-1.jsonl"] == ("ingested", None)


def test_files_report_only_mode_writes_the_table_without_ingesting(spark, loc):
    write(
        Path(loc.landing("orders")) / "a.jsonl", [order("O-1", "CREATED", "2025-03-10T08:00:00Z")]
    )
    write(Path(loc.landing_root or "") / "stray.jsonl", ["{}"])
    assert ingest(loc, "--files-report-only", "--fail-on-skipped") == ingest_job.SKIPPED_EXIT_CODE
    assert statuses(spark, loc) == {
        "orders/a.jsonl": ("pending", None),
        "stray.jsonl": ("skipped", "outside_entity_folder"),
    }


def test_a_file_of_a_micro_batch_not_committed_yet_is_not_read(tmp_path: Path) -> None:
    """The file source logs a file when it plans the batch that reads it; until the batch's
    commit (``commits/<id>``) a stop or kill makes the next start run it again, so the file is
    not in bronze yet and must not be reported as ingested."""
    from oms_pipeline.io.landing_files import file_source_log

    log = tmp_path / "sources" / "0"
    log.mkdir(parents=True)
    for batch, name in enumerate(["a", "b"]):
        entry = {"path": f"file://{tmp_path}/orders/{name}.jsonl", "timestamp": 5, "batchId": batch}
        (log / str(batch)).write_text("v1\n" + json.dumps(entry) + "\n", encoding="utf-8")
    assert file_source_log(str(tmp_path)) == {}  # planned, nothing committed
    (tmp_path / "commits").mkdir()
    (tmp_path / "commits" / "0").write_text("v1\n{}\n", encoding="utf-8")
    assert list(file_source_log(str(tmp_path))) == [f"{tmp_path}/orders/a.jsonl"]
    (tmp_path / "commits" / "1").write_text("v1\n{}\n", encoding="utf-8")
    assert sorted(file_source_log(str(tmp_path))) == [
        f"{tmp_path}/orders/{n}.jsonl" for n in ("a", "b")
    ]
