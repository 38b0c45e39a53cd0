"""The one local runner (``oms run``, ``oms bench``, ``oms once``): feed -> the ingest stream
(bronze and silver) -> Gold loop -> dashboards. ``start_and_run`` starts the broker and Spark and
runs ``LiveRun``; ``run_once`` is the same availableNow pass as a library call (tests).

The ingest query (``pipeline.ingest``: bronze, then silver, in each micro-batch) runs with a
processing-time trigger; the main thread refreshes Gold as soon as a micro-batch has committed,
publishes dashboard data and status, and owns shutdown. SIGINT and SIGTERM stop the feed and
the ingest query between micro-batches; checkpoints, Delta transaction ids and the feed's state
file make the next start resume where this one stopped, also after a kill at any instant. A
one-shot run (``duration_s=0``) starts no processing-time stream at all: it finishes the feed,
then processes what landed with availableNow triggers and refreshes Gold.

The feed goes to landing files (the default) or, with ``kafka_bootstrap_servers``, to one Kafka
topic per entity that the ingest query reads instead of the landing folders (``io.events``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.io import landing_files
from oms_pipeline.io.events import KafkaSource, entity_topic
from oms_pipeline.io.tables import read_table, table_exists
from oms_pipeline.live import queries
from oms_pipeline.live.deltalog import AppendCounter
from oms_pipeline.live.feed_kafka import KafkaSink
from oms_pipeline.live.feeder import Feeder
from oms_pipeline.live.freshness import FreshnessTracker
from oms_pipeline.live.profile import Profiler, Unprofiled, profiled
from oms_pipeline.live.server import DashboardServer, Snapshot
from oms_pipeline.pipeline import streams
from oms_pipeline.pipeline.freshness_log import (
    prepare_freshness_log,
    recent_refreshes,
    record_refresh,
)
from oms_pipeline.pipeline.gold import RefreshReport, refresh_gold
from oms_pipeline.pipeline.ingest import (
    ENTITY_COLUMN,
    account_landing,
    report_landing_files,
    run_ingest,
    start_ingest,
)
from oms_pipeline.pipeline.silver import AUDIT_TABLE, quarantine_table
from oms_pipeline.sources.factory import FeedConfig
from oms_pipeline.sources.landing import write_landing_file

# The feed's clock starts on FeedConfig.start; Gold's as-of date (inventory cover, RFM) is fixed
# four weeks in, so it does not move while the run streams (a moving as-of date would force a
# full Gold refresh every simulated day).
LIVE_AS_OF = (FeedConfig().start + dt.timedelta(days=27)).date()
# Topic-level setting of the local run's topics: a record's timestamp is the broker's append
# time, so ``_landed_at`` (and freshness) starts when the broker holds the record, as a landed
# file's starts when the file is in place (Apache Kafka "Topic Configs": message.timestamp.type).
# Event hubs default to the same (Event Hubs "MessageTimestampDescription": AppendTime).
LOCAL_TOPIC_CONFIG = {"message.timestamp.type": "LogAppendTime"}
# The Spark job group of the main thread (Gold refresh, dashboards): a second Ctrl-C cancels it.
GOLD_JOB_GROUP = "oms-live-gold"
# Seconds between two walks of the landing folders for the status line and dashboards.
LANDING_WALK_EVERY_S = 15.0
# The Gold totals of the dashboard queries the status shows (``counts.gold``).
GOLD_FIGURES = ("Orders", "Shipments", "Stock On Hand")


@dataclass
class LiveOptions:
    landing: str
    lakehouse: str
    rate: float = 50.0
    tick_s: float = 1.0
    seed: int = 7
    duration_s: float | None = None
    batches: int | None = None
    feed: bool = True
    trigger: str = "5 seconds"
    status_every_s: float = 5.0
    dashboard_every_s: float = 5.0
    entities: tuple[str, ...] = ENTITIES
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    # host:port of the broker the feed publishes to and bronze reads from; None: landing files.
    kafka_bootstrap_servers: str | None = None
    # Folder of the feed's position (``feed_writer`` state); None: the landing folder.
    feed_dir: str | None = None
    # Record where each cycle's time goes (``live.profile``); the benchmark reports it.
    profile: bool = False


def say(msg: str) -> None:
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def _shown(value: float | int | None, unit: str = "") -> str:
    """A status figure, or "-" while there is none yet."""
    if value is None:
        return "-"
    return f"{value:.1f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def status_line(st: dict[str, Any]) -> str:
    """The console status line of a ``LiveRun.status`` dict. Gold's order and shipment totals
    come from the dashboard queries: without published dashboards they are left out."""
    c, fr, feed = st["counts"], st["freshness"], st["feed"]
    fed = f"feed batch {feed['next_batch']} ({feed['events_total']} ev) | " if feed else ""
    backlog = f"not yet in Gold {st['pending_in_silver']} {st['pending_unit']}"
    if st["pending_unit"] == "files":
        skipped = (st["landing_files"] or {}).get("counts", {}).get("skipped", 0)
        backlog += f" | skipped files {skipped}"
    g = c["gold"]
    totals = (
        f"gold orders {_shown(g['Orders'])}, shipments {_shown(g['Shipments'])} | " if g else ""
    )
    gold = (
        f"{totals}freshness p50 {_shown(fr['p50_s'], 's')} p95(1m) "
        f"{_shown(fr['last_minute_p95_s'], 's')} | {st['gold_rows_per_s_30s']:.0f} ev/s to gold"
        f" | last gold refresh {_shown(st['gold_last_s'], 's')}"
        if st["gold_refreshes"] or g
        else ("first gold refresh running" if st["gold_running"] else "no gold refresh yet")
    )
    return (
        f"{fed}bronze {c['bronze_rows']} rows | silver +{c['silver_rows']} rows this run | "
        f"quarantined {c['quarantined_rows']} | {backlog} | {gold}"
    )


def landing_times(batch: DataFrame) -> dict[str | None, dict[str, tuple[float, int]]]:
    """Entity (``ENTITY_COLUMN``; None in a batch without it) -> landing unit -> (landing time in
    epoch seconds, rows) of a silver batch, in one Spark job: what freshness is counted by.

    A unit is a landed file, named by its path, or ``topic/partition@landed_us`` for the records
    of one topic partition sharing a broker timestamp. Its landing time is bronze's
    ``_landed_at``: the file's modification time, or the Kafka record timestamp. Rows without
    one are left out (not measurable); a lineage column no source of the batch has (the Kafka
    ones of a run over landing files) counts as NULL.
    """

    def column(name: str) -> Column:
        return F.col(name) if name in batch.columns else F.lit(None).cast("string")

    landed_us = F.unix_micros(F.col("_landed_at"))
    event_unit = F.format_string(
        "%s/%s@%d", column("_kafka_topic"), column("_kafka_partition"), landed_us
    )
    rows = (
        batch.where(F.col("_landed_at").isNotNull())
        .groupBy(
            column(ENTITY_COLUMN).alias("entity"),
            F.coalesce(column("_source_file"), event_unit).alias("unit"),
        )
        .agg(F.first(landed_us).alias("landed_us"), F.count("*").alias("rows"))
        .collect()
    )
    times: dict[str | None, dict[str, tuple[float, int]]] = {}
    for r in rows:
        times.setdefault(r["entity"], {})[r["unit"]] = (r["landed_us"] / 1e6, r["rows"])
    return times


def run_once(
    spark: SparkSession,
    loc: TableLocator,
    settings: PipelineSettings,
    *,
    entities: Sequence[str] = ENTITIES,
) -> RefreshReport:
    """Everything landed so far through every layer (availableNow), the landing-file report
    (``ops.landing_files``), then a Gold refresh; the library form of ``oms once``."""
    run_ingest(spark, loc, settings, entities, streams.Trigger(available_now=True))
    report_landing_files(spark, loc, use_autoloader=False)
    return refresh_gold(spark, loc, settings)


class LiveRun:
    """One run; the dashboards, their queries and their server only with a ``server`` (bound,
    not yet serving; None for ``oms bench`` and ``oms once``)."""

    def __init__(
        self, spark: SparkSession, opts: LiveOptions, server: DashboardServer | None = None
    ) -> None:
        self.spark, self.opts, self.server = spark, opts, server
        self.loc = TableLocator(lakehouse_root=opts.lakehouse, landing_root=opts.landing)
        self.tracker = FreshnessTracker()
        self.snapshot = server.snapshot if server else Snapshot()
        self.stop_event = threading.Event()
        self.query: StreamingQuery | None = None  # the processing-time ingest query
        self.feeder: Feeder | None = None
        self.bronze_rows = self.quarantine_rows = 0
        self.landing: landing_files.LandingReport | None = None
        self._landing_at = 0.0  # monotonic time of the last landing-file walk
        self.bronze_counters = [AppendCounter(self.loc.name("bronze", e)) for e in opts.entities]
        self.quarantine_counters = [
            AppendCounter(self.loc.name("ops", quarantine_table(e))) for e in opts.entities
        ]
        self.gold_kpis: dict[str, Any] = {}
        self.gold_times: list[float] = []
        self.gold_report: RefreshReport | None = None  # of the last Gold refresh
        self.drained = False  # the run ended by processing everything landed (not a stop)
        self.dashboard_gold_refreshes = 0  # Gold refreshes the published dashboards reflect
        self.state = "starting"
        self.gold_changed = False
        self.gold_running = False
        self.gold_cancelled = False
        self.stop_signal = 0  # the first SIGINT or SIGTERM a stop was asked with
        self.reporting = True
        self.status_path = os.path.join(opts.lakehouse, "_run", "status.json")
        self.profiler: Profiler | Unprofiled = Unprofiled()  # live.profile.profiled sets it

    # --- hooks ------------------------------------------------------------------------------
    def _on_silver_batch(
        self, batch_id: int, batch: DataFrame, stats: dict[str, dict[str, int]]
    ) -> None:
        times = landing_times(batch)
        for entity, counts in stats.items():
            self.tracker.in_silver(times.get(entity, {}), counts, (entity, batch_id))

    # --- lifecycle --------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create what the run needs before the ingest query starts (the query creates its own
        tables, ``pipeline.ingest.prepare_tables``)."""
        for e in self.opts.entities:
            os.makedirs(self.loc.landing(e), exist_ok=True)  # the file source needs the folder
        prepare_freshness_log(self.spark, self.loc)  # each Gold refresh then only appends
        # The last silver micro-batch of each entity an earlier run committed: if a stop landed
        # before its checkpoint commit, this run replays it, and its rows are not this run's.
        if table_exists(self.spark, self.loc, "ops", AUDIT_TABLE):
            last = read_table(self.spark, self.loc, "ops", AUDIT_TABLE).groupBy("entity")
            self.tracker.committed_before(
                (r[0], r[1]) for r in last.agg(F.max("silver_batch_id")).collect()
            )

    def _ingest(self, run: Callable[..., Any], trigger: streams.Trigger, **kw: Any) -> Any:
        """``run`` (``start_ingest`` or ``run_ingest``) with ``trigger`` over the run's topics
        when it reads a broker (entity -> its topic), else over the landing folders."""
        o, servers = self.opts, self.opts.kafka_bootstrap_servers
        events = {e: KafkaSource(servers, entity_topic(e)) for e in o.entities} if servers else {}
        on_batch, files = self._on_silver_batch, not events
        args = (self.spark, self.loc, o.settings, o.entities, trigger)
        return run(*args, files=files, events=events, on_batch=on_batch, **kw)

    def stop_streams(self, grace_s: float | None = streams.STOP_GRACE_S) -> None:
        """Stop the ingest query between two micro-batches (``streams.stop_between_batches``):
        a batch that runs is given ``grace_s`` seconds to finish (None: as long as it takes)."""
        if self.query is not None:
            streams.stop_between_batches(self.query, grace_s)
            self.query = None

    def drain(self) -> bool:
        """Process everything landed so far (availableNow), then refresh Gold. False when a stop
        request cut it short (what was committed is kept; the next start goes on from there)."""
        # Nothing interrupts a micro-batch here: its work is what the drain is for.
        self.stop_streams(grace_s=None)
        say("Drain: bronze and silver, everything available now")
        if not self._ingest(run_ingest, streams.Trigger(available_now=True), stop=self.stop_event):
            return False
        say("Drain: Gold refresh")
        self.refresh_gold()
        return True

    def refresh_gold(self) -> None:
        snap = self.tracker.gold_started()
        t0 = time.time()
        self.gold_running = True
        try:
            with self.profiler.refresh(drain=self.state == "draining"):
                report = self.gold_report = refresh_gold(
                    self.spark, self.loc, self.opts.settings, observe=self.profiler.phase
                )
                with self.profiler.phase("gold/freshness_log"):
                    record_refresh(self.spark, self.loc, report)  # the ops freshness log
        finally:
            self.gold_running = False
        t1 = time.time()
        self.gold_times.append(t1 - t0)
        self.gold_changed = True
        self.tracker.gold_finished(snap, t1)

    # --- status -----------------------------------------------------------------------------
    def collect_progress(self, landing_max_age_s: float = LANDING_WALK_EVERY_S) -> None:
        """Bronze and quarantine row counts from the Delta logs (no Spark job), and the landing
        files, re-walked when the last walk is older than ``landing_max_age_s`` seconds.

        The walk lists every landed file and reads every bronze checkpoint's file log, so the
        status thread (every second or so) does it only every ``LANDING_WALK_EVERY_S``. A run
        over a broker has no landing files: the broker's offsets account for the events.
        """
        self.bronze_rows = sum(c.refresh() for c in self.bronze_counters)
        self.quarantine_rows = sum(c.refresh() for c in self.quarantine_counters)
        now = time.monotonic()
        stale = self.landing is None or now - self._landing_at >= landing_max_age_s
        if stale and not self.opts.kafka_bootstrap_servers:
            self.landing = account_landing(self.spark, self.loc, use_autoloader=False)
            self._landing_at = now

    def status(self) -> dict[str, Any]:
        window = [
            r for r in self.tracker.reflected if r.gold_at >= time.time() - 30 and r.gold_at > 0
        ]
        return {
            "state": self.state,
            "port": self.server.port if self.server else None,
            "feed": dict(self.feeder.progress.__dict__) if self.feeder else None,
            "rate": self.opts.rate if self.opts.feed else None,
            "counts": {
                "bronze_rows": self.bronze_rows,
                "silver_rows": self.tracker.silver_rows,
                "quarantined_rows": self.quarantine_rows,
                "gold": self.gold_kpis,
            },
            # In silver, not yet in Gold: landing files, or record groups (Kafka records that
            # share a topic partition and a broker timestamp, the unit freshness is measured in).
            "pending_in_silver": self.tracker.pending,
            "pending_unit": "record groups" if self.opts.kafka_bootstrap_servers else "files",
            "landing_files": self.landing.as_status() if self.landing else None,
            "freshness": self.tracker.summary(),
            "gold_rows_per_s_30s": sum(r.rows for r in window) / 30.0,
            "gold_refreshes": len(self.gold_times),
            "gold_running": self.gold_running,
            "gold_last_s": round(self.gold_times[-1], 2) if self.gold_times else None,
            "active_queries": sum(1 for q in self.spark.streams.active),
            "dashboard_version": self.snapshot.version,
            "dashboard_gold_refreshes": self.dashboard_gold_refreshes,
        }

    def publish_status(self) -> dict[str, Any]:
        st = self.status()
        self.snapshot.publish_status(st)
        write_landing_file(self.status_path, [json.dumps(st, default=str)])  # atomic
        return st

    def report_status(self, landing_max_age_s: float = LANDING_WALK_EVERY_S) -> dict[str, Any]:
        """``collect_progress``, then publish the status and print its console line."""
        self.collect_progress(landing_max_age_s)
        st = self.publish_status()
        say(status_line(st))
        return st

    def publish_dashboard(self) -> None:
        refreshes = len(self.gold_times)  # Gold as of now is what the queries below read
        data = queries.dashboard(self.spark, self.loc)
        data["freshness_log"] = recent_refreshes(self.spark, self.loc)
        self.gold_kpis = {k: data["totals"].get(k) for k in GOLD_FIGURES}
        self.snapshot.publish_dashboard(data, time.time())
        self.dashboard_gold_refreshes = refreshes

    def _report(self) -> None:
        """Status thread: console line and status.json, also while a Gold refresh runs."""
        while self.reporting and not self.stop_event.wait(self.opts.status_every_s):
            try:
                self.report_status()
            except Exception as exc:  # a stopping query must not end the report thread
                say(f"status: {exc}")

    # --- the run ----------------------------------------------------------------------------
    def install_signals(self) -> None:
        def handler(signum: int, _frame: Any) -> None:
            name = signal.Signals(signum).name
            if not self.stop_event.is_set():
                self.stop_signal = signum
                say(
                    f"{name}: stopping after the micro-batches and Gold refresh in progress "
                    f"(checkpoints kept; rerun to resume; {name} again abandons a Gold refresh)"
                )
                self.stop_event.set()
            elif self.gold_running:
                say(
                    f"{name}: abandoning the Gold refresh in progress (it reruns on the next start)"
                )
                self.gold_cancelled = True
                # Not from this handler: the main thread may be inside a Py4J call right now.
                cancel = partial(self.spark.sparkContext.cancelJobGroup, GOLD_JOB_GROUP)
                threading.Thread(target=cancel, name="oms-cancel", daemon=True).start()
            if self.feeder is not None:
                self.feeder.stop_event.set()  # no new files once asked to stop

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def kept(self) -> str:
        """What the last status line leaves out when the run ends: the Gold the lakehouse keeps
        and, over landing files, what the next start processes (after ``collect_progress(0)``:
        the landing files as they are now)."""
        if self.gold_times:
            gold = f"Gold as of the last of {len(self.gold_times)} refreshes this run"
        elif table_exists(self.spark, self.loc, "gold", "fact_order_lines"):
            gold = "Gold as before this run"
        else:
            gold = "no Gold yet"
        if self.opts.kafka_bootstrap_servers:
            rest = "records not yet in bronze stay in the broker"
        else:
            pending = self.landing.counts.get("pending", 0) if self.landing else 0
            rest = f"{pending} landed files are not yet in bronze"
        return f"kept bronze, silver, quarantine and {gold}; {rest} (the next start processes them)"

    def run(self) -> int:
        """The run: 0 once it processed everything it was to (or, without ``duration_s``, when
        a stop ended it); 128 + the signal's number when a stop cut short a run with an end."""
        o, servers, serve = self.opts, self.opts.kafka_bootstrap_servers, self.server is not None
        self.install_signals()
        # This thread's jobs (Gold, dashboards) get their own fair-share pool, and a job group a
        # second Ctrl-C can cancel.
        sc = self.spark.sparkContext
        sc.setLocalProperty("spark.scheduler.pool", "gold")
        sc.setJobGroup(GOLD_JOB_GROUP, "Gold refresh and dashboards", interruptOnCancel=False)
        one_shot = o.duration_s == 0
        if serve:
            self.server.start()
            self.publish_status()  # "starting", until the streams run
            say(f"Dashboards: {self.server.url}")
        self.prepare()
        # After a restart, show what Gold already holds before new data arrives.
        self.gold_changed = table_exists(self.spark, self.loc, "gold", "fact_order_lines")
        if not one_shot and not self.stop_event.is_set():
            trigger = streams.Trigger(available_now=False, processing_time=o.trigger)
            self.query = self._ingest(start_ingest, trigger)
            say(f"Ingest stream running (bronze and silver, trigger {o.trigger}); Ctrl-C stops")
        # --duration counts from here: the streams are up, the feed starts now.
        until = time.monotonic() + o.duration_s if o.duration_s is not None else None
        if o.feed and not self.stop_event.is_set():  # no feed once a stop was asked for
            sink = KafkaSink(servers, o.seed) if servers else None
            self.feeder = Feeder(
                o.feed_dir or o.landing,
                FeedConfig(seed=o.seed),
                rate=o.rate,
                tick_s=o.tick_s,
                batches=o.batches,
                until=until if o.batches is None else None,
                paced=not one_shot,
                sink=sink,
            )
            self.feeder.start()
            self.profiler.feed_started()
            into = f"Kafka at {servers}" if sink else o.landing
            say(f"Feed: {o.rate:g} events/s into {into} (seed {o.seed})")
        self.state = "running"
        last_dash = 0.0
        reporter = threading.Thread(target=self._report, name="oms-status", daemon=True)
        reporter.start()
        failed = False
        try:
            while not self.stop_event.is_set():
                if self.query is not None:
                    streams.check(self.query)
                if self.feeder is not None and self.feeder.error is not None:
                    raise RuntimeError(f"feed failed: {self.feeder.error}")
                feed_done = self.feeder is None or self.feeder.progress.done
                time_up = until is not None and time.monotonic() >= until
                if o.duration_s is not None and feed_done and (time_up or o.batches is not None):
                    arrived = "was published" if servers else "landed"
                    say(
                        f"{'Feed finished: p' if o.feed else 'P'}rocessing what {arrived} "
                        "(the micro-batches in progress finish, then one availableNow pass and a "
                        "Gold refresh), then stopping"
                    )
                    self.state = "draining"
                    self.profiler.feed_ended()
                    self.drained = self.drain()
                    break
                if self.tracker.pending:
                    self.refresh_gold()
                else:
                    self.stop_event.wait(0.25)
                now = time.monotonic()
                if serve and now - last_dash >= o.dashboard_every_s and self.gold_changed:
                    self.gold_changed = False
                    self.publish_dashboard()
                    last_dash = now
        except Exception as exc:
            if not (self.gold_cancelled and self.stop_event.is_set()):
                failed = True
                raise
            say(f"Gold refresh abandoned ({type(exc).__name__}); it reruns on the next start")
        finally:
            self.reporting = False
            reporter.join(timeout=5)
            self.profiler.feed_ended()  # a stopped run's steady state ends here (no drain)
            if self.feeder is not None:
                self.feeder.stop_event.set()
                self.feeder.join(timeout=10)
            if self.query is not None:
                say(
                    "Stopping the ingest stream after its micro-batch in progress (at most "
                    f"{streams.STOP_GRACE_S:.0f} s; a batch cut short reruns on the next start)"
                )
            self.stop_streams()
            if not failed and not servers:
                # Every landing file ingested or reported (ops.landing_files).
                try:
                    report_landing_files(self.spark, self.loc, use_autoloader=False)
                except Exception as exc:  # the report must not turn a clean stop into a failure
                    say(f"landing-file report not written: {exc}")
            if self.drained and serve:
                self.publish_dashboard()
            self.state = "failed" if failed else "stopped"
            # The last line shows the counts the run ends with (fresh landing files unless failed).
            st = self.report_status(LANDING_WALK_EVERY_S if failed else 0.0)
            if failed:
                say(f"Failed: {st['active_queries']} streaming queries active")
            else:
                say(f"Stopped: {self.kept()}")
        cut_short = self.stop_signal and o.duration_s is not None and not self.drained
        return 128 + self.stop_signal if cut_short else 0


# --- starting a run: Spark, the broker, signals while they start ------------------------------
def _spark(lakehouse: str) -> SparkSession:
    """Start embedded Spark, showing progress: the first start resolves the Delta jars (Ivy)."""
    from oms_pipeline.session import local_session, start_signal_free_thread

    say("Starting Spark + Delta (the first start downloads the Delta jars; later ones take ~10 s)")
    done = threading.Event()
    t0 = time.monotonic()

    def ticker() -> None:
        while not done.wait(10):
            say(f"  ... still starting Spark ({time.monotonic() - t0:.0f} s)")

    start_signal_free_thread(ticker, "oms-spark-start")
    try:
        spark = local_session(
            "oms-live",
            shuffle_partitions=2,
            warehouse_dir=os.path.join(lakehouse, "_warehouse"),
            # The ingest query submits jobs all the time; under the default FIFO scheduler the
            # Gold refresh would queue behind them. FAIR gives its pool an equal share of the cores.
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


@contextlib.contextmanager
def running_broker(root: str):  # type: ignore[no-untyped-def]
    """The run's broker under ``<root>/kafka``, with one topic per entity, for the block. One
    already running there (started by another run) is used and left running; otherwise one is
    started, and stopped after the block."""
    from oms_pipeline.live.broker import KafkaBroker

    broker = KafkaBroker.at(os.path.join(root, "kafka"))
    pid = broker.running_elsewhere()
    if pid is not None:
        say(f"Kafka broker already running on {broker.run_dir} (pid {pid}): using it")
    else:
        say(f"Starting Kafka broker on {broker.run_dir} (log: {broker.log_file})")
        try:
            broker.start()
        except KeyboardInterrupt:
            broker.stop()  # a Ctrl-C while it starts leaves no broker behind
            raise
    say(f"Kafka broker ready on {broker.bootstrap_servers}")
    try:
        broker.create_topics([entity_topic(e) for e in ENTITIES], config=LOCAL_TOPIC_CONFIG)
        yield broker
    finally:
        if pid is None:
            say("Stopping the Kafka broker this run started (its log is kept for the next run)")
            broker.stop()
            say("Kafka broker stopped")
        else:
            say(
                f"Kafka broker on {broker.bootstrap_servers} left running, as this run found it; "
                f"stop it with: kill $(cat {broker.pid_file})"
            )


def start_and_run(
    opts: LiveOptions,
    *,
    server: DashboardServer | None = None,
    kafka_root: str | None = None,
    after: Callable[[LiveRun], None] | None = None,
) -> int:
    """Start the broker (given ``kafka_root``: under ``<kafka_root>/kafka``) and Spark, run
    ``LiveRun(opts, server)``, then ``after(run)`` while Spark is still up, then stop what this
    call started and the server; the exit code of the run (130: interrupted while starting,
    nothing processed)."""
    os.makedirs(opts.landing, exist_ok=True)
    os.makedirs(opts.lakehouse, exist_ok=True)
    try:
        with running_broker(kafka_root) if kafka_root else contextlib.nullcontext() as broker:
            if broker is not None:
                opts.kafka_bootstrap_servers = broker.bootstrap_servers
                opts.feed_dir = str(broker.run_dir)
            data = f"Broker data {opts.feed_dir}" if broker else f"Landing {opts.landing}"
            say(f"{data}\n         Lakehouse {opts.lakehouse}")
            with _stop_requests_held("Spark has started") as stop_requested:
                spark = _spark(opts.lakehouse)
            try:
                if stop_requested.is_set():
                    raise KeyboardInterrupt
                run = LiveRun(spark, opts, server)
                profile = profiled(run, spark, GOLD_JOB_GROUP) if opts.profile else None
                with profile or contextlib.nullcontext():
                    code = run.run()
                if after is not None:
                    after(run)
                return code
            finally:
                spark.stop()
    except KeyboardInterrupt:
        # Before the run's own signal handling is installed (broker or Spark starting): nothing
        # was processed; what started is stopped (Spark, then the broker).
        say("Interrupted while starting: nothing processed (the next start begins from here)")
        return 130
    finally:
        if server is not None:
            server.stop()
