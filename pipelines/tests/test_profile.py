"""The profile's accounting (``oms bench --profile``), from scripted progress events, Spark job
sightings, Gold phases and Delta commit logs: which stage and which cycle each one counts in.
No Spark and no timing: every time below is a scripted epoch second."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from oms_pipeline.config import TableLocator
from oms_pipeline.live.profile import (
    Batch,
    Commit,
    JobSeen,
    Phase,
    Refresh,
    StageMap,
    account,
    batch_from_progress,
    local_stages,
    read_commits,
    render,
    stage_of_query,
)

T0 = 1_800_000_000.0  # an epoch second; the scripted run's times are offsets from it


def progress(name: str, run_id: str, start: float, ms: dict[str, int], rows: int) -> dict:
    """A progress event as ``StreamingQueryProgress.json`` has it (the fields used)."""
    stamp = dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "name": name,
        "runId": run_id,
        "batchId": 0,
        "timestamp": stamp,
        "numInputRows": rows,
        "durationMs": ms,
    }


def write_log(table_dir: Path, commits: list[list[dict]]) -> None:
    """A ``_delta_log`` with one JSON file of actions per commit."""
    log = table_dir / "_delta_log"
    log.mkdir(parents=True)
    for version, actions in enumerate(commits):
        text = "\n".join(json.dumps(a) for a in actions) + "\n"
        (log / f"{version:020d}.json").write_text(text)


def commit_info(ts: float, operation: str, **metrics: int) -> dict:
    return {
        "commitInfo": {
            "timestamp": int(ts * 1000),
            "operation": operation,
            "operationMetrics": {k: str(v) for k, v in metrics.items()},
        }
    }


def test_query_names_map_to_stages() -> None:
    assert stage_of_query("ingest") == "stream/ingest"
    assert stage_of_query("landing_files") == "stream/landing_files"


def test_a_progress_event_gives_its_end_seconds_and_split() -> None:
    ms = {
        "triggerExecution": 4000,
        "addBatch": 3000,
        "getBatch": 100,
        "queryPlanning": 200,
        "walCommit": 300,
        "commitOffsets": 250,
        "latestOffset": 50,
    }
    b = batch_from_progress(progress("ingest", "r1", T0, ms, 120))
    assert (b.stage, b.run_id, b.rows, b.ran) == ("stream/ingest", "r1", 120, True)
    assert b.end_s == pytest.approx(T0 + 4.0)
    assert b.seconds == pytest.approx(4.0)
    assert b.split["walCommit+commitOffsets"] == pytest.approx(0.55)
    assert b.split["addBatch"] == pytest.approx(3.0)
    idle = batch_from_progress(progress("ingest", "r1", T0, {"triggerExecution": 5}, 0))
    assert not idle.ran


def test_commits_are_read_from_the_log_with_rows_and_application_ids(tmp_path: Path) -> None:
    write_log(
        tmp_path / "t",
        [
            [{"protocol": {}}, commit_info(T0, "CREATE TABLE")],
            [
                {"txn": {"appId": "oms-audit-orders-" + "a" * 32, "version": 3}},
                commit_info(T0 + 1, "WRITE", numOutputRows=7),
            ],
            [
                commit_info(
                    T0 + 2,
                    "MERGE",
                    numOutputRows=99,
                    numTargetRowsInserted=2,
                    numTargetRowsUpdated=3,
                    numTargetRowsDeleted=1,
                )
            ],
        ],
    )
    commits = read_commits("ops.x", str(tmp_path / "t"))
    assert [c.version for c in commits] == [0, 1, 2]
    assert commits[1].app_ids == ("oms-audit-orders-" + "a" * 32,)
    assert [c.rows for c in commits] == [0, 7, 6]  # a MERGE counts the rows it changed
    assert commits[2].ts_s == pytest.approx(T0 + 2)
    assert read_commits("ops.x", str(tmp_path / "t"), from_version=2)[0].operation == "MERGE"
    assert read_commits("ops.none", str(tmp_path / "missing")) == []


def test_the_local_run_maps_every_table_it_writes_to_its_stage(tmp_path: Path) -> None:
    loc = TableLocator(lakehouse_root=str(tmp_path), landing_root=str(tmp_path / "landing"))
    paths, stage_map, steps = local_stages(loc, ("orders", "inventory"))
    assert steps[0] == "fact_order_lines" and "dim_date" in steps
    # The ingest query writes bronze, Silver, quarantine and the batch audit.
    for table in ("bronze.orders", "silver.order_lines", "ops.quarantine_inventory"):
        assert stage_map.tables[table] == "stream/ingest"
    assert stage_map.stage(Commit("ops.silver_batch_audit", 4, T0, "WRITE", (), 1)) == (
        "stream/ingest"
    )
    assert stage_map.tables["gold.fact_shipments"] == "gold/fact_shipments"
    assert "gold.agg_sales_daily" not in stage_map.tables  # a view: no refresh writes it
    assert stage_map.tables["ops.gold_progress"] == "gold/progress"
    assert paths["silver.order_lines"] == str(tmp_path / "silver" / "order_lines")
    assert paths["ops.silver_batch_audit"] == str(tmp_path / "ops" / "silver_batch_audit")
    assert stage_map.stage(Commit("ops.unknown", 5, T0, "WRITE", (), 1)) == "other/ops.unknown"


def scripted_run() -> dict:
    """Three Gold refreshes and a drain; the first refresh is the warm-up.

    Cycle 1 (warm-up) ends at T0+30, cycle 2 at T0+60, cycle 3 at T0+90, the drain at T0+120.
    """
    refreshes = [
        Refresh(T0 + 10, T0 + 30),
        Refresh(T0 + 50, T0 + 60),
        Refresh(T0 + 80, T0 + 90),
        Refresh(T0 + 110, T0 + 120, drain=True),
    ]
    split = {"addBatch": 2.0, "walCommit+commitOffsets": 0.5}
    batches = [
        Batch("stream/ingest", "rb", T0 + 25, 3.0, 1000, True, split),  # warm-up
        Batch("stream/ingest", "rb", T0 + 32, 4.0, 200, True, split),  # from the warm-up to 2
        Batch("stream/ingest", "rb", T0 + 45, 3.0, 1000, True, split),  # cycle 2
        Batch("stream/ingest", "rb", T0 + 75, 2.0, 500, True, split),  # cycle 3
        Batch("stream/landing_files", "rs", T0 + 60, 5.0, 900, True, split),  # cycle 2 (its end)
        Batch("stream/landing_files", "rs", T0 + 70, 0.1, 0, False, {}),  # idle: no micro-batch
        Batch("stream/landing_files", "rs2", T0 + 115, 9.0, 4000, True, split),  # drain
    ]
    jobs = [
        JobSeen(1, "rb", T0 + 24),
        JobSeen(2, "rb", T0 + 44),
        JobSeen(3, "rs", T0 + 55),
        JobSeen(4, "rs", T0 + 56),
        JobSeen(5, "rs", T0 + 85),
        JobSeen(6, "rs2", T0 + 114),
    ]
    phases = [
        Phase("gold/changes", T0 + 10, T0 + 11, 2),
        Phase("gold/fact_order_lines", T0 + 11, T0 + 30, 9),
        Phase("gold/changes", T0 + 50, T0 + 51, 2),
        Phase("gold/fact_order_lines", T0 + 51, T0 + 58, 5),
        Phase("gold/freshness_log", T0 + 58, T0 + 60, 1),
        Phase("gold/changes", T0 + 80, T0 + 81, 2),
        Phase("gold/fact_order_lines", T0 + 81, T0 + 90, 7),
        Phase("gold/fact_order_lines", T0 + 111, T0 + 120, 7),  # drain
    ]
    commits = [
        Commit("bronze.orders", 1, T0 + 25, "WRITE", (), 1000),
        Commit("bronze.orders", 2, T0 + 45, "WRITE", (), 1000),
        Commit("bronze.orders", 3, T0 + 75, "WRITE", (), 500),
        Commit("ops.landing_files", 1, T0 + 59, "MERGE", (), 900),
        Commit("ops.landing_files", 2, T0 + 59.5, "WRITE", (), 1),
        Commit("gold.fact_order_lines", 1, T0 + 29, "MERGE", (), 300),
        Commit("gold.fact_order_lines", 2, T0 + 57, "MERGE", (), 40),
        Commit("gold.fact_order_lines", 3, T0 + 89, "MERGE", (), 20),
        Commit("gold.fact_order_lines", 4, T0 + 119, "MERGE", (), 80),
    ]
    stage_map = StageMap(
        {
            "bronze.orders": "stream/ingest",
            "ops.landing_files": "stream/landing_files",
            "gold.fact_order_lines": "gold/fact_order_lines",
        }
    )
    return {
        "batches": batches,
        "stream_jobs": jobs,
        "run_stages": {
            "rb": "stream/ingest",
            "rs": "stream/landing_files",
            "rs2": "stream/landing_files",
        },
        "phases": phases,
        "refreshes": refreshes,
        "commits": commits,
        "stage_map": stage_map,
        "feed": (T0, T0 + 105),
        "cpu_samples": [(T0 + 29.5, 50.0), (T0 + 30.5, 52.0), (T0 + 89.9, 140.0), (T0 + 95, 150)],
    }


def test_each_record_counts_in_its_stage_and_cycle_warm_up_and_drain_left_out() -> None:
    p = account(**scripted_run())
    assert (p.cycles, p.window) == (2, (T0 + 30, T0 + 90))
    assert p.cpu_s == pytest.approx(90.0)  # the samples at or before the window's ends
    got = {s: (f.runs, f.jobs, f.commits, round(f.seconds, 3), f.rows) for s, f in p.stages.items()}
    assert got == {
        "stream/ingest": (3, 1, 2, 9.0, 1700),  # a batch counts in the cycle it ended in
        "stream/landing_files": (1, 3, 2, 5.1, 900),  # the idle report adds seconds, no micro-batch
        "gold/changes": (2, 4, 0, 2.0, 0),
        "gold/fact_order_lines": (2, 12, 2, 16.0, 60),
        "gold/freshness_log": (1, 1, 0, 2.0, 0),
    }
    assert p.stages["stream/ingest"].split == {"addBatch": 6.0, "walCommit+commitOffsets": 1.5}
    assert p.per_cycle(p.stages["gold/fact_order_lines"].seconds) == pytest.approx(8.0)


def test_too_few_refreshes_make_the_window_the_feeds_last_two_thirds() -> None:
    run = scripted_run()
    run["refreshes"] = run["refreshes"][1:2] + run["refreshes"][-1:]  # T0+60 and the drain
    run["phases"] = [*run["phases"], Phase("gold/dim_date", T0 + 30, T0 + 40, 3)]
    p = account(**run)
    assert p.stages["gold/dim_date"].jobs == 3  # a phase counts where it ended
    assert (p.cycles, p.window) == (1, (T0 + 35, T0 + 105))
    assert "two thirds" in p.how
    assert p.cpu_s == pytest.approx(150.0 - 52.0)
    # ingest's batches at T0+45 and +75 (not +25), the report's at +60; the drain's not at all
    assert (p.stages["stream/ingest"].runs, p.stages["stream/landing_files"].runs) == (2, 1)
    assert p.stages["gold/fact_order_lines"].jobs == 5 + 7

    run["refreshes"] = run["refreshes"][-1:]  # only the drain's
    p = account(**run)
    assert p.cycles == 0 and p.per_cycle(10) == 10  # totals over the window, not per cycle
    assert "No Gold refresh ended in the window" in " ".join(render(p, ["fact_order_lines"], 2))
    run["feed"] = None
    empty = account(**run)
    assert (empty.window, empty.stages) == (None, {})
    assert "No steady-state window" in " ".join(render(empty, ["fact_order_lines"], 2))


def test_the_rendered_table_is_per_cycle_in_flow_order() -> None:
    lines = render(account(**scripted_run()), ["fact_order_lines"], 2)
    rows = [ln for ln in lines if ln.startswith("| ") and "---" not in ln]
    stages = [r.split("|")[1].strip() for r in rows]
    assert stages[:6] == [
        "stage",
        "stream/ingest",
        "stream/landing_files",
        "gold/changes",
        "gold/fact_order_lines",
        "gold/freshness_log",
    ]
    gold = rows[4].split("|")
    # per cycle: 1 refresh, 6 jobs, 1 commit, 8.0 s, 30 rows; 16 of 60 s of wall-clock
    assert [c.strip() for c in gold[2:8]] == ["1.0", "6.0", "1.0", "8.0", "30", "27 %"]
