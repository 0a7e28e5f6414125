"""LLM spans with judge results on them, as evaluation libraries write them: a
``gen_ai.evaluation.result`` span event on the LLM span, recorded by a real OpenTelemetry SDK."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

HELPFULNESS = {
    "gen_ai.evaluation.name": "helpfulness",
    "gen_ai.evaluation.score.value": 0.75,
    "gen_ai.evaluation.score.label": "helpful",
    "gen_ai.evaluation.explanation": "answers the question",
}
TOXICITY = {"gen_ai.evaluation.name": "toxicity", "gen_ai.evaluation.score.value": 0.0}


def judged_chat_span(
    question: str = "What is 2+2?",
    answer: str = "4",
    evaluations: list[dict[str, Any]] | None = None,
    service: str = "judged",
) -> ReadableSpan:
    """One GenAI chat span carrying each evaluation as a ``gen_ai.evaluation.result`` event."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("judge-tests")
    with tracer.start_as_current_span("chat gpt-4o-mini") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        span.set_attribute(
            "gen_ai.input.messages",
            json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
        )
        span.set_attribute(
            "gen_ai.output.messages",
            json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]),
        )
        for attributes in [HELPFULNESS, TOXICITY] if evaluations is None else evaluations:
            span.add_event("gen_ai.evaluation.result", attributes)
    provider.shutdown()
    (finished,) = memory.get_finished_spans()
    return finished
