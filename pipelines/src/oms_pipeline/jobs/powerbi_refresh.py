"""Job task: request a refresh of the Power BI semantic model once Gold has landed.

The model's facts are DirectQuery, but its Dual-mode dimensions hold an import copy that only a
refresh updates. The task signs in as the publisher Entra application (client credentials; the
secret comes from a Databricks secret scope) and calls
``POST /v1.0/myorg/groups/{workspaceId}/datasets/{datasetId}/refreshes``. The service answers
202 and refreshes asynchronously; this task does not wait for the refresh to finish.

Standard library only (urllib), so the wheel gains no dependency.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

POWERBI_SCOPE = "https://analysis.windows.net/powerbi/api/.default"
DEFAULT_API_BASE_URL = "https://api.powerbi.com"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
SECRET_ENV = "OMS_POWERBI_CLIENT_SECRET"
RETRYABLE = frozenset({429, 500, 502, 503, 504})


class RefreshError(RuntimeError):
    """A refresh that could not be requested; the message says which call failed and why."""


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes


def _send(request: urllib.request.Request, timeout: float) -> HttpResult:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return HttpResult(
                resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
            )
    except urllib.error.HTTPError as err:
        return HttpResult(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())
    except urllib.error.URLError as err:
        # Connection refused, DNS, TLS: treated like a 503 so it is retried.
        return HttpResult(503, {}, str(err.reason).encode())


def _retry_after(headers: dict[str, str], attempt: int, max_wait: float) -> float:
    value = headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        seconds = float(2**attempt)
    return max(0.0, min(seconds, max_wait))


def _request(
    what: str,
    request_factory: Callable[[], urllib.request.Request],
    *,
    max_attempts: int,
    max_wait: float,
    timeout: float,
    sleep: Callable[[float], None],
) -> HttpResult:
    """Send with retries on 429 / 5xx (honouring Retry-After); raise RefreshError otherwise."""
    result = HttpResult(0, {}, b"")
    for attempt in range(1, max_attempts + 1):
        result = _send(request_factory(), timeout)
        if result.status < 400:
            return result
        if result.status not in RETRYABLE or attempt == max_attempts:
            break
        sleep(_retry_after(result.headers, attempt, max_wait))
    detail = result.body.decode("utf-8", errors="replace")[:500]
    raise RefreshError(
        f"{what} failed with HTTP {result.status} after {attempt} attempt(s): {detail}"
    )


def get_token(
    token_url: str,
    client_id: str,
    client_secret: str,
    *,
    max_attempts: int = 5,
    max_wait: float = 60.0,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """An Entra access token for the Power BI API by client credentials."""
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": POWERBI_SCOPE,
        }
    ).encode()
    result = _request(
        "token request",
        lambda: urllib.request.Request(
            token_url,
            data=form,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        max_attempts=max_attempts,
        max_wait=max_wait,
        timeout=timeout,
        sleep=sleep,
    )
    try:
        token = json.loads(result.body)["access_token"]
    except (ValueError, KeyError, TypeError) as err:
        raise RefreshError("token response has no access_token") from err
    return str(token)


def request_refresh(
    api_base_url: str,
    workspace_id: str,
    dataset_id: str,
    token: str,
    *,
    max_attempts: int = 5,
    max_wait: float = 60.0,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """Request a refresh; returns the service's RequestId (if it sent one)."""
    url = (
        f"{api_base_url.rstrip('/')}/v1.0/myorg/groups/{urllib.parse.quote(workspace_id)}"
        f"/datasets/{urllib.parse.quote(dataset_id)}/refreshes"
    )
    # Service principals cannot receive refresh e-mails; any other notifyOption is rejected.
    body = json.dumps({"notifyOption": "NoNotification"}).encode()
    result = _request(
        f"refresh of dataset {dataset_id} in workspace {workspace_id}",
        lambda: urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ),
        max_attempts=max_attempts,
        max_wait=max_wait,
        timeout=timeout,
        sleep=sleep,
    )
    return result.headers.get("requestid") or result.headers.get("x-ms-request-id")


def read_secret(scope: str | None, key: str | None, env_var: str) -> str:
    """The client secret: from the Databricks secret scope on Databricks, else the environment."""
    if scope and key:
        try:
            from databricks.sdk.runtime import dbutils  # type: ignore[import-not-found]
        except ImportError:
            dbutils = None
        if dbutils is not None:
            return str(dbutils.secrets.get(scope=scope, key=key))
    value = os.environ.get(env_var)
    if value:
        return value
    where = f"secret scope {scope}/{key} (not on Databricks) or " if scope and key else ""
    raise RefreshError(f"no client secret: set {where}environment variable {env_var}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oms-powerbi-refresh", description=__doc__)
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
    p.add_argument("--max-attempts", type=int, default=5, help="attempts per call (429/5xx)")
    p.add_argument("--max-wait-seconds", type=float, default=60.0, help="cap on one Retry-After")
    p.add_argument("--timeout-seconds", type=float, default=30.0, help="timeout of one request")
    return p


def main(argv: Sequence[str] | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    args = build_parser().parse_args(argv)
    if args.max_attempts < 1:
        raise SystemExit("--max-attempts must be at least 1")
    token_url = args.token_url or f"{DEFAULT_AUTHORITY}/{args.tenant_id}/oauth2/v2.0/token"
    limits = {
        "max_attempts": args.max_attempts,
        "max_wait": args.max_wait_seconds,
        "timeout": args.timeout_seconds,
        "sleep": sleep,
    }
    try:
        secret = read_secret(args.secret_scope, args.secret_key, args.client_secret_env)
        token = get_token(token_url, args.client_id, secret, **limits)
        request_id = request_refresh(
            args.api_base_url, args.workspace_id, args.dataset_id, token, **limits
        )
    except RefreshError as err:
        raise SystemExit(f"oms-powerbi-refresh: {err}") from err
    print(
        json.dumps(
            {
                "workspaceId": args.workspace_id,
                "datasetId": args.dataset_id,
                "requestId": request_id,
                "status": "accepted",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
