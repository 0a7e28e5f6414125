"""A reverse proxy in front of the real Label Studio that a test can switch off and on, or have
refuse one marked task the way Label Studio refuses invalid task data (HTTP 400), or answer one
API path with a server error (HTTP 500).

For imports it can also play what a slow or lossy path does: hold the next imports before
forwarding them (``hold``), answer 502 at once while the import goes on to Label Studio
(``gateway_error``), strip the predictions of the next imports (``strip_predictions``, as a
Label Studio that lost them does) or spoil one prediction (``malform``).

Label Studio accepts every task our layouts make, so a poisoned task has to be arranged; and
stopping the shared server costs a minute, so "Label Studio is down" is a refused connection
here. Everything else goes to the real server and lands there.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.support.labelstudio_server import free_port

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "host"}


class LabelStudioProxy:
    def __init__(self, target: str, *, poison: str | None = None, failing_path: str | None = None):
        self.target = target.rstrip("/")
        self.poison = poison
        self.failing_path = failing_path  # requests whose path starts with it get HTTP 500
        self.failed_requests = 0
        self.port = free_port()
        self.refused_imports = 0
        self.hold: list[float] = []  # seconds to hold each of the next imports before forwarding
        self.gateway_error = 0  # next imports answered 502 at once, forwarded in the background
        self.strip_predictions = 0  # next imports forwarded without their predictions
        self.malform = 0  # next imports forwarded with their first prediction not an object
        self.imports_forwarded = 0  # imports Label Studio answered
        self.imports_open = 0  # imports taken and not yet answered by Label Studio
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.target, timeout=120)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.failing_path and self.path.startswith(proxy.failing_path):
                    proxy.failed_requests += 1
                    self._answer(500, json.dumps({"detail": "server error (test proxy)"}).encode())
                    return
                if proxy.poison and self.command == "POST" and self.path.split("?")[0].endswith("/import"):
                    tasks = json.loads(body or b"[]")
                    if any(proxy.poison in json.dumps(task.get("data", {})) for task in tasks):
                        proxy.refused_imports += 1
                        self._answer(
                            400, json.dumps({"validation_errors": {"data": ["poisoned task"]}}).encode()
                        )
                        return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if self.command == "POST" and self.path.split("?")[0].endswith("/import"):
                    self._import(body, headers)
                    return
                response = proxy._client.request(self.command, self.path, content=body, headers=headers)
                self._answer(response.status_code, response.content, response.headers)

            def _import(self, body: bytes, headers: dict[str, str]) -> None:
                with proxy._lock:
                    proxy.imports_open += 1
                    hold = proxy.hold.pop(0) if proxy.hold else 0.0
                    gateway = proxy.gateway_error > 0
                    proxy.gateway_error -= int(gateway)
                    strip = proxy.strip_predictions > 0
                    proxy.strip_predictions -= int(strip)
                    malform = proxy.malform > 0
                    proxy.malform -= int(malform)
                if strip or malform:
                    tasks = json.loads(body)
                    for task in tasks:
                        if strip:
                            task.pop("predictions", None)
                    if malform:
                        tasks[0]["predictions"] = ["not an object"]
                    body = json.dumps(tasks).encode()

                path = self.path  # the handler takes the connection's next request meanwhile

                def forward() -> httpx.Response:
                    time.sleep(hold)
                    try:
                        return proxy._client.request("POST", path, content=body, headers=headers)
                    finally:
                        with proxy._lock:
                            proxy.imports_forwarded += 1
                            proxy.imports_open -= 1

                if gateway:
                    threading.Thread(target=forward, daemon=True).start()
                    self._answer(502, b"<html><body>502 Bad Gateway</body></html>")
                    return
                response = forward()
                with contextlib.suppress(OSError):  # the client gave up waiting
                    self._answer(response.status_code, response.content, response.headers)

            def _answer(self, status: int, body: bytes, headers: httpx.Headers | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {"Content-Type": "application/json"}).items():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def settled(self) -> bool:
        """Every import it took has been answered by Label Studio, and none is waiting to be held."""
        with self._lock:
            return self.imports_open == 0 and not self.hold

    def down(self) -> None:
        """Refuse connections, as a stopped Label Studio does."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self.down()
        self._client.close()
