"""Runs read from real spans: a LangGraph prebuilt ReAct agent under the real LangChain instrumentation."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_label_studio.modes import runs
from otel_label_studio.reading.spanview import SpanView, from_readable_span
from tests.support import fixtures, scenarios


def agent_spans(captured, **kwargs) -> list[SpanView]:
    scenarios.agent_run(**kwargs)
    return [from_readable_span(span) for span in captured.get_finished_spans()]


def test_an_agent_run_reads_as_its_trajectory(captured):
    views = agent_spans(captured)
    [piece] = runs.pieces(views)  # agent construction (create_agent, a trace of its own) is no run
    [run_spans] = runs.runs_of(piece.spans)
    run = runs.build_run(run_spans)

    assert run.request == "What's the weather in Paris?"
    assert run.final_answer == "It is sunny and 22C in Paris."
    assert not run.incomplete
    assert run.name == "invoke_agent LangGraph"
    assert [(step.kind, step.name) for step in run.steps] == [
        ("llm", "ToolCallingFake.chat"),
        ("tool", "search_weather"),
        ("retriever", "WeatherNotes"),
        ("llm", "ToolCallingFake.chat"),
    ]
    ask, tool, retrieve, answer = run.steps
    assert [(c.id, c.name, c.arguments) for c in ask.tool_calls] == [
        ("call_Paris", "search_weather", {"city": "Paris"})
    ]
    assert (tool.arguments, tool.result, tool.tool_call_id) == (
        {"city": "Paris"},
        "Paris weather today: sunny, 22C.",
        "call_Paris",
    )
    assert retrieve.query == "weather in Paris"
    assert retrieve.documents[0].content == "Paris weather today: sunny, 22C."
    assert retrieve.documents[0].metadata == {"source": "today.txt"}
    long = retrieve.documents[1].content
    assert long.startswith("Lyon weather: rain. Long note.")
    assert long.endswith("… [cut: 2320 more characters]")
    assert len(long) - len("… [cut: 2320 more characters]") == runs.DOCUMENT_LIMIT
    assert answer.text == "It is sunny and 22C in Paris." and not answer.tool_calls
    assert {step.span_id for step in run.steps} <= {view.span_id for view in run_spans}
    assert all(step.latency_ms is not None and step.latency_ms >= 0 for step in run.steps)
    assert run.tools == [
        {
            "type": "function",
            "function": {
                "name": "search_weather",
                "description": "Look up today's weather for a city.",
                "parameters": {
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "type": "object",
                },
            },
        }
    ]
    totals = run.totals
    counts = [totals[key] for key in ("steps", "llm_steps", "tool_steps", "retriever_steps")]
    assert counts == [4, 2, 1, 1]
    assert totals["errors"] == 0 and totals["duration_ms"] > 0


def test_spans_in_any_order_make_the_same_run(captured):
    views = [view for piece in runs.pieces(agent_spans(captured)) for view in piece.spans]
    expected = runs.build_run(views)
    shuffled = list(views)
    random.Random(7).shuffle(shuffled)
    assert runs.build_run(reversed(views)) == expected
    assert runs.build_run(shuffled) == expected


def test_a_run_goes_to_the_project_its_spans_resource_names(captured):
    """The resource attribute ``label_studio.project`` routes a run as it routes an LLM call; the top
    span's resource first, then the first step's carrying it."""
    views = [view for piece in runs.pieces(agent_spans(captured)) for view in piece.spans]
    assert runs.build_run(views).project is None  # no attribute: the exporter's own project

    def named(view: SpanView, title: str) -> SpanView:
        return replace(view, resource={**view.resource, "label_studio.project": title})

    assert runs.build_run([named(view, "Support-%Y") for view in views]).project == "Support-%Y"
    top = next(view for view in views if not view.parent_span_id)
    steps_only = [named(view, "Steps") if view is not top else view for view in views]
    assert runs.build_run(steps_only).project == "Steps"
    mixed = [named(view, "Top") if view is top else view for view in steps_only]
    assert runs.build_run(mixed).project == "Top"


def test_the_trajectory_as_openai_messages(captured):
    run = runs.build_run(agent_spans(captured))
    assert run.messages() == [
        {"role": "system", "content": "You are a weather assistant."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_Paris",
                    "type": "function",
                    "function": {"name": "search_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_Paris", "content": "Paris weather today: sunny, 22C."},
    ]


def test_two_runs_under_one_web_request_are_two_runs(captured):
    # The web framework's span: another provider, the same context, so LangChain's spans join its trace.
    tracer = TracerProvider().get_tracer("web")
    with tracer.start_as_current_span("GET /ask") as web:
        scenarios.agent_run(city="Paris", answer="Sunny in Paris.")
        scenarios.agent_run(city="Oslo", answer="Snow in Oslo.")
    views = [from_readable_span(span) for span in [*captured.get_finished_spans(), web]]
    [piece] = runs.pieces(views)  # the web request span is no run span; both runs share its trace
    assert all(view.name != "GET /ask" for view in piece.spans)
    found = [runs.build_run(spans) for spans in runs.runs_of(piece.spans)]
    assert [(run.request, run.final_answer) for run in found] == [
        ("What's the weather in Paris?", "Sunny in Paris."),
        ("What's the weather in Oslo?", "Snow in Oslo."),
    ]
    assert [step.tool_calls[0].arguments for run in found for step in run.steps[:1]] == [
        {"city": "Paris"},
        {"city": "Oslo"},
    ]
    assert not any(run.incomplete for run in found)  # their tops' parent is the web span


def test_a_run_without_its_top_span_is_incomplete(captured):
    views = [view for piece in runs.pieces(agent_spans(captured)) for view in piece.spans]
    tops = {"invoke_agent LangGraph", "LangGraph.workflow"}
    headless = [view for view in views if view.name not in tops]
    run = runs.build_run(headless)
    assert run.incomplete
    assert [step.kind for step in run.steps] == ["llm", "tool", "retriever", "llm"]
    assert run.final_answer == "It is sunny and 22C in Paris."
    assert runs.build_run(views, incomplete=True).incomplete  # an assembler that timed out says so


def test_a_plain_call_is_a_one_step_run(captured):
    scenarios.chat_system_human()
    views = [from_readable_span(span) for span in captured.get_finished_spans()]
    [piece] = runs.pieces(views)
    [spans] = runs.runs_of(piece.spans)
    run = runs.build_run(spans)
    assert [step.kind for step in run.steps] == ["llm"]
    assert (run.request, run.final_answer, run.incomplete) == ("Tell me a joke", "Hi there 😀 café", False)
    assert run.messages() == [
        {"role": "system", "content": "Always use emojis"},
        {"role": "user", "content": "Tell me a joke"},
    ]


def test_a_failing_tool_is_an_error_step(captured):
    """The one test on LangGraph's prebuilt ``create_react_agent`` (deprecated since LangGraph 1.0, gone
    in 2.0; the other agents are LangChain's ``create_agent``): kept while apps still use it."""
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.tools import tool
    from langgraph.prebuilt import ToolNode, create_react_agent
    from langgraph.warnings import LangGraphDeprecatedSinceV10

    @tool
    def broken(city: str) -> str:
        """Always fails."""
        raise ValueError(f"no weather for {city}")

    model = scenarios.ToolCallingFake(
        responses=[
            AIMessage(content="", tool_calls=[{"name": "broken", "args": {"city": "Rome"}, "id": "c9"}]),
            AIMessage(content="I could not find it."),
        ]
    )
    with pytest.warns(LangGraphDeprecatedSinceV10, match="create_react_agent"):
        agent = create_react_agent(model, ToolNode([broken], handle_tool_errors=True))
    agent.invoke({"messages": [HumanMessage(content="Weather in Rome?")]})
    run = runs.build_run(
        view
        for piece in runs.pieces(from_readable_span(s) for s in captured.get_finished_spans())
        for view in piece.spans
    )
    [tool_step] = [step for step in run.steps if step.kind == "tool"]
    assert tool_step.error is not None and "no weather for Rome" in tool_step.error
    assert run.totals["errors"] >= 1
    assert {"role": "tool", "tool_call_id": "c9", "content": f"[error] {tool_step.error}"} in run.messages()


def test_openinference_kinds():
    """OpenInference's CHAIN/LLM/TOOL/RETRIEVER spans, attributes as its LangChain tracer writes them."""
    trace_id = "ab" * 16

    def span(span_id, parent, kind, start, **attributes):
        return SpanView(
            trace_id, span_id, kind.lower(), {"openinference.span.kind": kind, **attributes},
            start, start + 10, parent_span_id=parent,
        )  # fmt: skip

    calls = {
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.id": "t1",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "lookup",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"q": "x"}',
    }
    views = [
        span("1" * 16, "", "CHAIN", 1, **{"input.value": "Find x", "output.value": "x is 1"}),
        span(
            "2" * 16,
            "1" * 16,
            "LLM",
            2,
            **{
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "Find x",
                "llm.model_name": "gpt-x",
                "llm.token_count.total": 7,
                **calls,
            },
        ),  # fmt: skip
        span(
            "3" * 16,
            "1" * 16,
            "TOOL",
            3,
            **{"tool.name": "lookup", "input.value": '{"q": "x"}', "output.value": "x is 1"},
        ),  # fmt: skip
        span(
            "4" * 16,
            "1" * 16,
            "RETRIEVER",
            4,
            **{
                "input.value": "x",
                "retrieval.documents.0.document.content": "x is 1",
                "retrieval.documents.0.document.score": 0.9,
            },
        ),  # fmt: skip
        span(
            "5" * 16,
            "1" * 16,
            "LLM",
            5,
            **{
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "Find x",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "x is 1",
            },
        ),  # fmt: skip
    ]
    run = runs.build_run(views)
    assert [step.kind for step in run.steps] == ["llm", "tool", "retriever", "llm"]
    assert [(c.id, c.name, c.arguments) for c in run.steps[0].tool_calls] == [("t1", "lookup", {"q": "x"})]
    assert (run.steps[0].model, run.steps[0].usage) == ("gpt-x", {"total_tokens": 7})
    assert (run.steps[1].arguments, run.steps[1].result) == ({"q": "x"}, "x is 1")
    assert (run.steps[2].query, run.steps[2].documents[0].content) == ("x", "x is 1")
    assert run.steps[2].documents[0].metadata == {"score": 0.9}
    assert (run.request, run.final_answer, run.totals["tokens"]) == ("Find x", "x is 1", {"total_tokens": 7})
    assert json.loads(run.messages()[1]["tool_calls"][0]["function"]["arguments"]) == {"q": "x"}


def test_cut_marks_what_it_leaves_out():
    assert runs.cut("short", 10) == "short"
    assert runs.cut("0123456789abc", 10) == "0123456789… [cut: 3 more characters]"


def test_a_run_survives_the_spool_and_is_redacted_everywhere(captured):
    from otel_label_studio.reading.redact import Redactor

    run = runs.build_run(agent_spans(captured))
    assert runs.RunRecord.from_bytes(run.to_bytes()) == run
    masked = run.redact(Redactor([r"Paris"]).text)
    texts = [masked.request, masked.final_answer, *(m["content"] or "" for m in masked.prompt)]
    for step in masked.steps:
        texts += [step.text, step.result, step.query, *(d.content for d in step.documents)]
    assert not [text for text in texts if "Paris" in text]
    assert masked.request == "What's the weather in [REDACTED]?"
    assert masked.steps[1].arguments == {"city": "[REDACTED]"}
    assert masked.steps[0].tool_calls[0].arguments == {"city": "[REDACTED]"}
    assert masked.messages()[2]["tool_calls"][0]["function"]["arguments"] == '{"city": "[REDACTED]"}'


@pytest.mark.parametrize(
    "dialect, llm_name", [("openinference", "ToolCallingFake"), ("legacy", "ToolCallingFake.chat")]
)
def test_other_dialects_read_an_agent_run_like_openllmetry_055(captured, dialect, llm_name):
    """The same agent under openinference-instrumentation-langchain 0.1.80 and OpenLLMetry 0.54.0
    (recorded in tests/fixtures/<dialect>/agent_run.json)."""
    views = [from_readable_span(span) for span in fixtures.load(dialect, "agent_run")]
    [run] = [runs.build_run(spans) for piece in runs.pieces(views) for spans in runs.runs_of(piece.spans)]
    live = runs.build_run(agent_spans(captured))
    assert [(step.kind, step.name) for step in run.steps] == [
        ("llm", llm_name),
        ("tool", "search_weather"),
        ("retriever", "WeatherNotes"),
        ("llm", llm_name),
    ]
    tool, retrieve = run.steps[1], run.steps[2]
    # neither records the arguments as an object ("Paris"; "{'city': 'Paris'}"): they come from the call
    assert (tool.arguments, tool.result, tool.tool_call_id) == (
        {"city": "Paris"},
        "Paris weather today: sunny, 22C.",
        "call_Paris",
    )
    assert [(d.content, d.metadata) for d in retrieve.documents] == [
        (d.content, d.metadata) for d in live.steps[2].documents
    ]
    assert (run.request, run.final_answer, run.incomplete) == (live.request, live.final_answer, False)
    assert run.name == {"openinference": "LangGraph", "legacy": "invoke_agent LangGraph"}[dialect]
    assert run.tools == live.tools
    assert run.messages() == live.messages()


def test_a_run_from_otlp_requests_in_reverse_order_equals_the_in_process_run(captured):
    """What serve will see: the spans in several OTLP requests, last first; parents from the protobuf."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from otel_label_studio.reading.spanview import from_otlp

    scenarios.agent_run()
    spans = list(captured.get_finished_spans())
    pieces = runs.pieces(map(from_readable_span, spans))
    direct = [runs.build_run(s) for piece in pieces for s in runs.runs_of(piece.spans)]
    requests = [encode_spans(spans[i : i + 3]) for i in range(0, len(spans), 3)]
    held: dict[str, list[SpanView]] = {}  # what an assembler keeps per trace
    for request in reversed(requests):
        for piece in runs.pieces(from_otlp(request)):
            held.setdefault(piece.trace_id, []).extend(piece.spans)
    decoded = [runs.build_run(s) for views in held.values() for s in runs.runs_of(views)]
    assert len(requests) > 3 and decoded == direct
    assert decoded[0].service_name == "otel-ls-tests"
