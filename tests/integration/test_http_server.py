"""The OTLP/HTTP server under attack, against a real ``serve`` process: framing, bursts, idle,
stalled and slow connections, the receive budget and the decode gate. Label Studio is left
unreachable on purpose: a 200 means the spans are in the spool, which is all the transport
promises."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import subprocess
import threading
import time

import httpx
import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_label_studio.ingest import Ingest
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.receiver.http import OtlpHttpServer
from otel_label_studio.receiver.intake import Intake
from otel_label_studio.receiver.limits import Busy, DecodeGate, ReceiveBudget
from otel_label_studio.store.spool import Spool
from tests.support import sidecar
from tests.support.labelstudio_server import free_port, nowhere
from tests.support.otlp_requests import llm_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}
READ_TIMEOUT = 2
KEY = "http-server-key-0123"


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    process = sidecar.start(
        nowhere(),
        tmp_path_factory.mktemp("http-server") / "data",
        "http-server",
        token=None,
        api_key=KEY,
        args=["--http-read-timeout", str(READ_TIMEOUT)],
    )
    yield process
    assert process.terminate() == 0


def raw_exchange(port: int, data: bytes, wait: float) -> tuple[bytes, float]:
    """Send raw bytes, keep the connection open, and return what came back within ``wait``
    (until the server closed) and how long the first byte took."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        started = time.monotonic()
        received = b""
        took = float("inf")
        try:
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                if not received:
                    took = time.monotonic() - started
                received += piece
        except (TimeoutError, ConnectionResetError):
            pass
        return received, took


def status_line(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def head(port: int, *lines: str) -> bytes:
    return (
        "\r\n".join(["POST /v1/traces HTTP/1.1", f"Host: 127.0.0.1:{port}", *lines]) + "\r\n\r\n"
    ).encode()


def log_problems(process: sidecar.Sidecar) -> list[str]:
    return [
        line
        for line in process.logs().splitlines()
        if "Traceback" in line or '"level": "ERROR"' in line or '"level": "CRITICAL"' in line
    ]


def metric(process: sidecar.Sidecar, name: str, default: float | None = None) -> float:
    for line in httpx.get(f"{process.http_url}/metrics").text.splitlines():
        if line.startswith(f"otel_label_studio_{name} "):
            return float(line.rsplit(" ", 1)[1])
    if default is not None:
        return default
    raise AssertionError(f"no {name} in /metrics")


# --- framing ---------------------------------------------------------------------------------------


def test_a_negative_chunk_size_is_refused_promptly(serve):
    """The old handler read a chunk of size -1 as 'read until the sender closes'."""
    request = head(serve.http_port, "Content-Type: application/x-protobuf", "Transfer-Encoding: chunked")
    before = metric(serve, 'receiver_http_responses_total{http_response_status_code="400"}', default=0)
    answer, took = raw_exchange(serve.http_port, request + b"-1\r\n" + b"x" * 65536, wait=10)
    assert answer, "no answer within 10 s: the body is being read without a bound"
    assert status_line(answer) == 400
    assert took < 3
    assert b"content-type: application/x-protobuf" in answer.lower()
    assert status_pb2.Status.FromString(answer.split(b"\r\n\r\n", 1)[1]).code == code_pb2.INVALID_ARGUMENT
    assert metric(serve, 'receiver_http_responses_total{http_response_status_code="400"}') == before + 1


EMPTY_SPANS = b"\x0a\x00" * 3  # three empty ResourceSpans: a valid request of 6 bytes


@pytest.mark.parametrize(
    "lines, body",
    [
        (["Content-Length: 0", "Content-Length: 6"], EMPTY_SPANS),
        (["Content-Length: 5", "Transfer-Encoding: chunked"], b"6\r\n" + EMPTY_SPANS + b"\r\n0\r\n\r\n"),
    ],
    ids=["two-different-lengths", "length-and-chunked"],
)
def test_conflicting_framing_is_400(serve, lines, body):
    """Either reading is a valid request, so only the framing can make it a 400."""
    request = head(serve.http_port, "Content-Type: application/x-protobuf", *lines) + body
    answer, _ = raw_exchange(serve.http_port, request, wait=10)
    assert status_line(answer) == 400, answer[:200]


# --- connections -----------------------------------------------------------------------------------


def test_a_burst_of_300_connects_gets_no_resets(serve):
    """Each of 300 clients connects at the same moment, then asks /healthz: every one is answered."""
    barrier = threading.Barrier(300)
    failures: list[str] = []
    answered: list[int] = []

    def client() -> None:
        barrier.wait()
        try:
            with socket.create_connection(("127.0.0.1", serve.http_port), timeout=30) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = b""
                while piece := sock.recv(4096):
                    answer += piece
                answered.append(status_line(answer))
        except OSError as exc:
            failures.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(300)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, f"{len(failures)} of 300 failed, e.g. {failures[:3]}"
    assert answered == [200] * 300


def real_spans(count: int = 2):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("idle-test")
    for index in range(count):
        with tracer.start_as_current_span("ChatModel.chat") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.prompt.0.role", "user")
            span.set_attribute("gen_ai.prompt.0.content", f"question {index}")
            span.set_attribute("gen_ai.completion.0.content", f"answer {index}")
    provider.shutdown()
    return memory.get_finished_spans()


def test_a_thousand_idle_connections_do_not_stop_a_real_export(serve):
    """1,000 connections open and say nothing; a real OTLP exporter is still answered at once."""
    idle: list[socket.socket] = []
    deadline = time.monotonic() + 10
    try:
        while len(idle) < 1000 and time.monotonic() < deadline:
            idle.append(socket.create_connection(("127.0.0.1", serve.http_port), timeout=10))
        assert len(idle) == 1000, f"only {len(idle)} connections could be opened in 10 s"
        exporter = HttpExporter(endpoint=serve.traces_url, timeout=10)
        started = time.monotonic()
        result = exporter.export(real_spans())
        took = time.monotonic() - started
        exporter.shutdown()
        assert result is SpanExportResult.SUCCESS
        assert took < 5, f"the export took {took:.1f}s beside 1000 idle connections"
        assert httpx.get(f"{serve.http_url}/healthz", timeout=5).status_code == 200
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Ty"],
    ids=["silent", "head-never-ends"],
)
def test_a_connection_whose_request_head_stalls_is_closed(serve, sent):
    with socket.create_connection(("127.0.0.1", serve.http_port), timeout=READ_TIMEOUT + 8) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        try:
            closed = sock.recv(4096) == b""
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            closed = False
        took = time.monotonic() - started
    assert closed, f"the connection was still open after {took:.1f}s"
    assert READ_TIMEOUT - 0.5 < took < READ_TIMEOUT + 3


def test_an_oversized_request_head_is_400(serve):
    headers = [f"X-Filler-{index}: {'v' * 1000}" for index in range(200)]  # 200 KB of headers
    answer, took = raw_exchange(serve.http_port, head(serve.http_port, *headers), wait=10)
    assert status_line(answer) == 400
    assert took < 3
    assert httpx.get(f"{serve.http_url}/healthz", timeout=5).status_code == 200


# --- stalled bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "declared, sent",
    [(100, b""), (100, b"\x0a\x00\x0a"), (10_000, b"\x0a" * 5000)],
    ids=["headers-only", "short-body", "half-the-body"],
)
def test_a_stalled_body_gets_408_and_no_traceback(serve, declared, sent):
    before = log_problems(serve)
    request = head(serve.http_port, "Content-Type: application/x-protobuf", f"Content-Length: {declared}")
    answer, took = raw_exchange(serve.http_port, request + sent, wait=READ_TIMEOUT + 8)
    assert answer, f"no answer within {READ_TIMEOUT + 8}s for a body stalled after {len(sent)} bytes"
    assert status_line(answer) == 408, answer[:300]
    assert status_pb2.Status.FromString(answer.split(b"\r\n\r\n", 1)[1]).code == code_pb2.DEADLINE_EXCEEDED
    assert READ_TIMEOUT - 0.5 < took < READ_TIMEOUT + 3
    time.sleep(0.2)
    assert log_problems(serve) == before


def test_a_length_over_the_cap_is_413_without_reading_the_body(tmp_path):
    process = sidecar.start(
        nowhere(),
        tmp_path / "data",
        "http-cap",
        token=None,
        api_key=KEY,
        args=["--max-body-bytes", "1MiB"],
    )
    try:
        request = head(
            process.http_port, "Content-Type: application/x-protobuf", f"Content-Length: {200 * 1024 * 1024}"
        )
        answer, took = raw_exchange(process.http_port, request + b"\x0a" * 1000, wait=10)
        assert status_line(answer) == 413
        assert took < 3
    finally:
        assert process.terminate() == 0


# --- slow senders, the receive budget and the decode gate ----------------------------------------


class SlowSender:
    """A request head with a large Content-Length, then one byte of body every half second:
    the slowloris shape, staying under the read timeout's patience for as long as it runs."""

    def __init__(self, port: int, stop: threading.Event, declared: int = 1_000_000):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(head(port, "Content-Type: application/x-protobuf", f"Content-Length: {declared}"))
        self._stop = stop
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.sock.sendall(b"\x0a")
            except OSError:
                return

    def unanswered(self) -> bool:
        """Nothing came back yet (no answer, no close): its body is still being received."""
        readable, _, _ = select.select([self.sock], [], [], 0)
        return not readable

    def close(self) -> None:
        self._thread.join(2)
        self.sock.close()


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    """serve with default limits: 2 decode slots, a 30 s read timeout, a 256 MiB receive budget."""
    process = sidecar.start(
        nowhere(), tmp_path_factory.mktemp("http-patient") / "data", "http-patient", token=None, api_key=KEY
    )
    yield process
    assert process.terminate() == 0


@pytest.mark.parametrize("slow", [2, 4])
def test_slow_senders_do_not_stop_real_exporters_on_http_or_grpc(patient, slow):
    """Slow senders used to take the decode slots before their bodies were read and keep them for
    the read timeout, so every real export on HTTP and gRPC was answered busy meanwhile."""
    stop = threading.Event()
    senders = [SlowSender(patient.http_port, stop) for _ in range(slow)]
    try:
        time.sleep(1.0)  # every head is in and every body trickling
        exporters = {
            "HTTP": HttpExporter(endpoint=patient.traces_url, timeout=10),
            "gRPC": GrpcExporter(endpoint=patient.grpc_target, insecure=True, timeout=10),
        }
        for name, exporter in exporters.items():
            started = time.monotonic()
            result = exporter.export(real_spans())
            took = time.monotonic() - started
            exporter.shutdown()
            assert result is SpanExportResult.SUCCESS, (
                f"the OTLP {name} export failed beside {slow} slow senders"
            )
            assert took < 3, f"the OTLP {name} export took {took:.1f}s beside {slow} slow senders"
        assert all(sender.unanswered() for sender in senders), "a slow sender was cut off: nothing was held"
    finally:
        stop.set()
        for sender in senders:
            sender.close()
    assert metric(patient, 'receiver_refused_requests_total{error_type="decode_slots"}') == 0
    assert metric(patient, 'receiver_refused_requests_total{error_type="receive_budget"}') == 0


def test_a_body_past_the_receive_budget_is_503_with_retry_after(tmp_path):
    """700 KB of one body are being received under a 1 MiB budget: a declared length that cannot
    fit, and a chunked body that runs past it, are told to come back; once the first body is
    gone, the same request is taken."""
    process = sidecar.start(
        nowhere(),
        tmp_path / "data",
        "http-budget",
        token=None,
        api_key=KEY,
        args=["--max-body-bytes", "1MiB", "--max-receive-bytes", "1MiB"],
    )
    try:
        holder = socket.create_connection(("127.0.0.1", process.http_port))
        holder.sendall(
            head(process.http_port, "Content-Type: application/x-protobuf", "Content-Length: 1000000")
            + b"\x0a" * 700_000
        )
        time.sleep(0.5)  # the 700 KB are received and charged
        declared = httpx.post(process.traces_url, content=b"\x0a" * 400_000, headers=PROTOBUF, timeout=10)
        chunked = httpx.post(
            process.traces_url, content=iter([b"\x0a" * 100_000] * 4), headers=PROTOBUF, timeout=10
        )
        for busy in (declared, chunked):
            assert busy.status_code == 503, busy.text
            assert busy.headers["retry-after"] == "1"
            status = status_pb2.Status.FromString(busy.content)
            assert status.code == code_pb2.UNAVAILABLE
            assert "1 MiB receive budget" in status.message, status.message
        assert metric(process, 'receiver_refused_requests_total{error_type="receive_budget"}') == 2
        assert metric(process, 'receiver_refused_requests_total{error_type="decode_slots"}') == 0
        holder.close()  # its bytes are released
        time.sleep(0.3)
        body = llm_request().SerializeToString() + b"\x0a\x00" * 250_000  # 500 KB: fits once released
        assert httpx.post(process.traces_url, content=body, headers=PROTOBUF, timeout=10).status_code == 200
    finally:
        assert process.terminate() == 0


def test_busy_when_every_decode_slot_is_taken(tmp_path):
    """One decode slot, held: a whole body waits for it up to 2 s and is told to come back, in
    its content type, saying that decode slots are what is busy."""
    spool = Spool.in_directory(str(tmp_path))
    gate = DecodeGate(1)
    budget = ReceiveBudget()
    server = OtlpHttpServer(
        ("127.0.0.1", 0),
        Intake(Ingest(Mapper(metadata_prefix="x", include_errors=False), spool)),
        max_body_bytes=1 << 20,
        readiness=lambda: (True, "ready"),
        metrics=lambda: b"",
        gate=gate,
        budget=budget,
    )
    server.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    body = llm_request().SerializeToString()
    try:
        gate.acquire()  # the slot is taken, as by a decode in progress
        started = time.monotonic()
        busy = httpx.post(url, content=body, headers=PROTOBUF, timeout=10)
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == "1"
        assert busy.headers["content-type"] == "application/x-protobuf"
        status = status_pb2.Status.FromString(busy.content)
        assert status.code == code_pb2.UNAVAILABLE
        assert "all 1 decode slots are busy" in status.message, status.message
        assert 1.5 < time.monotonic() - started < 5  # it waited for a slot, then gave up
        assert (gate.refused, budget.refused, budget.in_use) == (1, 0, 0)
        gate.release()
        assert httpx.post(url, content=body, headers=PROTOBUF, timeout=10).status_code == 200
        assert (gate.refused, gate.in_use) == (1, 0)
    finally:
        server.stop()
        spool.close()


# --- the process -----------------------------------------------------------------------------------


def test_listens_on_loopback_only_and_a_taken_port_is_exit_2(serve, tmp_path):
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    mine = [line for line in listening.splitlines() if f":{serve.http_port} " in line]
    assert mine and all(line.split()[3] == f"127.0.0.1:{serve.http_port}" for line in mine), mine
    taken = subprocess.run(
        [str(sidecar.SCRIPT), "serve", "--http-port", str(serve.http_port), "--grpc-port", str(free_port())],
        env={**serve.env, "OTEL_LABEL_STUDIO_DATA_DIR": str(tmp_path / "other")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert taken.returncode == 2
    assert f"cannot listen for OTLP/HTTP on 127.0.0.1:{serve.http_port}" in taken.stderr
    assert "--http-port" in taken.stderr


def test_serve_logs_stay_json_lines(serve):
    for line in (line for line in serve.logs().splitlines() if line.strip()):
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= entry.keys()


# --- DecodeGate, directly --------------------------------------------------------------------------


def test_the_gate_hands_slots_to_threads_and_coroutines_in_turn():
    gate = DecodeGate(1, wait_seconds=2.0)
    order: list[str] = []
    gate.acquire()

    async def coroutine_waiter() -> None:
        async with gate.async_slot():
            order.append("coroutine")

    def thread_waiter() -> None:
        with gate.slot():
            order.append("thread")

    def run_loop() -> None:
        asyncio.run(coroutine_waiter())

    first = threading.Thread(target=run_loop)
    first.start()
    time.sleep(0.2)  # the coroutine queues first
    second = threading.Thread(target=thread_waiter)
    second.start()
    time.sleep(0.2)
    gate.release()
    first.join(5)
    second.join(5)
    assert order == ["coroutine", "thread"]
    assert (gate.in_use, gate.refused) == (0, 0)


def test_the_gate_refuses_after_its_wait_and_counts_it():
    gate = DecodeGate(1, wait_seconds=0.2)

    async def scenario() -> None:
        await gate.acquire_async()
        with pytest.raises(Busy):
            await gate.acquire_async()
        with pytest.raises(Busy):
            gate.acquire()  # a thread times out the same way
        waiter = asyncio.ensure_future(gate.acquire_async())
        await asyncio.sleep(0.05)
        waiter.cancel()  # a cancelled waiter leaves the line and keeps nothing
        with pytest.raises(asyncio.CancelledError):
            await waiter
        gate.release()

    asyncio.run(scenario())
    assert (gate.in_use, gate.refused) == (0, 2)
    with gate.slot():
        assert gate.in_use == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-concurrent-decodes", "0"], "--max-concurrent-decodes: '0' must be a positive whole number"),
        (["--max-spans-per-request", "many"], "--max-spans-per-request: invalid literal"),
        (["--http-read-timeout", "0"], "--http-read-timeout: '0' must be a number of seconds above 0"),
        (["--max-receive-bytes", "1MiB"], "--max-receive-bytes (1048576) must be at least --max-body-bytes"),
    ],
)
def test_a_bad_limit_stops_serve_at_start(tmp_path, args, message):
    result = subprocess.run(
        [str(sidecar.SCRIPT), "serve", "--data-dir", str(tmp_path), *args],
        env={"PATH": "/usr/bin:/bin", "LABEL_STUDIO_API_KEY": KEY, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
