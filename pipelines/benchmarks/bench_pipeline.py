"""Pipeline benchmark (not a test): events/s per layer and end to end, beside the raw JSON parse
floor over the same files, and the cost of the 1st vs the Nth equal incremental batch.

    python pipelines/benchmarks/bench_pipeline.py --orders 106000 --batches 10 --batch-orders 100

(106,000 orders land about 1,000,000 events.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile

from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.live.benchmark import load, machine, machine_table, parse_floor, timed
from oms_pipeline.pipeline.gold import refresh_gold
from oms_pipeline.pipeline.ingest import run_ingest
from oms_pipeline.pipeline.streams import Trigger
from oms_pipeline.session import local_session
from oms_pipeline.sources.factory import FeedConfig, generate

SETTINGS = PipelineSettings(as_of_date=dt.date(2025, 3, 1))


def _land_and_process(spark, loc: TableLocator, feed: FeedConfig, *, floor: bool) -> dict:
    """Land ``feed``'s events, then time the ingest (bronze and silver, availableNow over what is
    new) and the Gold refresh; with ``floor``, first the raw parse floor of every landed file."""
    result: dict = {"events": sum(generate(loc.landing_root, feed).lines_written.values())}
    if floor:
        parse_floor(spark, loc.landing_root)  # warm the JVM once so the floor is not start-up time
        result["parse_floor_s"] = parse_floor(spark, loc.landing_root)["seconds"]
    once = Trigger(available_now=True)
    result["ingest_s"] = timed(lambda: run_ingest(spark, loc, SETTINGS, list(ENTITIES), once))[1]
    result["gold_s"] = timed(lambda: refresh_gold(spark, loc, SETTINGS))[1]
    result["end_to_end_s"] = result["ingest_s"] + result["gold_s"]
    for k in ("parse_floor", "ingest", "gold", "end_to_end") if floor else ():
        result[f"{k}_events_per_s"] = round(result["events"] / result[f"{k}_s"], 1)
    print(json.dumps(result), flush=True)
    return result


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
    load_at_start = load()
    loc = TableLocator(lakehouse_root=f"{work}/lh", landing_root=f"{work}/landing")
    initial = FeedConfig(seed=1, orders=a.orders, customers=max(50, a.orders // 10), products=200)
    result = {"orders": a.orders} | _land_and_process(spark, loc, initial, floor=True)
    batches = result["incremental_batches"] = []
    for b in range(a.batches):
        ids = {"seed": 100 + b, "id_prefix": f"B{b:02d}-"}  # new orders, their own ids
        feed = FeedConfig(orders=a.batch_orders, customers=50, products=200, **ids)
        batches.append({"batch": b + 1} | _land_and_process(spark, loc, feed, floor=False))
    result["machine"] = machine(load_at_start)
    print(json.dumps(result, indent=1, default=str))
    print("\n".join(machine_table(result["machine"])))  # the machine block of BENCHMARKS.md
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(result, fh, indent=1, default=str)
    spark.stop()


if __name__ == "__main__":
    main()
