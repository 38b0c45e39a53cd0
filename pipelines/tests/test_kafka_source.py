"""The events source against a real Apache Kafka broker on loopback (KRaft, one node).

One broker serves the module (``live/broker.py``); each test uses its own topics and lakehouse.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from oms_pipeline.live import broker as broker_mod
from oms_pipeline.live.broker import BrokerError, KafkaBroker


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
