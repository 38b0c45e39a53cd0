"""Benchmark figures: the machine, the raw parse floor, and the BENCHMARKS.md section (I/O)."""

from __future__ import annotations

import datetime as dt
import glob
import os
import platform
import re
import time
from typing import Any

from pyspark.sql import SparkSession

BEGIN = "<!-- run-local benchmark: begin -->"
END = "<!-- run-local benchmark: end -->"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {"nproc": os.cpu_count(), "memory_gb": round(mem_gb, 1), "cpu": cpu}


def parse_floor(spark: SparkSession, landing: str) -> dict[str, float]:
    """Time ``spark.read.json(files).count()`` over every landed file (the raw parse floor)."""
    files = sorted(glob.glob(os.path.join(landing, "*", "*.jsonl")))
    if not files:
        return {"files": 0, "rows": 0, "seconds": 0.0, "rows_per_s": 0.0}
    started = time.monotonic()
    rows = spark.read.json(files).count()
    secs = time.monotonic() - started
    return {"files": len(files), "rows": rows, "seconds": secs, "rows_per_s": rows / secs}


def _f(v: float | None, fmt: str = "{:.1f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def render(result: dict[str, Any]) -> str:
    m, fr, fl = result["machine"], result["freshness"], result["parse_floor"]
    return "\n".join(
        [
            BEGIN,
            "## Local run: landing → Gold freshness (`scripts/run-local --benchmark`)",
            "",
            f"Measured {result['measured_at']} with `{result['command']}`.",
            "",
            "| Machine | Value |",
            "| --- | --- |",
            f"| CPU | {m['cpu']} |",
            f"| nproc | {m['nproc']} |",
            f"| Memory | {m['memory_gb']} GiB |",
            "",
            "| Figure | Value |",
            "| --- | --- |",
            f"| Offered rate | {result['rate']:.0f} events/s for {result['duration_s']:.0f} s "
            f"({result['events']} events landed = "
            f"{result['events'] / result['duration_s']:.0f} events/s, in {result['files']} files; trigger "
            f"{result['trigger']}, one file per entity every {result['tick_s']:g} s) |",
            f"| Freshness p50 (landing → Gold) | {_f(fr['p50_s'])} s |",
            f"| Freshness p95 | {_f(fr['p95_s'])} s |",
            f"| Freshness max | {_f(fr['max_s'])} s |",
            f"| Throughput (events reflected in Gold / s) | {_f(result['throughput'], '{:.0f}')} |",
            f"| Gold refreshes | {result['gold_refreshes']} (mean {_f(result['gold_mean_s'])} s) |",
            f"| Raw parse floor: `spark.read.json(...).count()` | {fl['rows']} rows in "
            f"{fl['seconds']:.1f} s = {fl['rows_per_s']:.0f} rows/s |",
            "",
            "Freshness is measured per landed file: from the file's write time to the end of the "
            "first Gold refresh that started after the silver micro-batch holding its rows "
            "committed. Throughput counts every landed line (duplicates and malformed lines "
            "included) between the first file landing and the last Gold refresh. The dashboard "
            "server and its queries are off during the benchmark.",
            "",
            f"Target: p95 ≤ 15 s at 1,000 events/s on 2 cores — "
            f"{'met' if fr['p95_s'] is not None and fr['p95_s'] <= 15 else 'not met'} "
            "in this run.",
            END,
        ]
    )


def write_benchmarks(path: str, result: dict[str, Any]) -> None:
    """Replace (or append) the run-local section of BENCHMARKS.md, leaving the rest as is."""
    section = render(result)
    text = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    if BEGIN in text and END in text:
        text = re.sub(
            re.escape(BEGIN) + r".*?" + re.escape(END), lambda _m: section, text, flags=re.S
        )
    else:
        if not text:
            text = "# Benchmarks\n"
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.rstrip("\n") + "\n")


def stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
