"""App overhead: what the exporter adds to an instrumented LangChain call, measured interleaved.

Three pipelines on the process's one instrumented LangChain (``common.app_switch``), switched
every block of calls so drift in the machine hits all of them alike: no span processor at all, a
BatchSpanProcessor exporting nowhere, and a BatchSpanProcessor with LabelStudioSpanExporter
delivering to a real Label Studio.
"""

from __future__ import annotations

import time

from langchain_core.language_models.fake import FakeListLLM
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench.common import app_switch
from otel_label_studio import LabelStudioSpanExporter

TARGET_ADDED_MS = 0.1
BLOCK = 50


class Nowhere(SpanExporter):
    def export(self, spans):  # type: ignore[no-untyped-def]
        return SpanExportResult.SUCCESS


def run(label_studio_url: str, api_key: str, project: str, quick: bool) -> dict:
    calls = 1_000 if quick else 6_000
    switch = app_switch()
    exporter = LabelStudioSpanExporter(url=label_studio_url, api_key=api_key, project_name=project)
    pipelines = {
        "instrumented, no processor": None,
        "BatchSpanProcessor, no-op exporter": BatchSpanProcessor(Nowhere()),
        "BatchSpanProcessor + LabelStudioSpanExporter": BatchSpanProcessor(exporter),
    }
    samples: dict[str, list[int]] = {name: [] for name in pipelines}
    llm = FakeListLLM(responses=["A short answer about resetting a password."])
    try:
        for _ in range(50):  # warm up every path
            llm.invoke("How do I reset my password?")
        for block in range(calls // BLOCK):
            for name in list(pipelines)[block % 3 :] + list(pipelines)[: block % 3]:
                switch.target = pipelines[name]
                for _ in range(BLOCK // 3 + 1):
                    started = time.perf_counter_ns()
                    llm.invoke("How do I reset my password?")
                    samples[name].append(time.perf_counter_ns() - started)
    finally:
        switch.target = None
        for processor in pipelines.values():
            if processor is not None:
                processor.shutdown()  # the exporter drains into Label Studio here
    medians = {name: sorted(values)[len(values) // 2] / 1e6 for name, values in samples.items()}
    base = medians["instrumented, no processor"]
    ours = medians["BatchSpanProcessor + LabelStudioSpanExporter"]
    return {
        "rows": [
            {"pipeline": name, "calls": len(samples[name]), "median_ms": round(value, 4)}
            for name, value in medians.items()
        ],
        "added_ms": round(ours - base, 4),
        "target_added_ms": TARGET_ADDED_MS,
        "tasks_created": exporter.counts["tasks_created"],
        "met": ours - base <= TARGET_ADDED_MS,
    }
