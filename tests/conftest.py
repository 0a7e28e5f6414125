"""Fixtures for every test: no secret in any log, and LangChain instrumented once for the whole session.

``--shift-clock-days N`` runs the whole session with Python's wall clock (``time.time``,
``datetime.now``) moved N days forward by time-machine: no test may depend on today's date, so
``pytest tests/unit --shift-clock-days 400`` passes as a plain run does.

Unit tests (tests/unit) need nothing more; the real Label Studio is in tests/integration/conftest.py,
so ``pytest tests/unit`` never starts it. Shared helpers are modules in tests/support, never test modules.
"""

from __future__ import annotations

import logging
import threading
from typing import Iterator

import pytest
from opentelemetry.instrumentation.langchain import LangchainInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support import secrets_watch


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shift-clock-days",
        type=float,
        default=0.0,
        help="run every test with the wall clock moved this many days forward (time-machine)",
    )


@pytest.fixture(scope="session", autouse=True)
def shifted_wall_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """With ``--shift-clock-days N``: the wall clock runs on, N days ahead, for the whole session."""
    days = request.config.getoption("--shift-clock-days")
    if not days:
        yield
        return
    import datetime as dt

    import time_machine

    destination = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)
    with time_machine.travel(destination, tick=True):
        assert dt.datetime.now(dt.timezone.utc) >= destination, "time-machine did not move the clock"
        yield


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
