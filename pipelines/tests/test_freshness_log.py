"""The Gold freshness log written by a local run, and the stack's alert query run against it."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.types import StructType

from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts import get_contract
from oms_pipeline.contracts.ops import (
    FRESHNESS_COLUMNS,
    FRESHNESS_COMMENT,
    FRESHNESS_PROPERTIES,
    FRESHNESS_TABLE,
    freshness_alert_sql,
    freshness_ddl,
)
from oms_pipeline.io.tables import append, ensure_table, read_table
from oms_pipeline.live.runner import LiveOptions, LiveRun
from oms_pipeline.pipeline.freshness_log import (
    prepare_freshness_log,
    recent_refreshes,
    record_refresh,
)
from oms_pipeline.pipeline.gold import refresh_gold
from oms_pipeline.pipeline.ingest import run_ingest
from oms_pipeline.pipeline.streams import Trigger
from oms_pipeline.transforms.bronze import bronze_schema
from tests.test_streaming import ingest_events, land, order

ONCE = Trigger(available_now=True)
ENTITIES = ["orders", "shipments", "inventory", "customers"]
UTC = dt.UTC


def ship(event_id: str, status: str, status_ts: str) -> dict:
    return {
        "event_id": event_id, "shipment_id": "S1", "order_id": "O1", "carrier": "UPS",
        "service_level": "Standard Class", "status": status, "status_ts": status_ts,
    }  # fmt: skip


def customer(updated_ts: str, city: str) -> dict:
    return {
        "customer_id": "C1", "region": "West", "segment": "Consumer", "city": city,
        "updated_ts": updated_ts,
    }  # fmt: skip


def stock(event_id: str, qty: int) -> dict:
    return {
        "event_id": event_id, "event_type": "SNAPSHOT", "sku": "P1", "location_id": "L1",
        "quantity": qty, "event_ts": "2025-01-01T06:00:00Z",
    }  # fmt: skip


def land_at(loc, entity: str, name: str, records: list[dict], mtime: dt.datetime) -> None:
    """Land a JSON-lines file whose modification time (its landing time) is ``mtime``."""
    path = land(loc, entity, name, [json.dumps(r) for r in records])
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))


def process(spark: SparkSession, loc: TableLocator, at: dt.datetime) -> dict:
    run_ingest(spark, loc, PipelineSettings(), ENTITIES, ONCE)
    report = refresh_gold(spark, loc, PipelineSettings())
    prepare_freshness_log(spark, loc)  # a job's start; idempotent
    return record_refresh(spark, loc, report, published_at=at)


def test_the_log_is_prepared_as_the_contract_declares_it_and_older_logs_gain_columns(spark, loc):
    schema = spark.createDataFrame([], freshness_ddl()).schema
    older = StructType([f for f in schema.fields if f.name != "events"])
    ensure_table(spark, loc, "ops", FRESHNESS_TABLE, older)
    prepare_freshness_log(spark, loc)
    assert "events" in read_table(spark, loc, "ops", FRESHNESS_TABLE).columns

    fresh = TableLocator(
        lakehouse_root=loc.lakehouse_root + "-fresh", landing_root=loc.landing_root
    )
    prepare_freshness_log(spark, fresh)
    table = f"delta.`{fresh.name('ops', FRESHNESS_TABLE)}`"
    detail = spark.sql(f"DESCRIBE DETAIL {table}").first()
    assert detail["description"] == FRESHNESS_COMMENT
    assert {k: detail["properties"].get(k) for k in FRESHNESS_PROPERTIES} == FRESHNESS_PROPERTIES
    nullable = {f.name: f.nullable for f in read_table(spark, fresh, "ops", FRESHNESS_TABLE).schema}
    assert nullable == {c.name: c.nullable for c in FRESHNESS_COLUMNS}


def test_a_first_refresh_without_preparation_creates_the_log_as_declared(spark, loc):
    report = refresh_gold(spark, loc, PipelineSettings())
    record_refresh(spark, loc, report)
    record_refresh(spark, loc, report)
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{loc.name('ops', FRESHNESS_TABLE)}`").first()
    assert detail["description"] == FRESHNESS_COMMENT
    assert {k: detail["properties"].get(k) for k in FRESHNESS_PROPERTIES} == FRESHNESS_PROPERTIES
    assert read_table(spark, loc, "ops", FRESHNESS_TABLE).count() == 2


def test_each_refresh_logs_the_lag_of_what_it_published_first(spark, loc):
    t1 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    ago = lambda t, s: t - dt.timedelta(seconds=s)  # noqa: E731
    land_at(
        loc,
        "orders",
        "a.json",
        [
            order("O1", "1", "CREATED", "2025-01-01T08:00:00Z"),
            order("O1", "2", "CREATED", "2025-01-01T08:00:00Z"),
        ],
        ago(t1, 300),
    )
    land_at(
        loc, "orders", "b.json", [order("O2", "1", "CREATED", "2025-01-01T09:00:00Z")], ago(t1, 100)
    )
    # Two events of one shipment: one current-state row, led back to its latest event's file.
    land_at(
        loc,
        "shipments",
        "s.json",
        [
            ship("E1", "CREATED", "2025-01-01T08:10:00Z"),
            ship("E2", "SHIPPED", "2025-01-01T09:10:00Z"),
        ],
        ago(t1, 200),
    )
    land_at(loc, "inventory", "i.json", [stock("I1", 5)], ago(t1, 50))
    land_at(loc, "customers", "c.json", [customer("2025-01-01T00:00:00Z", "Reno")], ago(t1, 400))

    first = process(spark, loc, t1)
    # rows: 2 lines at 300 s, 1 at 100 s, the shipment at 200 s, the stock at 50 s, the customer
    # at 400 s; percentiles interpolate linearly over [50, 100, 200, 300, 300, 400].
    assert (first["files"], first["rows"], first["rows_without_landing_time"]) == (5, 6, 0)
    assert first["events"] == 0
    assert first["min_lag_seconds"] == 50.0 and first["max_lag_seconds"] == 400.0
    assert first["p50_lag_seconds"] == pytest.approx(250.0)
    assert first["p95_lag_seconds"] == pytest.approx(375.0)

    # Nothing new: a heartbeat row, no files and no lags.
    t2 = t1 + dt.timedelta(seconds=10)
    idle = process(spark, loc, t2)
    assert (idle["files"], idle["rows"], idle["p95_lag_seconds"]) == (0, 0, None)

    # A new line and a new customer version: only they count (the closed old version does not,
    # and nothing published before is counted again).
    t3 = t2 + dt.timedelta(seconds=100)
    land_at(
        loc, "orders", "d.json", [order("O3", "1", "CREATED", "2025-01-02T08:00:00Z")], ago(t3, 30)
    )
    land_at(loc, "customers", "e.json", [customer("2025-01-02T00:00:00Z", "Elko")], ago(t3, 60))
    # A later event of the shipment: its new state is timed from that event's file.
    land_at(
        loc, "shipments", "t.json", [ship("E3", "DELIVERED", "2025-01-02T09:10:00Z")], ago(t3, 45)
    )
    third = process(spark, loc, t3)
    assert (third["files"], third["rows"]) == (3, 3)
    assert (third["min_lag_seconds"], third["p50_lag_seconds"], third["max_lag_seconds"]) == (
        30.0,
        45.0,
        60.0,
    )

    log = read_table(spark, loc, "ops", FRESHNESS_TABLE).orderBy("refreshed_at").collect()
    assert [r["rows"] for r in log] == [6, 0, 3]
    assert [r["refreshed_at"].replace(tzinfo=UTC) for r in log] == [t1, t2, t3]
    assert len({r["refresh_id"] for r in log}) == 3
    assert [r["rows"] for r in recent_refreshes(spark, loc)] == [3, 0, 6]  # newest first


def test_rows_without_a_landing_time_are_counted_apart(spark, loc):
    """A bronze table created without ``_landed_at`` gets the column when the ingest query starts;
    a record that has no landing time (rows from before the column, a record without a
    timestamp) is counted apart, not timed."""
    t = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    contract = get_contract("orders")
    legacy = StructType([f for f in bronze_schema(contract).fields if f.name != "_landed_at"])
    ensure_table(spark, loc, "bronze", "orders", legacy)
    untimed = {**order("O1", "1", "CREATED", "2025-01-01T08:00:00Z"), "offset": 1}
    ingest_events(spark, loc, "orders", [{**untimed, "landed_at": None}])
    assert "_landed_at" in read_table(spark, loc, "bronze", "orders").columns
    land_at(loc, "orders", "new.json", [order("O2", "1", "CREATED", "2025-01-01T08:00:00Z")], t)
    row = process(spark, loc, t + dt.timedelta(seconds=20))
    assert (row["files"], row["rows"], row["rows_without_landing_time"]) == (1, 1, 1)
    assert row["max_lag_seconds"] == 20.0


def test_events_are_timed_from_their_broker_timestamp(spark, loc):
    """Records that arrived as events (no landing file; bronze ``_landed_at`` is the Kafka
    record timestamp) are timed and counted like file records, and counted as events."""
    t = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    events = [
        {
            **order(f"O{n}", "1", "CREATED", "2025-01-01T08:00:00Z"),
            "offset": n,
            "landed_at": t - dt.timedelta(seconds=lag),
        }
        for n, lag in ((1, 40), (2, 20))
    ]
    ingest_events(spark, loc, "orders", events)
    land_at(loc, "orders", "f.json", [order("O9", "1", "CREATED", "2025-01-01T08:00:00Z")], t)
    row = process(spark, loc, t + dt.timedelta(seconds=10))
    assert (row["files"], row["events"], row["rows"], row["rows_without_landing_time"]) == (
        1,
        2,
        3,
        0,
    )
    assert (row["min_lag_seconds"], row["max_lag_seconds"]) == (10.0, 50.0)


def test_a_landing_time_after_the_publish_is_unknown_not_a_negative_lag(spark, loc):
    """A file whose modification time is ahead of the refresh (a clock ahead) must not pull the
    lag statistics below the slow rows published with it."""
    t = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    land_at(loc, "orders", "slow.json", [order("O1", "1", "CREATED", "2025-01-01T08:00:00Z")], t)
    ahead = t + dt.timedelta(hours=2)
    land_at(
        loc, "orders", "ahead.json", [order("O2", "1", "CREATED", "2025-01-01T08:00:00Z")], ahead
    )
    row = process(spark, loc, t + dt.timedelta(seconds=600))
    assert (row["files"], row["rows"], row["rows_without_landing_time"]) == (2, 1, 1)
    assert row["min_lag_seconds"] == row["p95_lag_seconds"] == row["max_lag_seconds"] == 600.0


OBJECTIVE = 60


def verdict(spark: SparkSession, loc: TableLocator, rows: list[tuple[float, float | None]]):
    """The alert query's verdicts over a log whose refreshes were ``seconds_ago`` with ``p95``."""
    schema = spark.createDataFrame([], freshness_ddl()).schema
    prepare_freshness_log(spark, loc)
    now = dt.datetime.now(UTC)
    data = [
        {
            "refresh_id": f"r{i}",
            "refreshed_at": now - dt.timedelta(seconds=ago),
            "full_refresh": False,
            "silver_versions": {},
            "files": 1,
            "events": 0,
            "rows": 1,
            "rows_without_landing_time": 0,
            **{f"{s}_lag_seconds": p95 for s in ("min", "p50", "p95", "max")},
        }
        for i, (ago, p95) in enumerate(rows)
    ]
    if data:
        append(spark.createDataFrame(data, schema), loc, "ops", FRESHNESS_TABLE)
    sql = freshness_alert_sql(f"delta.`{loc.name('ops', FRESHNESS_TABLE)}`", OBJECTIVE)
    (result,) = spark.sql(sql).collect()
    assert result["objective_seconds"] == OBJECTIVE
    return result["p95_over_objective"], result["refresh_overdue"]


def test_alert_query_is_quiet_on_a_fresh_log(spark, loc):
    # Refreshes every few seconds, p95 within the objective; an old slow one is out of the window.
    assert verdict(spark, loc, [(2000, 500.0), (40, 30.0), (5, 55.0), (2, None)]) == (False, False)


def test_alert_query_fires_on_a_p95_over_the_objective(spark, loc):
    assert verdict(spark, loc, [(120, 20.0), (30, 61.0), (3, 10.0)]) == (True, False)


def test_alert_query_fires_when_no_refresh_for_three_objectives(spark, loc):
    assert verdict(spark, loc, [(3 * OBJECTIVE + 30, 10.0)]) == (False, True)


def test_alert_query_fires_on_a_log_without_any_refresh(spark, loc):
    assert verdict(spark, loc, []) == (False, True)


def test_alert_sql_rejects_a_bad_objective():
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError, match="objective_seconds"):
            freshness_alert_sql("t", bad)  # type: ignore[arg-type]


def test_the_live_run_logs_its_gold_refreshes_and_shows_them(spark, tmp_path):
    run = LiveRun(
        spark,
        LiveOptions(
            landing=str(tmp_path / "landing"),
            lakehouse=str(tmp_path / "lakehouse"),
            feed=False,
        ),
    )
    run.prepare()
    landed = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    land_at(
        run.loc, "orders", "a.json", [order("O1", "1", "CREATED", "2025-01-01T08:00:00Z")], landed
    )
    before = dt.datetime.now(UTC)
    assert run.drain()
    after = dt.datetime.now(UTC)
    run.publish_dashboard()
    (row,) = run.snapshot.dashboard["freshness_log"]
    assert (row["files"], row["rows"]) == (1, 1)
    # Published between the two readings of the clock around the refresh.
    lag = row["max_lag_seconds"]
    assert (before - landed).total_seconds() <= lag <= (after - landed).total_seconds()
