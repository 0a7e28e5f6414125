"""Shared fixtures: a real Label Studio, and LangChain instrumented once for the whole session.

Label Studio comes from ``.venv-labelstudio`` (``make test`` creates it), or from
``OTEL_LS_TEST_URL`` + ``OTEL_LS_TEST_LEGACY_TOKEN`` + ``OTEL_LS_TEST_PAT`` for a server you run.
Without one, integration tests are skipped locally and fail under ``CI=true``.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from typing import Iterator

import pytest
from label_studio_sdk import LabelStudio
from opentelemetry.instrumentation.langchain import LangchainInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support import labelstudio_server, secrets_watch
from tests.support.labelstudio_server import LabelStudioServer
from tests.support.prerequisites import REPO_ROOT, missing


class RoutingProcessor(SpanProcessor):
    """Forwards finished spans to whatever processors the current test attached.

    LangChain's instrumentation binds to one tracer provider per process, so the session
    instruments once and each test plugs its own pipeline in here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: list[SpanProcessor] = []

    def attach(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._targets.append(processor)

    def detach(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._targets.remove(processor)

    def on_start(self, span, parent_context=None):  # type: ignore[no-untyped-def]
        for target in list(self._targets):
            target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for target in list(self._targets):
            target.on_end(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(t.force_flush(timeout_millis) for t in list(self._targets))


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole session: no token or key in the test process's logs or any serve process's log."""
    collector = secrets_watch.LogCollector()
    root = logging.getLogger()
    root.addHandler(collector)
    yield
    root.removeHandler(collector)
    texts = list(collector.texts)
    base = tmp_path_factory.getbasetemp()
    serve_logs = sorted(base.rglob("*-serve-*.log"))
    texts.extend(path.read_text(errors="replace") for path in serve_logs)
    leaked = secrets_watch.leaks(texts)
    assert not leaked, f"secrets found in logs: {leaked}"


@pytest.fixture(scope="session")
def routing() -> Iterator[RoutingProcessor]:
    router = RoutingProcessor()
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-ls-tests"}))
    provider.add_span_processor(router)
    instrumentor = LangchainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield router
    instrumentor.uninstrument()


@pytest.fixture
def captured(routing: RoutingProcessor) -> Iterator[InMemorySpanExporter]:
    """Every span the instrumented LangChain code makes during the test."""
    memory = InMemorySpanExporter()
    processor = SimpleSpanProcessor(memory)
    routing.attach(processor)
    yield memory
    routing.detach(processor)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    url = os.environ.get("OTEL_LS_TEST_URL")
    if url:
        external = LabelStudioServer(
            url=url.rstrip("/"),
            legacy_token=os.environ["OTEL_LS_TEST_LEGACY_TOKEN"],
            pat=os.environ.get("OTEL_LS_TEST_PAT")
            or labelstudio_server.mint_pat(
                url, labelstudio_server.ADMIN_EMAIL, labelstudio_server.ADMIN_PASSWORD
            ),
        )
        secrets_watch.register(external.legacy_token, external.pat)
        yield external
        return
    binary = labelstudio_server.find_binary(REPO_ROOT)
    if binary is None:
        message = (
            "no Label Studio: run `make test` (it installs one into .venv-labelstudio) "
            "or set OTEL_LS_TEST_URL"
        )
        missing(message)
    server = labelstudio_server.start(binary, tmp_path_factory.mktemp("label-studio"))
    secrets_watch.register(server.legacy_token, server.pat)
    yield server
    server.stop()


@pytest.fixture
def ls(label_studio: LabelStudioServer) -> LabelStudio:
    """An SDK client for reading back what the bridge wrote."""
    return LabelStudio(base_url=label_studio.url, api_key=label_studio.legacy_token)


@pytest.fixture
def project_name() -> str:
    return f"otel-ls-test-{uuid.uuid4().hex[:10]}"
