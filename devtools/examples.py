"""Writes the sample captures in ``examples/``: what the Collector's file exporter writes (OTLP/JSON,
one request a line, ids in hex) for real LangChain calls through ``opentelemetry-instrumentation-langchain``
with LangChain's fake models, one file per mode, and judge results for the chat calls as OTLP/JSON logs.

    python -m devtools.examples            # rewrites examples/*.jsonl
    python -m devtools.examples --check    # exit status 1 when a file differs from what it would write

(from the repository root, in the dev environment: the agent needs the ``langchain`` package.)

Deterministic: span and trace ids come from a seeded generator, and the SDK's clock is a counter
from a fixed instant (1 ms a reading), so a rerun writes the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
TICK_NS = 1_000_000  # one clock reading: 1 ms later
JUDGE = "helpfulness"


class Counter:
    """The SDK's clock: ``START_NS``, then one tick later at each reading."""

    def __init__(self) -> None:
        self.now = START_NS

    def __call__(self) -> int:
        self.now += TICK_NS
        return self.now


class SeededIds(IdGenerator):
    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128) or 1


def prompt_calls() -> None:
    """A few completion-model calls (mode prompt: one task each)."""
    from langchain_core.language_models.fake import FakeListLLM

    llm = FakeListLLM(responses=["Paris.", "Four.", "Blue, because air scatters blue light most."])
    for question in ("What is the capital of France?", "What is 2 + 2?", "Why is the sky blue?"):
        llm.invoke(question)


def chat_calls() -> None:
    """Chat-model calls with a system prompt (mode chat: one task each)."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.messages import HumanMessage, SystemMessage

    model = FakeListChatModel(responses=["Paris.", "Rome.", "Madrid."])
    for country in ("France", "Italy", "Spain"):
        model.invoke(
            [SystemMessage("Answer in one word."), HumanMessage(f"What is the capital of {country}?")]
        )


def agent_run() -> None:
    """A whole LangChain agent run (``create_agent``): a tool call, its result, then the answer."""
    from langchain.agents import create_agent
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.tools import tool
    from langchain_core.utils.function_calling import convert_to_openai_tool

    class ToolCallingFake(FakeMessagesListChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:  # as a real model puts them in the call
            return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    @tool
    def search_weather(city: str) -> str:
        """Look up today's weather for a city."""
        return f"{city} weather today: sunny, 22C."

    model = ToolCallingFake(
        responses=[
            AIMessage("", tool_calls=[{"name": "search_weather", "args": {"city": "Paris"}, "id": "call_1"}]),
            AIMessage("It is sunny and 22C in Paris."),
        ]
    )
    agent = create_agent(model, [search_weather], system_prompt="You are a weather assistant.")
    agent.invoke({"messages": [HumanMessage("What's the weather in Paris?")]})


def pair_call() -> None:
    """Two models answer the same messages in one trace (a shadow call): what mode pairwise pairs."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.messages import HumanMessage
    from langchain_core.runnables import RunnableParallel

    class NamedFakeChat(FakeListChatModel):
        model_name: str = "fake"

    served = NamedFakeChat(responses=["Paris."], model_name="served-model")
    candidate = NamedFakeChat(responses=["The capital of France is Paris."], model_name="candidate-model")
    RunnableParallel(served=served, candidate=candidate).invoke(
        [HumanMessage("What is the capital of France?")]
    )


SCENARIOS: dict[str, Callable[[], None]] = {
    "prompt": prompt_calls,
    "chat": chat_calls,
    "agent": agent_run,
    "pair": pair_call,
}


class Capture:
    """The LangChain instrumentation on a provider of its own, once (it keeps the first provider it is
    given), its ids from a seeded generator and its clock a counter from a fixed instant."""

    def __init__(self) -> None:
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor
        from opentelemetry.sdk import trace as sdk_trace

        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=Resource({"service.name": "examples"}),  # no detectors: no instance id
            id_generator=SeededIds(27),
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self._sdk_trace, self._saved = sdk_trace, sdk_trace.time_ns
        sdk_trace.time_ns = Counter()  # the SDK's one clock for span times and events
        self.instrumentor = LangchainInstrumentor()
        self.instrumentor.instrument(tracer_provider=self.provider)

    def spans(self, scenario: Callable[[], None]) -> list[ReadableSpan]:
        self.memory.clear()
        scenario()
        return list(self.memory.get_finished_spans())

    def close(self) -> None:
        self.instrumentor.uninstrument()
        self._sdk_trace.time_ns = self._saved
        self.provider.shutdown()


def json_line(request: Message) -> str:
    """One line as the Collector's file exporter writes it: OTLP/JSON, ids in hex."""
    document = json_format.MessageToDict(request)
    for resource in document.get("resourceSpans", []) + document.get("resourceLogs", []):
        for scope in resource.get("scopeSpans", []) + resource.get("scopeLogs", []):
            for item in scope.get("spans", []) + scope.get("logRecords", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if item.get(key):
                        item[key] = base64.b64decode(item[key]).hex()
    return json.dumps(document, sort_keys=True, ensure_ascii=False)


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def fixed_uuids(text: str) -> str:
    """LangChain's run ids (uuid7: time and chance) and LangGraph's task ids, each replaced by a
    fixed one in the order they first appear: the same id stays the same id across the file."""
    seen: dict[str, str] = {}

    def fixed(match: re.Match[str]) -> str:
        return seen.setdefault(match.group(0), f"00000000-0000-4000-8000-{len(seen) + 1:012x}")

    return UUID.sub(fixed, text)


def judge_results(chat_spans: list[ReadableSpan]) -> str:
    """A judge's ``gen_ai.evaluation.result`` event for each chat-model span, as OTLP/JSON logs."""
    from opentelemetry._logs import LogRecord
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.trace import NonRecordingSpan, set_span_in_context

    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource({"service.name": "judge"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("examples.judge")
    llm_spans = [span for span in chat_spans if span.attributes and "gen_ai.request.model" in span.attributes]
    llm_spans = llm_spans or [span for span in chat_spans if span.name.endswith(".chat")]
    for index, span in enumerate(sorted(llm_spans, key=lambda s: s.start_time or 0)):
        assert span.context is not None
        score = (0.9, 0.6, 0.3)[index % 3]
        attributes: dict[str, str | float] = {
            "gen_ai.evaluation.name": JUDGE,
            "gen_ai.evaluation.score.value": score,
            "gen_ai.evaluation.score.label": "helpful" if score >= 0.5 else "unhelpful",
            "gen_ai.evaluation.explanation": f"judged answer {index + 1}: "
            + ("to the point" if score >= 0.5 else "too short"),
        }
        moment = (span.end_time or START_NS) + 1_000_000_000
        logger.emit(
            LogRecord(
                timestamp=moment,
                observed_timestamp=moment,
                event_name="gen_ai.evaluation.result",
                context=set_span_in_context(NonRecordingSpan(span.context)),
                attributes=attributes,
            )
        )
    provider.shutdown()
    return json_line(encode_logs(list(memory.get_finished_logs()))) + "\n"


def contents() -> Iterator[tuple[str, str]]:
    """(file name, text) of every example."""
    capture = Capture()
    try:
        spans_of = {name: capture.spans(scenario) for name, scenario in SCENARIOS.items()}
    finally:
        capture.close()
    for name, spans in spans_of.items():
        yield f"{name}.jsonl", fixed_uuids(json_line(encode_spans(spans))) + "\n"
    yield "judge-results.jsonl", judge_results(spans_of["chat"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.examples", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    differ = []
    EXAMPLES.mkdir(exist_ok=True)
    for name, text in contents():
        path = EXAMPLES / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                differ.append(name)
            continue
        path.write_text(text)
        print(f"wrote {path.relative_to(EXAMPLES.parent)} ({len(text.encode())} bytes)")
    if differ:
        print(f"out of date: {', '.join(differ)} (run python -m devtools.examples)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
