"""The Power BI REST client of the pipeline: token, workspace capacity, refresh, refresh status.

Standard-library HTTP (urllib) with tenacity for the retries, so the wheel gains no dependency.
Every call is retried on 429 and 5xx (and on a refused connection), honouring ``Retry-After``
up to ``max_wait`` seconds; any other error raises :class:`PowerBiError` with the service's
answer. Bearer tokens are only ever sent to ``api_base_url``'s origin. An answer of a shape the
client does not expect (not JSON, a missing or mistyped field) raises :class:`PowerBiError`
naming the call, what was expected and what came (truncated to 500 characters; never the token
endpoint's body, which may hold a secret).

Calls and the documentation each follows:

- ``GET /v1.0/myorg/groups/{ws}`` -- "Groups - Get Group": ``isOnDedicatedCapacity``.
- ``GET .../datasets/{ds}/refreshes?$top=n`` -- "Datasets - Get Refresh History In Group":
  newest first; ``status`` is ``Unknown`` while a refresh runs, then ``Completed``, ``Failed``,
  ``Cancelled`` or ``Disabled``; a failure carries ``serviceExceptionJson``.
- ``POST .../datasets/{ds}/refreshes`` -- "Datasets - Refresh Dataset In Group": 202 with
  ``Location`` (``.../refreshes/{requestId}``) and ``x-ms-request-id``. On shared capacity only
  ``notifyOption`` may be sent and at most eight refreshes a day start; a payload with any other
  field is an enhanced refresh ("Enhanced refresh with the Power BI REST API"), which needs a
  capacity and must not carry ``notifyOption``.
- ``GET .../datasets/{ds}/refreshes/{requestId}`` -- "Datasets - Get Refresh Execution Details In
  Group" (enhanced refreshes): 202 while running, 200 with ``status`` and ``messages`` when done.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_result,
    stop_after_attempt,
    stop_any,
    wait_fixed,
)

POWERBI_SCOPE = "https://analysis.windows.net/powerbi/api/.default"
DEFAULT_API_BASE_URL = "https://api.powerbi.com"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
RETRYABLE = frozenset({429, 500, 502, 503, 504})

#: Refreshes a model on shared capacity may start per day, scheduled ones included
#: ("Datasets - Refresh Dataset In Group", Limitations).
SHARED_CAPACITY_DAILY_REFRESHES = 8

#: Terminal ``status`` values of a refresh (history entry or execution details).
REFRESH_SUCCEEDED = frozenset({"Completed"})
REFRESH_FAILED = frozenset({"Failed", "Cancelled", "Disabled", "TimedOut"})

#: Characters of an unexpected answer or record quoted in an error.
EXCERPT_CHARS = 500


class PowerBiError(RuntimeError):
    """A Power BI or token call that failed, or a refresh the service reports as failed."""


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes


def _excerpt(text: str) -> str:
    """``text`` cut to :data:`EXCERPT_CHARS` characters, saying how long it was when cut."""
    if len(text) <= EXCERPT_CHARS:
        return text
    return f"{text[:EXCERPT_CHARS]}... ({len(text)} characters)"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    kinds = ((bool, "a boolean"), (str, "a string"), ((int, float), "a number"), (list, "a list"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "an object")


def _unexpected(what: str, expected: str, got: str) -> PowerBiError:
    return PowerBiError(f"{what}: expected {expected}, got {got}")


def json_object(what: str, result: HttpResult, expected: str, *, quote: bool = True) -> dict:
    """The answer's body as a JSON object, else :class:`PowerBiError` naming ``what`` (the call),
    ``expected`` and the body (truncated; described without its content when ``quote`` is
    false, for answers that may carry a secret)."""
    text = result.body.decode("utf-8", errors="replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
        if not text:
            got = "an empty body"
        elif quote:
            got = f"a body that is not JSON: {_excerpt(text)}"
        else:
            got = f"a body of {len(text)} characters that is not JSON"
    else:
        got = f"JSON {_json_type(doc)}" + (f": {_excerpt(text)}" if quote else "")
    if not isinstance(doc, dict):
        raise _unexpected(what, expected, f"HTTP {result.status} with {got}")
    return doc


def _field(what: str, doc: dict, name: str, kind: type | tuple[type, ...], expected: str) -> Any:
    """``doc[name]`` when it is a ``kind``, else :class:`PowerBiError` naming what came."""
    value = doc.get(name)
    if isinstance(value, kind):
        return value
    if name not in doc:
        got = f"no {name} (fields: {', '.join(sorted(doc)) or 'none'})"
    else:
        got = f"{name} {_excerpt(json.dumps(value))} ({_json_type(value)})"
    raise _unexpected(what, expected, got)


def refresh_request(tables: Sequence[str], *, enhanced: bool) -> dict[str, Any]:
    """Body of ``POST .../refreshes``.

    ``enhanced`` (the workspace is on a capacity): a full, transactional refresh of ``tables``
    only -- each listed as ``{"table": name}`` -- with no ``notifyOption`` and no incremental
    refresh policy. Shared capacity: ``{"notifyOption": "NoNotification"}``, the only body it
    accepts, which refreshes every imported table (service principals get no mail, so any other
    option is rejected). The stack's deploy-time refresh sends the shared-capacity body; both are
    tested against ``test/fixtures/powerbi-refresh-requests.json``.
    """
    if not enhanced:
        return {"notifyOption": "NoNotification"}
    if not tables:
        raise ValueError("an enhanced refresh needs at least one table")
    return {
        "type": "full",
        "commitMode": "transactional",
        "applyRefreshPolicy": False,
        "objects": [{"table": t} for t in tables],
    }


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
    except (TimeoutError, ConnectionError) as err:
        # A read that timed out or a connection dropped mid-answer: retried the same way.
        return HttpResult(503, {}, f"{type(err).__name__}: {err}".encode())


def _service_message(body: bytes) -> str:
    """The service's own error text: ``error.message`` / ``error_description`` when present, else
    the body (truncated; empty when the body is)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return _excerpt(text)
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict):
            parts = [str(err[k]) for k in ("code", "message") if err.get(k)]
            if parts:
                return ": ".join(parts)
        if doc.get("error_description"):
            return f"{doc.get('error')}: {doc['error_description']}"
    return _excerpt(text)


@dataclass(frozen=True)
class Limits:
    """Retry limits of one call: attempts, cap on one wait (s), request timeout (s); the sleep
    between attempts and the monotonic clock (s) deadlines are read from."""

    max_attempts: int = 5
    max_wait: float = 60.0
    timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def _stop_at(deadline: float | None, clock: Callable[[], float]) -> Callable[[Any], bool]:
    """A tenacity stop: true when the coming wait would end at or after ``deadline``."""
    return lambda state: deadline is not None and clock() + state.upcoming_sleep >= deadline


def call(
    what: str,
    request_factory: Callable[[], urllib.request.Request],
    limits: Limits,
    deadline: float | None = None,
) -> HttpResult:
    """Send with retries on 429 / 5xx (waiting ``Retry-After``, else 2**attempt seconds, capped
    at ``limits.max_wait``); return a < 400 answer or raise :class:`PowerBiError` naming the call,
    the HTTP status, the attempts and the service's message.

    ``deadline`` (on ``limits.clock``, seconds) bounds the call, retries included: each request's
    timeout is at most the time left, and no attempt is made whose wait would reach it.
    """

    def wait(state: RetryCallState) -> float:
        result = state.outcome.result() if state.outcome else None
        value = result.headers.get("retry-after", "") if result else ""
        try:
            seconds = float(value)
        except ValueError:
            seconds = float(2**state.attempt_number)
        return max(0.0, min(seconds, limits.max_wait))

    retrying = Retrying(
        retry=retry_if_result(lambda r: r.status in RETRYABLE),
        stop=stop_any(stop_after_attempt(limits.max_attempts), _stop_at(deadline, limits.clock)),
        wait=wait,
        sleep=limits.sleep,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    attempts = 0

    def once() -> HttpResult:
        nonlocal attempts
        timeout = limits.timeout
        if deadline is not None:
            timeout = min(timeout, deadline - limits.clock())
            if timeout <= 0:
                raise PowerBiError(f"{what} not sent: the deadline has passed")
        attempts += 1
        return _send(request_factory(), timeout)

    result = retrying(once)
    if result.status < 400:
        return result
    stopped = result.status in RETRYABLE and attempts < limits.max_attempts
    cut = " (stopped by the deadline)" if stopped else ""
    message = _service_message(result.body)
    raise PowerBiError(
        f"{what} failed with HTTP {result.status} after {attempts} attempt(s){cut}"
        + (f": {message}" if message else " and an empty body")
    )


def get_token(token_url: str, client_id: str, client_secret: str, limits: Limits) -> str:
    """An Entra access token for the Power BI API by client credentials."""
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": POWERBI_SCOPE,
        }
    ).encode()
    result = call(
        "token request",
        lambda: urllib.request.Request(
            token_url,
            data=form,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        limits,
    )
    expected = "a JSON object with a non-empty string access_token"
    doc = json_object("token request", result, expected, quote=False)
    token = doc.get("access_token")
    if not isinstance(token, str) or not token.strip():
        # The value is described, never quoted: a malformed token is still a secret.
        got = _json_type(token) if "access_token" in doc else "no access_token"
        if isinstance(token, str):
            got = "a blank string"
        raise _unexpected("token request", expected, f"{got} (fields: {', '.join(sorted(doc))})")
    return token


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
    raise PowerBiError(f"no client secret: set {where}environment variable {env_var}")


class PowerBiClient:
    """Calls on one semantic model (``workspace_id`` / ``dataset_id``) with one bearer token."""

    def __init__(
        self, api_base_url: str, workspace_id: str, dataset_id: str, token: str, limits: Limits
    ) -> None:
        self.base = api_base_url.rstrip("/")
        self.workspace_id, self.dataset_id = workspace_id, dataset_id
        self.token, self.limits = token, limits
        q = urllib.parse.quote
        self.group_path = f"/v1.0/myorg/groups/{q(workspace_id)}"
        self.refreshes_path = f"{self.group_path}/datasets/{q(dataset_id)}/refreshes"

    def _call(
        self, what: str, method: str, path: str, body: Any = None, deadline: float | None = None
    ) -> HttpResult:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        return call(
            what,
            lambda: urllib.request.Request(
                f"{self.base}{path}", data=data, method=method, headers=headers
            ),
            self.limits,
            deadline,
        )

    def on_dedicated_capacity(self) -> bool:
        """Whether the workspace runs on a Premium / Fabric capacity ("Groups - Get Group":
        the boolean ``isOnDedicatedCapacity``; any other answer raises :class:`PowerBiError`)."""
        what = f"reading workspace {self.workspace_id}"
        expected = "a JSON object with a boolean isOnDedicatedCapacity"
        doc = json_object(what, self._call(what, "GET", self.group_path), expected)
        return bool(_field(what, doc, "isOnDedicatedCapacity", bool, expected))

    def refresh_history(self, top: int, deadline: float | None = None) -> list[dict[str, Any]]:
        """The model's ``top`` most recent refreshes, newest first: the answer's ``value``, a
        list of objects (else :class:`PowerBiError`)."""
        what = f"refresh history of dataset {self.dataset_id}"
        expected = "a JSON object whose value is a list of refresh objects"
        path = f"{self.refreshes_path}?$top={int(top)}"
        doc = json_object(what, self._call(what, "GET", path, deadline=deadline), expected)
        entries = _field(what, doc, "value", list, expected)
        for entry in entries:
            if not isinstance(entry, dict):
                got = f"an entry {_excerpt(json.dumps(entry))} ({_json_type(entry)})"
                raise _unexpected(what, expected, got)
        return entries

    def start_refresh(self, body: dict[str, Any]) -> str:
        """``POST .../refreshes``; returns the refresh's request id (from ``Location``, else the
        ``x-ms-request-id`` / ``RequestId`` header). Raises when the service sends neither."""
        result = self._call(
            f"refresh of dataset {self.dataset_id} in workspace {self.workspace_id}",
            "POST",
            self.refreshes_path,
            body,
        )
        location = result.headers.get("location", "")
        tail = urllib.parse.urlparse(location).path.rstrip("/").rsplit("/", 1)[-1]
        request_id = (
            (tail if location and tail != "refreshes" else "")
            or result.headers.get("x-ms-request-id")
            or result.headers.get("requestid")
        )
        if not request_id:
            raise PowerBiError(
                f"refresh of dataset {self.dataset_id} was accepted (HTTP {result.status}) "
                "without a Location or request id header: its outcome cannot be followed"
            )
        return request_id

    def refresh_outcome(
        self, request_id: str, *, enhanced: bool, deadline: float | None = None
    ) -> dict[str, Any] | None:
        """The refresh's final record, or None while it is still running (or not yet listed).

        Enhanced refreshes are read from their execution details (202 while running; a 200
        answer must be an object with a string ``status``); on shared capacity from the refresh
        history (a few entries, newest first), matched by ``requestId``. ``deadline`` bounds
        the status call (see :func:`call`).
        """
        if enhanced:
            what = f"status of refresh {request_id}"
            path = f"{self.refreshes_path}/{urllib.parse.quote(request_id)}"
            result = self._call(what, "GET", path, deadline=deadline)
            if result.status != 200:
                return None
            expected = "a JSON object with a string status"
            doc = json_object(what, result, expected)
            status = _field(what, doc, "status", str, expected)
            return doc if status in REFRESH_SUCCEEDED | REFRESH_FAILED else None
        for entry in self.refresh_history(top=10, deadline=deadline):
            if entry.get("requestId") == request_id:
                return entry if entry.get("status") in REFRESH_SUCCEEDED | REFRESH_FAILED else None
        return None

    def wait_for_refresh(
        self, request_id: str, *, enhanced: bool, poll_seconds: float, timeout_seconds: float
    ) -> dict[str, Any]:
        """Poll every ``poll_seconds`` until the refresh ends; return its record if it completed.

        The whole wait -- status calls, their retries and request timeouts, the pauses between
        polls -- ends within ``timeout_seconds`` of its start on ``limits.clock`` (monotonic):
        each status call gets the time left as its deadline, and no poll is made whose pause
        would reach it. Raises :class:`PowerBiError` with the service's messages when the
        refresh failed, was cancelled or disabled, and when it has no outcome by the deadline.
        """
        deadline = self.limits.clock() + timeout_seconds
        polls = 0

        def poll() -> dict[str, Any] | None:
            nonlocal polls
            polls += 1
            return self.refresh_outcome(request_id, enhanced=enhanced, deadline=deadline)

        retrying = Retrying(
            retry=retry_if_result(lambda r: r is None),
            wait=wait_fixed(poll_seconds),
            stop=_stop_at(deadline, self.limits.clock),
            sleep=self.limits.sleep,
            retry_error_callback=lambda _state: None,
        )
        outcome = retrying(poll)
        if outcome is None:
            raise PowerBiError(
                f"refresh {request_id} of dataset {self.dataset_id} still running: no outcome "
                f"within {timeout_seconds:g} s ({polls} polls); see the model's refresh history"
            )
        if outcome.get("status") in REFRESH_SUCCEEDED:
            return outcome
        raise PowerBiError(
            f"refresh {request_id} of dataset {self.dataset_id} ended {outcome.get('status')}: "
            f"{failure_detail(outcome)}"
        )


def failure_detail(outcome: dict[str, Any]) -> str:
    """The service's reason for a failed refresh: execution-details ``messages`` (enhanced: a
    list of objects with ``code`` / ``message``) or the history entry's ``serviceExceptionJson``;
    for any other shape the record itself, truncated to :data:`EXCERPT_CHARS` characters."""
    messages = outcome.get("messages")
    if (
        isinstance(messages, list)
        and messages
        and all(isinstance(m, dict) and (m.get("code") or m.get("message")) for m in messages)
    ):
        return "; ".join(
            ": ".join(str(m[k]) for k in ("code", "message") if m.get(k)) for m in messages
        )
    raw = outcome.get("serviceExceptionJson")
    if raw:
        try:
            doc = json.loads(raw)
        except (TypeError, ValueError):
            return str(raw)
        if isinstance(doc, dict):
            return "; ".join(f"{k}: {v}" for k, v in doc.items())
        return str(doc)
    return f"no reason in a known field; the record: {_excerpt(json.dumps(outcome))}"
