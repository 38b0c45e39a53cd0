"""Job task: refresh Gold from Silver's change data feed; declare keys on Unity Catalog."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from oms_pipeline.jobs.common import (
    add_location_args,
    add_settings_args,
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from oms_pipeline.io.constraints import apply_gold_comments, apply_gold_constraints
    from oms_pipeline.pipeline.gold import refresh_gold

    spark = get_spark("oms-gold-refresh")
    loc = locator_from(args)
    report = refresh_gold(spark, loc, settings_from(args), full_refresh=args.full_refresh)
    print(json.dumps(report.__dict__, default=str))
    apply = args.apply_constraints == "on" or (
        args.apply_constraints == "auto" and loc.uses_catalog
    )
    if apply:
        if not loc.catalog:
            raise SystemExit("--apply-constraints on needs --catalog (Unity Catalog)")
        apply_gold_constraints(spark, loc.catalog)
        # Descriptions for analysts in Catalog Explorer and Power BI, from the same contract.
        apply_gold_comments(spark, loc.catalog)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
