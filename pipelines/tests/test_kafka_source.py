"""The events source against a real Apache Kafka broker on loopback (KRaft, one node).

One broker serves the module (``live/broker.py``). The generator's data set is published once,
one record per landed line, on one topic per entity (named after it), and read by a clean run
whose bronze, quarantine, silver and Gold are checked against the generator's manifest; the other
tests use their own topics and lakehouses.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from oms_pipeline.config import TableLocator
from oms_pipeline.contracts import get_contract
from oms_pipeline.io.events import KafkaSource, kafka_options
from oms_pipeline.io.tables import ensure_table, read_table
from oms_pipeline.jobs import bronze_ingest
from oms_pipeline.live import broker as broker_mod
from oms_pipeline.live.broker import BrokerError, KafkaBroker
from oms_pipeline.pipeline.bronze import run_bronze
from oms_pipeline.pipeline.silver import run_silver
from oms_pipeline.pipeline.streams import Trigger
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


def new_loc(tmp_path_factory: pytest.TempPathFactory, name: str) -> TableLocator:
    root = tmp_path_factory.mktemp(name)
    return TableLocator(lakehouse_root=str(root / "lh"), landing_root=str(root / "landing"))


def bronze_offsets(spark: SparkSession, loc: TableLocator, entity: str) -> list[tuple]:
    rows = read_table(spark, loc, "bronze", entity).select(
        "_kafka_topic", "_kafka_partition", "_kafka_offset"
    )
    return sorted(tuple(r) for r in rows.collect())


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
    run_bronze(spark, loc, ["orders"], ONCE, use_autoloader=False, events=source)
    assert bronze_offsets(spark, loc, "orders") == sorted((topic, p, o) for p, o in offsets)
    run_silver(spark, loc, oracle.SETTINGS, ["orders"], ONCE)
    quarantined = read_table(spark, loc, "ops", "quarantine_orders").collect()
    assert sorted(r.reasons for r in quarantined) == [["malformed_record"]] * len(bad)
    assert read_table(spark, loc, "silver", "order_lines").count() == 1
    audit = read_table(spark, loc, "ops", "silver_batch_audit").agg(
        F.sum("rows_in"), F.sum("accepted"), F.sum("quarantined")
    )
    assert tuple(audit.first()) == (1 + len(bad), 1, len(bad))


# -- the entry point's Kafka flags --------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "kafka", "--entity", "orders"], "needs --kafka-bootstrap-servers and --kafka-topic"),
        (["--source", "kafka", "--kafka-bootstrap-servers", "h:9093", "--kafka-topic", "orders"], "exactly one --entity"),
        (["--kafka-topic", "orders"], "--kafka-topic: only with --source kafka"),
        (["--source", "kafka", "--entity", "orders", "--kafka-bootstrap-servers", "h", "--kafka-topic", "orders"], "expected comma-separated host:port"),
        (["--source", "kafka", "--entity", "orders", "--kafka-bootstrap-servers", "h:1", "--kafka-topic", "a/b"], "expected 1-249 letters"),
    ],
)  # fmt: skip
def test_kafka_flags_are_checked_before_spark_starts(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        bronze_ingest.main(["--lakehouse-root", "/nonexistent", *argv])
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
