"""Options shared by every job entry point."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from oms_pipeline.config import DEFAULT_SLA_DAYS, PipelineSettings, TableLocator
from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.pipeline.streams import Trigger


def add_location_args(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--catalog",
        help="Unity Catalog catalog of the stack (e.g. oms_dev): tables catalog.layer.table",
    )
    where.add_argument(
        "--lakehouse-root", help="local folder of Delta path tables <root>/<layer>/<table>"
    )
    parser.add_argument(
        "--landing-root",
        help="folder holding one sub-folder per entity (default: /Volumes/<catalog>/ops/landing "
        "or <lakehouse-root>/_landing)",
    )
    parser.add_argument(
        "--checkpoint-root",
        help="stream checkpoints (default: /Volumes/<catalog>/ops/checkpoints or "
        "<lakehouse-root>/_checkpoints)",
    )


def add_trigger_args(parser: argparse.ArgumentParser, *, files: bool = True) -> None:
    """``--trigger`` and ``--processing-time``; with ``files``, ``--max-files-per-trigger``."""
    parser.add_argument(
        "--trigger",
        choices=("availableNow", "processingTime"),
        default="availableNow",
        help="availableNow: process what is there and stop; processingTime: run continuously",
    )
    parser.add_argument(
        "--processing-time", default="30 seconds", help="interval for --trigger processingTime"
    )
    if not files:
        return
    parser.add_argument(
        "--max-files-per-trigger", type=int, default=None, help="cap files per micro-batch"
    )


def add_entity_arg(parser: argparse.ArgumentParser, *, multiple: bool) -> None:
    if multiple:
        parser.add_argument(
            "--entity",
            action="append",
            choices=ENTITIES,
            help="entity to process; repeat for several (default: all)",
        )
    else:
        parser.add_argument("--entity", required=True, choices=ENTITIES, help="entity to process")


def iso_date(text: str) -> dt.date:
    """An argparse type: a calendar date ``YYYY-MM-DD``; anything else exits 2 saying so."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a date YYYY-MM-DD") from None


def add_settings_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of-date",
        type=iso_date,
        default=None,
        help="fixed as-of date (YYYY-MM-DD) for RFM and days of cover; default: latest order date",
    )
    parser.add_argument(
        "--sla-days",
        type=json.loads,
        default=None,
        help='JSON object service level -> days from order to ship, e.g. {"Express": 1}',
    )
    parser.add_argument("--trailing-sales-days", type=int, default=28)
    parser.add_argument("--low-stock-days", type=float, default=7.0)


def locator_from(args: argparse.Namespace) -> TableLocator:
    return TableLocator(
        catalog=args.catalog,
        lakehouse_root=args.lakehouse_root,
        landing_root=args.landing_root,
        checkpoint_root=args.checkpoint_root,
    )


def trigger_from(args: argparse.Namespace) -> Trigger:
    return Trigger(
        available_now=args.trigger == "availableNow", processing_time=args.processing_time
    )


def settings_from(args: argparse.Namespace) -> PipelineSettings:
    sla = dict(DEFAULT_SLA_DAYS)
    if getattr(args, "sla_days", None):
        sla.update({str(k): int(v) for k, v in args.sla_days.items()})
    return PipelineSettings(
        as_of_date=getattr(args, "as_of_date", None),
        sla_days=sla,
        trailing_sales_days=getattr(args, "trailing_sales_days", 28),
        low_stock_days_of_cover=getattr(args, "low_stock_days", 7.0),
    )
