"""Job task: refresh Gold from Silver's change data feed; on Unity Catalog, create the Gold views
and declare keys and comments.

``--trigger availableNow`` (the default) refreshes once and ends: a triggered job run.
``--trigger processingTime --processing-time '10 seconds'`` keeps refreshing on a fixed interval,
like a Structured Streaming processing-time trigger ("Configure Structured Streaming trigger
intervals"): a refresh starts at each interval boundary, or at once when the previous one overran
it. It runs as a task of the always-on ingestion job, on the job cluster the streams already hold,
so no refresh waits for a trigger or for compute to start. A failed refresh ends the task with its
error; the continuous job's task retry restarts it.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Sequence

from oms_pipeline.jobs.common import (
    add_location_args,
    add_settings_args,
    add_trigger_args,
    locator_from,
    settings_from,
)
from oms_pipeline.session import get_spark


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oms-gold-refresh", description=__doc__)
    add_location_args(p)
    add_settings_args(p)
    p.add_argument(
        "--full-refresh", action="store_true", help="recompute every Gold table from Silver"
    )
    p.add_argument(
        "--apply-constraints",
        choices=("auto", "on", "off"),
        default="auto",
        help="declare PRIMARY/FOREIGN KEYs (auto: only with --catalog, i.e. Unity Catalog)",
    )
    # availableNow: refresh once and stop; processingTime: refresh every interval, forever.
    add_trigger_args(p, files=False)
    p.add_argument(
        "--max-refreshes",
        type=int,
        default=None,
        help="with --trigger processingTime: stop after this many refreshes (default: never)",
    )
    return p


def interval_seconds(text: str) -> float:
    """Seconds in a processing-time interval: ``'<n> second(s)|minute(s)'``, n > 0.

    Raises ``argparse.ArgumentTypeError`` naming the value and the accepted form.
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(second|minute)s?\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"not a processing-time interval: {text!r}; expected '<n> seconds' or '<n> minutes'"
        )
    return float(m.group(1)) * (60 if m.group(2) == "minute" else 1)


def run_every(
    interval_s: float,
    step: Callable[[], None],
    *,
    max_runs: int | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """Calls ``step`` at fixed-interval boundaries ``t0, t0 + interval_s, ...`` (seconds).

    Like a processing-time micro-batch trigger: when a step overruns its interval the next one
    starts at once, and boundaries it overran are skipped rather than run back to back. Stops
    after ``max_runs`` steps (never when None); an exception from ``step`` propagates. Returns
    the number of steps run. ``clock`` and ``sleep`` default to ``time.monotonic`` and
    ``time.sleep``.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    start = clock()
    runs = 0
    while max_runs is None or runs < max_runs:
        step()
        runs += 1
        if max_runs is not None and runs >= max_runs:
            break
        now = clock()
        next_boundary = start + (int((now - start) // interval_s) + 1) * interval_s
        sleep(next_boundary - now)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        interval_s = interval_seconds(args.processing_time)
    except argparse.ArgumentTypeError as e:
        parser.error(f"--processing-time: {e}")
    from oms_pipeline.io.constraints import (
        apply_gold_comments,
        apply_gold_constraints,
        apply_gold_views,
    )
    from oms_pipeline.pipeline.freshness_log import prepare_freshness_log, record_refresh
    from oms_pipeline.pipeline.gold import refresh_gold

    spark = get_spark("oms-gold-refresh")
    loc = locator_from(args)
    settings = settings_from(args)
    apply = args.apply_constraints == "on" or (
        args.apply_constraints == "auto" and loc.uses_catalog
    )
    if apply and not loc.catalog:
        raise SystemExit("--apply-constraints on needs --catalog (Unity Catalog)")
    prepare_freshness_log(spark, loc)  # once: each refresh below only appends its row
    # Keys and comments are declared once per refresh that could have created a table: after
    # the first refresh (or a full one), not on every tick of the loop.
    first = True

    def refresh_once() -> None:
        nonlocal first
        report = refresh_gold(spark, loc, settings, full_refresh=args.full_refresh and first)
        # The landing -> Gold lag of what this refresh published (ops freshness log).
        freshness = record_refresh(spark, loc, report)
        print(json.dumps(report.__dict__ | {"freshness": freshness}, default=str), flush=True)
        if loc.uses_catalog and (first or report.full):
            # The daily aggregates: views the SQL warehouse computes at query time.
            apply_gold_views(spark, loc)
        if apply and (first or report.full):
            apply_gold_constraints(spark, loc.catalog)
            # Descriptions for analysts in Catalog Explorer and Power BI, from the same contract.
            apply_gold_comments(spark, loc.catalog)
        first = False

    if args.trigger == "availableNow":
        refresh_once()
    else:
        run_every(interval_s, refresh_once, max_runs=args.max_refreshes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
