"""A LangChain app in a process of its own: real LangGraph agent runs sent by the exporter in mode agent
with a spool, for the tests that kill it with SIGKILL and start it again.

    python -m tests.support.agent_app run SPOOL     # one whole run (Paris), then one stopped halfway
                                                    # (Oslo); says HELD and waits to be killed
    python -m tests.support.agent_app restart SPOOL # one plain call ("Tell me a joke"): the exporter
                                                    # starts, and what the spool held becomes tasks

Label Studio's URL, key and project come from ``LABEL_STUDIO_URL``, ``LABEL_STUDIO_API_KEY`` and
``PROJECT_NAME``. Each span is exported as it ends (``SimpleSpanProcessor``), as a run's spans reach an
exporter over many batches; the half run stops inside its span processor after ``HALF_SPANS`` spans, so
the process is killed with the run half exported.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from opentelemetry.instrumentation.langchain import LangchainInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_label_studio import LabelStudioSpanExporter
from tests.support import scenarios

HALF_SPANS = 6  # spans of the second run exported before the app stops


class StopsHalfway(SpanProcessor):
    """Exports every span until ``halfway`` is set, then ``HALF_SPANS`` more, then blocks."""

    def __init__(self, inner: SpanProcessor):
        self._inner = inner
        self.halfway = False
        self._after = 0

    def on_end(self, span: ReadableSpan) -> None:
        if self.halfway:
            if self._after == HALF_SPANS:
                print("HELD", flush=True)
                threading.Event().wait()  # the app hangs mid-run until it is killed
            self._after += 1
        self._inner.on_end(span)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


def exporter(spool: str, grace: float) -> LabelStudioSpanExporter:
    return LabelStudioSpanExporter(
        url=os.environ["LABEL_STUDIO_URL"],
        api_key=os.environ["LABEL_STUDIO_API_KEY"],
        project_name=os.environ["PROJECT_NAME"],
        mode="agent",
        spool_path=spool,
        run_grace=grace,
        run_idle_timeout=grace,
    )


def main(phase: str, spool: str) -> int:
    provider = TracerProvider(resource=Resource.create({"service.name": "agent-app"}))
    if phase == "restart":  # the exporter's threads start with its first export, as before the kill
        restarted = exporter(spool, 0.5)
        provider.add_span_processor(SimpleSpanProcessor(restarted))
        LangchainInstrumentor().instrument(tracer_provider=provider)
        scenarios.chat_system_human()
        deadline = time.monotonic() + 60
        while restarted.counts["tasks_created"] < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        print("COUNTS", restarted.counts, flush=True)
        provider.shutdown()
        return 0
    app = exporter(spool, 3600)  # never released in this process: it is killed first
    processor = StopsHalfway(SimpleSpanProcessor(app))
    provider.add_span_processor(processor)
    LangchainInstrumentor().instrument(tracer_provider=provider)
    scenarios.agent_run()
    print("RUN", app.counts["runs_open"], flush=True)
    processor.halfway = True
    scenarios.agent_run(city="Oslo", answer="Rain in Oslo.")
    return 1  # not reached: the span processor waits to be killed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
