"""The local dashboard's HTTP server: static page plus two JSON endpoints (HTTP only).

- ``/``                 the dashboard page (``oms_pipeline/live/static/``)
- ``/static/<path>``    its script, style sheet and vendored chart library
- ``/api/dashboard``    the latest Gold snapshot (``queries.dashboard``), with a version number
- ``/api/status``       run status: layer counts, quarantine, freshness, throughput

The server only serves what the run publishes into a ``Snapshot``; it never queries Spark, so
polling browsers add no load to the pipeline.
"""

from __future__ import annotations

import json
import mimetypes
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any


@dataclass
class Snapshot:
    """Thread-safe holder of the latest published dashboard data and status."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    dashboard: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    version: int = 0

    def publish_dashboard(self, data: dict[str, Any], at: float) -> None:
        with self._lock:
            self.version += 1
            self.dashboard = data | {"version": self.version, "generated_at": at}

    def publish_status(self, status: dict[str, Any]) -> None:
        with self._lock:
            self.status = status

    def read(self, what: str) -> bytes:
        with self._lock:
            body = self.dashboard if what == "dashboard" else self.status
            return json.dumps(body, default=str).encode()


def _static(name: str) -> bytes | None:
    # Files under static/ only (vendor/chart.js/... included): no empty or dot-led path part.
    parts = name.split("/")
    if any(not p or p.startswith(".") for p in parts):
        return None
    f = resources.files("oms_pipeline.live").joinpath("static", *parts)
    return f.read_bytes() if f.is_file() else None


def make_handler(snapshot: Snapshot) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/api/dashboard", "/api/status"):
                self._send(200, "application/json", snapshot.read(path.rsplit("/", 1)[1]))
                return
            name = "index.html" if path in ("/", "/index.html") else path.removeprefix("/static/")
            body = _static(name)
            if body is None:
                self._send(404, "text/plain", b"not found")
                return
            ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self._send(200, ctype, body)

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype + ("; charset=utf-8" if "text" in ctype else ""))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet console
            return

    return Handler


class DashboardServer:
    """Serves ``snapshot`` on ``host:port`` (port 0: any free port) in a daemon thread, once
    started. The socket is bound here, so a run binds it before Spark starts: ``socket.gaierror``
    when ``host`` names no address, ``OSError`` when ``host:port`` cannot be listened on. IPv4 or
    IPv6, as ``host`` resolves (``http.server``'s own command line chooses the same way)."""

    def __init__(self, snapshot: Snapshot, host: str = "127.0.0.1", port: int = 8050) -> None:
        self.snapshot = snapshot
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        server = type("Server", (ThreadingHTTPServer,), {"address_family": family})
        self._httpd = server((host, port), make_handler(snapshot))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> DashboardServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for a serve_forever that never ran
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
