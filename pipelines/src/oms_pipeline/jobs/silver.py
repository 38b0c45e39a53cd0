"""Job task: bronze -> silver for one entity (validation, quarantine, dedupe, guarded MERGE)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from oms_pipeline.jobs.common import (
    add_entity_arg,
    add_location_args,
    add_trigger_args,
    locator_from,
    settings_from,
    trigger_from,
)
from oms_pipeline.session import get_spark


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oms-silver", description=__doc__)
    add_location_args(p)
    add_entity_arg(p, multiple=False)
    add_trigger_args(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from oms_pipeline.pipeline.silver import run_silver

    spark = get_spark("oms-silver")
    run_silver(
        spark,
        locator_from(args),
        settings_from(args),
        [args.entity],
        trigger_from(args),
        max_files_per_trigger=args.max_files_per_trigger,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
