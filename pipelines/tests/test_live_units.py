"""Units of the live run: the feed's determinism and resume, freshness percentiles, the measure
evaluation behind the dashboards, and the HTTP server."""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.io.tables import append
from oms_pipeline.live import feed_writer as W
from oms_pipeline.live.feeder import Feeder
from oms_pipeline.live.freshness import FreshnessTracker, percentile
from oms_pipeline.live.queries import evaluate_sets
from oms_pipeline.live.runner import (
    LiveOptions,
    LiveRun,
    landing_times,
    status_line,
)
from oms_pipeline.live.server import DashboardServer, Snapshot
from oms_pipeline.pipeline.ingest import ENTITY_COLUMN
from oms_pipeline.pipeline.silver import AUDIT_SCHEMA, AUDIT_TABLE
from oms_pipeline.session import _jvm_ignores_sigterm, start_signal_free_thread
from oms_pipeline.sources.factory import FeedConfig, batch_events, master_data


def test_feed_batches_are_deterministic_and_distinct() -> None:
    cfg = FeedConfig(seed=3)
    cat = master_data(cfg)
    assert batch_events(cfg, cat, 4, 100) == batch_events(cfg, master_data(cfg), 4, 100)
    a, b = batch_events(cfg, cat, 4, 100), batch_events(cfg, cat, 5, 100)
    ids = lambda lines: {  # noqa: E731
        json.loads(x)["order_id"] for x in lines["orders"] if x.startswith('{"')
    }
    assert ids(a).isdisjoint(ids(b))
    assert 100 <= sum(len(v) for v in b.values()) <= 140
    assert "customers" in batch_events(cfg, cat, 0, 10)  # batch 0 carries the master data


def test_feeder_resumes_an_interrupted_batch_with_its_original_size(tmp_path: Path) -> None:
    landing = str(tmp_path)
    cfg = FeedConfig(seed=3)
    # A run wrote batch 0, then died while writing batch 1 (size 30): only orders landed.
    W.write_batch(landing, 3, 0, batch_events(cfg, master_data(cfg), 0, 30))
    partial = batch_events(cfg, master_data(cfg), 1, 30)
    W.write_batch(landing, 3, 1, {"orders": partial["orders"]})
    W.write_state(landing, W.FeedState(next_batch=1, pending_batch=1, pending_events=30))

    f = Feeder(landing, cfg, rate=500_000, tick_s=0.001, batches=3, until=None)
    f.run()  # in this thread: writes the rest of batch 1, then batch 2 at the new rate
    assert f.error is None
    for entity, rows in partial.items():
        text = Path(W.batch_file(landing, entity, 3, 1)).read_text()
        assert text == "\n".join(rows) + "\n"
    assert W.read_state(landing).next_batch == 3
    # What this run delivered is counted in files: batch 1's files but orders', and batch 2's.
    batch_2 = [e for e in ENTITIES if Path(W.batch_file(landing, e, 3, 2)).exists()]
    assert (f.progress.delivered_as, f.progress.delivered_this_run) == (
        "files",
        len(partial) - 1 + len(batch_2),
    )
    assert sum(len(v) for v in batch_events(cfg, master_data(cfg), 2, 500).values()) >= 500
    assert len(Path(W.batch_file(landing, "orders", 3, 2)).read_text().splitlines()) > 100
    assert not list(tmp_path.glob("*/.*.tmp"))


def test_percentile_is_the_inclusive_definition() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile(list(map(float, range(1, 11))), 0.9) == 9.1


def test_tracker_reflects_files_silvered_before_the_refresh_started() -> None:
    t = FreshnessTracker()
    t.in_silver({"a": (100.0, 5)}, {"rows_in": 5, "quarantined": 1})
    snap = t.gold_started()
    t.in_silver({"b": (101.0, 7)}, {"rows_in": 7})  # during the refresh: not reflected yet
    t.gold_finished(snap, 110.0)
    assert [(r.path, r.latency_s, r.rows) for r in t.reflected] == [("a", 10.0, 5)]
    assert t.pending == 1 and t.silver_rows == 11 and t.quarantined_rows == 1


def test_tracker_takes_a_replayed_silver_batch_once() -> None:
    t = FreshnessTracker()
    t.in_silver({"a": (100.0, 5)}, {"rows_in": 5}, ("orders", 3))
    t.gold_finished(t.gold_started(), 110.0)
    # The same micro-batch run again after a stop (its checkpoint commit was cut): not counted
    # again, and its file is not pending again.
    t.in_silver({"a": (100.0, 5)}, {"rows_in": 5}, ("orders", 3))
    t.in_silver({"b": (105.0, 2)}, {"rows_in": 2}, ("shipments", 3))  # another entity's batch 3
    assert t.silver_rows == 7 and t.pending == 1
    assert [r.path for r in t.reflected] == ["a"]


def test_a_restarted_run_does_not_count_the_batch_an_earlier_run_committed(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The last audited silver batch of each entity, replayed after a stop, is not this run's."""
    opts = LiveOptions(landing=str(tmp_path / "landing"), lakehouse=str(tmp_path / "lakehouse"))
    earlier = LiveRun(spark, opts)
    audit = [("orders", 2, 9, 9, 0, 0, None), ("orders", 3, 5, 4, 1, 0, None)]
    append(spark.createDataFrame(audit, AUDIT_SCHEMA), earlier.loc, "ops", AUDIT_TABLE)
    run = LiveRun(spark, opts)
    run.prepare()
    run.tracker.in_silver({"a": (100.0, 5)}, {"rows_in": 5, "quarantined": 1}, ("orders", 3))
    run.tracker.in_silver({"b": (101.0, 2)}, {"rows_in": 2}, ("orders", 4))
    run.tracker.in_silver({"c": (102.0, 3)}, {"rows_in": 3}, ("customers", 3))
    assert (run.tracker.silver_rows, run.tracker.quarantined_rows) == (5, 0)
    assert run.tracker.pending == 2


def test_a_micro_batch_of_every_entity_is_split_by_entity_for_freshness(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The ingest query hands the runner each micro-batch once, every entity's rows together (as
    the sources read them: a run over landing files has no Kafka columns): each entity's landed
    files and counts go to the tracker as that entity's batch."""
    opts = LiveOptions(landing=str(tmp_path / "landing"), lakehouse=str(tmp_path / "lakehouse"))
    run = LiveRun(spark, opts)
    at = dt.datetime(2026, 1, 1, 0, 0, 1)
    batch = spark.createDataFrame(
        [
            ("orders", "file:/l/orders/a.jsonl", at),
            ("orders", "file:/l/orders/a.jsonl", at),
            ("customers", "file:/l/customers/c.jsonl", at),
        ],
        "_entity string, _source_file string, _landed_at timestamp",
    )
    stats = {"orders": {"rows_in": 2, "quarantined": 0}, "customers": {"rows_in": 1}}
    run.tracker.committed_before([("orders", 7)])  # orders' part was an earlier run's
    run._on_silver_batch(7, batch, stats)
    assert run.tracker.pending == 1  # the customers file only
    assert run.tracker.silver_rows == 1


def test_landing_times_of_files_and_events_come_from_bronze_landed_at(spark) -> None:
    # A silver batch as the silver stream hands it over: bronze rows with their lineage.
    batch = spark.createDataFrame(
        [
            ("file:/l/orders/a.jsonl", None, None, dt.datetime(2026, 1, 1, 0, 0, 1)),
            ("file:/l/orders/a.jsonl", None, None, dt.datetime(2026, 1, 1, 0, 0, 1)),
            (None, "orders", 1, dt.datetime(2026, 1, 1, 0, 0, 2, 500000)),
            (None, "orders", 1, dt.datetime(2026, 1, 1, 0, 0, 2, 500000)),
            (None, "orders", 0, dt.datetime(2026, 1, 1, 0, 0, 2, 500000)),
            (None, "orders", 0, None),  # no landing time: not measurable
        ],
        "_source_file string, _kafka_topic string, _kafka_partition int, _landed_at timestamp",
    )
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
    us = int((t0 + 2.5) * 1e6)
    assert landing_times(batch) == {
        None: {
            "file:/l/orders/a.jsonl": (t0 + 1, 2),
            f"orders/1@{us}": (t0 + 2.5, 2),
            f"orders/0@{us}": (t0 + 2.5, 1),
        }
    }
    by_entity = landing_times(
        batch.withColumn(
            ENTITY_COLUMN, F.when(F.col("_source_file").isNull(), "events").otherwise("files")
        )
    )
    assert by_entity == {
        "files": {"file:/l/orders/a.jsonl": (t0 + 1, 2)},
        "events": {f"orders/1@{us}": (t0 + 2.5, 2), f"orders/0@{us}": (t0 + 2.5, 1)},
    }


def test_measures_sliced_with_grouping_sets(spark: SparkSession) -> None:
    rows = [
        ("O1", "A", "East", 2, Decimal("10.00"), False),
        ("O1", "B", "East", 1, Decimal("5.00"), False),
        ("O2", "A", "West", 3, Decimal("7.50"), False),
        ("O3", "A", "West", 9, Decimal("99.00"), True),
    ]
    df = spark.createDataFrame(
        rows,
        "order_id string, category string, region string, quantity int, "
        "net_amount decimal(18,4), is_cancelled boolean",
    )
    out = evaluate_sets(
        df,
        ["Orders", "Units", "Revenue", "Average Order Value", "Cancelled Lines"],
        {"total": [], "by_category": ["category"], "by_region": ["region"]},
    )
    assert out["total"] == [
        {
            "Orders": 2,
            "Units": 6,
            "Revenue": 22.5,
            "Average Order Value": 11.25,
            "Cancelled Lines": 1,
        }
    ]
    assert [(r["category"], r["Orders"], r["Revenue"]) for r in out["by_category"]] == [
        ("A", 2, 17.5),
        ("B", 1, 5.0),
    ]
    assert [(r["region"], r["Units"]) for r in out["by_region"]] == [("East", 3), ("West", 3)]


def test_the_status_line_leaves_out_gold_totals_no_dashboard_published() -> None:
    st = {
        "counts": {"bronze_rows": 40, "silver_rows": 30, "quarantined_rows": 1, "gold": {}},
        "freshness": {"p50_s": 2.0, "last_minute_p95_s": 3.5},
        "feed": {"next_batch": 4, "events_total": 200},
        "pending_in_silver": 2,
        "pending_unit": "files",
        "landing_files": {"counts": {"skipped": 1}},
        "gold_rows_per_s_30s": 45.0,
        "gold_refreshes": 3,
        "gold_running": False,
        "gold_last_s": 1.3,
    }
    # Dashboards off (oms bench, --no-dashboards): Gold refreshes, but no totals were queried.
    line = status_line(st)
    assert "gold orders" not in line and "shipments" not in line
    assert line.startswith("feed batch 4 (200 ev) | bronze 40 rows | silver +30 rows this run")
    assert "skipped files 1 | freshness p50 2.0s p95(1m) 3.5s | 45 ev/s to gold" in line
    assert line.endswith("last gold refresh 1.3s")
    st["counts"]["gold"] = {"Orders": 12, "Shipments": None, "Stock On Hand": 900}
    assert "| gold orders 12, shipments - | freshness p50" in status_line(st)
    st |= {"pending_unit": "record groups", "gold_refreshes": 0, "gold_running": True}
    st["counts"]["gold"] = {}
    line = status_line(st)
    assert line.endswith("not yet in Gold 2 record groups | first gold refresh running")


def test_server_serves_the_page_and_the_published_snapshot() -> None:
    snap = Snapshot()
    snap.publish_dashboard({"totals": {"Orders": 1}}, 1.0)
    snap.publish_status({"state": "running"})
    server = DashboardServer(snap, port=0).start()
    try:
        with urllib.request.urlopen(server.url) as r:
            assert b"OMS Lakehouse" in r.read()
        with urllib.request.urlopen(server.url + "static/app.js") as r:
            assert r.headers["Content-Type"].endswith("javascript") or r.status == 200
        with urllib.request.urlopen(server.url + "static/vendor/chart.js/chart.umd.min.js") as r:
            assert b"Chart.js v4.6.1" in r.read(200)
        for bad in ("static/../server.py", "static/vendor/../../queries.py", "static/.x"):
            try:
                urllib.request.urlopen(server.url + bad)
                raise AssertionError(f"{bad} was served")
            except urllib.error.HTTPError as e:
                assert e.code == 404
        with urllib.request.urlopen(server.url + "api/dashboard") as r:
            assert json.load(r)["version"] == 1
        with urllib.request.urlopen(server.url + "api/status") as r:
            assert json.load(r) == {"state": "running"}
    finally:
        server.stop()


def test_the_local_spark_jvm_ignores_sigterm_so_python_stops_it(spark) -> None:
    """A SIGTERM to the process group must reach only Python (see session._jvm_ignores_sigterm)."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        ignored = next(int(line.split()[1], 16) for line in fh if line.startswith("SigIgn:"))
    assert ignored & (1 << (signal.SIGTERM - 1)), "the JVM would die with the driver mid-batch"
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN  # Python's own is restored


def test_a_sigterm_while_the_jvm_starts_is_kept_for_python() -> None:
    """While the JVM starts with SIGTERM ignored, a SIGTERM sent to Python is not lost: it
    reaches Python's handler once the start is over (the run then stops instead of running on)."""
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: received.append(signum))
    try:
        with _jvm_ignores_sigterm():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # what the JVM inherits
            # To the main thread: a process-directed signal could land in a thread that earlier
            # tests started (see test_helper_threads_leave_stop_signals_to_the_main_thread).
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
            assert received == []
        assert received == [signal.SIGTERM]
        assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_helper_threads_leave_stop_signals_to_the_main_thread() -> None:
    """A thread the run starts while SIGTERM is ignored must not take a process-directed SIGTERM
    (it would be discarded): it blocks both stop signals, whatever the main thread's mask."""
    seen: list[set[int]] = []
    start_signal_free_thread(
        lambda: seen.append(signal.pthread_sigmask(signal.SIG_BLOCK, set())), "probe"
    ).join()
    assert {signal.SIGINT, signal.SIGTERM} <= seen[0]
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


@pytest.mark.parametrize(
    ("duration_s", "stop", "code"),
    [
        (None, signal.SIGINT, 0),  # a run without an end: a stop is how it ends
        (0, signal.SIGINT, 130),  # oms once / --duration 0, cut short: 128 + SIGINT
        (60.0, signal.SIGTERM, 143),
    ],
)
def test_a_stop_asked_for_before_the_streams_start_starts_nothing(
    spark, tmp_path, capsys, duration_s, stop, code
) -> None:
    opts = LiveOptions(
        landing=str(tmp_path / "landing"),
        lakehouse=str(tmp_path / "lakehouse"),
        duration_s=duration_s,
    )
    run = LiveRun(spark, opts)
    run.stop_event.set()  # a Ctrl-C between Spark's start and the streams', as the handler does
    run.stop_signal = stop
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert run.run() == code
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert run.feeder is None and not spark.streams.active
    out = capsys.readouterr().out
    assert "Starting" not in out and "Ingest stream running" not in out and "Feed:" not in out
    assert "Stopped:" in out


def test_a_benchmark_stopped_before_its_end_writes_no_figures(tmp_path, capsys) -> None:
    """A stop (Ctrl-C, SIGTERM) before the drain leaves BENCHMARKS.md as it was: the figures of a
    cut-short run (no Gold refresh yet, say) must not replace those of a whole one."""
    from types import SimpleNamespace

    from oms_pipeline.live import benchmark

    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nearlier figures\n", encoding="utf-8")
    benchmark.report(SimpleNamespace(drained=False), path=str(path), load_at_start="0.00")
    assert path.read_text(encoding="utf-8") == "# Benchmarks\n\nearlier figures\n"
    assert f"nothing written to {path}" in capsys.readouterr().out


def test_a_finished_benchmark_writes_its_figures_beside_the_parse_floor(spark, tmp_path) -> None:
    from types import SimpleNamespace

    from oms_pipeline.live import benchmark
    from oms_pipeline.live.runner import LiveOptions

    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    # 6 lines landed, of which the tracker saw 4 reach Gold: the block says what landed
    (landing / "orders" / "a.jsonl").write_text('{"order_id": "O1"}\n' * 6, encoding="utf-8")
    tracker = FreshnessTracker()
    tracker.in_silver({"a.jsonl": (time.time() - 3.0, 4)}, {"rows_in": 4})
    tracker.gold_finished(tracker.gold_started(), time.time())
    opts = LiveOptions(landing=str(landing), lakehouse=str(tmp_path / "lh"), duration_s=5.0)
    run = SimpleNamespace(drained=True, opts=opts, tracker=tracker, spark=spark, gold_times=[1.5])
    path = tmp_path / "BENCHMARKS.md"
    benchmark.report(run, path=str(path), load_at_start="0.00")
    text = path.read_text(encoding="utf-8")
    assert "(`scripts/run-local --benchmark --rate 50 --duration 5`)" in text
    assert "(6 events landed = 1 events/s, in 1 files, one per entity every 1 s;" in text
    assert "| Gold refreshes | 1 (mean 1.5 s) |" in text
    assert "`spark.read.json(...).count()` | 6 rows in " in text
    assert "— not judged by this run (its load is below the protocol's)." in text


def test_the_target_is_judged_only_at_the_protocols_load() -> None:
    from oms_pipeline.live.benchmark import verdict

    assert verdict(1000, 600, 14.9) == "met in this run"
    assert verdict(1000, 600, 15.1) == verdict(1000, 600, None) == "not met in this run"
    assert (
        verdict(300, 600, 1.0).startswith("not judged")
        and verdict(1000, 120, 1.0) != "met in this run"
    )
