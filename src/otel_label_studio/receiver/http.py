"""OTLP/HTTP: ``POST /v1/traces`` and ``POST /v1/logs`` (judge results), plus ``/healthz``,
``/readyz`` and ``/metrics`` on the same port.

HTTP/1.1 itself (framing, chunking, keep-alive, the listen backlog) is uvicorn's with the
httptools parser, which refuses malformed framing before our code runs: a bad or negative chunk
size, two different Content-Length headers, Content-Length together with Transfer-Encoding
(400). What is ours is OTLP's rules, in a small ASGI app:

Checks go cheapest first and never read a body that will be refused: method (405), token
(401), content type (415), encoding (400), declared length (411/413, and 503 + Retry-After
when it cannot fit in what is left of the shared ``ReceiveBudget``). The body is then read
holding no slot: its bytes are charged to the receive budget as they arrive (503 + Retry-After
when they pass it) and released when the request ends, so slow or stalled senders hold only
what they have sent. A body must arrive within the read timeout (408). Only a whole body
takes a slot of the shared ``DecodeGate`` (503 + Retry-After when none frees in time), and
keeps it while the body is inflated, parsed, mapped and spooled; the body, the inflated bytes
and the parsed request are dropped once the records are mapped. Every answer carries a Content-Length;
success bodies are an ``ExportTraceServiceResponse`` (``ExportLogsServiceResponse``) and error
bodies a ``google.rpc.Status``, both in the request's content type. An answer given before the
body was read closes the connection, after reading (and dropping) a bounded part of what the
sender is still sending, so the sender reads the answer rather than a reset.

Decoding and spooling run on a small thread pool, operations (readiness, metrics, webhooks) on
another: the event loop only moves bytes, so idle or slow connections never stop the others.

Both signals follow the same rules above, one route each (``_Signal``): only how a whole body is
decoded and where it is committed differ. Who may send, what busy means and what a partial
success logs are ``policy.py``'s; traces go to the intake, judge results sent as logs to the
judge intake (``judge_intake.py``) and Label Studio's webhooks to the feedback loop
(``otel_label_studio.feedback``): this module only speaks HTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

import uvicorn
from google.protobuf.message import Message
from google.rpc import code_pb2
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..config import default
from ..feedback.webhook import WebhookRefused
from ..reading.mapping import MappingResult
from .intake import PROJECT_HEADER, Intake, project_from_header
from .judge_intake import JudgeIntake
from .limits import (
    Busy,
    Charge,
    DecodeGate,
    ReceiveBudget,
)
from .otlp import (
    CONTENT_TYPES,
    JSON,
    OtlpError,
    check_content_type,
    check_encoding,
    encode,
    inflate,
    media_type,
    parse_request,
    status_body,
)
from .policy import BUSY, ReceiverPolicy, Refusal

_logger = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
LOGS_PATH = "/v1/logs"
WEBHOOK_PATH = "/webhooks/label-studio"
DISCARD_LIMIT_BYTES = 16 * 1024 * 1024
DISCARD_SECONDS = 5.0
DISCARD_IDLE_SECONDS = 0.5
BACKLOG = 2048
KEEP_ALIVE_SECONDS = 30.0  # an idle keep-alive connection is closed after this long
SHUTDOWN_GRACE_SECONDS = 5.0
START_TIMEOUT_SECONDS = 10.0
OPERATION_THREADS = 4
MAX_HEAD_BYTES = 64 * 1024  # request line and headers
TEXT = "text/plain; charset=utf-8"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the Prometheus text format

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ReadTimeout(OtlpError):
    """The body did not arrive in time: 408, DEADLINE_EXCEEDED."""

    def __init__(self, seconds: float):
        super().__init__(408, f"the request body did not arrive within {seconds:g}s")

    @property
    def code(self) -> int:
        return code_pb2.DEADLINE_EXCEEDED


class _Gone(Exception):
    """The sender closed the connection: nobody is left to answer."""


class _Unread(Exception):
    """The body passed the receive budget while it was read (its cause, a ``Busy``)."""


@dataclass(frozen=True)
class _Signal:
    """One OTLP export route: how a whole, inflated body becomes work ready to commit (in a decode
    slot: parse, map) and how that work is committed (spooled, or handed to the judge sink; it
    raises ``QueueFull`` when it cannot be taken now). Everything else is the same for every
    signal: auth, content types, encodings, size limits, the receive budget and decode slots."""

    path: str
    items: str  # what the request carries, for messages: "spans", "log records"
    prepare: Callable[[list[bytes], str, str | None], Any]  # [body] (emptied), content type, project
    commit: Callable[[Any], Message]  # work -> the Export*ServiceResponse


class Webhook(Protocol):
    """Where Label Studio's annotation webhooks go (``feedback.loop.FeedbackLoop``, or
    ``feedback.annotation_webhooks.AnnotationWebhooks`` when they only reveal judges), in two steps:
    ``read`` parses a whole body (in a decode slot) into what it claims, after which the body is
    dropped; ``take`` acts on the claims (on an operations thread) and returns the answer's JSON
    object. Either raises ``WebhookRefused`` with the status to answer; ``take`` raises ``BUSY``
    (a full disk under the outbox) or any other exception when the events could not be kept (503)."""

    def read(self, body: bytearray) -> Any: ...

    def take(self, claims: Any) -> dict[str, int]: ...


class OtlpApp:
    """The ASGI application: OTLP's rules over whatever HTTP server runs it."""

    def __init__(
        self,
        intake: Intake,
        *,
        max_body_bytes: int,
        readiness: Callable[[], tuple[bool, str]],
        metrics: Callable[[], bytes],
        policy: ReceiverPolicy | None = None,
        webhook: Webhook | None = None,
        gate: DecodeGate | None = None,
        budget: ReceiveBudget | None = None,
        max_spans: int = default("max_spans_per_request"),
        read_timeout: float = default("http_read_timeout"),
        judge: JudgeIntake | None = None,
    ):
        """``judge``: where judge results sent as OTLP logs go (``POST /v1/logs``); without it,
        that path is a 404 saying so."""
        self.intake = intake
        self.judge = judge
        self.policy = policy or ReceiverPolicy(None)
        self.max_body_bytes = max_body_bytes
        self.readiness = readiness
        self.metrics = metrics
        self.webhook = webhook
        self.gate = gate or DecodeGate()
        self.budget = budget or ReceiveBudget()
        self.max_spans = max_spans
        self.read_timeout = read_timeout
        self.responses: dict[int, int] = {}
        self._responses_lock = threading.Lock()
        # A decode holds a gate slot, so the gate's size is all the ingest threads ever needed.
        self._ingest = ThreadPoolExecutor(self.gate.slots, thread_name_prefix="otlp-http-ingest")
        self._operations = ThreadPoolExecutor(OPERATION_THREADS, thread_name_prefix="otlp-http-ops")
        self._signals = {TRACES_PATH: _Signal(TRACES_PATH, "spans", self._map_spans, intake.spool)}
        if judge is not None:
            logs = _Signal(LOGS_PATH, "log records", self._read_judge_results, judge.commit)
            self._signals[LOGS_PATH] = logs

    def close(self) -> None:
        self._ingest.shutdown(wait=True)
        self._operations.shutdown(wait=True)

    def count_response(self, status: int) -> None:
        with self._responses_lock:
            self.responses[status] = self.responses.get(status, 0) + 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # no lifespan, no websockets
            return
        request = _Request(scope, receive, send)
        path, method = request.path, request.method
        signal = self._signals.get(path)
        if method == "POST" and signal is not None:
            await self._export(request, signal)
        elif method == "POST" and path == LOGS_PATH:
            error = OtlpError(404, f"no judge results (logs) are taken here: send traces to {TRACES_PATH}")
            kind = media_type(request.header("content-type"))
            await self._refuse(request, error, kind if kind in CONTENT_TYPES else JSON, unread=True)
        elif method == "POST" and path == WEBHOOK_PATH:
            await self._webhook(request)
        elif method == "POST":
            error = OtlpError(404, f"no such endpoint: POST {path}; send traces to {TRACES_PATH}")
            await self._refuse(request, error, JSON, unread=True)
        elif method == "GET" and path == "/healthz":
            await self._send(request, 200, b"ok\n", TEXT)
        elif method == "GET" and path == "/readyz":
            ready, message = await self._run(self._operations, self.readiness)
            await self._send(request, 200 if ready else 503, (message + "\n").encode(), TEXT)
        elif method == "GET" and path == "/metrics":
            text = await self._run(self._operations, self.metrics)
            await self._send(request, 200, text, METRICS_TYPE)
        elif path in (TRACES_PATH, LOGS_PATH):
            error = OtlpError(405, f"{method} is not allowed on {path}: use POST")
            await self._refuse(request, error, JSON, unread=True)
        else:
            error = OtlpError(404, f"no such endpoint: {method} {path}")
            await self._refuse(request, error, JSON, unread=True)

    # --- OTLP ---------------------------------------------------------------------------------

    async def _export(self, request: _Request, signal: _Signal) -> None:
        """An OTLP export request of any signal, under the same rules."""
        raw_type = request.header("content-type")
        kind = media_type(raw_type)
        reply_kind = kind if kind in CONTENT_TYPES else JSON
        account = self.budget.account()
        try:
            self.policy.authorize(request.header("authorization"))
            kind = check_content_type(raw_type)
            encoding = check_encoding(request.header("content-encoding"))
            project = self._project(request)
            declared = self._check_length(request)
            if declared is not None:
                account.check(declared)
        except OtlpError as error:
            await self._refuse(request, error, reply_kind, unread=True)
            return
        except Busy as busy:
            await self._refuse(request, self.policy.busy(busy), reply_kind, unread=True)
            return
        with account:  # the body's bytes stay charged until the request is answered
            try:
                response = await self._ingest_body(request, signal, account, encoding, kind, project)
            except _Unread as unread:
                assert isinstance(unread.__cause__, Busy)
                await self._refuse(request, self.policy.busy(unread.__cause__), reply_kind, unread=True)
                return
            except BUSY as busy:  # a decode slot not free in time, or the spool full
                await self._refuse(request, self.policy.busy(busy), reply_kind)
                return
            except OtlpError as error:
                await self._refuse(request, error, reply_kind)
                return
            except _Gone:
                _logger.debug(
                    "POST %s: the sender closed the connection before its body was read", signal.path
                )
                return
            except Exception:
                _logger.exception("Unexpected error while receiving %s", signal.items)
                refusal = OtlpError(500, f"internal error while receiving {signal.items}")
                await self._refuse(request, refusal, reply_kind)
                return
        self.policy.accepted(response)
        await self._send(request, 200, encode(response, kind), kind)

    async def _ingest_body(
        self,
        request: _Request,
        signal: _Signal,
        account: Charge,
        encoding: str | None,
        kind: str,
        project: str | None,
    ) -> Any:
        """Read the body (charged to the budget, no slot held), then decode and commit it in a
        decode slot. The budget passed while reading raises ``_Unread`` (the rest of the body is
        still coming) from the ``Busy``, with the pieces read so far already dropped."""
        try:
            chunks = await self._read_body(request, account)
        except Busy as busy:
            raise _Unread from busy.with_traceback(None)
        async with self.gate.async_slot():
            return await self._run(self._ingest, self._take, signal, chunks, encoding, kind, project)

    def _take(
        self, signal: _Signal, chunks: list[bytes], encoding: str | None, kind: str, project: str | None
    ) -> Message:
        """Decode and commit, in one worker-thread call (one hop from the event loop and back
        per request, not two); the work is dropped before the answer goes back."""
        work = self._decode(signal, chunks, encoding, kind, project)
        return signal.commit(work)

    def _decode(
        self, signal: _Signal, chunks: list[bytes], encoding: str | None, kind: str, project: str | None
    ) -> Any:
        """Body pieces -> the signal's work (mapped records, judge results), in a worker thread.
        Empties ``chunks``; the body and the inflated bytes are released when this returns."""
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        chunks.append(inflate(body, encoding, self.max_body_bytes))
        del body
        return signal.prepare(chunks, kind, project)

    def _map_spans(self, held: list[bytes], kind: str, project: str | None) -> MappingResult:
        """Traces: the body is dropped once parsed, the parsed request once its records are mapped."""
        request = parse_request(held.pop(), kind, max_spans=self.max_spans)
        return self.intake.map(request, project)

    def _read_judge_results(self, held: list[bytes], kind: str, project: str | None) -> Any:
        """Logs: judge results name their span, so the project header does not apply; the
        request's log records share the per-request limit on spans."""
        assert self.judge is not None
        return self.judge.decode(held.pop(), kind, max_records=self.max_spans)

    async def _webhook(self, request: _Request) -> None:
        """Label Studio's annotation webhooks: the secret checked before the body is read, the body
        read into one buffer (charged to the receive budget), parsed in a decode slot and dropped,
        then what it claims handed to the feedback loop. 401 without the secret, 400 malformed,
        413 too large, 422 not confirmed in Label Studio, 503 (with Retry-After) when Label Studio
        cannot be asked or the outbox cannot keep the events."""
        account = self.budget.account()
        try:
            if self.webhook is None:
                raise OtlpError(
                    404,
                    "no --feedback-endpoint (nor --reveal-judges after_answer) is set, so webhooks are "
                    "not taken",
                )
            self.policy.authorize_webhook(request.header("authorization"))
            if media_type(request.header("content-type")) != JSON:
                raise OtlpError(415, "webhooks are JSON (application/json)")
            declared = self._check_length(request)
            if declared is not None:
                account.check(declared)
        except OtlpError as error:
            await self._refuse(request, error, JSON, unread=True)
            return
        except Busy as busy:
            await self._refuse(request, self.policy.busy(busy), JSON, unread=True)
            return
        with account:
            try:
                answer = await self._take_webhook(request, self.webhook, account)
            except _Unread as unread:
                assert isinstance(unread.__cause__, Busy)
                await self._refuse(request, self.policy.busy(unread.__cause__), JSON, unread=True)
                return
            except BUSY as busy:  # no decode slot in time, or the disk under the outbox full
                await self._refuse(request, self.policy.busy(busy), JSON)
                return
            except WebhookRefused as refused:
                await self._refuse(
                    request, Refusal(refused.status, refused.message, refused.retry_after), JSON
                )
                return
            except OtlpError as error:
                await self._refuse(request, error, JSON)
                return
            except _Gone:
                return
            except Exception as exc:  # the events could not be kept: say so, Label Studio logs it
                _logger.warning("Could not keep a Label Studio webhook's evaluation events: %s", exc)
                refusal = OtlpError(503, f"could not keep the evaluation events: {exc}")
                await self._refuse(request, refusal, JSON)
                return
        await self._send(request, 200, json.dumps(answer).encode(), JSON)

    async def _take_webhook(self, request: _Request, webhook: Webhook, account: Charge) -> dict[str, int]:
        """Read the body into one buffer, parse it in a decode slot (the buffer is dropped when
        the parse returns), then hand its claims to the feedback loop."""
        try:
            held = [await self._read_buffer(request, account)]
        except Busy as busy:
            raise _Unread from busy.with_traceback(None)
        async with self.gate.async_slot():
            claims = await self._run(self._ingest, _read_held, webhook, held)
        account.release()  # the body is gone: its bytes no longer count against the budget
        return await self._run(self._operations, webhook.take, claims)

    def _project(self, request: _Request) -> str | None:
        try:
            return project_from_header(request.header(PROJECT_HEADER))
        except ValueError as exc:
            raise OtlpError(400, str(exc)) from None

    def _check_length(self, request: _Request) -> int | None:
        """The declared length (None when chunked); 411 without one, 413 when it is over the cap
        (nothing read yet). The parser has already refused a malformed, negative or doubled
        Content-Length."""
        if "chunked" in (request.header("transfer-encoding") or "").lower():
            return None
        raw = request.header("content-length")
        if raw is None:
            raise OtlpError(411, "Content-Length is required (or Transfer-Encoding: chunked)")
        try:
            length = int(raw)
        except ValueError:
            raise OtlpError(400, f"bad Content-Length {raw[:40]!r}") from None
        if length > self.max_body_bytes:
            raise OtlpError(
                413, f"request body of {length} bytes is larger than the {self.max_body_bytes}-byte limit"
            )
        return length

    async def _read_body(self, request: _Request, account: Charge) -> list[bytes]:
        """The body's pieces, up to the cap (413), within the read timeout (408), each charged to
        ``account`` as it arrives (``Busy`` when it passes the receive budget). One timer for the
        whole body, not one per piece: each timed wait costs a task and a turn of the loop."""
        try:
            return await asyncio.wait_for(self._read_pieces(request, account), self.read_timeout)
        except asyncio.TimeoutError:
            raise ReadTimeout(self.read_timeout) from None

    async def _read_pieces(self, request: _Request, account: Charge) -> list[bytes]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise OtlpError(413, f"request body is larger than the {self.max_body_bytes}-byte limit")
            account.add(len(chunk))
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks

    async def _read_buffer(self, request: _Request, account: Charge) -> bytearray:
        """The body in one growing buffer (no list of pieces to join into a second copy), with the
        bounds of ``_read_body``: the cap (413), the read timeout (408), the receive budget."""
        try:
            return await asyncio.wait_for(self._fill_buffer(request, account), self.read_timeout)
        except asyncio.TimeoutError:
            raise ReadTimeout(self.read_timeout) from None

    async def _fill_buffer(self, request: _Request, account: Charge) -> bytearray:
        buffer = bytearray()
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            if len(buffer) + len(chunk) > self.max_body_bytes:
                raise OtlpError(413, f"request body is larger than the {self.max_body_bytes}-byte limit")
            account.add(len(chunk))
            buffer += chunk
            if not message.get("more_body", False):
                return buffer

    async def _receive(self, request: _Request, seconds: float) -> dict[str, Any]:
        if seconds <= 0:
            raise ReadTimeout(self.read_timeout)
        try:
            message = await asyncio.wait_for(request.receive(), seconds)
        except asyncio.TimeoutError:
            raise ReadTimeout(self.read_timeout) from None
        if message["type"] == "http.disconnect":
            raise _Gone
        return message

    async def _discard(self, request: _Request) -> None:
        """Read (and drop) some of a refused body, so the sender is still reading when the answer
        comes. Not when it waits for ``100 Continue``: then it sends nothing more."""
        if (request.header("expect") or "").lower() == "100-continue":
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(self.read_timeout, DISCARD_SECONDS)
        left = DISCARD_LIMIT_BYTES
        try:
            while left > 0:  # a sender that pauses is not sending its body: answer it now
                wait = min(DISCARD_IDLE_SECONDS, deadline - loop.time())
                message = await self._receive(request, wait)
                left -= len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
        except (ReadTimeout, _Gone):
            return

    @staticmethod
    async def _run(executor: ThreadPoolExecutor, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, function, *args)

    # --- answers ----------------------------------------------------------------------------------

    async def _refuse(
        self,
        request: _Request,
        error: OtlpError,
        kind: str,
        *,
        unread: bool = False,
    ) -> None:
        """An error answer with a google.rpc.Status body (and Retry-After when the policy says when
        to retry); it closes the connection, as the rest of the body may still be on its way.
        ``unread``: the body was not read at all."""
        if error.status != 500:  # a 500 was logged with its traceback
            _logger.info("%s %s -> %d: %s", request.method, request.path, error.status, error.message)
        headers = [(b"connection", b"close")]
        if error.status == 405:
            headers.append((b"allow", b"POST"))
        if error.status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="otel-label-studio"'))
        if isinstance(error, Refusal) and error.retry_after is not None:
            headers.append((b"retry-after", str(max(1, math.ceil(error.retry_after))).encode()))
        if unread:
            await self._discard(request)
        await self._send(request, error.status, status_body(error, kind), kind, headers)

    async def _send(
        self,
        request: _Request,
        status: int,
        body: bytes,
        content_type: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.count_response(status)
        raw = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"server", b"otel-label-studio"),
            *(headers or ()),
        ]
        await request.send({"type": "http.response.start", "status": status, "headers": raw})
        await request.send({"type": "http.response.body", "body": body})


def _read_held(webhook: Webhook, held: list[bytearray]) -> Any:
    """``webhook.read`` of the body in ``held``, taken out of it, so it is freed when this returns
    (a refusal is raised without the frames that still hold it)."""
    try:
        return webhook.read(held.pop())
    except WebhookRefused as refused:
        raise refused.with_traceback(None) from None


class _Request:
    """What the app reads of one ASGI request: method, path, first value of each header."""

    __slots__ = ("method", "path", "_headers", "receive", "send")

    def __init__(self, scope: Scope, receive: Receive, send: Send):
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self._headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            self._headers.setdefault(name, value)  # names are lower case in ASGI
        self.receive = receive
        self.send = send

    def header(self, name: str) -> str | None:
        value = self._headers.get(name.encode())
        return None if value is None else value.decode("latin-1")


class _HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the two bounds it lacks on a request's head (request
    line and headers): its size (over ``MAX_HEAD_BYTES`` is a 400, before httptools has buffered
    it all) and its time (a connection whose head is not complete within ``head_timeout`` of
    connecting, or of its previous answer, is closed). uvicorn itself times out only idle
    keep-alive connections, so a silent or dribbling sender would keep its connection forever."""

    head_timeout = default("http_read_timeout")
    owner: OtlpApp  # set per server: counts the answers given here

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to malformed HTTP (bad framing, a head too large), as every other
        error: a google.rpc.Status in the request's content type (JSON when unknown), counted."""
        kind = JSON
        for name, value in self.headers or ():
            if name == b"content-type":
                kind = media_type(value.decode("latin-1"))
                break
        kind = kind if kind in CONTENT_TYPES else JSON
        body = status_body(OtlpError(400, f"malformed HTTP request: {msg}"), kind)
        self.owner.count_response(400)
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
            b"server: otel-label-studio\r\nconnection: close\r\n\r\n%s" % (kind.encode(), len(body), body)
        )
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._open_head()

    def _open_head(self) -> None:
        self._head_bytes = 0
        self._head_open = True
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        busy = self.cycle is not None and not self.cycle.response_complete
        if self._head_open and not busy and not self.transport.is_closing():
            _logger.info("Closed a connection whose request head took over %gs", self.head_timeout)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_open and not self.transport.is_closing():  # counted after parsing: the
            self._head_bytes += len(data)  # piece that completes the head is never refused
            if self._head_bytes > MAX_HEAD_BYTES:
                _logger.warning("Refused a request head over %d bytes", MAX_HEAD_BYTES)
                self.send_400_response(f"the request line and headers are over {MAX_HEAD_BYTES} bytes")

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._open_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)


class OtlpHttpServer:
    """The app on uvicorn (httptools), in a thread of its own beside gRPC.

    The socket is bound here, so a port in use is found before anything starts; uvicorn gets the
    bound socket. uvicorn installs no signal handlers outside the main thread: ``serve`` handles
    SIGTERM and calls ``stop()``.
    """

    def __init__(self, address: tuple[str, int], intake: Intake, **app_options: Any):
        self.app = OtlpApp(intake, **app_options)
        self._socket = _listen(address)
        self.server_address: tuple[str, int] = self._socket.getsockname()[:2]
        protocol = type(
            "OtlpHttpProtocol", (_HttpProtocol,), {"head_timeout": self.app.read_timeout, "owner": self.app}
        )
        config = uvicorn.Config(
            self.app,
            http=protocol,
            ws="none",
            loop="asyncio",
            lifespan="off",
            log_config=None,  # uvicorn's loggers propagate to ours (JSON lines)
            access_log=False,
            server_header=False,
            date_header=False,
            proxy_headers=False,  # no client address is used: nothing to take from X-Forwarded-For
            backlog=BACKLOG,
            timeout_keep_alive=int(KEEP_ALIVE_SECONDS),
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE_SECONDS),
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def responses(self) -> dict[int, int]:
        with self.app._responses_lock:
            return dict(self.app.responses)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="otlp-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the OTLP/HTTP server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop listening, let requests in progress finish (bounded), close idle connections."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(SHUTDOWN_GRACE_SECONDS + 5.0)
        self._socket.close()
        self.app.close()


def _listen(address: tuple[str, int]) -> socket.socket:
    """A listening TCP socket on host:port (OSError when the port is taken)."""
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock
