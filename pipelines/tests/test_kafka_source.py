"""The events source against a real Apache Kafka broker on loopback (KRaft, one node).

One broker serves the module (``live/broker.py``). The generator's data set is published once,
one record per landed line, on one topic per entity (named after it), and read by a clean run
whose bronze, quarantine, silver and Gold are checked against the generator's manifest; the other
tests use their own topics and lakehouses.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from oms_pipeline.config import TableLocator
from oms_pipeline.contracts import get_contract
from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.io.events import KafkaSource, entity_topic, kafka_options
from oms_pipeline.io.tables import ensure_table, read_table, table_exists
from oms_pipeline.jobs import ingest as ingest_job
from oms_pipeline.live import broker as broker_mod
from oms_pipeline.live.broker import BrokerError, KafkaBroker
from oms_pipeline.pipeline.gold import refresh_gold
from oms_pipeline.pipeline.ingest import run_ingest, start_ingest
from oms_pipeline.pipeline.streams import Trigger, stop_between_batches
from oms_pipeline.sources.factory import FeedConfig, Manifest, generate
from oms_pipeline.transforms.bronze import EVENT_LINEAGE, bronze_schema
from tests import test_generated_e2e as oracle

ONCE = Trigger(available_now=True)
KILLPOINTS = Path(__file__).parent / "killpoints"
# Ceiling of the waits on a stream: a safety net only (other Spark processes load the machine).
WAIT_CEILING_S = 600.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with KafkaBroker(tmp_path_factory.mktemp("kafka")) as b:
        yield b


def topic_name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def read_topic(spark: SparkSession, broker: KafkaBroker, topic: str) -> list[tuple[int, int, str]]:
    """(partition, offset, value) of every record, read back with Spark's Kafka batch source."""
    df = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", broker.bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr("partition", "offset", "CAST(value AS STRING) AS value")
    )
    return sorted(tuple(r) for r in df.collect())


def test_broker_keeps_topics_and_offsets_across_a_restart(spark, broker):
    topic = topic_name("restart")
    broker.create_topics([topic], partitions=1)
    broker.create_topics([topic], partitions=1)  # an existing topic is left as it is
    first = broker.publish(topic, ["a", "b", "c"])
    assert first == [(0, 0), (0, 1), (0, 2)]
    broker.stop()
    assert not broker.running
    broker.start()
    assert broker.publish(topic, ["d", None]) == [(0, 3), (0, 4)]
    assert read_topic(spark, broker, topic) == [
        (0, 0, "a"),
        (0, 1, "b"),
        (0, 2, "c"),
        (0, 3, "d"),
        (0, 4, None),
    ]


def test_missing_broker_jars_name_the_fix(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("OMS_KAFKA_HOME", str(tmp_path))
    with pytest.raises(BrokerError, match=r"not installed .*run scripts/bootstrap"):
        broker_mod.classpath()
    home = broker_mod.jars_home()
    home.mkdir(parents=True)
    (home / "classpath.txt").write_text(str(tmp_path / "gone.jar"))
    with pytest.raises(BrokerError, match=r"1 missing jar.*run scripts/bootstrap again"):
        broker_mod.classpath()


# -- the generated data set, published and read by a clean run ---------------------------------


@dataclass(frozen=True)
class Published:
    manifest: Manifest
    offsets: dict[str, list[tuple[int, int]]]  # entity -> (partition, offset) of each record


@pytest.fixture(scope="module")
def published(broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Published:
    """The generator's records (valid, duplicated and malformed), one Kafka record per line."""
    manifest = generate(
        str(tmp_path_factory.mktemp("oms")),
        FeedConfig(seed=17, orders=40, customers=15, products=8, malformed_rate=0.05),
    )
    broker.create_topics([entity_topic(e) for e in ENTITIES], partitions=2)
    offsets = {}
    for entity in ENTITIES:
        lines = [x for f in manifest.files[entity] for x in Path(f).read_text().splitlines()]
        assert len(lines) == manifest.lines_written[entity]
        offsets[entity] = broker.publish(entity_topic(entity), lines)
    return Published(manifest, offsets)


def sources(broker: KafkaBroker, max_offsets: int | None = None) -> dict[str, KafkaSource]:
    servers = broker.bootstrap_servers
    return {e: KafkaSource(servers, entity_topic(e), None, max_offsets) for e in ENTITIES}


def run_all(spark: SparkSession, loc: TableLocator, broker: KafkaBroker, **kw) -> None:
    events = sources(broker, **kw)
    run_ingest(spark, loc, oracle.SETTINGS, list(ENTITIES), ONCE, files=False, events=events)
    refresh_gold(spark, loc, oracle.SETTINGS)


def new_loc(tmp_path_factory: pytest.TempPathFactory, name: str) -> TableLocator:
    root = tmp_path_factory.mktemp(name)
    return TableLocator(lakehouse_root=str(root / "lh"), landing_root=str(root / "landing"))


@pytest.fixture(scope="module")
def clean_run(spark, broker, published, tmp_path_factory) -> TableLocator:
    loc = new_loc(tmp_path_factory, "clean")
    run_all(spark, loc, broker)
    return loc


def bronze_offsets(spark: SparkSession, loc: TableLocator, entity: str) -> list[tuple]:
    rows = read_table(spark, loc, "bronze", entity).select(
        "_kafka_topic", "_kafka_partition", "_kafka_offset"
    )
    return sorted(tuple(r) for r in rows.collect())


def test_bronze_holds_every_record_once_with_its_offset(spark, published, clean_run):
    for entity in ENTITIES:
        expected = sorted((entity_topic(entity), p, o) for p, o in published.offsets[entity])
        assert bronze_offsets(spark, clean_run, entity) == expected, entity
        lineage = read_table(spark, clean_run, "bronze", entity).agg(
            F.count("_kafka_timestamp"), F.count("_source_file"), F.count("*")
        )
        assert tuple(lineage.first()) == (len(expected), 0, len(expected))


def test_silver_quarantine_and_gold_match_the_generator(spark, published, clean_run):
    # The checks of the file path's end-to-end test, on the events' lakehouse.
    generated = (clean_run, published.manifest)
    oracle.test_every_landed_record_is_accounted_for(spark, generated)
    oracle.test_gold_sales_match_the_manifest(spark, generated)
    oracle.test_gold_shipments_stock_and_rfm_match_the_manifest(spark, generated)


def test_malformed_payloads_are_quarantined_with_a_reason(spark, broker, tmp_path_factory):
    loc = new_loc(tmp_path_factory, "malformed")
    topic = topic_name("orders")
    broker.create_topics([topic], partitions=1)
    good = (
        '{"order_id": "O1", "line_id": "1", "customer_id": "C1", "sku": "P1", "quantity": 2, '
        '"unit_price": "5.00", "currency": "USD", "status": "CREATED", '
        '"order_ts": "2025-01-01T08:00:00Z", "event_ts": "2025-01-01T08:00:00Z"}'
    )
    bad = [b"", None, b"   ", b"not json", good.encode() * 2, b"\xff\xfe{", b"[1, 2]", b"42"]
    offsets = broker.publish(topic, [good.encode(), *bad])
    source = {"orders": KafkaSource(broker.bootstrap_servers, topic)}
    # A bronze table from before the events source: the Kafka lineage columns get added.
    old = [f for f in bronze_schema(get_contract("orders")).fields if f not in EVENT_LINEAGE]
    ensure_table(spark, loc, "bronze", "orders", StructType(old))
    run_ingest(spark, loc, oracle.SETTINGS, ["orders"], ONCE, files=False, events=source)
    assert bronze_offsets(spark, loc, "orders") == sorted((topic, p, o) for p, o in offsets)
    quarantined = read_table(spark, loc, "ops", "quarantine_orders").collect()
    assert sorted(r.reasons for r in quarantined) == [["malformed_record"]] * len(bad)
    assert read_table(spark, loc, "silver", "order_lines").count() == 1
    audit = read_table(spark, loc, "ops", "silver_batch_audit").agg(
        F.sum("rows_in"), F.sum("accepted"), F.sum("quarantined")
    )
    assert tuple(audit.first()) == (1 + len(bad), 1, len(bad))


# -- a crash mid-stream, and a broker restarted under a running stream -------------------------


def snapshot(spark: SparkSession, loc: TableLocator, layer: str, table: str) -> list[tuple]:
    """The rows of a table without the columns of its run (``_``-prefixed lineage)."""
    df = read_table(spark, loc, layer, table)
    return sorted(
        tuple(r) for r in df.select(*[c for c in df.columns if not c.startswith("_")]).collect()
    )


def test_sigkill_mid_stream_then_restart_equals_a_clean_run(
    spark, broker, published, clean_run, tmp_path_factory
):
    loc = new_loc(tmp_path_factory, "killed")
    per_batch = math.ceil(len(published.offsets["orders"]) / 4)
    cmd = [sys.executable, "-m", "oms_pipeline.jobs.ingest", "--lakehouse-root", loc.lakehouse_root]
    cmd += ["--no-files", "--kafka-bootstrap-servers", broker.bootstrap_servers]
    cmd += [f"--kafka-topic={e}={entity_topic(e)}" for e in ENTITIES]
    cmd += ["--max-offsets-per-trigger", str(per_batch)]
    # Killed right after batch 1's bronze append of orders committed, before its Silver step
    # and its checkpoint commit.
    env = {"PYTHONPATH": str(KILLPOINTS), "OMS_KILL_AFTER_APPEND": "bronze/orders:1", "TZ": "UTC"}
    proc = subprocess.run(
        cmd, env=os.environ | env, start_new_session=True, capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    # Batches 0 and 1 are in bronze (each at most per_batch records), the rest is not.
    assert 0 < len(bronze_offsets(spark, loc, "orders")) <= 2 * per_batch

    run_all(spark, loc, broker, max_offsets=per_batch)
    for entity in ENTITIES:
        # Batch 1 ran again after the restart, and Delta skipped its append: no offset twice.
        assert bronze_offsets(spark, loc, entity) == bronze_offsets(spark, clean_run, entity)
        for table in get_contract(entity).silver_tables:
            assert snapshot(spark, loc, "silver", table) == snapshot(
                spark, clean_run, "silver", table
            )
    gold = sorted(os.listdir(Path(clean_run.lakehouse_root) / "gold"))
    assert gold and sorted(os.listdir(Path(loc.lakehouse_root) / "gold")) == gold
    for table in gold:
        assert snapshot(spark, loc, "gold", table) == snapshot(spark, clean_run, "gold", table), (
            table
        )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_CEILING_S
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.5)


def test_broker_restart_under_a_running_stream_loses_nothing(spark, broker, tmp_path_factory):
    loc = new_loc(tmp_path_factory, "restart")
    topic = topic_name("orders")
    broker.create_topics([topic], partitions=2)
    lines = [
        f'{{"order_id": "O{i}", "line_id": "1", "customer_id": "C1", "sku": "P1", '
        f'"quantity": 1, "unit_price": "1.00", "currency": "USD", "status": "CREATED", '
        f'"order_ts": "2025-01-01T08:00:00Z", "event_ts": "2025-01-01T08:00:00Z"}}'
        for i in range(12)
    ]
    source = KafkaSource(broker.bootstrap_servers, topic)
    every_second = Trigger(available_now=False, processing_time="1 second")
    query = start_ingest(
        spark,
        loc,
        oracle.SETTINGS,
        ["orders"],
        every_second,
        files=False,
        events={"orders": source},
    )
    offsets = broker.publish(topic, lines[:6])

    def count() -> int:
        if not table_exists(spark, loc, "bronze", "orders"):
            return 0
        return read_table(spark, loc, "bronze", "orders").count()

    try:
        wait_until(lambda: count() == 6 or not query.isActive, "the first records in bronze")
        broker.stop()
        broker.start()
        offsets += broker.publish(topic, lines[6:])
        wait_until(lambda: count() == 12 or not query.isActive, "the stream to resume")
        # The stream rode out the restart (no failure to resume from).
        assert query.isActive and query.exception() is None
    finally:
        stop_between_batches(query)
    assert bronze_offsets(spark, loc, "orders") == sorted((topic, p, o) for p, o in offsets)


# -- the entry point's Kafka flags --------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kafka-topic", "orders=o"], "--kafka-topic: only with --kafka-bootstrap-servers"),
        (["--max-offsets-per-trigger", "5"], "--max-offsets-per-trigger: only with --kafka"),
        (["--no-files"], "--no-files reads events only: give --kafka-bootstrap-servers"),
        (["--kafka-bootstrap-servers", "h"], "expected comma-separated host:port"),
        (["--kafka-bootstrap-servers", "h:1", "--kafka-topic", "orders=a/b"], "expected 1-249 letters"),
        (["--kafka-bootstrap-servers", "h:1", "--kafka-topic", "orderz=o"], "expected ENTITY=TOPIC with ENTITY one of"),
        (["--kafka-bootstrap-servers", "h:1", "--kafka-topic", "orders"], "expected ENTITY=TOPIC"),
        (["--kafka-bootstrap-servers", "h:1", "--entity", "orders", "--kafka-topic", "customers=c"], "ENTITY one of orders"),
        (["--files-report-only", "--kafka-bootstrap-servers", "h:1"], "--files-report-only accounts for landing files"),
    ],
)  # fmt: skip
def test_kafka_flags_are_checked_before_spark_starts(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        ingest_job.main(["--lakehouse-root", "/nonexistent", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_event_hubs_options_use_the_service_credential_over_sasl_ssl():
    hub = "ns.servicebus.windows.net:9093"
    options = kafka_options(KafkaSource(hub, "orders", "oms-eventhubs"))
    assert options["databricks.serviceCredential"] == "oms-eventhubs"
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert not any("jaas" in k or "password" in k.lower() for k in options)
    local = kafka_options(KafkaSource("127.0.0.1:9092", "orders"))
    assert local["kafka.security.protocol"] == "PLAINTEXT"
    assert "databricks.serviceCredential" not in local
    assert options["startingOffsets"] == local["startingOffsets"] == "earliest"
    assert options["failOnDataLoss"] == "true"
