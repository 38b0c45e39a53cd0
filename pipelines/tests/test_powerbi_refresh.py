"""The Power BI dimension refresh against a loopback token endpoint and Power BI REST API.

Gold dimensions are real Delta tables in a local lakehouse (embedded Spark); the service is an
HTTP server on 127.0.0.1 that answers from a script and records every request.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from oms_pipeline.io import powerbi_api as api
from oms_pipeline.io.tables import merge_scoped, read_table
from oms_pipeline.jobs import powerbi_refresh as job
from oms_pipeline.pipeline import powerbi_dimensions as dims

WS = "11111111-2222-3333-4444-555555555555"
DS = "66666666-7777-8888-9999-000000000000"
GROUP = f"/v1.0/myorg/groups/{WS}"
REFRESHES = f"{GROUP}/datasets/{DS}/refreshes"
TOKEN_PATH = "/tenant/oauth2/v2.0/token"
TOKEN = json.dumps({"access_token": "tok-123", "token_type": "Bearer"}).encode()
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
FIXTURE = (
    Path(__file__).resolve().parents[2] / "test" / "fixtures" / "powerbi-refresh-requests.json"
)


class Fake:
    """Scripted responses per (method, path); the last one of a path repeats. Records requests;
    ``on_request(method, path)``, when set, runs before each answer (e.g. to advance a clock)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.script: dict[tuple[str, str], list[tuple[int, dict[str, str], bytes]]] = {}
        self.on_request: Callable[[str, str], None] | None = None

    def respond(self, method: str, path: str, status: int, headers=None, body=b"") -> None:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.script.setdefault((method, path), []).append((status, headers or {}, body))

    def next(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        queue = self.script.get((method, path)) or [(404, {}, b'{"error":"no such path"}')]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def paths(self, method: str | None = None) -> list[str]:
        return [p for m, p, _, _ in self.requests if method in (None, m)]


class Clock:
    """A monotonic clock that moves only when slept on or advanced: no test depends on time."""

    def __init__(self) -> None:
        self.t = 0.0
        self.waits: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds


@pytest.fixture()
def fake() -> Iterator[tuple[Fake, str]]:
    state = Fake()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append((self.command, self.path, dict(self.headers), body))
            if state.on_request:
                state.on_request(self.command, self.path)
            status, headers, payload = state.next(self.command, self.path)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _argv(base: str, loc) -> list[str]:
    return [
        "--lakehouse-root",
        loc.lakehouse_root,
        "--workspace-id",
        WS,
        "--dataset-id",
        DS,
        "--tenant-id",
        "tenant",
        "--client-id",
        "publisher-app",
        "--token-url",
        f"{base}{TOKEN_PATH}",
        "--api-base-url",
        base,
        "--poll-seconds",
        "5",
    ]


def _write_dim(spark, loc, table: str, rows: list[tuple[str, str]]) -> None:
    """Upsert like Gold does: one MERGE keyed on the dimension's key (a version per call)."""
    df = spark.createDataFrame(rows, "id string, label string")
    merge_scoped(spark, loc, "gold", table, df, ["id"])


def _gold(spark, loc) -> None:
    _write_dim(spark, loc, "dim_customer", [("c1", "Consumer"), ("c2", "Corporate")])
    _write_dim(spark, loc, "dim_location", [("l1", "Berlin")])


def _run(base, loc, monkeypatch, capsys, waits=None, extra=()) -> dict:
    monkeypatch.setenv(job.SECRET_ENV, "s3cret")
    sleep = waits.append if waits is not None else (lambda s: None)
    assert job.main([*_argv(base, loc), *extra], sleep=sleep, now=lambda: NOW) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _shared(state: Fake, history: list[dict] | None = None) -> None:
    state.respond("POST", TOKEN_PATH, 200, {"Content-Type": "application/json"}, TOKEN)
    state.respond("GET", GROUP, 200, body={"id": WS, "isOnDedicatedCapacity": False})
    state.respond("GET", f"{REFRESHES}?$top=8", 200, body={"value": history or []})


def _at(hours_ago: float) -> str:
    return (NOW - dt.timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the request bodies both refresh clients send ---------------------------------------------
def test_request_bodies_match_the_fixture_the_stack_is_tested_against() -> None:
    fixture = json.loads(FIXTURE.read_text())
    assert api.refresh_request([], enhanced=False) == fixture["sharedCapacity"]
    enhanced = fixture["enhanced"]
    assert api.refresh_request(enhanced["tables"], enhanced=True) == enhanced["body"]


def test_dimensions_come_from_the_gold_contract() -> None:
    assert dims.DIMENSION_TABLES == (
        "dim_date",
        "dim_customer",
        "dim_product",
        "dim_location",
        "dim_service_level",
    )


# --- change detection -------------------------------------------------------------------------
def test_no_refresh_when_no_dimension_changed(spark, loc, fake, monkeypatch, capsys) -> None:
    state, base = fake
    _gold(spark, loc)
    _shared(state)
    state.respond("POST", REFRESHES, 202, {"Location": f"{base}{REFRESHES}/r-1"})
    state.respond("GET", f"{REFRESHES}?$top=10", 200, body={"value": [
        {"requestId": "r-1", "status": "Completed", "startTime": _at(0)}
    ]})  # fmt: skip

    first = _run(base, loc, monkeypatch, capsys)
    assert first["status"] == "refreshed"
    assert first["tables"] == ["dim_customer", "dim_location"]
    watermark = dims.read_watermark(spark, loc)
    assert sorted(watermark) == ["dim_customer", "dim_location"]

    # Gold rewrites the same rows: new Delta versions, same content -> no call at all.
    state.requests.clear()
    _gold(spark, loc)
    assert dims.read_watermark(spark, loc) == watermark
    second = _run(base, loc, monkeypatch, capsys)
    assert second["status"] == "skipped"
    assert "no Gold dimension changed" in second["reason"]
    assert state.requests == []

    # A changed attribute is a change: the model is refreshed again.
    _write_dim(spark, loc, "dim_customer", [("c2", "Home Office")])
    third = _run(base, loc, monkeypatch, capsys)
    assert third["status"] == "refreshed"
    assert state.paths("POST").count(REFRESHES) == 1


def test_no_dimension_tables_yet_is_a_skip(spark, loc, fake, monkeypatch, capsys) -> None:
    state, base = fake
    out = _run(base, loc, monkeypatch, capsys)
    assert out["status"] == "skipped"
    assert "no Gold dimension table exists yet" in out["reason"]
    assert state.requests == []


# --- budget on shared capacity ----------------------------------------------------------------
def test_shared_capacity_budget_is_respected(spark, loc, fake, monkeypatch, capsys) -> None:
    state, base = fake
    _gold(spark, loc)
    # Eight refreshes in the last 24 hours (scheduled, on demand and API ones all count).
    history = [{"requestId": f"old-{i}", "status": "Completed", "startTime": _at(i * 2.5)}
               for i in range(8)]  # fmt: skip
    _shared(state, history)

    out = _run(base, loc, monkeypatch, capsys)
    assert out["status"] == "skipped"
    assert "daily budget spent: 8 refresh(es) in the last 24 hours, budget 8" in out["reason"]
    assert out["tables"] == ["dim_customer", "dim_location"]
    assert REFRESHES not in state.paths("POST")
    assert dims.read_watermark(spark, loc) == {}  # the next run tries again


def test_budget_counts_a_rolling_day(spark, loc, fake, monkeypatch, capsys) -> None:
    state, base = fake
    _gold(spark, loc)
    # The oldest of the last eight started 25 hours ago: seven in the window, one left.
    history = [{"requestId": f"old-{i}", "status": "Completed", "startTime": _at(h)}
               for i, h in enumerate([0.5, 1, 2, 3, 4, 5, 6, 25])]  # fmt: skip
    _shared(state, history)
    state.respond("POST", REFRESHES, 202, {"x-ms-request-id": "r-9"})
    state.respond("GET", f"{REFRESHES}?$top=10", 200, body={"value": [
        {"requestId": "r-9", "status": "Completed", "startTime": _at(0)}, *history
    ]})  # fmt: skip

    out = _run(base, loc, monkeypatch, capsys)
    assert out == {
        "workspaceId": WS,
        "datasetId": DS,
        "status": "refreshed",
        "requestId": "r-9",
        "enhanced": False,
        "tables": ["dim_customer", "dim_location"],
    }
    (post,) = [r for r in state.requests if r[0] == "POST" and r[1] == REFRESHES]
    assert json.loads(post[3]) == {"notifyOption": "NoNotification"}
    assert post[2]["Authorization"] == "Bearer tok-123"


def test_budget_is_at_most_the_service_limit(loc) -> None:
    with pytest.raises(SystemExit):
        job.main([*_argv("http://127.0.0.1:9", loc), "--daily-budget", "9"])


# --- capacity: enhanced refresh of the changed dimensions, polled to completion --------------
def _capacity(state: Fake) -> None:
    state.respond("POST", TOKEN_PATH, 200, {}, TOKEN)
    state.respond("GET", GROUP, 200, body={"id": WS, "isOnDedicatedCapacity": True})


def test_enhanced_refresh_of_changed_dimensions_is_polled_to_completion(
    spark, loc, fake, monkeypatch, capsys
) -> None:
    state, base = fake
    _gold(spark, loc)
    dims.record_refresh(
        spark, loc, dims.current_state(spark, loc, {}).values(), NOW - dt.timedelta(hours=1), "r-0"
    )
    _write_dim(spark, loc, "dim_location", [("l2", "Lyon")])  # only dim_location changed
    _capacity(state)
    state.respond("POST", REFRESHES, 202, {"Location": f"{base}{REFRESHES}/r-42"})
    running = {"status": "Unknown", "extendedStatus": "InProgress"}
    state.respond("GET", f"{REFRESHES}/r-42", 202, body=running)
    state.respond("GET", f"{REFRESHES}/r-42", 202, body=running)
    state.respond("GET", f"{REFRESHES}/r-42", 200, body={"status": "Completed"})
    waits: list[float] = []

    out = _run(base, loc, monkeypatch, capsys, waits)
    assert out["status"] == "refreshed" and out["enhanced"] is True
    assert out["tables"] == ["dim_location"]
    (post,) = [json.loads(b) for m, p, _, b in state.requests if (m, p) == ("POST", REFRESHES)]
    assert post == api.refresh_request(["dim_location"], enhanced=True)
    assert "notifyOption" not in post
    assert state.paths("GET").count(f"{REFRESHES}/r-42") == 3
    assert waits == [5.0, 5.0]
    assert f"{REFRESHES}?$top=8" not in state.paths()  # no budget on a capacity
    watermark = read_table(spark, loc, "ops", dims.WATERMARK_TABLE)
    ids = {r["table_name"]: r["request_id"] for r in watermark.collect()}
    assert ids == {"dim_customer": "r-0", "dim_location": "r-42"}


def _never_ending(spark, loc, fake, monkeypatch, request_id: str) -> tuple[Fake, str, Clock]:
    """Gold dimensions, a capacity, a refresh accepted as ``request_id`` that keeps running."""
    state, base = fake
    _gold(spark, loc)
    _capacity(state)
    state.respond("POST", REFRESHES, 202, {"Location": f"{base}{REFRESHES}/{request_id}"})
    state.respond("GET", f"{REFRESHES}/{request_id}", 202, body={"status": "Unknown"})
    monkeypatch.setenv(job.SECRET_ENV, "s3cret")
    return state, base, Clock()


def test_refresh_still_running_after_the_timeout_fails(spark, loc, fake, monkeypatch) -> None:
    state, base, clock = _never_ending(spark, loc, fake, monkeypatch, "r-7")

    argv = [*_argv(base, loc), "--refresh-timeout-seconds", "20"]
    with pytest.raises(SystemExit, match=r"refresh r-7 .* no outcome within 20 s \(4 polls\)"):
        job.main(argv, sleep=clock.sleep, now=lambda: NOW, clock=clock.now)
    # Polls at 0, 5, 10 and 15 s: one more pause would reach the deadline.
    assert state.paths("GET").count(f"{REFRESHES}/r-7") == 4
    assert clock.waits == [5.0, 5.0, 5.0]


def _record_timeouts(monkeypatch) -> list[tuple[str, float]]:
    """Wrap the client's send to record (path, request timeout) of every request."""
    sent: list[tuple[str, float]] = []
    send = api._send

    def recording(request, timeout: float):
        sent.append((urllib.parse.urlparse(request.full_url).path, timeout))
        return send(request, timeout)

    monkeypatch.setattr(api, "_send", recording)
    return sent


def test_slow_status_calls_stay_within_the_deadline(spark, loc, fake, monkeypatch) -> None:
    state, base, clock = _never_ending(spark, loc, fake, monkeypatch, "r-8")

    def slow_status(method: str, path: str) -> None:
        if path == f"{REFRESHES}/r-8":
            clock.t += 50  # every status call takes 50 s

    state.on_request = slow_status
    sent = _record_timeouts(monkeypatch)
    argv = [*_argv(base, loc), "--poll-seconds", "15"]  # default limit: 480 s
    with pytest.raises(SystemExit, match=r"r-8 .* no outcome within 480 s \(8 polls\)"):
        job.main(argv, sleep=clock.sleep, now=lambda: NOW, clock=clock.now)
    # Polls start at 0, 65, 130, ... 455 s; the last gets only the 25 s left as its timeout,
    # and no pause is taken that would end past 480 s (polls counted alone would make 33).
    status_timeouts = [t for p, t in sent if p == f"{REFRESHES}/r-8"]
    assert status_timeouts == [30.0] * 7 + [25.0]
    assert clock.waits == [15.0] * 7


def test_retries_of_a_status_call_stop_at_the_deadline(fake, monkeypatch) -> None:
    state, base = fake
    state.respond("GET", f"{REFRESHES}/r-1", 503, {"Retry-After": "10"}, b"busy")
    clock = Clock()

    def slow_status(method: str, path: str) -> None:
        clock.t += 20

    state.on_request = slow_status
    sent = _record_timeouts(monkeypatch)
    limits = api.Limits(max_attempts=100, sleep=clock.sleep, clock=clock.now)
    client = api.PowerBiClient(base, WS, DS, "t", limits)
    with pytest.raises(
        api.PowerBiError,
        match=r"status of refresh r-1 failed with HTTP 503 after 4 attempt\(s\) "
        r"\(stopped by the deadline\): busy$",
    ):
        client.wait_for_refresh("r-1", enhanced=True, poll_seconds=15, timeout_seconds=100)
    # Attempts at 0, 30, 60 and 90 s; the last with the 10 s left; a fifth would start at 120.
    assert [t for _, t in sent] == [30.0, 30.0, 30.0, 10.0]
    assert clock.waits == [10.0, 10.0, 10.0]


# --- failures carry the service's reason; the watermark does not move ------------------------
def test_failed_enhanced_refresh_fails_with_the_service_message(
    spark, loc, fake, monkeypatch
) -> None:
    state, base = fake
    _gold(spark, loc)
    _capacity(state)
    state.respond("POST", REFRESHES, 202, {"Location": f"{base}{REFRESHES}/r-5"})
    state.respond("GET", f"{REFRESHES}/r-5", 200, body={
        "status": "Failed",
        "messages": [{
            "code": "ModelRefresh_ShortMessage_ProcessingError",
            "message": "The credentials provided for the Databricks source are invalid.",
            "type": "Error",
        }],
    })  # fmt: skip
    monkeypatch.setenv(job.SECRET_ENV, "s3cret")

    with pytest.raises(SystemExit) as exc:
        job.main(_argv(base, loc), sleep=lambda s: None, now=lambda: NOW)
    assert str(exc.value) == (
        f"oms-powerbi-refresh: refresh r-5 of dataset {DS} ended Failed: "
        "ModelRefresh_ShortMessage_ProcessingError: "
        "The credentials provided for the Databricks source are invalid."
    )
    assert dims.read_watermark(spark, loc) == {}


def test_failed_shared_refresh_fails_with_the_service_exception(
    spark, loc, fake, monkeypatch
) -> None:
    state, base = fake
    _gold(spark, loc)
    _shared(state)
    state.respond("POST", REFRESHES, 202, {"RequestId": "r-3"})
    state.respond("GET", f"{REFRESHES}?$top=10", 200, body={"value": []})  # not listed yet
    state.respond("GET", f"{REFRESHES}?$top=10", 200, body={"value": [
        {"requestId": "r-3", "status": "Unknown", "startTime": _at(0)}
    ]})  # fmt: skip
    state.respond("GET", f"{REFRESHES}?$top=10", 200, body={"value": [{
        "requestId": "r-3",
        "status": "Failed",
        "startTime": _at(0),
        "serviceExceptionJson": '{"errorCode":"ModelRefreshFailed_CredentialsNotSpecified"}',
    }]})  # fmt: skip
    monkeypatch.setenv(job.SECRET_ENV, "s3cret")

    with pytest.raises(SystemExit, match=r"ended Failed: errorCode: ModelRefreshFailed_Cred"):
        job.main(_argv(base, loc), sleep=lambda s: None, now=lambda: NOW)
    assert state.paths("GET").count(f"{REFRESHES}?$top=10") == 3
    assert dims.read_watermark(spark, loc) == {}


@pytest.mark.parametrize(
    ("record", "shown"),
    [
        ({"status": "Failed", "messages": ["boom"]}, '"messages": ["boom"]'),
        (
            {"status": "Failed", "messages": {"code": "Oops", "message": "bad"}},
            '"messages": {"code": "Oops", "message": "bad"}',
        ),
        ({"status": "Failed", "extendedStatus": "Failed"}, '"extendedStatus": "Failed"'),
    ],
)
def test_a_failure_of_unknown_shape_keeps_the_record(fake, record, shown) -> None:
    state, base = fake
    state.respond("GET", f"{REFRESHES}/r-2", 200, body=record)
    client = api.PowerBiClient(base, WS, DS, "t", api.Limits(sleep=lambda s: None))
    with pytest.raises(api.PowerBiError) as exc:
        client.wait_for_refresh("r-2", enhanced=True, poll_seconds=5, timeout_seconds=60)
    assert str(exc.value) == (
        f"refresh r-2 of dataset {DS} ended Failed: no reason in a known field; "
        f"the record: {json.dumps(record)}"
    )
    assert shown in str(exc.value)


def test_a_long_failure_record_is_truncated() -> None:
    record = {"status": "Failed", "extendedStatus": "x" * 2000}
    text = json.dumps(record)
    detail = api.failure_detail(record)
    assert detail == (
        f"no reason in a known field; the record: {text[:500]}... ({len(text)} characters)"
    )


def test_a_client_error_with_an_empty_body_says_so(fake) -> None:
    state, base = fake
    state.respond("GET", GROUP, 404, {}, b"")
    client = api.PowerBiClient(base, WS, DS, "t", api.Limits(sleep=lambda s: None))
    with pytest.raises(api.PowerBiError) as exc:
        client.on_dedicated_capacity()
    assert str(exc.value) == (
        f"reading workspace {WS} failed with HTTP 404 after 1 attempt(s) and an empty body"
    )


# --- answers of a shape the client cannot read end the task with a clear error ---------------
HTML = b"<html><body>" + b"Sign in to continue. " * 100 + b"</body></html>"
CAPACITY = "a JSON object with a boolean isOnDedicatedCapacity"


def _group_answer(body):
    def script(state: Fake) -> None:
        state.respond("POST", TOKEN_PATH, 200, {}, TOKEN)
        state.respond("GET", GROUP, 200, {"Content-Type": "text/html"}, body)

    return script


def _history_of_strings(state: Fake) -> None:
    _shared(state)
    state.script[("GET", f"{REFRESHES}?$top=8")] = [(200, {}, b'{"value": ["r-1", "r-2"]}')]


def _null_token(state: Fake) -> None:
    _capacity(state)
    state.script[("POST", TOKEN_PATH)] = [(200, {}, b'{"access_token": null, "token_type": "x"}')]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (
            _group_answer(HTML),
            f"reading workspace {WS}: expected {CAPACITY}, got HTTP 200 with a body that is not "
            f"JSON: {HTML.decode()[:500]}... ({len(HTML)} characters)",
        ),
        (
            _group_answer(b'[{"isOnDedicatedCapacity": true}]'),
            f"reading workspace {WS}: expected {CAPACITY}, got HTTP 200 with JSON a list: "
            '[{"isOnDedicatedCapacity": true}]',
        ),
        (
            _group_answer(b""),
            f"reading workspace {WS}: expected {CAPACITY}, got HTTP 200 with an empty body",
        ),
        (
            _group_answer(b'{"isOnDedicatedCapacity": "false"}'),
            f'reading workspace {WS}: expected {CAPACITY}, got isOnDedicatedCapacity "false" '
            "(a string)",
        ),
        (
            _group_answer(b'{"id": "w"}'),
            f"reading workspace {WS}: expected {CAPACITY}, got no isOnDedicatedCapacity "
            "(fields: id)",
        ),
        (
            _history_of_strings,
            f"refresh history of dataset {DS}: expected a JSON object whose value is a list of "
            'refresh objects, got an entry "r-1" (a string)',
        ),
        (
            _null_token,
            "token request: expected a JSON object with a non-empty string access_token, "
            "got null (fields: access_token, token_type)",
        ),
    ],
    ids=["html", "list", "empty", "string-flag", "no-flag", "value-of-strings", "null-token"],
)
def test_an_unreadable_answer_ends_the_task_with_a_clear_error(
    spark, loc, fake, monkeypatch, script, message
) -> None:
    state, base = fake
    _gold(spark, loc)
    script(state)
    monkeypatch.setenv(job.SECRET_ENV, "s3cret")

    with pytest.raises(SystemExit) as exc:
        job.main(_argv(base, loc), sleep=lambda s: None, now=lambda: NOW)
    assert exc.value.code == f"oms-powerbi-refresh: {message}"  # printed, exit status 1
    assert REFRESHES not in state.paths("POST")  # no refresh on a guess
    assert all(h.get("Authorization") != "Bearer None" for _, _, h, _ in state.requests)
    assert dims.read_watermark(spark, loc) == {}


def test_rejected_request_fails_with_the_service_error(spark, loc, fake, monkeypatch) -> None:
    state, base = fake
    _gold(spark, loc)
    _capacity(state)
    error = {"error": {"code": "InvalidRequest", "message": "Table 'dim_x' was not found."}}
    state.respond("POST", REFRESHES, 400, body=error)
    monkeypatch.setenv(job.SECRET_ENV, "s3cret")

    with pytest.raises(
        SystemExit,
        match=r"refresh of dataset .* failed with HTTP 400 after 1 attempt\(s\): "
        r"InvalidRequest: Table 'dim_x' was not found\.",
    ):
        job.main(_argv(base, loc), sleep=lambda s: pytest.fail("must not wait"), now=lambda: NOW)


# --- the HTTP client: retries, errors, secrets -------------------------------------------------
def test_retries_429_and_5xx_honouring_retry_after(fake) -> None:
    state, base = fake
    state.respond("POST", TOKEN_PATH, 503, {"Retry-After": "2"}, b"busy")
    state.respond("POST", TOKEN_PATH, 200, {}, TOKEN)
    state.respond("GET", GROUP, 429, {"Retry-After": "7"}, b"slow down")
    state.respond("GET", GROUP, 500, {}, b"oops")
    state.respond("GET", GROUP, 200, body={"isOnDedicatedCapacity": True})
    waits: list[float] = []
    limits = api.Limits(max_wait=5, sleep=waits.append)

    token = api.get_token(f"{base}{TOKEN_PATH}", "publisher-app", "s3cret", limits)
    assert api.PowerBiClient(base, WS, DS, token, limits).on_dedicated_capacity() is True
    # Token: Retry-After 2. Group: Retry-After 7 capped at 5, then 2**2 without a header.
    assert waits == [2.0, 5.0, 4.0]
    form = urllib.parse.parse_qs(state.requests[1][3].decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["publisher-app"],
        "client_secret": ["s3cret"],
        "scope": [api.POWERBI_SCOPE],
    }


def test_gives_up_after_max_attempts_with_a_clear_error(fake) -> None:
    state, base = fake
    state.respond("GET", GROUP, 503, {"Retry-After": "0"}, b"still down")
    client = api.PowerBiClient(base, WS, DS, "t", api.Limits(max_attempts=3, sleep=lambda s: None))
    with pytest.raises(
        api.PowerBiError,
        match=rf"reading workspace {WS} failed with HTTP 503 after 3 attempt\(s\): still down",
    ):
        client.on_dedicated_capacity()


def test_an_unreachable_service_is_retried_then_reported() -> None:
    waits: list[float] = []
    limits = api.Limits(max_attempts=3, max_wait=1, timeout=5, sleep=waits.append)
    client = api.PowerBiClient("http://127.0.0.1:9", WS, DS, "t", limits)  # nothing listens
    with pytest.raises(api.PowerBiError, match=r"failed with HTTP 503 after 3 attempt\(s\)"):
        client.on_dedicated_capacity()
    assert waits == [1.0, 1.0]


def test_an_answer_that_never_comes_is_retried_then_reported() -> None:
    release = threading.Event()

    class Silent(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # holds the request until the test ends
            release.wait(60)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        limits = api.Limits(max_attempts=2, max_wait=1, timeout=0.5, sleep=lambda s: None)
        client = api.PowerBiClient(
            f"http://127.0.0.1:{server.server_address[1]}", WS, DS, "t", limits
        )
        with pytest.raises(api.PowerBiError, match=r"HTTP 503 after 2 attempt\(s\): TimeoutError"):
            client.on_dedicated_capacity()
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_client_errors_are_not_retried(fake) -> None:
    state, base = fake
    body = b'{"error":"invalid_client","error_description":"bad secret"}'
    state.respond("POST", TOKEN_PATH, 401, {}, body)
    limits = api.Limits(sleep=lambda s: pytest.fail("must not wait"))
    with pytest.raises(
        api.PowerBiError, match=r"token request failed with HTTP 401 after 1 attempt\(s\): "
        r"invalid_client: bad secret",
    ):  # fmt: skip
        api.get_token(f"{base}{TOKEN_PATH}", "app", "wrong", limits)
    assert len(state.requests) == 1


def test_missing_secret_names_the_scope_and_the_variable(spark, loc, monkeypatch) -> None:
    _gold(spark, loc)
    monkeypatch.delenv(job.SECRET_ENV, raising=False)
    argv = [*_argv("http://127.0.0.1:9", loc), "--secret-scope", "oms-dev-powerbi"]
    with pytest.raises(SystemExit, match=r"oms-dev-powerbi/k .* OMS_POWERBI_CLIENT_SECRET"):
        job.main([*argv, "--secret-key", "k"])


def test_parser_requires_the_ids_and_a_location() -> None:
    with pytest.raises(SystemExit):
        job.build_parser().parse_args(["--workspace-id", WS])
    with pytest.raises(SystemExit):
        job.build_parser().parse_args(
            ["--workspace-id", WS, "--dataset-id", DS, "--tenant-id", "t", "--client-id", "c"]
        )
