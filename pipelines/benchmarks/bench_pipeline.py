"""Pipeline benchmark (not a test): events/s per layer and end to end, beside the raw JSON parse
floor over the same files, and the cost of the 1st vs the Nth equal incremental batch.

    python pipelines/benchmarks/bench_pipeline.py --orders 2000 --batches 10 --batch-orders 100
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import platform
import shutil
import tempfile
import time

from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.generator import GeneratorConfig, generate
from oms_pipeline.pipeline.bronze import run_bronze
from oms_pipeline.pipeline.gold import refresh_gold
from oms_pipeline.pipeline.silver import run_silver
from oms_pipeline.pipeline.streams import Trigger
from oms_pipeline.session import local_session

SETTINGS = PipelineSettings(as_of_date=dt.date(2025, 3, 1))


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def machine() -> dict:
    model = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    import pyspark

    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": model,
        "python": platform.python_version(),
        "pyspark": pyspark.__version__,
        "loadavg_at_start": os.getloadavg(),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--orders", type=int, default=2000)
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--batch-orders", type=int, default=100)
    p.add_argument("--workdir", default=None)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    a = p.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="oms-bench-")
    shutil.rmtree(work, ignore_errors=True)
    spark = local_session("oms-bench", shuffle_partitions=2)
    result: dict = {"machine": machine(), "orders": a.orders}

    loc = TableLocator(lakehouse_root=f"{work}/lh", landing_root=f"{work}/landing")
    m = generate(
        loc.landing_root,
        GeneratorConfig(seed=1, orders=a.orders, customers=max(50, a.orders // 10), products=200),
    )
    events = sum(m.lines_written.values())
    result["events"] = events
    files = glob.glob(f"{loc.landing_root}/*/*.jsonl")
    spark.read.json(files).count()  # warm the JVM once so the floor is not start-up time
    result["parse_floor_s"] = _timed(lambda: spark.read.json(files).count())
    once = Trigger(available_now=True)
    result["bronze_s"] = _timed(
        lambda: run_bronze(spark, loc, list(ENTITIES), once, use_autoloader=False)
    )
    result["silver_s"] = _timed(lambda: run_silver(spark, loc, SETTINGS, list(ENTITIES), once))
    result["gold_s"] = _timed(lambda: refresh_gold(spark, loc, SETTINGS))
    result["end_to_end_s"] = result["bronze_s"] + result["silver_s"] + result["gold_s"]
    for k in ("parse_floor", "bronze", "silver", "gold", "end_to_end"):
        result[f"{k}_events_per_s"] = round(events / result[f"{k}_s"], 1)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}), flush=True)

    batches = []
    for b in range(a.batches):
        mb = generate(
            loc.landing_root,
            GeneratorConfig(
                seed=100 + b,
                orders=a.batch_orders,
                customers=50,
                products=200,
                id_prefix=f"B{b:02d}-",
            ),
        )
        ev = sum(mb.lines_written.values())
        t = {"batch": b + 1, "events": ev}
        t["bronze_s"] = _timed(
            lambda: run_bronze(spark, loc, list(ENTITIES), once, use_autoloader=False)
        )
        t["silver_s"] = _timed(lambda: run_silver(spark, loc, SETTINGS, list(ENTITIES), once))
        t["gold_s"] = _timed(lambda: refresh_gold(spark, loc, SETTINGS))
        t["total_s"] = t["bronze_s"] + t["silver_s"] + t["gold_s"]
        batches.append(t)
        print(json.dumps(t), flush=True)
    result["incremental_batches"] = batches
    result["machine"]["loadavg_at_end"] = os.getloadavg()
    print(json.dumps(result, indent=1, default=str))
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(result, fh, indent=1, default=str)
    spark.stop()


if __name__ == "__main__":
    main()
