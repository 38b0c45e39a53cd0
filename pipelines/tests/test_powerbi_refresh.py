"""powerbi_refresh against a loopback token endpoint and Power BI refresh endpoint."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from oms_pipeline.jobs import powerbi_refresh as job

WS = "11111111-2222-3333-4444-555555555555"
DS = "66666666-7777-8888-9999-000000000000"
REFRESH_PATH = f"/v1.0/myorg/groups/{WS}/datasets/{DS}/refreshes"


class Fake:
    """Scripted responses per path; records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.script: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}

    def respond(self, path: str, status: int, headers: dict | None = None, body: bytes = b""):
        self.script.setdefault(path, []).append((status, headers or {}, body))

    def next(self, path: str) -> tuple[int, dict[str, str], bytes]:
        queue = self.script.get(path) or [(404, {}, b'{"error":"no such path"}')]
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture()
def fake() -> Iterator[tuple[Fake, str]]:
    state = Fake()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append((self.command, self.path, dict(self.headers), body))
            status, headers, payload = state.next(self.path)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

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


def _argv(base: str) -> list[str]:
    return [
        "--workspace-id",
        WS,
        "--dataset-id",
        DS,
        "--tenant-id",
        "tenant",
        "--client-id",
        "publisher-app",
        "--token-url",
        f"{base}/tenant/oauth2/v2.0/token",
        "--api-base-url",
        base,
    ]


TOKEN = json.dumps({"access_token": "tok-123", "token_type": "Bearer"}).encode()


def test_requests_a_refresh_with_a_client_credentials_token(fake, monkeypatch, capsys) -> None:
    state, base = fake
    monkeypatch.setenv(job.SECRET_ENV, "s3cret")
    state.respond("/tenant/oauth2/v2.0/token", 200, {"Content-Type": "application/json"}, TOKEN)
    state.respond(REFRESH_PATH, 202, {"RequestId": "req-1"})

    assert job.main(_argv(base), sleep=lambda s: None) == 0

    (_, _, _, token_body), (method, path, headers, body) = state.requests
    form = urllib.parse.parse_qs(token_body.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["publisher-app"],
        "client_secret": ["s3cret"],
        "scope": [job.POWERBI_SCOPE],
    }
    assert (method, path) == ("POST", REFRESH_PATH)
    assert headers["Authorization"] == "Bearer tok-123"
    assert json.loads(body) == {"notifyOption": "NoNotification"}
    out = json.loads(capsys.readouterr().out)
    assert out == {"workspaceId": WS, "datasetId": DS, "requestId": "req-1", "status": "accepted"}


def test_retries_429_and_5xx_honouring_retry_after(fake, monkeypatch) -> None:
    state, base = fake
    monkeypatch.setenv(job.SECRET_ENV, "s3cret")
    state.respond("/tenant/oauth2/v2.0/token", 503, {"Retry-After": "2"}, b"busy")
    state.respond("/tenant/oauth2/v2.0/token", 200, {}, TOKEN)
    state.respond(REFRESH_PATH, 429, {"Retry-After": "7"}, b"slow down")
    state.respond(REFRESH_PATH, 500, {}, b"oops")
    state.respond(REFRESH_PATH, 202, {})
    waits: list[float] = []

    assert job.main([*_argv(base), "--max-wait-seconds", "5"], sleep=waits.append) == 0
    # Token: Retry-After 2. Refresh: Retry-After 7 capped at 5, then 2**2 without a header.
    assert waits == [2.0, 5.0, 4.0]
    assert [p for _, p, _, _ in state.requests].count(REFRESH_PATH) == 3


def test_gives_up_after_max_attempts_with_a_clear_error(fake, monkeypatch) -> None:
    state, base = fake
    monkeypatch.setenv(job.SECRET_ENV, "s3cret")
    state.respond("/tenant/oauth2/v2.0/token", 200, {}, TOKEN)
    state.respond(REFRESH_PATH, 503, {"Retry-After": "0"}, b"still down")

    with pytest.raises(SystemExit) as exc:
        job.main([*_argv(base), "--max-attempts", "3"], sleep=lambda s: None)
    message = str(exc.value)
    assert f"refresh of dataset {DS} in workspace {WS} failed with HTTP 503" in message
    assert "after 3 attempt(s): still down" in message


def test_client_errors_are_not_retried(fake, monkeypatch) -> None:
    state, base = fake
    monkeypatch.setenv(job.SECRET_ENV, "wrong")
    state.respond(
        "/tenant/oauth2/v2.0/token",
        401,
        {},
        b'{"error":"invalid_client","error_description":"bad"}',
    )

    with pytest.raises(SystemExit, match=r"token request failed with HTTP 401 after 1 attempt"):
        job.main(_argv(base), sleep=lambda s: pytest.fail("must not wait"))
    assert len(state.requests) == 1


def test_missing_secret_names_the_scope_and_the_variable(monkeypatch) -> None:
    monkeypatch.delenv(job.SECRET_ENV, raising=False)
    argv = [*_argv("http://127.0.0.1:9"), "--secret-scope", "oms-dev-powerbi", "--secret-key", "k"]
    with pytest.raises(SystemExit, match=r"oms-dev-powerbi/k .* OMS_POWERBI_CLIENT_SECRET"):
        job.main(argv)


def test_parser_requires_the_ids() -> None:
    with pytest.raises(SystemExit):
        job.build_parser().parse_args(["--workspace-id", WS])
