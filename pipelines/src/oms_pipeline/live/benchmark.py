"""Benchmark figures: the machine, the raw parse floor, and the BENCHMARKS.md section (I/O)."""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import os
import platform
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def markers(source: str) -> tuple[str, str]:
    """The BENCHMARKS.md markers of a source's block: each source keeps its own figures."""
    tag = "" if source == "files" else f" ({source})"
    return f"<!-- run-local benchmark{tag}: begin -->", f"<!-- run-local benchmark{tag}: end -->"


def load() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine(load_at_start: str) -> dict[str, Any]:
    """The machine a figure was measured on, as every BENCHMARKS.md block shows it
    (:func:`machine_table`): CPU model, ``nproc``, memory in GiB, Python, PySpark and
    delta-spark versions, and the load averages at the start (``load_at_start``, from
    :func:`load`) and now, at the end."""
    from importlib.metadata import version

    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "pyspark": version("pyspark"),
        "delta_spark": version("delta-spark"),
        "load": {"start": load_at_start, "end": load()},
    }


def machine_table(m: dict[str, Any]) -> list[str]:
    """The Markdown table of :func:`machine`'s description."""
    return [
        "| Machine | Value |",
        "| --- | --- |",
        f"| CPU | {m['cpu']} |",
        f"| nproc | {m['nproc']} |",
        f"| Memory | {m['memory_gib']} GiB |",
        f"| Python, PySpark, delta-spark | {m['python']}, {m['pyspark']}, {m['delta_spark']} |",
        f"| Load average (1, 5, 15 min) | {m['load']['start']} at start, "
        f"{m['load']['end']} at end |",
    ]


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and the seconds it took (wall clock)."""
    started = time.perf_counter()
    return fn(), time.perf_counter() - started


def parse_floor(spark: SparkSession, landing: str) -> dict[str, float]:
    """Time ``spark.read.json(files).count()`` over every landed file (the raw parse floor)."""
    files = sorted(glob.glob(os.path.join(landing, "*", "*.jsonl")))
    if not files:
        return {"files": 0, "rows": 0, "seconds": 0.0, "rows_per_s": 0.0}
    rows, secs = timed(lambda: spark.read.json(files).count())
    return {"files": len(files), "rows": rows, "seconds": secs, "rows_per_s": rows / secs}


def parse_floor_events(
    spark: SparkSession, bootstrap_servers: str, topics: Sequence[str]
) -> dict[str, float]:
    """Time reading every record of ``topics`` from the broker and parsing each value as JSON
    (``from_json`` to a string map; one Spark job): the raw parse floor of the events path."""
    df = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap_servers)
        .option("subscribe", ",".join(topics))
        .option("startingOffsets", "earliest")
        .load()
    )
    parsed = df.select(F.from_json(F.col("value").cast("string"), "map<string,string>").alias("v"))
    rows, secs = timed(lambda: parsed.agg(F.count("*"), F.count("v")).first()[0])
    return {"files": 0, "rows": rows, "seconds": secs, "rows_per_s": rows / secs if secs else 0.0}


def _f(v: float | None, fmt: str = "{:.1f} s") -> str:
    return "n/a" if v is None else fmt.format(v)


# The protocol: what a run must offer for its p95 to be judged against the target.
TARGET_RATE, TARGET_DURATION_S, TARGET_P95_S = 1000.0, 600.0, 15.0


def verdict(rate: float, duration_s: float, p95_s: float | None) -> str:
    """The target line of a run: met or not at the protocol's load, else not judged."""
    if rate < TARGET_RATE or duration_s < TARGET_DURATION_S:
        return "not judged by this run (its load is below the protocol's)"
    return (
        "met in this run" if p95_s is not None and p95_s <= TARGET_P95_S else "not met in this run"
    )


def render(result: dict[str, Any]) -> str:
    m, fr, fl = result["machine"], result["freshness"], result["parse_floor"]
    source = result.get("source", "files")
    begin, end = markers(source)
    events = source == "kafka"
    # What landed (or was published) is what the parse floor read: every line, duplicates and
    # malformed ones included.
    rate = f"{fl['rows']} events {'published' if events else 'landed'} = " + (
        f"{fl['rows'] / result['duration_s']:.0f} events/s"
    )
    if events:
        title, start = "## Local run over Kafka: broker → Gold freshness", "broker"
        landed = f"{rate}, to one topic per entity every {result['tick_s']:g} s"
        floor = "Raw parse floor: Kafka batch read + `from_json(value)`"
    else:
        title, start = "## Local run: landing → Gold freshness", "landing"
        landed = f"{rate}, in {fl['files']} files, one per entity every {result['tick_s']:g} s"
        floor = "Raw parse floor: `spark.read.json(...).count()`"
    how = (
        "Freshness is measured per landing unit, a landed file or the records of one topic "
        "partition sharing a broker timestamp (the local topics record the broker's append "
        "time): from its landing time (bronze `_landed_at`) to the end of the first Gold refresh "
        "that started after the silver micro-batch holding it committed. Throughput counts every "
        "event landed (duplicates and malformed ones included) between the first landing and the "
        "last Gold refresh."
    )
    profile = []  # the profile's table (oms bench --profile), after a blank line
    if result.get("profile") is not None:
        from oms_pipeline.live.profile import render as render_profile

        profile = ["", *render_profile(result["profile"], result["gold_steps"], m["nproc"])]
    return "\n".join(
        [
            begin,
            f"{title} (`{result['command'].split(' --rate')[0]}`)",
            "",
            f"Run ended {result['measured_at']} (`{result['command']}`).",
            "",
            *machine_table(m),
            "",
            "| Figure | Value |",
            "| --- | --- |",
            f"| Offered rate | {result['rate']:.0f} events/s for {result['duration_s']:.0f} s "
            f"({landed}; trigger {result['trigger']}) |",
            f"| Freshness p50 ({start} → Gold) | {_f(fr['p50_s'])} |",
            f"| Freshness p95 | {_f(fr['p95_s'])} |",
            f"| Freshness max | {_f(fr['max_s'])} |",
            f"| Throughput (events reflected in Gold / s) | {_f(result['throughput'], '{:.0f}')} |",
            f"| Gold refreshes | {result['gold_refreshes']} (mean {_f(result['gold_mean_s'])}) |",
            f"| {floor} | {fl['rows']} rows in "
            f"{fl['seconds']:.1f} s = {fl['rows_per_s']:.0f} rows/s |",
            "",
            f"{how} The dashboard server and its queries are off during the benchmark.",
            "",
            "Target: p95 ≤ 15 s at 1,000 events/s for 600 s on 2 cores — "
            f"{verdict(result['rate'], result['duration_s'], fr['p95_s'])}.",
            *profile,
            end,
        ]
    )


def write_benchmarks(path: str, result: dict[str, Any]) -> None:
    """Replace (or append) the run-local section of ``result["source"]`` in BENCHMARKS.md,
    leaving the rest (the other source's section included) as is."""
    section = render(result)
    begin, end = markers(result.get("source", "files"))
    text = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    if begin in text and end in text:
        text = re.sub(
            re.escape(begin) + r".*?" + re.escape(end), lambda _m: section, text, flags=re.S
        )
    else:
        if not text:
            text = "# Benchmarks\n"
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.rstrip("\n") + "\n")


def report(run: Any, *, path: str, load_at_start: str) -> None:
    """Write the figures of a finished benchmark ``run`` (a ``LiveRun``, its Spark still up) to
    ``path`` (BENCHMARKS.md, the block of its source), beside the raw parse floor of the same
    events (from the run's broker when it read Kafka, else from the landing files), under the
    ``scripts/run-local`` command that repeats the run."""
    from oms_pipeline.live.runner import say

    if not run.drained:  # stopped before its end: its figures would replace real ones
        say(f"Benchmark stopped before the end of its run: nothing written to {path}")
        return
    o, servers = run.opts, run.opts.kafka_bootstrap_servers
    flags = f"{' --source kafka' if servers else ''}{' --profile' if o.profile else ''}"
    fr = run.tracker.summary()
    refl = run.tracker.reflected
    first = min((r.landed_at for r in refl), default=0.0)
    last = max((r.gold_at for r in refl), default=0.0)
    rows = sum(r.rows for r in refl)
    if servers:
        floor = parse_floor_events(run.spark, servers, o.entities)
    else:
        floor = parse_floor(run.spark, o.landing)
    result = {
        "measured_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "source": "kafka" if servers else "files",
        "command": f"scripts/run-local --benchmark{flags} --rate {o.rate:g} "
        f"--duration {o.duration_s:g}",
        "machine": machine(load_at_start),
        "rate": o.rate,
        "duration_s": o.duration_s,
        "tick_s": o.tick_s,
        "trigger": o.trigger,
        "freshness": fr,
        "throughput": rows / (last - first) if last > first else None,
        "gold_refreshes": len(run.gold_times),
        "gold_mean_s": sum(run.gold_times) / len(run.gold_times) if run.gold_times else None,
        "parse_floor": floor,
    }
    if o.profile:
        result["profile"] = run.profiler.result()
        result["gold_steps"] = run.profiler.gold_steps
    write_benchmarks(path, result)
    say(
        f"Benchmark: p50 {fr['p50_s']} s, p95 {fr['p95_s']} s, throughput "
        f"{result['throughput']} ev/s, parse floor {floor['rows_per_s']:.0f} rows/s -> {path}"
    )
