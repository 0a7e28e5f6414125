"""TEMPORARY, for the bench's A-B-B-A comparison only (OTEL_LABEL_STUDIO_HTTP_SERVER=stdlib).

OTLP/HTTP: ``POST /v1/traces``, plus ``/healthz``, ``/readyz`` and ``/metrics`` on the same port.

Checks go cheapest first and never read a body that will be refused: method (405), token
(401), content type (415), encoding (400), declared length (411/413). Every answer carries a
Content-Length, success bodies are an ``ExportTraceServiceResponse`` and error bodies a
``google.rpc.Status``, both in the request's content type. An answer sent before the body was
read closes the connection, so a half-read body is never taken for the next request.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from ..spool import SpoolFull
from .intake import PROJECT_HEADER, Intake, project_from_header
from .otlp import (
    JSON,
    PROTOBUF,
    OtlpError,
    check_content_type,
    check_encoding,
    encode,
    inflate,
    media_type,
    parse_request,
    status_body,
)

_logger = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
WEBHOOK_PATH = "/webhooks/label-studio"
READ_TIMEOUT_SECONDS = 30.0
DISCARD_LIMIT_BYTES = 16 * 1024 * 1024


class OtlpHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        intake: Intake,
        *,
        auth_token: str | None,
        max_body_bytes: int,
        readiness: Callable[[], tuple[bool, str]],
        metrics: Callable[[], str],
        webhook: Callable[[dict[str, Any]], int] | None = None,
        **_ignored: Any,
    ):
        super().__init__(address, OtlpHttpHandler)
        self.intake = intake
        self.auth_token = auth_token
        self.max_body_bytes = max_body_bytes
        self.readiness = readiness
        self.metrics = metrics
        self.webhook = webhook
        self.responses: dict[int, int] = {}
        self._responses_lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="otlp-http", daemon=True
        ).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def count_response(self, status: int) -> None:
        with self._responses_lock:
            self.responses[status] = self.responses.get(status, 0) + 1


class OtlpHttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "otel-label-studio"
    sys_version = ""
    timeout = READ_TIMEOUT_SECONDS
    server: OtlpHttpServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        _logger.debug("%s %s", self.address_string(), format % args)

    # --- OTLP ---------------------------------------------------------------------------------

    def do_POST(self) -> None:
        if self._path() == WEBHOOK_PATH:
            self._webhook()
            return
        if self._path() != TRACES_PATH:
            self._refuse(
                OtlpError(404, f"no such endpoint: POST {self._path()}; send traces to {TRACES_PATH}")
            )
            return
        kind = media_type(self.headers.get("Content-Type"))
        reply_kind = kind if kind in (PROTOBUF, JSON) else JSON
        try:
            self._check_token()
            kind = check_content_type(self.headers.get("Content-Type"))
            encoding = check_encoding(self.headers.get("Content-Encoding"))
            project = self._project()
            body = self._read_body()
            request = parse_request(inflate(body, encoding, self.server.max_body_bytes), kind)
            response = self.server.intake.accept(request, project)
        except OtlpError as error:
            self._refuse(error, reply_kind)
            return
        except SpoolFull as full:
            _logger.warning("Spool full, asking the sender to retry later: %s", full)
            self._refuse(
                OtlpError(503, f"the bridge is busy: {full}; retry later"), reply_kind, full.retry_after
            )
            return
        except Exception:
            _logger.exception("Unexpected error while receiving spans")
            self._refuse(OtlpError(500, "internal error while receiving spans"), reply_kind)
            return
        if response.HasField("partial_success"):
            _logger.warning(
                "Accepted a request with %d rejected spans: %s",
                response.partial_success.rejected_spans,
                response.partial_success.error_message,
            )
        self._send(200, encode(response, kind), kind)

    def _webhook(self) -> None:
        """Label Studio's annotation webhooks: human scores go back to the traces as evaluation events."""
        try:
            self._check_token()
            if self.server.webhook is None:
                raise OtlpError(404, "no --feedback-endpoint is set, so webhooks are not taken")
            if media_type(self.headers.get("Content-Type")) != JSON:
                raise OtlpError(415, "webhooks are JSON (application/json)")
            body = self._read_body()
            try:
                payload = json.loads(body)
            except ValueError as exc:
                raise OtlpError(400, f"malformed JSON: {exc}") from None
            if not isinstance(payload, dict):
                raise OtlpError(400, "a webhook payload is a JSON object")
            sent = self.server.webhook(payload)
        except OtlpError as error:
            self._refuse(error, JSON)
            return
        except Exception as exc:  # the events could not be kept: say so, Label Studio logs it
            _logger.warning("Could not keep a Label Studio webhook's evaluation events: %s", exc)
            self._refuse(OtlpError(503, f"could not keep the evaluation events: {exc}"), JSON)
            return
        self._send(200, json.dumps({"evaluation_events": sent}).encode(), JSON)

    def _check_token(self) -> None:
        token = self.server.auth_token
        if token is None:
            return
        given = self.headers.get("Authorization") or ""
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise OtlpError(401, "missing or wrong bearer token (Authorization: Bearer <token>)")

    def _project(self) -> str | None:
        try:
            return project_from_header(self.headers.get(PROJECT_HEADER))
        except ValueError as exc:
            raise OtlpError(400, str(exc)) from None

    def _read_body(self) -> bytes:
        limit = self.server.max_body_bytes
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            raise OtlpError(411, "Content-Length is required (or Transfer-Encoding: chunked)")
        try:
            length = int(raw_length)
            if length < 0:
                raise ValueError
        except ValueError:
            raise OtlpError(400, f"bad Content-Length {raw_length!r}") from None
        if length > limit:
            self._discard(length)
            raise OtlpError(413, f"request body of {length} bytes is larger than the {limit}-byte limit")
        body = self.rfile.read(length)
        if len(body) != length:
            raise OtlpError(400, "request body ended before Content-Length bytes")
        return body

    def _discard(self, length: int) -> None:
        """Read (and drop) some of a refused body, so the sender is still reading when the 413 comes."""
        left = min(length, DISCARD_LIMIT_BYTES)
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                return
            left -= len(chunk)

    def _read_chunked(self, limit: int) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(66)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise OtlpError(400, "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1026).strip():  # trailers
                    pass
                return bytes(body)
            if len(body) + size > limit:
                raise OtlpError(413, f"request body is larger than the {limit}-byte limit")
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise OtlpError(400, "chunked body ended early")
            body += chunk
            self.rfile.readline(3)

    # --- operations -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self._path()
        if path == "/healthz":
            self._send(200, b"ok\n", "text/plain; charset=utf-8")
        elif path == "/readyz":
            ready, message = self.server.readiness()
            self._send(200 if ready else 503, (message + "\n").encode(), "text/plain; charset=utf-8")
        elif path == "/metrics":
            self._send(200, self.server.metrics().encode(), "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._not_allowed()

    def _not_allowed(self) -> None:
        if self._path() == TRACES_PATH:
            self._refuse(OtlpError(405, f"{self.command} is not allowed on {TRACES_PATH}: use POST"))
        else:
            self._refuse(OtlpError(404, f"no such endpoint: {self.command} {self._path()}"))

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _not_allowed

    # --- answers ----------------------------------------------------------------------------------

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _refuse(self, error: OtlpError, kind: str = JSON, retry_after: float | None = None) -> None:
        if error.status != 500:  # a 500 was logged with its traceback
            _logger.info("%s %s -> %d: %s", self.command, self._path(), error.status, error.message)
        headers = {}
        if error.status == 405:
            headers["Allow"] = "POST"
        if error.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="otel-label-studio"'
        if retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        # An error may come before the body was read: do not read the rest as a new request.
        self.close_connection = True
        headers["Connection"] = "close"
        self._send(error.status, status_body(error, kind), kind, headers)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.server.count_response(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
