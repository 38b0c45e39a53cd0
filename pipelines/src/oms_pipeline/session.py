"""Spark session factory: the Databricks-provided session on a cluster, embedded Spark + Delta locally."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

from pyspark.sql import SparkSession


def on_databricks() -> bool:
    """True when running inside a Databricks runtime (job cluster or serverless)."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def get_spark(app_name: str = "oms-pipeline", *, shuffle_partitions: int = 4) -> SparkSession:
    """Return the active session on Databricks, or build a local Delta-enabled session.

    The local session pins UTC and disables the UI so runs are reproducible and quiet; see
    ``local_session`` for its jars.
    """
    if on_databricks():
        return SparkSession.builder.getOrCreate()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    return local_session(app_name, shuffle_partitions=shuffle_partitions)


def kafka_connector_package() -> str:
    """Maven coordinates of the Spark release's own Kafka source (``format("kafka")``).

    The version is the installed PySpark's (pinned in pyproject.toml), so connector and Spark
    never drift apart; the Scala binary version is Delta's (``_2.13``).
    """
    import pyspark

    return f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}"


def local_session(
    app_name: str = "oms-pipeline",
    *,
    master: str = "local[2]",
    shuffle_partitions: int = 2,
    warehouse_dir: str | None = None,
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """Build an embedded Spark session with Delta Lake and the Kafka source (``conf``: extra settings).

    The jars of both are resolved from Maven by ``configure_spark_with_delta_pip`` (Ivy) on first
    use and reused from the Ivy cache after that; ``scripts/bootstrap`` warms the cache.
    """
    from delta import configure_spark_with_delta_pip

    builder = (
        SparkSession.builder.appName(app_name)
        .master(master)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config(
            "spark.sql.catalog.spark_catalog",
            "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        )
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.sql.streaming.schemaInference", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
    )
    if warehouse_dir:
        builder = builder.config("spark.sql.warehouse.dir", warehouse_dir)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    with _jvm_ignores_sigterm():
        spark = configure_spark_with_delta_pip(
            builder, extra_packages=[kafka_connector_package()]
        ).getOrCreate()
    return spark


STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def start_signal_free_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """Start a daemon thread with SIGINT and SIGTERM blocked, so the process's stop signals are
    always delivered to the main thread (a new thread inherits its creator's signal mask,
    pthread_sigmask(3)); Python runs signal handlers in the main thread only anyway."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return thread


@contextlib.contextmanager
def _jvm_ignores_sigterm() -> Iterator[None]:
    """Start the Spark JVM with SIGTERM ignored, as PySpark already starts it with SIGINT ignored.

    A SIGTERM sent to the whole process group (``kill -TERM -<pgid>``, ``timeout``, a service
    manager) then reaches only Python, whose handler stops the streams between micro-batches and
    shuts Spark down; the JVM would otherwise die mid-batch under the driver. An ignored signal
    stays ignored across ``exec`` (POSIX), and the JVM keeps an inherited ignore for its shutdown
    signals instead of installing its own handler. The JVM still ends with the Python process:
    PySpark's gateway exits when its standard input closes.

    SIGTERM is also blocked meanwhile, so one sent while the JVM starts is not lost: Linux keeps a
    blocked signal pending even while it is ignored (signal(7): a blocked signal is never
    discarded as ignored), and it reaches Python's own handler once that is back and the signal
    unblocked. The block is the calling thread's: a process-directed SIGTERM goes to any thread
    that does not block it, and one that lands in another thread while the signal is ignored is
    discarded. Threads that may run meanwhile are therefore started with
    :func:`start_signal_free_thread`.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending SIGTERM is delivered here
