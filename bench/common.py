"""What the benchmarks share: payloads, a real Label Studio, serve processes, and measuring.

The Label Studio and serve launchers are the test suite's (the tests.support package, imported as a
module: run the benchmarks with ``python -m bench.run`` from the repository's root), so the benchmarks
start the servers exactly as the tests do: Label Studio's own virtual environment, loopback, a
throwaway database.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceProto
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from devtools import local_label_studio
from tests.support import labelstudio_server, sidecar
from tests.support.labelstudio_server import LabelStudioServer, free_port

REPO = Path(__file__).resolve().parent.parent

WORDS = [
    "the",
    "model",
    "answered",
    "with",
    "a",
    "short",
    "list",
    "of",
    "steps",
    "to",
    "reset",
    "a",
    "password",
    "and",
    "then",
    "asked",
    "whether",
    "the",
    "user",
    "had",
    "access",
    "to",
    "the",
    "recovery",
    "e-mail",
    "address",
    "on",
    "file",
    "for",
    "the",
    "account",
    "in",
    "question",
]


def prompt_text(size: int, seed: int = 0) -> str:
    """Readable pseudo-text of about ``size`` bytes (LLM prompts are words, not random bytes)."""
    rng = random.Random(seed)
    parts: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        parts.append(word)
        length += len(word) + 1
    return " ".join(parts)[:size]


def _attr(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def genai_attributes(question: str, answer: str) -> dict[str, str | int]:
    """What opentelemetry-instrumentation-langchain 0.55+ puts on a chat span."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.system_instructions": json.dumps(
            [{"type": "text", "content": "You are a helpful assistant."}]
        ),
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": question}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
        ),
        "gen_ai.usage.input_tokens": 420,
        "gen_ai.usage.output_tokens": 96,
        "gen_ai.response.finish_reasons": "stop",
        "traceloop.association.properties.user_id": "user-17",
    }


def otlp_request(
    spans: int, prompt_bytes: int, *, seed: int = 0, project: str | None = None
) -> ExportTraceServiceRequest:
    """One export request of ``spans`` LLM spans, each with fresh ids and a prompt of ``prompt_bytes``."""
    question = prompt_text(prompt_bytes, seed)
    answer = prompt_text(max(64, prompt_bytes // 4), seed + 1)
    attributes = [_attr(k, v) for k, v in genai_attributes(question, answer).items()]
    resource = [_attr("service.name", "bench-app")]
    if project:
        resource.append(_attr("label_studio.project", project))
    start = 1_700_000_000_000_000_000
    batch = [
        Span(
            trace_id=uuid.uuid4().bytes,
            span_id=uuid.uuid4().bytes[:8],
            name="ChatOpenAI.chat",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start,
            end_time_unix_nano=start + 850_000_000,
            attributes=attributes,
        )
        for _ in range(spans)
    ]
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=ResourceProto(attributes=resource), scope_spans=[ScopeSpans(spans=batch)])
        ]
    )


def request_bodies(count: int, spans: int, prompt_bytes: int) -> list[bytes]:
    """``count`` serialized requests with distinct span ids (a repeat would be deduplicated, not ingested)."""
    template = otlp_request(spans, prompt_bytes)
    bodies = []
    for _ in range(count):
        for span in template.resource_spans[0].scope_spans[0].spans:
            span.trace_id = uuid.uuid4().bytes
            span.span_id = uuid.uuid4().bytes[:8]
        bodies.append(template.SerializeToString())
    return bodies


def start_label_studio(workdir: Path, database: dict[str, str] | None = None) -> LabelStudioServer:
    """The test suite's Label Studio; ``database``: settings that point it at another database
    than its own SQLite file (``Postgres.label_studio_env()``)."""
    binary = labelstudio_server.find_binary(REPO)
    if binary is None:
        raise SystemExit("no Label Studio: run `make setup` first (it installs one into .venv-labelstudio)")
    if database is None:
        return labelstudio_server.start(binary, workdir)
    # As labelstudio_server.start, with the database settings added to its environment.
    port = labelstudio_server.free_port()
    url = f"http://127.0.0.1:{port}"
    legacy_token = secrets.token_hex(20)
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "label-studio.log"
    password = labelstudio_server.ADMIN_PASSWORD
    env = {
        **local_label_studio.environment(workdir, password=password, legacy_token=legacy_token),
        **database,
    }
    command = local_label_studio.command(binary, port)
    process = local_label_studio.spawn(command, env, workdir, log_path)
    server = LabelStudioServer(
        url, legacy_token, "", process=process, log_path=log_path, command=command, env=env, data_dir=workdir
    )
    try:
        labelstudio_server.wait_ready(url, process, log_path)
        server.pat = labelstudio_server.mint_pat(url, local_label_studio.ADMIN_EMAIL, password)
    except BaseException:
        server.stop()
        raise
    return server


class Serve:
    """A serve process for ingest measurements (the test suite's launcher), optionally pinned to one CPU."""

    def __init__(
        self, workdir: Path, *, url: str, api_key: str, cpu: int | None = None, args: Sequence[str] = ()
    ):
        self._sidecar = sidecar.start(
            LabelStudioServer(url, "", ""),
            workdir / f"serve-{uuid.uuid4().hex[:8]}",
            "bench",
            token=None,
            api_key=api_key,
            args=["--log-level", "WARNING", *args],
        )
        self.process = self._sidecar.process
        self.data_dir = self._sidecar.data_dir
        self.grpc_port = self._sidecar.grpc_port
        self.traces_url = self._sidecar.traces_url
        if cpu is not None:
            pin(self.process.pid, {cpu})

    def stop(self) -> None:
        try:
            self._sidecar.terminate()
        except subprocess.TimeoutExpired:
            self._sidecar.kill()


def pin(pid: int, cpus: set[int]) -> None:
    """Hold a process to ``cpus``: every thread it has now (``sched_setaffinity(pid)`` alone moves
    only the main thread, and threads started before the call keep every CPU); threads it starts
    later inherit the mask from the thread that starts them."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except ProcessLookupError:  # a thread that ended meanwhile
            continue


def settle(seconds: float = 1.0) -> None:
    """Let earlier measurements' writes and deleted spools reach the disk, so that a
    measurement is not charged for the writeback (and discards) of the one before it."""
    os.sync()
    time.sleep(seconds)


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def closed_port_url() -> str:
    """A Label Studio URL nobody answers on: ingest is measured without delivery."""
    return f"http://127.0.0.1:{free_port()}"


def median_ms(samples_ns: Sequence[int]) -> float:
    return statistics.median(samples_ns) / 1e6


def machine() -> dict[str, str | int]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = rss_total = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    del rss_total
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "memory_gib": round(mem_kib / 1024 / 1024),
        "python": sys.version.split()[0],
        "label_studio": "1.23.2 (dev server; SQLite, and PostgreSQL in e2e_postgres)",
    }


class AppSwitch(SpanProcessor):
    """The app's one span-processor slot: each scenario plugs its own processor in.

    LangChain is instrumented once per process: instrumenting again, even after ``uninstrument``,
    makes no spans, so the overhead and e2e scenarios share this one instrumentation.
    """

    def __init__(self) -> None:
        self.target: SpanProcessor | None = None

    def on_start(self, span, parent_context=None):  # type: ignore[no-untyped-def]
        if self.target is not None:
            self.target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.target is not None:
            self.target.on_end(span)


_APP_SWITCH: list[AppSwitch] = []


def app_switch() -> AppSwitch:
    """The process's instrumented LangChain, as a switch to plug a span processor into."""
    if not _APP_SWITCH:
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider(resource=Resource.create({"service.name": "bench-app"}))
        switch = AppSwitch()
        provider.add_span_processor(switch)
        LangchainInstrumentor().instrument(tracer_provider=provider)
        _APP_SWITCH.append(switch)
    return _APP_SWITCH[0]
