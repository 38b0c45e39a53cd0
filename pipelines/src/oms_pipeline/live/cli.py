"""``scripts/run-local`` / ``python -m oms_pipeline.live``: parse options, start Spark, run.

Modes: the live feed (default), ``--import CSV --mapping FILE`` (a CSV export through a mapping
instead of the feed) and ``--benchmark`` (a fixed load for a fixed time, figures written to
BENCHMARKS.md). ``--source kafka`` publishes the feed to a local Apache Kafka broker (KRaft,
``live/broker.py``) under ``<root>/kafka`` instead of landing files; bronze reads its topics.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import faulthandler
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from oms_pipeline.config import PipelineSettings
from oms_pipeline.live.benchmark import load
from oms_pipeline.live.feed import FeedConfig
from oms_pipeline.live.runner import LiveOptions, LiveRun, say

if TYPE_CHECKING:
    from oms_pipeline.exports import Mapping

# The feed's clock starts on FeedConfig.start; Gold's as-of date (inventory cover, RFM) is fixed
# four weeks in, so it does not move while the run streams (a moving as-of date would force a
# full Gold refresh every simulated day).
LIVE_AS_OF = (FeedConfig().start + dt.timedelta(days=27)).date()
SOURCES = ("files", "kafka")
# Topic-level setting of the local run's topics: a record's timestamp is the broker's append
# time, so ``_landed_at`` (and freshness) starts when the broker holds the record, as a landed
# file's starts when the file is in place (Apache Kafka "Topic Configs": message.timestamp.type).
# Event hubs default to the same (Event Hubs "MessageTimestampDescription": AppendTime).
LOCAL_TOPIC_CONFIG = {"message.timestamp.type": "LogAppendTime"}


def _number(  # type: ignore[no-untyped-def]
    kind: type, minimum: float, *, above: bool = False, maximum: float | None = None
):
    """An argparse type: a finite ``kind`` (int or float) of at least ``minimum`` (above it if
    ``above``) and at most ``maximum``; anything else exits 2 naming the flag and the range."""
    allowed = f"{'a whole number' if kind is int else 'a number'} " + (
        f"above {minimum:g}" if above else f"of at least {minimum:g}"
    )
    if maximum is not None:
        allowed += f" and at most {maximum:g}"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {allowed}") from None
        if (
            not math.isfinite(value)
            or value < minimum
            or (above and value == minimum)
            or (maximum is not None and value > maximum)
        ):
            raise argparse.ArgumentTypeError(f"{text!r}: expected {allowed}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/run-local",
        description="Run the OMS pipeline locally: synthetic feed -> bronze -> silver -> gold, "
        "continuously, with live dashboards on localhost.",
    )
    p.add_argument(
        "--source",
        choices=SOURCES,
        default="files",
        help="files: the feed lands JSON-lines files (default); kafka: it publishes to a local "
        "Kafka broker under <root>/kafka, started (and stopped) by the run unless one runs there",
    )
    p.add_argument(
        "--rate",
        type=_number(float, 0, above=True),
        default=None,
        help="feed events per second (50)",
    )
    p.add_argument(
        "--duration",
        type=_number(float, 0),
        default=None,
        help="feed for N seconds (or up to --batches), process everything landed, exit "
        "(default: run until Ctrl-C; 0 with --no-feed or --import: process and exit)",
    )
    p.add_argument(
        "--batches",
        type=_number(int, 1),
        default=None,
        help="stop the feed after N batches in total, counting earlier runs",
    )
    p.add_argument("--seed", type=int, default=7, help="feed seed (7)")
    p.add_argument(
        "--tick",
        type=_number(float, 0, above=True),
        default=1.0,
        help="seconds between feed batches (1)",
    )
    p.add_argument("--trigger", default="5 seconds", help="bronze/silver processing-time trigger")
    p.add_argument(
        "--port",
        type=_number(int, 0, maximum=65535),
        default=8050,
        help="dashboard port (8050; 0 = any free)",
    )
    p.add_argument("--host", default="127.0.0.1", help="dashboard bind address")
    p.add_argument("--root", default=".local", help="parent of the default folders (.local)")
    p.add_argument("--landing", default=None, help="landing folder (<root>/landing)")
    p.add_argument("--lakehouse", default=None, help="lakehouse folder (<root>/lakehouse)")
    p.add_argument("--no-feed", action="store_true", help="no feed: process what is landed")
    p.add_argument(
        "--status-every",
        type=_number(float, 0, above=True),
        default=5.0,
        help="console status interval (s)",
    )
    p.add_argument(
        "--import",
        dest="import_csv",
        default=None,
        metavar="CSV",
        help="ingest a CSV export through --mapping instead of the feed",
    )
    p.add_argument("--mapping", default=None, help="mapping file for --import (YAML or JSON)")
    p.add_argument(
        "--benchmark",
        action="store_true",
        help="fixed load (--rate, default 1000) for --duration (default 120) into fresh "
        "folders; writes the figures to BENCHMARKS.md",
    )
    p.add_argument("--benchmarks-file", default="BENCHMARKS.md", help=argparse.SUPPRESS)
    return p


def _spark(lakehouse: str):  # type: ignore[no-untyped-def]
    """Start embedded Spark, showing progress: the first start resolves the Delta jars (Ivy)."""
    from oms_pipeline.session import local_session

    say("Starting Spark + Delta (the first start downloads the Delta jars; later ones take ~10 s)")
    done = threading.Event()
    t0 = time.monotonic()

    def ticker() -> None:
        while not done.wait(10):
            say(f"  ... still starting Spark ({time.monotonic() - t0:.0f} s)")

    threading.Thread(target=ticker, daemon=True).start()
    try:
        spark = local_session(
            "oms-live",
            shuffle_partitions=2,
            warehouse_dir=os.path.join(lakehouse, "_warehouse"),
            # Eight streams submit jobs all the time; under the default FIFO scheduler the Gold
            # refresh would queue behind them. FAIR gives its pool an equal share of the cores.
            conf={"spark.scheduler.mode": "FAIR"},
        )
    finally:
        done.set()
    spark.sparkContext.setLogLevel("ERROR")
    # Micro-batches here are small and their plans many: interpreting them is faster than
    # compiling each new plan to bytecode first.
    spark.conf.set("spark.sql.codegen.wholeStage", "false")
    say(f"Spark ready in {time.monotonic() - t0:.0f} s")
    return spark


@contextlib.contextmanager
def _stop_requests_held(until: str) -> Iterator[threading.Event]:
    """Hold SIGINT/SIGTERM while the block runs; the event tells whether one arrived.

    PySpark starts its JVM with SIGINT ignored, so an interrupt in the middle of that start
    leaves a JVM no process owns. Held, the request is acted on once the block is done: the
    caller then stops what started, cleanly.
    """
    requested = threading.Event()

    def hold(signum: int, _frame: Any) -> None:
        if not requested.is_set():
            say(f"{signal.Signals(signum).name}: stopping once {until}")
        requested.set()

    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _land_export(mapping: Mapping, csv_path: str, mapping_path: str, landing: str) -> None:
    """Convert the export into ``landing``; one that already landed there is processed as is.

    A partly landed export (an import killed between its renames) is completed first; a
    corrected export under the same name lands as a new file (its digest differs).
    """
    from oms_pipeline.exports import ExportAlreadyImported, convert_export

    say(f"Converting {csv_path} through {mapping_path} into {landing}")
    try:
        say(f"Landed {convert_export(mapping, csv_path, landing)}")
    except ExportAlreadyImported:
        say(f"{csv_path} already landed in {landing}: resuming")


def check_options(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Exit 2 (argparse) naming the flag when options do not fit together, before Spark starts."""
    if a.source == "kafka":
        given = [f for f, v in (("--import", a.import_csv), ("--landing", a.landing)) if v]
        if given:
            p.error(
                f"{' and '.join(given)}: not with --source kafka (the feed publishes to the "
                "broker; --import and --landing are for --source files)"
            )
    if a.mapping and not a.import_csv:
        p.error("--mapping: only with --import")
    if a.import_csv and not a.mapping:
        p.error("--import needs --mapping")


def start_broker(root: str):  # type: ignore[no-untyped-def]
    """The run's broker under ``<root>/kafka``, with one topic per entity.

    Returns (broker, owned): a broker already running there (started by another run) is used
    and left running (owned False); otherwise one is started, which the caller stops.
    """
    from oms_pipeline.contracts.entities import ENTITIES
    from oms_pipeline.io.events import entity_topic
    from oms_pipeline.live.broker import KafkaBroker

    broker = KafkaBroker.at(os.path.join(root, "kafka"))
    pid = broker.running_elsewhere()
    if pid is not None:
        say(
            f"Kafka broker already running on {broker.run_dir} (pid {pid}, "
            f"{broker.bootstrap_servers}): using it; this run leaves it running"
        )
    else:
        say(f"Starting Kafka broker on {broker.run_dir} (log: {broker.log_file})")
        try:
            broker.start()
        except KeyboardInterrupt:
            broker.stop()  # a Ctrl-C while it starts leaves no broker behind
            raise
        say(f"Kafka broker ready on {broker.bootstrap_servers}")
    broker.create_topics([entity_topic(e) for e in ENTITIES], config=LOCAL_TOPIC_CONFIG)
    return broker, pid is None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    check_options(parser, a)
    # kill -USR1 <pid> prints every thread's stack (to the process's own stderr)
    faulthandler.register(signal.SIGUSR1, file=sys.__stderr__)
    root = os.path.abspath(a.root)
    settings = PipelineSettings(as_of_date=LIVE_AS_OF)
    entities = None
    feed = not a.no_feed
    if a.benchmark:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        root = os.path.join(root, "benchmark", stamp)
        a.rate = a.rate or 1000.0
        a.duration = a.duration if a.duration is not None else 120.0
    elif a.import_csv:
        root = os.path.join(root, "import", os.path.splitext(os.path.basename(a.import_csv))[0])
        feed = False
    landing = os.path.abspath(a.landing or os.path.join(root, "landing"))
    lakehouse = os.path.abspath(a.lakehouse or os.path.join(root, "lakehouse"))

    if a.import_csv:
        from oms_pipeline.exports import IMPORT_ERRORS, load_mapping

        try:
            mapping = load_mapping(a.mapping)
            _land_export(mapping, a.import_csv, a.mapping, landing)
        except IMPORT_ERRORS as e:
            print(f"Import refused: {e}", file=sys.stderr)
            return 2
        settings = PipelineSettings(sla_days=mapping.sla_days)
        entities = tuple(mapping.entities)

    opts = LiveOptions(
        landing=landing,
        lakehouse=lakehouse,
        rate=a.rate or 50.0,
        tick_s=a.tick,
        seed=a.seed,
        duration_s=a.duration,
        batches=a.batches,
        feed=feed,
        trigger=a.trigger,
        host=a.host,
        port=None if a.benchmark else a.port,
        status_every_s=a.status_every,
        settings=settings,
    )
    if entities:
        opts.entities = entities
    os.makedirs(landing, exist_ok=True)
    os.makedirs(lakehouse, exist_ok=True)
    load_at_start = load()
    try:
        return _run(a, opts, root, landing, lakehouse, load_at_start)
    except KeyboardInterrupt:
        # Before the run's own signal handling is installed (broker or Spark starting): nothing
        # was processed, and what started has been stopped.
        say("Interrupted while starting: nothing processed (the next start begins from here)")
        return 130


def _run(  # type: ignore[no-untyped-def]
    a: argparse.Namespace,
    opts: LiveOptions,
    root: str,
    landing: str,
    lakehouse: str,
    load_at_start: str,
) -> int:
    broker, owned = (None, False)
    if a.source == "kafka":
        broker, owned = start_broker(root)
        opts.kafka_bootstrap_servers = broker.bootstrap_servers
        opts.feed_dir = str(broker.run_dir)
        say(f"Broker data {broker.run_dir}\n         Lakehouse {lakehouse}")
    else:
        say(f"Landing {landing}\n         Lakehouse {lakehouse}")
    try:
        with _stop_requests_held("Spark has started") as stop_requested:
            spark = _spark(lakehouse)
        try:
            if stop_requested.is_set():
                raise KeyboardInterrupt
            run = LiveRun(spark, opts)
            code = run.run(serve=not a.benchmark, dashboards=not a.benchmark)
            if a.benchmark:
                _benchmark_report(spark, run, a, landing, broker, load_at_start)
            return code
        finally:
            spark.stop()
    finally:
        if owned:
            say("Stopping the Kafka broker this run started (its log is kept for the next run)")
            broker.stop()
            say("Kafka broker stopped")
        elif broker is not None:
            say(
                f"Kafka broker on {broker.bootstrap_servers} left running, as this run found it; "
                f"stop it with: kill $(cat {broker.pid_file})"
            )


def _benchmark_report(  # type: ignore[no-untyped-def]
    spark, run: LiveRun, a: argparse.Namespace, landing: str, broker, load_at_start: str
) -> None:
    from oms_pipeline.live import benchmark as B

    fr = run.tracker.summary()
    refl = run.tracker.reflected
    first = min((r.landed_at for r in refl), default=0.0)
    last = max((r.gold_at for r in refl), default=0.0)
    rows = sum(r.rows for r in refl)
    if broker is not None:
        floor = B.parse_floor_events(spark, broker.bootstrap_servers, run.opts.entities)
    else:
        floor = B.parse_floor(spark, landing)
    source = f" --source {a.source}" if a.source != "files" else ""
    result = {
        "measured_at": B.stamp(),
        "source": a.source,
        "command": f"scripts/run-local --benchmark{source} --rate {a.rate:g} "
        f"--duration {a.duration:g}",
        "machine": B.machine(),
        "load": {"start": load_at_start, "end": B.load()},
        "rate": a.rate,
        "duration_s": a.duration,
        "tick_s": a.tick,
        "trigger": a.trigger,
        "events": rows,
        "files": len(refl),
        "freshness": fr,
        "throughput": rows / (last - first) if last > first else None,
        "gold_refreshes": len(run.gold_times),
        "gold_mean_s": sum(run.gold_times) / len(run.gold_times) if run.gold_times else None,
        "parse_floor": floor,
    }
    B.write_benchmarks(a.benchmarks_file, result)
    say(
        f"Benchmark: p50 {fr['p50_s']} s, p95 {fr['p95_s']} s, throughput "
        f"{result['throughput']} ev/s, parse floor {floor['rows_per_s']:.0f} rows/s "
        f"-> {a.benchmarks_file}"
    )
