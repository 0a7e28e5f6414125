"""Attack memory: serve's peak resident memory under amplifying requests, alone and 8 at a time.

Each case starts a fresh serve with default settings (Label Studio unreachable, so nothing is
delivered) and sends crafted requests that fit the 64 MiB body cap but decode into far more:
gzip JSON of ``{},`` repeated, gzip protobuf of tens of millions of empty spans, one span of
tens of millions of empty attributes, 30 MiB gRPC requests (empty spans, empty attributes,
and real 2 KB LLM spans), and 30 MiB OTLP/HTTP bodies of real spans, uncompressed (eight of them
fit in the 256 MiB receive budget at once, beside the two being decoded). It records serve's
peak RSS (VmHWM) and every answer. The target: under 1 GiB in every case; what does not fit is
refused (413 / RESOURCE_EXHAUSTED too big, 503 / UNAVAILABLE busy), never an out-of-memory kill.

A watchdog kills serve once its RSS passes ``CEILING_MIB`` so that measuring the code before
the fix cannot take the machine down: such a case is reported as killed at the ceiling.
"""

from __future__ import annotations

import gzip
import shutil
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import grpc
import httpx

from bench.common import Serve, closed_port_url, request_bodies, rss_kib, settle

TARGET_PEAK_MB = 1024.0
CEILING_MIB = 4096  # the watchdog's kill line, to keep the machine alive when a case would not fit
CONCURRENT = 8
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _request(spans: bytes) -> bytes:
    """ExportTraceServiceRequest { resource_spans { scope_spans { <spans> } } }."""
    return _field(1, _field(2, spans))


def empty_spans(count: int) -> bytes:
    return _request(b"\x12\x00" * count)  # ScopeSpans.spans (2), empty


def empty_attributes(count: int) -> bytes:
    span = _field(1, bytes(16)) + _field(2, bytes(8)) + b"\x4a\x00" * count  # Span.attributes (9), empty
    return _request(_field(2, span))


def json_bomb(size: int) -> bytes:
    head, tail = b'{"resourceSpans":[', b"{}]}"
    return head + b"{}," * ((size - len(head) - len(tail)) // 3) + tail


def real_spans(size: int) -> bytes:
    """Real 2 KB LLM spans, about ``size`` bytes of them in one request."""
    one = request_bodies(1, 100, 2048)[0]
    return request_bodies(1, 100 * max(1, size // len(one)), 2048)[0]


def _http_case(body: bytes, kind: str) -> tuple[bytes, dict[str, str], str]:
    return gzip.compress(body, 9), {"Content-Type": kind, "Content-Encoding": "gzip"}, "http"


def cases(quick: bool) -> dict[str, Callable[[], tuple[bytes, dict[str, str], str]]]:
    big = 60_000_000 if not quick else 20_000_000  # the body cap is 64 MiB
    grpc_size = 30 << 20
    return {
        "HTTP gzip JSON {}, bomb": lambda: _http_case(json_bomb(big), "application/json"),
        "HTTP gzip protobuf, empty spans": lambda: _http_case(
            empty_spans(big // 2), "application/x-protobuf"
        ),
        "HTTP gzip protobuf, empty attributes in one span": lambda: _http_case(
            empty_attributes(big // 2), "application/x-protobuf"
        ),
        "gRPC 30 MiB, empty spans": lambda: (empty_spans(grpc_size // 2), {}, "grpc"),
        "gRPC 30 MiB, empty attributes in one span": lambda: (empty_attributes(grpc_size // 2), {}, "grpc"),
        "gRPC 30 MiB, real 2 KB LLM spans": lambda: (real_spans(grpc_size), {}, "grpc"),
        "HTTP 30 MiB, real 2 KB LLM spans": lambda: (
            real_spans(grpc_size),
            {"Content-Type": "application/x-protobuf"},
            "http",
        ),
    }


def _send_http(url: str, body: bytes, headers: dict[str, str]) -> str:
    try:
        return str(httpx.post(url, content=body, headers=headers, timeout=180).status_code)
    except httpx.HTTPError as exc:
        return type(exc).__name__


def _send_grpc(target: str, body: bytes) -> str:
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        try:
            call(body, timeout=180)
            return "OK"
        except grpc.RpcError as error:
            retry = (
                "+RetryInfo"
                if any(key == "google.rpc.retryinfo-bin" for key, _ in (error.trailing_metadata() or ()))
                else ""
            )
            return f"{error.code().name}{retry}"


def _measure(workdir: Path, body: bytes, headers: dict[str, str], transport: str, senders: int) -> dict:
    settle(0.5)
    serve = Serve(workdir, url=closed_port_url(), api_key="bench")
    pid = serve.process.pid
    killed = threading.Event()
    done = threading.Event()

    def watchdog() -> None:
        while not done.is_set():
            try:
                if rss_kib(pid) > CEILING_MIB * 1024:
                    killed.set()
                    serve.process.kill()
                    return
            except OSError:
                return
            time.sleep(0.02)

    answers: list[str] = []
    lock = threading.Lock()

    def send() -> None:
        if transport == "http":
            answer = _send_http(serve.traces_url, body, headers)
        else:
            answer = _send_grpc(f"127.0.0.1:{serve.grpc_port}", body)
        with lock:
            answers.append(answer)

    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    threads = [threading.Thread(target=send) for _ in range(senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    peak_kib = rss_kib(pid, "VmHWM") if serve.process.poll() is None else 0
    done.set()
    guard.join()
    alive = serve.process.poll() is None
    serve.stop()
    shutil.rmtree(serve.data_dir, ignore_errors=True)
    peak_mb = CEILING_MIB if killed.is_set() else round(peak_kib / 1024)
    return {
        "senders": senders,
        "peak_rss_mb": f">{CEILING_MIB} (killed)" if killed.is_set() else peak_mb,
        "answers": ", ".join(f"{n}x {a}" for a, n in sorted(Counter(answers).items())),
        "seconds": round(seconds, 1),
        "met": alive and not killed.is_set() and peak_mb <= TARGET_PEAK_MB,
    }


def run(workdir: Path, quick: bool) -> dict:
    rows = []
    for name, make in cases(quick).items():
        body, headers, transport = make()
        for senders in (1, CONCURRENT):
            row = {"case": name, "wire_kb": round(len(body) / 1024)}
            row.update(_measure(workdir, body, headers, transport, senders))
            rows.append(row)
            print(f"  {row}", flush=True)
        del body
    worst = max((CEILING_MIB if isinstance(r["peak_rss_mb"], str) else r["peak_rss_mb"]) for r in rows)
    return {
        "rows": [{k: v for k, v in row.items() if k != "met"} for row in rows],
        "worst_peak_mb": worst,
        "target_peak_mb": TARGET_PEAK_MB,
        "met": all(row["met"] for row in rows),
    }
