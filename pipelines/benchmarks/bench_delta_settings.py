"""Delta settings benchmark (not a test): seconds and Spark jobs of one small MERGE and one small
append into a 50,000-row Delta table, under each session setting or table property tried.

    python pipelines/benchmarks/bench_delta_settings.py            # every variant, one per process

Each variant runs in its own Spark process (a setting must be in place before the session
starts); each does 12 MERGEs of 1,000 rows (half of them updates) and 12 appends of the same
rows, and reports the mean of the last 8 (the first ones pay for class loading and planning).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time

# (label, session settings, table properties): the levers a local run could pull.
VARIANTS: list[tuple[str, dict[str, str], dict[str, str]]] = [
    ("defaults of the local session", {}, {}),
    ("adaptive query execution off", {"spark.sql.adaptive.enabled": "false"}, {}),
    (
        "MERGE source not materialized",
        {"spark.databricks.delta.merge.materializeSource": "none"},
        {},
    ),
    ("no file statistics", {"spark.databricks.delta.stats.collect": "false"}, {}),
    ("deletion vectors", {}, {"delta.enableDeletionVectors": "true"}),
]
ROUNDS, WARM = 12, 4


def measure(conf: dict[str, str], props: dict[str, str]) -> dict[str, float]:
    """Mean seconds and Spark jobs per MERGE and per append (after ``WARM`` rounds)."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from oms_pipeline.session import local_session

    spark = local_session("oms-bench-delta", conf=conf)
    spark.sparkContext.setLogLevel("ERROR")
    tracker = spark.sparkContext._jsc.sc().statusTracker()  # jobs of this thread (no job group)

    def jobs() -> int:
        return len(tracker.getJobIdsForGroup(None))

    def rows(start: int, n: int, tag: str):
        ids = spark.range(start, start + n)
        return ids.select(
            F.col("id").cast("string").alias("k"),
            (F.col("id") % 97).alias("v"),
            F.lit(tag).alias("s"),
        )

    root = tempfile.mkdtemp(prefix="oms-bench-delta-")
    writer = rows(0, 50_000, "x" * 20).write.format("delta")
    for key, value in props.items():
        writer = writer.option(key, value)
    writer.save(f"{root}/t")
    table = DeltaTable.forPath(spark, f"{root}/t")
    merges, appends = [], []
    for i in range(ROUNDS):
        src = rows(i * 500, 1_000, f"y{i}").localCheckpoint()
        j0, t0 = jobs(), time.perf_counter()
        table.alias("t").merge(
            src.alias("s"), "t.k = s.k"
        ).whenMatchedUpdateAll().whenNotMatchedInsertAll().execute()
        j1, t1 = jobs(), time.perf_counter()
        src.write.format("delta").mode("append").save(f"{root}/a")
        merges.append((t1 - t0, j1 - j0))
        appends.append((time.perf_counter() - t1, jobs() - j1))
    spark.stop()

    def mean(xs: list[tuple[float, int]], i: int) -> float:
        return round(sum(x[i] for x in xs[WARM:]) / (ROUNDS - WARM), 2)

    return {
        "merge_s": mean(merges, 0),
        "merge_jobs": mean(merges, 1),
        "append_s": mean(appends, 0),
        "append_jobs": mean(appends, 1),
    }


def main() -> None:
    if len(sys.argv) > 1:  # one variant, in this process
        conf, props = json.loads(sys.argv[1]), json.loads(sys.argv[2])
        print(json.dumps(measure(conf, props)), flush=True)
        return
    print("| setting | MERGE s | MERGE Spark jobs | append s | append Spark jobs |")
    print("|---|---:|---:|---:|---:|")
    for label, conf, props in VARIANTS:
        out = (
            subprocess.run(
                [sys.executable, __file__, json.dumps(conf), json.dumps(props)],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        r = json.loads(out)
        print(
            f"| {label} | {r['merge_s']} | {r['merge_jobs']:g} | {r['append_s']} | {r['append_jobs']:g} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
