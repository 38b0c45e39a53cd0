"""The local run over a real Kafka broker (``scripts/run-local --source kafka``).

One broker serves the module, under ``<root>/kafka`` as the run keeps it: the run finds it
running there, uses it and leaves it running. Two one-shot runs (``duration_s=0``: the feed
publishes its batches, then availableNow streams and a Gold refresh) share one lakehouse: the
first must hold every published record in bronze once and reach Gold, the second must resume
the feed and the streams without a record twice. Expected records come from the feed's own
batches (``factory.batch_events``), keyed as the producer keys them.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from oms_pipeline import cli
from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.io.events import entity_topic
from oms_pipeline.io.tables import read_table
from oms_pipeline.live import feed_writer as W
from oms_pipeline.live import runner
from oms_pipeline.live.broker import KafkaBroker
from oms_pipeline.live.feed_kafka import KafkaSink, record_key
from oms_pipeline.live.feeder import Feeder
from oms_pipeline.live.runner import LiveOptions, LiveRun
from oms_pipeline.sources.factory import FeedConfig, batch_events, master_data

SEED, RATE = 5, 20.0  # 20 events per batch (tick 1 s)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kafkalocal")


@pytest.fixture(scope="module")
def broker(root: Path) -> Iterator[KafkaBroker]:
    with KafkaBroker(root / "kafka") as b:
        yield b


def topic_records(spark: SparkSession, broker: KafkaBroker) -> list[tuple]:
    """(topic, partition, offset, key, value) of every record on the entities' topics."""
    df = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", broker.bootstrap_servers)
        .option("subscribe", ",".join(entity_topic(e) for e in ENTITIES))
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr("topic", "partition", "offset", "CAST(key AS STRING)", "CAST(value AS STRING)")
    )
    return sorted(tuple(r) for r in df.collect())


def expected_records(seed: int, batches: range, size: int) -> list[tuple[str, str, str]]:
    """(topic, key, value) of every line of the feed's batches, from the feed itself."""
    cfg = FeedConfig(seed=seed)
    cat = master_data(cfg)
    return sorted(
        (entity_topic(e), record_key(seed, n, e, i).decode(), line)
        for n in batches
        for e, lines in batch_events(cfg, cat, n, size).items()
        for i, line in enumerate(lines)
    )


def bronze_offsets(spark: SparkSession, loc: TableLocator) -> list[tuple]:
    out: list[tuple] = []
    for e in ENTITIES:
        rows = read_table(spark, loc, "bronze", e).select(
            "_kafka_topic", "_kafka_partition", "_kafka_offset"
        )
        out += [tuple(r) for r in rows.collect()]
    return sorted(out)


def one_shot(spark: SparkSession, root: Path, servers: str, batches: int) -> LiveRun:
    """What ``run-local --source kafka --duration 0 --batches N`` runs once Spark is up."""
    opts = LiveOptions(
        landing=str(root / "landing"),
        lakehouse=str(root / "lakehouse"),
        rate=RATE,
        seed=SEED,
        duration_s=0,
        batches=batches,
        settings=PipelineSettings(as_of_date=runner.LIVE_AS_OF),
        kafka_bootstrap_servers=servers,
        feed_dir=str(root / "kafka"),
    )
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    run = LiveRun(spark, opts)
    try:
        assert run.run() == 0
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    return run


@pytest.fixture(scope="module")
def servers(root: Path, broker: KafkaBroker) -> str:
    """The run's broker set-up (``runner.running_broker``) with the module's broker running there:
    used, and left running after the block."""
    with runner.running_broker(str(root)) as found:
        assert found.bootstrap_servers == broker.bootstrap_servers
    assert broker.running
    return found.bootstrap_servers


@pytest.fixture(scope="module")
def first_run(spark, root: Path, servers: str) -> LiveRun:
    return one_shot(spark, root, servers, batches=2)


def loc_of(root: Path) -> TableLocator:
    return TableLocator(lakehouse_root=str(root / "lakehouse"), landing_root=str(root / "landing"))


def assert_every_record_once_in_bronze(spark, broker, root: Path, batches: int) -> list[tuple]:
    records = topic_records(spark, broker)
    # The producer published the feed's lines, each once (duplicates and malformed included).
    assert sorted((t, k, v) for t, _p, _o, k, v in records) == expected_records(
        SEED, range(batches), int(RATE)
    )
    # Bronze holds every record of the topics once.
    assert bronze_offsets(spark, loc_of(root)) == sorted((t, p, o) for t, p, o, _k, _v in records)
    return records


def test_first_run_ingests_every_published_record_and_reaches_gold(
    spark, broker, root: Path, first_run: LiveRun
):
    records = assert_every_record_once_in_bronze(spark, broker, root, batches=2)
    loc = loc_of(root)
    assert read_table(spark, loc, "gold", "fact_order_lines").count() > 0
    # Every record passed silver (accepted or quarantined) and was measured into Gold.
    t = first_run.tracker
    assert t.silver_rows + t.quarantined_rows == len(records)
    assert sum(r.rows for r in t.reflected) == len(records) and t.pending == 0
    assert all(r.latency_s > 0 for r in t.reflected)
    # Freshness starts at the broker's timestamp (bronze ``_landed_at``), not a file's.
    assert all("@" in r.path for r in t.reflected)
    progress = first_run.feeder.progress if first_run.feeder else None
    assert progress is not None and progress.events_this_run == len(records)
    # One record per feed line: the feed counts what it delivered as records, not files.
    assert (progress.delivered_as, progress.delivered_this_run) == ("records", len(records))


def test_a_second_run_resumes_the_feed_and_the_streams(spark, broker, root: Path, first_run):
    before = len(topic_records(spark, broker))
    second = one_shot(spark, root, broker.bootstrap_servers, batches=4)
    records = assert_every_record_once_in_bronze(spark, broker, root, batches=4)
    assert second.feeder is not None
    assert second.feeder.progress.events_this_run == len(records) - before > 0
    # This run's silver read only the new records.
    t = second.tracker
    assert t.silver_rows + t.quarantined_rows == len(records) - before


def test_an_interrupted_batch_is_finished_without_a_record_twice(broker, servers, tmp_path: Path):
    seed = 99  # keys of their own on the shared topics
    cfg = FeedConfig(seed=seed)
    sink = KafkaSink(servers, seed)  # on the topics the run creates
    # A feed published batch 0, then died while publishing batch 1 (size 30): only orders went.
    sink.write(0, batch_events(cfg, master_data(cfg), 0, 30), resumed=False)
    sink.write(1, {"orders": batch_events(cfg, master_data(cfg), 1, 30)["orders"]}, resumed=False)
    W.write_state(str(tmp_path), W.FeedState(next_batch=1, pending_batch=1, pending_events=30))
    feeder = Feeder(
        str(tmp_path), cfg, rate=30, tick_s=1, batches=3, until=None, paced=False, sink=sink
    )
    feeder.run()  # in this thread
    assert feeder.error is None

    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"check-{tmp_path.name}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([entity_topic(e) for e in ENTITIES])
    seen: Counter[tuple[str, str, str]] = Counter()
    want = expected_records(seed, range(3), 30)
    empty = 0
    while empty < 3 and sum(seen.values()) < len(want):
        msg = consumer.poll(5)
        if msg is None:
            empty += 1
            continue
        assert msg.error() is None
        if msg.key().startswith(f"s{seed}-".encode()):
            seen[(msg.topic(), msg.key().decode(), msg.value().decode())] += 1
    consumer.close()
    assert sorted(seen) == want and set(seen.values()) == {1}


def test_the_run_stops_only_the_broker_it_started(
    monkeypatch, root: Path, broker, tmp_path, capsys
):
    def no_spark(_lakehouse: str):
        raise RuntimeError("stop here")

    monkeypatch.setattr(runner, "_spark", no_spark)
    # A broker already running under <root>/kafka: used, and left running, with a reminder.
    with pytest.raises(RuntimeError, match="stop here"):
        cli.main(["--source", "kafka", "--root", str(root), "--port", "0"])
    assert broker.running
    assert f"left running, as this run found it; stop it with: kill $(cat {broker.pid_file})" in (
        capsys.readouterr().out
    )
    # None running there: the run starts one and stops it.
    with pytest.raises(RuntimeError, match="stop here"):
        cli.main(["--source", "kafka", "--root", str(tmp_path), "--port", "0"])
    started = KafkaBroker.at(tmp_path / "kafka")
    assert (tmp_path / "kafka" / "data" / "meta.properties").exists()
    assert started.running_elsewhere() is None
    assert not (tmp_path / "kafka" / "broker.pid").exists()


def test_a_ctrl_c_while_starting_stops_what_started_without_a_traceback(
    monkeypatch, tmp_path, capsys
):
    # While the broker starts: its JVM runs, then the interrupt arrives.
    def interrupted(self) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(KafkaBroker, "_wait_ready", interrupted)
    monkeypatch.setattr(runner, "_spark", lambda _l: pytest.fail("Spark started"))
    assert cli.main(["--source", "kafka", "--root", str(tmp_path / "a"), "--port", "0"]) == 130
    started = KafkaBroker.at(tmp_path / "a" / "kafka")
    assert not started.pid_file.exists() and started.running_elsewhere() is None
    assert "Interrupted while starting: nothing processed" in capsys.readouterr().out
    monkeypatch.undo()

    # While Spark starts: the request is held until Spark is up (a JVM cut off halfway through
    # its start would be left running), then Spark and the broker the run started are stopped.
    class StartedSpark:
        stopped = False

        def stop(self) -> None:
            StartedSpark.stopped = True

    def spark_interrupted(_lakehouse: str) -> StartedSpark:
        os.kill(os.getpid(), signal.SIGINT)  # the Ctrl-C, in the middle of the start
        return StartedSpark()

    monkeypatch.setattr(runner, "_spark", spark_interrupted)
    monkeypatch.setattr(runner, "LiveRun", lambda *_a: pytest.fail("the run started"))
    handler = signal.getsignal(signal.SIGINT)  # the session's (a SparkContext installs one)
    assert cli.main(["--source", "kafka", "--root", str(tmp_path / "b"), "--port", "0"]) == 130
    assert StartedSpark.stopped
    out = capsys.readouterr().out
    assert "SIGINT: stopping once Spark has started" in out
    assert "Stopping the Kafka broker this run started" in out
    assert "Interrupted while starting" in out
    assert not (tmp_path / "b" / "kafka" / "broker.pid").exists()
    assert signal.getsignal(signal.SIGINT) is handler  # the held handlers are undone


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "kafka", "--import", "x.csv", "--mapping", "m.yaml"], "--import: not with --source kafka"),
        (["--source", "kafka", "--landing", "/tmp/x"], "--landing: not with --source kafka"),
        (["--source", "nats"], "invalid choice: 'nats' (choose from 'files', 'kafka')"),
        (["--import", "x.csv"], "--import needs --mapping"),
        (["--rate", "0"], "argument --rate: '0': expected a number above 0"),
        (["--rate", "nan"], "argument --rate: 'nan': expected a number above 0"),
        (["--batches", "0"], "argument --batches: '0': expected a whole number of at least 1"),
        (["--port", "70000"], "argument --port: '70000': expected a whole number of at least 0 and at most 65535"),
    ],
)  # fmt: skip
def test_bad_option_combinations_are_refused_before_spark(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(runner, "_spark", lambda _l: pytest.fail("Spark started"))
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
