"""Job task: refresh the Power BI model's imported (Dual) dimensions when they changed.

The model's facts are DirectQuery; its Dual dimensions hold an import copy only a refresh renews.
Each run:

1. compares the Gold dimensions with what the last successful refresh imported
   (``oms_pipeline.pipeline.powerbi_dimensions``); nothing changed -> no refresh;
2. signs in as the publisher Entra application (client credentials; the secret comes from a
   Databricks secret scope) and asks the service whether the workspace is on a capacity;
3. on shared capacity, stays within ``--daily-budget`` refreshes in any 24 hours (the service
   allows eight a day, scheduled and API ones together: "Datasets - Refresh Dataset In Group"),
   counted from the model's own refresh history, so deploy-time refreshes count too; over budget
   -> no refresh (the next run tries again: the watermark has not moved);
4. requests the refresh: on a capacity an enhanced refresh of the changed dimension tables only,
   on shared capacity the standard one (the only kind it allows);
5. polls it until it ends, for at most ``--refresh-timeout-seconds`` of monotonic time in all
   (status calls and their retries included); a failure fails the task with the service's
   reason, a success records the imported dimension versions in the watermark.

An answer of a shape the client does not expect, like every failed call, ends the task with
``oms-powerbi-refresh: <what failed>`` and exit code 1.

Prints one JSON line: ``{"status": "refreshed" | "skipped", "reason", "tables", ...}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from oms_pipeline.io.powerbi_api import (
    DEFAULT_API_BASE_URL,
    DEFAULT_AUTHORITY,
    SHARED_CAPACITY_DAILY_REFRESHES,
    Limits,
    PowerBiClient,
    PowerBiError,
    get_token,
    read_secret,
    refresh_request,
)
from oms_pipeline.jobs.common import add_location_args, locator_from

SECRET_ENV = "OMS_POWERBI_CLIENT_SECRET"
DAY = dt.timedelta(hours=24)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oms-powerbi-refresh", description=__doc__)
    add_location_args(p)
    p.add_argument("--workspace-id", required=True, help="Power BI / Fabric workspace id")
    p.add_argument("--dataset-id", required=True, help="semantic model (dataset) id")
    p.add_argument("--tenant-id", required=True, help="Entra tenant of the publisher application")
    p.add_argument("--client-id", required=True, help="application id of the publisher")
    p.add_argument("--secret-scope", help="Databricks secret scope holding the client secret")
    p.add_argument("--secret-key", help="key of the client secret in --secret-scope")
    p.add_argument(
        "--client-secret-env",
        default=SECRET_ENV,
        help=f"environment variable read when no secret scope is available (default {SECRET_ENV})",
    )
    p.add_argument(
        "--token-url",
        help="OAuth token endpoint (default: the tenant's Entra v2.0 token endpoint)",
    )
    p.add_argument("--api-base-url", default=DEFAULT_API_BASE_URL, help="Power BI REST API root")
    p.add_argument(
        "--daily-budget",
        type=int,
        default=SHARED_CAPACITY_DAILY_REFRESHES,
        help="on shared capacity: most refreshes of the model in any 24 hours, all kinds "
        f"counted (1-{SHARED_CAPACITY_DAILY_REFRESHES}; default {SHARED_CAPACITY_DAILY_REFRESHES})",
    )
    p.add_argument("--poll-seconds", type=float, default=15.0, help="seconds between polls")
    p.add_argument(
        "--refresh-timeout-seconds",
        type=float,
        default=480.0,
        help="fail when the refresh has no outcome this long after polling starts, status "
        "calls and their retries included (default 480, within the job task's 600 s timeout)",
    )
    p.add_argument("--max-attempts", type=int, default=5, help="attempts per call (429/5xx)")
    p.add_argument("--max-wait-seconds", type=float, default=60.0, help="cap on one Retry-After")
    p.add_argument("--timeout-seconds", type=float, default=30.0, help="timeout of one request")
    return p


def _parse_time(value: Any) -> dt.datetime | None:
    """A history ``startTime`` ("2024-01-02T03:04:05.67Z", or without zone: UTC) as aware UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def refreshes_in_last_day(history: Sequence[dict[str, Any]], now: dt.datetime) -> int:
    """Refreshes of any kind that started in the 24 hours before ``now``.

    A rolling window is at least as strict as any calendar day the service may count by. An
    entry without a readable start time counts (it may be one that is starting).
    """
    since = now - DAY
    return sum(1 for r in history if (t := _parse_time(r.get("startTime"))) is None or t > since)


def _validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.max_attempts < 1:
        parser.error("--max-attempts must be at least 1")
    if not 1 <= args.daily_budget <= SHARED_CAPACITY_DAILY_REFRESHES:
        parser.error(
            f"--daily-budget {args.daily_budget}: allowed 1 to {SHARED_CAPACITY_DAILY_REFRESHES}, "
            "the refreshes a model on shared capacity may start per day "
            '("Datasets - Refresh Dataset In Group")'
        )
    if args.poll_seconds <= 0 or args.refresh_timeout_seconds <= 0:
        parser.error("--poll-seconds and --refresh-timeout-seconds must be positive")


def main(
    argv: Sequence[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    clock: Callable[[], float] = time.monotonic,
) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _validate(parser, args)
    from oms_pipeline.pipeline import powerbi_dimensions as dims
    from oms_pipeline.session import get_spark

    spark = get_spark("oms-powerbi-refresh")
    loc = locator_from(args)
    report: dict[str, Any] = {"workspaceId": args.workspace_id, "datasetId": args.dataset_id}

    last = dims.read_watermark(spark, loc)
    current = dims.current_state(spark, loc, last)
    changed = dims.changed_tables(current, last)
    if not changed:
        reason = "no Gold dimension changed since the last successful refresh"
        if not current:
            reason = f"no Gold dimension table exists yet ({', '.join(dims.DIMENSION_TABLES)})"
        print(json.dumps({**report, "status": "skipped", "reason": reason, "tables": []}))
        return 0

    limits = Limits(args.max_attempts, args.max_wait_seconds, args.timeout_seconds, sleep, clock)
    token_url = args.token_url or f"{DEFAULT_AUTHORITY}/{args.tenant_id}/oauth2/v2.0/token"
    try:
        secret = read_secret(args.secret_scope, args.secret_key, args.client_secret_env)
        token = get_token(token_url, args.client_id, secret, limits)
        client = PowerBiClient(args.api_base_url, args.workspace_id, args.dataset_id, token, limits)
        enhanced = client.on_dedicated_capacity()
        if not enhanced:
            used = refreshes_in_last_day(client.refresh_history(top=args.daily_budget), now())
            if used >= args.daily_budget:
                reason = (
                    f"daily budget spent: {used} refresh(es) in the last 24 hours, budget "
                    f"{args.daily_budget} (shared capacity); dimensions still to import: "
                    f"{', '.join(changed)}"
                )
                print(
                    json.dumps({**report, "status": "skipped", "reason": reason, "tables": changed})
                )
                return 0
        # Shared capacity refreshes the whole model, so every dimension is imported again.
        refreshed = changed if enhanced else list(current)
        request_id = client.start_refresh(refresh_request(refreshed, enhanced=enhanced))
        client.wait_for_refresh(
            request_id,
            enhanced=enhanced,
            poll_seconds=args.poll_seconds,
            timeout_seconds=args.refresh_timeout_seconds,
        )
    except PowerBiError as err:
        raise SystemExit(f"oms-powerbi-refresh: {err}") from err
    dims.record_refresh(spark, loc, [current[t] for t in refreshed], now(), request_id)
    print(
        json.dumps(
            {
                **report,
                "status": "refreshed",
                "requestId": request_id,
                "enhanced": enhanced,
                "tables": refreshed,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
