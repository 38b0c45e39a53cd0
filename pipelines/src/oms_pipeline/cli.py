"""``oms``: the one command line of a local run (``scripts/run-local`` and ``python -m
oms_pipeline`` run it too).

    oms [run] [--rate 50 --duration S --source kafka ...]   the live run with dashboards (default)
    oms bench [--rate 1000 --duration 120 ...]              the live run as a benchmark
    oms run --import CSV --mapping FILE                     a CSV export instead of the feed
    oms once --landing DIR --lakehouse DIR                  what is landed, through every layer
    oms show gold.fact_order_lines | oms sql "SELECT ..."  read the local lakehouse
    oms generate --landing DIR | oms import --mapping FILE --csv CSV --landing DIR

Every run goes through ``live.runner.start_and_run``; option errors exit 2 naming the flag and
what is allowed, before Spark starts.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import faulthandler
import json
import logging
import math
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from oms_pipeline.config import LAYERS, PipelineSettings
from oms_pipeline.jobs.common import iso_date
from oms_pipeline.live.runner import LIVE_AS_OF, LiveOptions, say, start_and_run

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from oms_pipeline.exports import Mapping
    from oms_pipeline.live.server import DashboardServer

SOURCES = ("files", "kafka")
RUNS = ("run", "bench")


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
            value = math.nan
        low_ok = value > minimum if above else value >= minimum
        if not (math.isfinite(value) and low_ok and (maximum is None or value <= maximum)):
            raise argparse.ArgumentTypeError(f"{text!r}: expected {allowed}")
        return value

    return parse


# A processing-time trigger as ``--trigger`` takes it: a whole number and a unit, the unit's
# milliseconds, and the longest interval taken (a day). Spark's interval parser reads these
# (``Trigger.ProcessingTime``); it refuses a fraction of a minute or hour once the run started.
TRIGGER = re.compile(r"(\d+) (millisecond|second|minute|hour)s?")
UNIT_MS = {"millisecond": 1, "second": 1000, "minute": 60_000, "hour": 3_600_000}
TRIGGER_MAX_MS = 24 * 3_600_000


def _interval(text: str) -> str:
    """An argparse type for ``--trigger``: ``<whole number> <unit>``, from 1 millisecond to 24
    hours; anything else exits 2 naming what is allowed, before Spark would refuse it."""
    m = TRIGGER.fullmatch(text.strip())
    if m is None or not 1 <= int(m.group(1)) * UNIT_MS[m.group(2)] <= TRIGGER_MAX_MS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a whole number and a unit, one of milliseconds, seconds, "
            "minutes, hours, from 1 millisecond to 24 hours (e.g. '5 seconds', '500 milliseconds')"
        )
    return text.strip()


def _run_options(bench: bool) -> argparse.ArgumentParser:
    """The options of ``oms run`` or, with ``bench``, of ``oms bench`` (a benchmark feeds fresh
    folders under ``<root>/benchmark`` and serves no dashboards: it takes no folder, import,
    ``--no-feed`` or dashboard option, and only it takes ``--profile``)."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
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
        default=1000.0 if bench else 50.0,
        help=f"feed events per second ({1000 if bench else 50})",
    )
    p.add_argument(
        "--duration",
        type=_number(float, 0, above=bench),  # a benchmark measures a feed that runs
        default=120.0 if bench else None,
        help="feed for N seconds (or up to --batches), process everything landed, exit "
        + (
            "(default 120)"
            if bench
            else "(default: run until Ctrl-C; 0: land the feed's remaining --batches, or with "
            "--no-feed or --import nothing, then process once and exit)"
        ),
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
    p.add_argument(
        "--trigger",
        type=_interval,
        default="5 seconds",
        help="bronze/silver processing-time trigger, e.g. '5 seconds', '500 milliseconds', "
        "'1 minute'",
    )
    p.add_argument("--root", default=".local", help="parent of the default folders (.local)")
    p.add_argument(
        "--status-every",
        type=_number(float, 0, above=True),
        default=5.0,
        help="console status interval (s)",
    )
    if bench:
        p.add_argument("--benchmarks-file", default="BENCHMARKS.md", help=argparse.SUPPRESS)
        p.add_argument(
            "--profile",
            action="store_true",
            help="also record, per stage, the Spark jobs, Delta commits and seconds of a "
            "steady-state cycle, into the same BENCHMARKS.md block",
        )
        p.set_defaults(
            landing=None,
            lakehouse=None,
            no_feed=False,
            import_csv=None,
            mapping=None,
        )
        return p
    p.add_argument(
        "--port",
        type=_number(int, 0, maximum=65535),
        default=8050,
        help="dashboard port (8050; 0 = any free)",
    )
    p.add_argument("--host", default="127.0.0.1", help="dashboard bind address")
    p.add_argument("--landing", default=None, help="landing folder (<root>/landing)")
    p.add_argument("--lakehouse", default=None, help="lakehouse folder (<root>/lakehouse)")
    p.add_argument("--no-feed", action="store_true", help="no feed: process what is landed")
    p.add_argument(
        "--import",
        dest="import_csv",
        default=None,
        metavar="CSV",
        help="ingest a CSV export through --mapping instead of the feed",
    )
    p.add_argument("--mapping", default=None, help="mapping file for --import (YAML or JSON)")
    p.set_defaults(profile=False)
    return p


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="oms",
        allow_abbrev=False,
        description="Run the OMS pipeline locally. Without a command: 'run' "
        "(options: oms run --help).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="command")
    sub.add_parser(
        "run",
        parents=[_run_options(bench=False)],
        allow_abbrev=False,
        help="synthetic feed -> bronze -> silver -> gold, continuously, with live dashboards "
        "on localhost (the default)",
        epilog="run --benchmark is 'oms bench' (see its help).",
    )
    sub.add_parser(
        "bench",
        parents=[_run_options(bench=True)],
        allow_abbrev=False,
        help="fixed load (--rate, default 1000) for --duration (default 120) into fresh "
        "folders; writes the figures to BENCHMARKS.md",
    )

    once = sub.add_parser("once", help="what is landed through every layer (availableNow), once")
    once.add_argument("--landing", required=True, help="landing folder (one sub-folder per entity)")
    once.add_argument("--lakehouse", required=True, help="local lakehouse folder")
    once.add_argument(
        "--as-of-date",
        type=iso_date,
        default=None,
        help="YYYY-MM-DD (default: latest order date)",
    )

    for name in ("show", "sql"):
        s = sub.add_parser(name, help="print a table" if name == "show" else "run a SQL query")
        s.add_argument("--lakehouse", default=".local/lakehouse", help="(.local/lakehouse)")
        s.add_argument("target", help="layer.table" if name == "show" else "SQL text")
        s.add_argument("--limit", type=_number(int, 1), default=20)
        s.add_argument("--format", choices=("table", "json"), default="table")

    gen = sub.add_parser("generate", help="write synthetic OMS landing files")
    gen.add_argument("--landing", required=True, help="landing folder (one sub-folder per entity)")
    gen.add_argument(
        "--seed", type=int, default=7, help="seed: the same seed writes the same files (7)"
    )
    gen.add_argument("--orders", type=_number(int, 1), default=2000, help="orders (2000)")
    gen.add_argument("--customers", type=_number(int, 1), default=300, help="customers (300)")
    gen.add_argument("--products", type=_number(int, 1), default=120, help="products (120)")
    gen.add_argument(
        "--malformed-rate",
        type=_number(float, 0, maximum=1),
        default=0.01,
        help="share of malformed lines, 0..1 (0.01); each is quarantined with a reason",
    )
    gen.add_argument("--files", type=_number(int, 1), default=4, help="files per entity")
    gen.add_argument("--manifest", default=None, help="write the generation manifest here (JSON)")

    imp = sub.add_parser("import", help="CSV export + mapping -> landing JSON lines (no run)")
    imp.add_argument("--mapping", required=True, help="mapping file (YAML or JSON; see mappings/)")
    imp.add_argument("--csv", dest="import_csv", required=True, help="the CSV export")
    imp.add_argument("--landing", required=True, help="landing folder the JSON lines go to")
    for command in sub.choices.values():  # errors come with the command's usage
        command.set_defaults(usage=command)
    return p


def check_options(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Exit 2 (argparse, the usage of ``a.command``) naming the flag when options do not fit
    together, before Spark starts."""
    if a.source == "kafka":
        given = [f for f, v in (("--import", a.import_csv), ("--landing", a.landing)) if v]
        if given:
            p.error(
                f"{' and '.join(given)}: not with --source kafka (the feed publishes to the "
                "broker; --import and --landing are for --source files)"
            )
    if a.duration == 0 and not (a.no_feed or a.import_csv or a.batches):
        p.error(
            "--duration 0 with the feed needs --batches (how many feed batches to land before "
            "processing them once), or --no-feed to process what is landed"
        )
    if a.mapping and not a.import_csv:
        p.error("--mapping: only with --import")
    if a.import_csv and not a.mapping:
        p.error("--import needs --mapping")


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``; flags without a command are ``run``'s (``scripts/run-local --rate 5``), and
    ``run --benchmark`` is ``bench`` (``scripts/run-local --benchmark``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help")):
        args.insert(0, "run")
    if args[0] == "run" and "--benchmark" in args:
        args = ["bench", *(x for x in args[1:] if x != "--benchmark")]
    parser = build_parser()
    a, unknown = parser.parse_known_args(args)
    if unknown:  # said with the command's own usage, which lists what it takes
        commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
        flags = {x.split("=", 1)[0] for x in unknown if x.startswith("-")}
        takes = [f"oms {c}" for c, p in commands.items() if flags & set(p._option_string_actions)]
        where = f" (taken by {' and '.join(takes)})" if takes else ""
        a.usage.error(f"unrecognized arguments: {' '.join(unknown)}{where}")
    if a.command in RUNS:
        check_options(a.usage, a)
    return a


def main(argv: Sequence[str] | None = None) -> int:
    a = parse(argv)
    # kill -USR1 <pid> prints every thread's stack (to the process's own stderr)
    faulthandler.register(signal.SIGUSR1, file=sys.__stderr__)
    if a.command in RUNS:
        return _live(a)
    if a.command == "once":
        return _once(a)
    if a.command == "generate":
        return _generate(a)
    if a.command == "import":
        return 0 if _import(a, a.landing, resume=False) else 2
    return _query(a)


def _import(a: argparse.Namespace, landing: str, *, resume: bool) -> Mapping | None:
    """Convert the export ``a.import_csv`` through ``a.mapping`` into ``landing`` and say what
    landed; the mapping, or None once the refusal is said ("Import refused: ...").

    A partly landed export (an import killed between its renames) is completed first; a
    corrected export under the same name lands as a new file (its digest differs). One that
    already landed is refused (``oms import``), or with ``resume`` processed as is (``oms run
    --import``).
    """
    from oms_pipeline import exports

    try:
        mapping = exports.load_mapping(a.mapping)
        counts = exports.convert_export(mapping, a.import_csv, landing)
    except exports.IMPORT_ERRORS as e:
        if not (resume and isinstance(e, exports.ExportAlreadyImported)):
            print(f"Import refused: {e}", file=sys.stderr)
            return None
        say(f"{a.import_csv} already landed in {landing}: resuming")
    else:
        if resume:
            say(f"Landed {counts}")
        else:
            print(json.dumps(counts, indent=2))
    return mapping


def _dashboards(host: str, port: int) -> DashboardServer | str:
    """The run's dashboard server, bound to ``host:port`` before Spark starts, or why it cannot
    be: a Power BI report they cannot draw (``queries.check_report``), a host that names no
    address of this machine, a port in use."""
    from oms_pipeline.live import pbip, queries
    from oms_pipeline.live.server import DashboardServer, Snapshot

    try:
        queries.check_report()
        return DashboardServer(Snapshot(), host, port)
    except pbip.PbipError as e:
        return f"Report refused: {e}"
    except OSError as e:  # socket.gaierror included: a name that resolves to no address
        if isinstance(e, socket.gaierror) or e.errno == errno.EADDRNOTAVAIL:
            return (
                f"--host {host}: cannot listen there ({e.strerror}); give a name or an IPv4 or "
                "IPv6 address of this machine, e.g. 127.0.0.1, ::1 or 0.0.0.0"
            )
        return (
            f"--port {port}: cannot listen on {host}:{port} ({e.strerror}); choose another "
            "port, or --port 0 for any free one"
        )


def _live(a: argparse.Namespace) -> int:
    """``oms run`` / ``oms bench``: the live run (feed, import or landed files)."""
    from oms_pipeline.live import benchmark

    server = None
    if a.command == "run":  # a report they cannot draw, a host or port they cannot listen on
        server = _dashboards(a.host, a.port)
        if isinstance(server, str):
            print(server, file=sys.stderr)
            return 2
    root = os.path.abspath(a.root)
    if a.command == "bench":
        root = os.path.join(root, "benchmark", time.strftime("%Y%m%d-%H%M%S", time.gmtime()))
    elif a.import_csv:
        root = os.path.join(root, "import", os.path.splitext(os.path.basename(a.import_csv))[0])
    opts = LiveOptions(
        landing=os.path.abspath(a.landing or os.path.join(root, "landing")),
        lakehouse=os.path.abspath(a.lakehouse or os.path.join(root, "lakehouse")),
        rate=a.rate,
        tick_s=a.tick,
        seed=a.seed,
        duration_s=a.duration,
        batches=a.batches,
        feed=not (a.no_feed or a.import_csv),
        trigger=a.trigger,
        status_every_s=a.status_every,
        settings=PipelineSettings(as_of_date=LIVE_AS_OF),
        profile=a.profile,
    )
    if a.import_csv:
        if (mapping := _import(a, opts.landing, resume=True)) is None:
            if server is not None:
                server.stop()
            return 2
        opts.settings = PipelineSettings(sla_days=mapping.sla_days)
        opts.entities = tuple(mapping.entities)
    after = None
    if a.command == "bench":  # the load averages before Spark starts, beside those at the end
        after = partial(benchmark.report, path=a.benchmarks_file, load_at_start=benchmark.load())
    kafka_root = root if a.source == "kafka" else None
    return start_and_run(opts, server=server, kafka_root=kafka_root, after=after)


def _once(a: argparse.Namespace) -> int:
    """``oms once``: the live runner's one-shot pass (no feed, no dashboards); prints the Gold
    refresh report as JSON, alone on stdout (the run's progress lines go to stderr)."""
    opts = LiveOptions(
        landing=os.path.abspath(a.landing),
        lakehouse=os.path.abspath(a.lakehouse),
        duration_s=0,
        feed=False,
        settings=PipelineSettings(as_of_date=a.as_of_date),
    )
    reports = []
    with contextlib.redirect_stdout(sys.stderr):
        code = start_and_run(opts, after=lambda run: reports.append(run.gold_report))
    if reports and reports[0] is not None:
        print(json.dumps(reports[0].__dict__, default=str))
    return code


def _generate(a: argparse.Namespace) -> int:
    from oms_pipeline.sources.factory import FeedConfig, generate

    try:
        manifest = generate(
            a.landing,
            FeedConfig(
                seed=a.seed,
                orders=a.orders,
                customers=a.customers,
                products=a.products,
                malformed_rate=a.malformed_rate,
                files_per_entity=a.files,
            ),
        )
    except FileExistsError as e:  # a landed file is never rewritten
        print(f"Generate refused: {e}", file=sys.stderr)
        return 2
    if a.manifest:
        manifest.write(a.manifest)
    print(json.dumps(manifest.summary(), indent=2))
    return 0


def register_views(spark: SparkSession, root: str) -> list[str]:
    """Expose every Delta table of the lakehouse folder ``root`` as ``layer.table``, and the Gold
    contract's views over them as ``gold.<view>`` (the DDL Unity Catalog gets)."""
    from delta.tables import DeltaTable

    from oms_pipeline.contracts.gold import VIEWS, view_inputs
    from oms_pipeline.io.tables import create_gold_views

    views = {f"gold.{v.name}" for v in VIEWS}
    names = []
    for layer in LAYERS:
        base = os.path.join(root, layer)
        if not os.path.isdir(base):
            continue
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
        for table in sorted(os.listdir(base)):
            path = os.path.join(base, table)
            # A view's folder is an aggregate an earlier version materialized: not read.
            if f"{layer}.{table}" in views or not DeltaTable.isDeltaTable(spark, path):
                continue
            spark.sql(f"CREATE TABLE IF NOT EXISTS {layer}.{table} USING DELTA LOCATION '{path}'")
            names.append(f"{layer}.{table}")
    if all(f"gold.{t}" in names for v in VIEWS for t in view_inputs(v)):
        names += create_gold_views(spark, lambda table: f"gold.{table}")
    return sorted(names)


# The commands ``oms sql`` runs besides queries: they read the catalog and change nothing.
READ_ONLY_COMMANDS = ("Show", "Describe", "Explain")


def changes_data(spark: SparkSession, text: str) -> str | None:
    """The kind of statement ``text`` is (Spark's plan node: ``DeleteFromTable``,
    ``InsertIntoStatement``, ``SetCommand``...) when it is not read-only, else None.

    From Spark's own parser, before anything runs: read-only is a query (a CTE's body too) or a
    SHOW, DESCRIBE or EXPLAIN command. A text that does not parse is left to ``spark.sql``,
    which refuses it with the parser's message.
    """
    try:
        plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(text)
    except Exception:  # a Py4J error carrying the ParseException
        return None
    while plan.getClass().getSimpleName() == "UnresolvedWith":
        plan = plan.child()
    kind = plan.getClass().getSimpleName()
    command = spark._jvm.java.lang.Class.forName(
        "org.apache.spark.sql.catalyst.plans.logical.Command",
        False,
        plan.getClass().getClassLoader(),
    )
    if kind == "InsertIntoStatement" or (
        command.isInstance(plan) and not kind.startswith(READ_ONLY_COMMANDS)
    ):
        return kind
    return None


def _query(a: argparse.Namespace) -> int:
    """``oms show`` / ``oms sql``: print a table or a query's result."""
    from pyspark.errors import PySparkException
    from pyspark.logger import PySparkLogger

    from oms_pipeline.session import local_session

    # A refused query is said once, as "Query refused: ..."; PySpark would first log it with its
    # whole plan and the JVM's stack trace.
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)

    root = os.path.abspath(a.lakehouse)
    if not any(os.path.isdir(os.path.join(root, layer)) for layer in LAYERS):
        print(
            f"No lakehouse at {root} (none of the folders {', '.join(LAYERS)}); run the "
            "pipeline first (scripts/run-local) or give --lakehouse",
            file=sys.stderr,
        )
        return 2
    spark = local_session(
        "oms-local", shuffle_partitions=2, warehouse_dir=os.path.join(root, "_warehouse")
    )
    tables = register_views(spark, root)
    if a.command == "show" and a.target not in tables:
        print(f"No table {a.target!r} in {root}; the tables: {', '.join(tables)}", file=sys.stderr)
        return 2
    try:
        if a.command == "sql" and (kind := changes_data(spark, a.target)):
            print(
                f"Query refused: oms sql only reads the lakehouse (queries, SHOW, DESCRIBE, "
                f"EXPLAIN); this statement is a {kind}, which is not read-only",
                file=sys.stderr,
            )
            return 2
        df = spark.table(a.target) if a.command == "show" else spark.sql(a.target)
        if a.format == "table":
            df.show(a.limit, truncate=False)
        for row in df.limit(a.limit).collect() if a.format == "json" else []:
            print(json.dumps(row.asDict(recursive=True), default=str))
    except PySparkException as e:  # parse, analysis and runtime errors: a message, no traceback
        print(f"Query refused: {e.getMessage()}", file=sys.stderr)
        return 2
    return 0
