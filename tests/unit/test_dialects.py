"""Span -> record, for every dialect, from real instrumentation runs (live or recorded)."""

import json

import pytest

from otel_label_studio.modes.layouts import layout_for
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.spanview import SpanView, from_readable_span
from tests.support import fixtures, scenarios
from tests.support.scenarios import LIVE

PREFIX = "traceloop.association.properties"


def records(spans, include_errors=False):
    return Mapper(metadata_prefix=PREFIX, include_errors=include_errors).map(
        from_readable_span(s) for s in spans
    )


def turns(record):
    return [(m.role, m.content) for m in record.messages]


@pytest.mark.parametrize("name", sorted(LIVE))
def test_genai_spans_from_the_live_instrumentation(captured, name):
    scenarios.SCENARIOS[name]()
    spans = captured.get_finished_spans()
    result = records(spans)
    assert result.spans == len(spans) and result.llm_spans == 1
    (record,) = result.records
    operation, expected_turns, expected_outputs = LIVE[name]
    assert record.dialect == "genai" and record.operation == operation
    assert turns(record) == expected_turns
    assert record.outputs == expected_outputs
    llm_span = next(
        s for s in spans if s.attributes.get("gen_ai.operation.name") in ("chat", "text_completion")
    )
    assert record.trace_id == format(llm_span.context.trace_id, "032x")
    assert record.span_id == format(llm_span.context.span_id, "016x")
    assert record.service_name == "otel-ls-tests"
    assert record.latency_ms is not None and record.latency_ms >= 0
    assert not record.truncated


def test_chain_spans_that_are_not_llm_calls_are_ignored(captured):
    scenarios.chain()
    result = records(captured.get_finished_spans())
    assert result.spans == 4 and result.llm_spans == 1 and len(result.records) == 1


def test_failed_call_is_counted_not_a_task_unless_asked(captured):
    assert scenarios.failing() == "raised"
    spans = captured.get_finished_spans()
    skipped = records(spans)
    assert skipped.records == [] and skipped.errors_skipped == 1
    (record,) = records(spans, include_errors=True).records
    assert record.error == "ValueError: boom" and record.outputs == []


def test_content_switched_off_is_counted_and_skipped(captured, monkeypatch):
    monkeypatch.setenv("TRACELOOP_TRACE_CONTENT", "false")
    scenarios.chat_system_human()
    result = records(captured.get_finished_spans())
    assert result.llm_spans == 1 and result.records == [] and result.no_content == 1


# The recorded 0.54 (indexed) and OpenInference runs of the same scenarios give the same records.
RECORDED = {
    "completion": ([("user", "Tell me a joke")], ["Why did the chicken cross the road?"]),
    "chat_system_human": (
        [("system", "Always use emojis"), ("user", "Tell me a joke")],
        ["Hi there 😀 café"],
    ),
    "multi_turn": (
        [
            ("system", "You are a comedian."),
            ("user", "Tell me a joke"),
            ("assistant", "Why did the chicken cross the road?"),
            ("user", "I don't know, why?"),
        ],
        ["Because it was ready to move on."],
    ),
    "chain": ([("system", "be nice"), ("user", "hello")], ["Hello! How can I help?"]),
    "tool_call": (
        [
            ("system", "You can look up the weather."),
            ("user", "What is the weather in London, then in Paris?"),
            ("assistant", '[tool call get_weather #call_0] {"city": "London"}'),
            ("tool", "[tool result #call_0] 22C"),
        ],
        ['[tool call get_weather #call_1] {"city": "Paris"}'],
    ),
    # issue 13, item 7: a tool result given as content blocks came out empty (OpenInference) or as
    # the blocks' JSON (0.54)
    "tool_result_blocks": (
        [
            ("user", "What is the weather in Paris?"),
            ("assistant", '[tool call get_weather #call_1] {"city": "Paris"}'),
            ("tool", "[tool result #call_1] 22C\nsunny"),
        ],
        ["Warm and sunny."],
    ),
    "n2": ([("user", "Give me two answers")], ["first answer", "second answer"]),
    "n2_chat": ([("user", "Give me two answers")], ["first answer", "second answer"]),
    "stream": ([("user", "Stream something")], ["streamed answer"]),
}


@pytest.mark.parametrize("dialect", ["legacy", "openinference"])
@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_dialects(dialect, name):
    spans = fixtures.load(dialect, name)
    result = records(spans)
    (record,) = result.records
    assert record.dialect == dialect
    assert (turns(record), record.outputs) == RECORDED[name]
    assert len(record.trace_id) == 32 and len(record.span_id) == 16


@pytest.mark.parametrize("dialect", ["legacy", "openinference"])
def test_recorded_usage_and_errors(dialect):
    (record,) = records(fixtures.load(dialect, "tool_call")).records
    assert record.usage["input_tokens"] == 42 and record.usage["output_tokens"] == 7
    assert record.usage["total_tokens"] == 49
    (failed,) = records(fixtures.load(dialect, "error"), include_errors=True).records
    assert failed.error == "ValueError: boom"


def _messages(role, text):
    """``gen_ai.*.messages`` JSON holding one text turn."""
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def _chat_attributes(question, answer):
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": _messages("user", question),
        "gen_ai.output.messages": _messages("assistant", answer),
    }


def _view(attributes, **kwargs):
    return SpanView(trace_id="ab" * 16, span_id="cd" * 8, name="x.chat", attributes=attributes, **kwargs)


def test_truncated_json_keeps_the_text_and_flags_the_record():
    cut = _messages("user", "a long question")[:40]
    view = _view({**_chat_attributes("unused", "ok"), "gen_ai.input.messages": cut})
    (record,) = records_from_views([view])
    assert record.truncated and record.messages[0].content == cut and record.outputs == ["ok"]


def test_dropped_attributes_flag_the_record():
    view = _view(
        _chat_attributes("q", "a"),
        dropped_attributes_count=3,
    )
    (record,) = records_from_views([view])
    assert record.truncated


def test_media_and_tool_parts_render_readably():
    inputs = [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is in this picture?"},
                {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
                {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "QUJD" * 100},
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "result": {"temp": 21}}]},
    ]
    view = _view(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
            "gen_ai.input.messages": json.dumps(inputs),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "A cat."}]}]
            ),
        }
    )
    (record,) = records_from_views([view])
    assert turns(record) == [
        ("system", "Be brief."),
        (
            "user",
            "What is in this picture?\n[image: https://example.com/cat.png]\n"
            "[image: image/png, 400 characters inline]",
        ),
        ("tool", '[tool result #c1] {"temp": 21}'),
    ]


def test_messages_on_the_details_event_are_read():
    from otel_label_studio.reading.spanview import EventView

    event = EventView(
        "gen_ai.client.inference.operation.details",
        1,
        {
            "gen_ai.input.messages": _messages("user", "hi"),
            "gen_ai.output.messages": _messages("assistant", "yo"),
        },
    )
    (record,) = records_from_views([_view({"gen_ai.operation.name": "chat"}, events=(event,))])
    assert turns(record) == [("user", "hi")] and record.outputs == ["yo"]


def test_an_unreadable_span_costs_only_that_span(monkeypatch):
    from otel_label_studio.reading.dialects import genai

    good = _view(_chat_attributes("q", "a"))
    bad = _view({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": object()})
    original = genai._content_source

    def explode(view):
        if view is bad:
            raise TypeError("unexpected attribute type")
        return original(view)

    monkeypatch.setattr(genai, "_content_source", explode)
    result = Mapper(metadata_prefix=PREFIX, include_errors=False).map([bad, good])
    assert (
        result.unreadable == 1 and len(result.records) == 1 and "unexpected attribute" in result.problems[0]
    )


def records_from_views(views):
    return Mapper(metadata_prefix=PREFIX, include_errors=False).map(views).records


# issue 13, item 6: one rule for OpenLLMetry's "unknown" model placeholder, in data and in meta
@pytest.mark.parametrize(
    "attributes",
    [
        {
            **_chat_attributes("q", "a"),
            "gen_ai.request.model": "unknown",
            "gen_ai.response.model": "unknown",
        },
        {
            "llm.request.type": "chat",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "q",
            "gen_ai.completion.0.content": "a",
            "gen_ai.request.model": "unknown",
            "gen_ai.response.model": "unknown",
        },
        {
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "q",
            "llm.output_messages.0.message.content": "a",
            "llm.model_name": "unknown",
        },
    ],
    ids=["genai", "legacy", "openinference"],
)
def test_the_unknown_model_placeholder_is_no_model_anywhere(attributes):
    (record,) = records_from_views([_view(attributes)])
    task = layout_for("prompt", None).task(record)
    assert task["data"]["model"] == ""
    assert (task["meta"]["request_model"], task["meta"]["response_model"]) == (None, None)


def test_run_metadata_that_is_not_a_string_is_json_as_with_openinference(captured):
    """issue 13, item 8: LangGraph's ``langgraph_triggers`` is a tuple; str() made Python repr text."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    FakeListChatModel(responses=["ok"]).invoke(
        "hi",
        config={"metadata": {"langgraph_triggers": ("branch:to:model",), "step": 3, "resumed": True}},
    )
    (record,) = records(captured.get_finished_spans()).records
    assert record.metadata["langgraph_triggers"] == '["branch:to:model"]'
    assert (record.metadata["step"], record.metadata["resumed"]) == ("3", "true")
    assert record.metadata["lc_versions"].startswith('{"langchain-core": ')  # already JSON: as it came
    (openinference,) = records(fixtures.load("openinference", "tool_call")).records
    assert openinference.metadata["lc_versions"] == '{"langchain-core": "1.7.2"}'


@pytest.mark.parametrize("dialect", ["legacy", "openinference"])
def test_recorded_run_metadata_lists_are_json(dialect):
    """issue 13, item 8, as 0.54 and OpenInference record LangGraph's tuple."""
    (record,) = records(fixtures.load(dialect, "tool_result_blocks")).records
    assert record.metadata["langgraph_triggers"] == '["branch:to:model"]'


def test_openinference_finish_reason_is_read():
    (record,) = records(fixtures.load("openinference", "tool_call")).records
    assert record.finish_reasons == ["tool_calls"]


def test_openllmetry_tool_result_given_as_text_blocks_is_their_text(captured):
    """0.62 writes a ToolMessage's list content as the JSON of its blocks into ``response``."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    FakeListChatModel(responses=["Warm and sunny."]).invoke(
        [
            HumanMessage(content="Weather in Paris?"),
            AIMessage(content="", tool_calls=[{"name": "weather", "args": {}, "id": "call_1"}]),
            ToolMessage(
                content=[{"type": "text", "text": "22C"}, {"type": "text", "text": "sunny"}],
                tool_call_id="call_1",
            ),
        ]
    )
    (record,) = records(captured.get_finished_spans()).records
    assert turns(record)[2] == ("tool", "[tool result #call_1] 22C\nsunny")


def test_legacy_list_content_of_text_blocks_is_their_text():
    blocks = json.dumps([{"type": "text", "text": "What is up?"}, {"type": "text", "text": "Really?"}])
    mixed = json.dumps([{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": "x"}])
    view = _view(
        {
            "llm.request.type": "chat",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": blocks,
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": mixed,
            "gen_ai.prompt.2.role": "tool",
            "gen_ai.prompt.2.tool_call_id": "call_1",
            "gen_ai.prompt.2.content": json.dumps([{"type": "text", "text": "22C"}]),
            "gen_ai.completion.0.content": "ok",
        }
    )
    (record,) = records_from_views([view])
    assert turns(record) == [
        ("user", "What is up?\nReally?"),
        ("user", mixed),  # not only text: nothing is dropped
        ("tool", "[tool result #call_1] 22C"),
    ]


@pytest.mark.parametrize(
    ("dialect", "scenario", "model_class"),
    [
        ("legacy", "chat_system_human", "FakeListChatModel"),  # span "FakeListChatModel.chat"
        ("legacy", "completion", "FakeListLLM"),  # no run metadata; gen_ai.system "Langchain"
        ("openinference", "chat_system_human", "FakeListChatModel"),
        ("openinference", "completion", "FakeListLLM"),
    ],
)
def test_the_langchain_model_class_is_read_from_the_span_name(dialect, scenario, model_class):
    """Fake models name no model: their class is what tells two of them apart in a pair."""
    (record,) = records(fixtures.load(dialect, scenario)).records
    assert record.model is None and record.model_class == model_class


def test_the_model_class_of_live_spans_and_none_for_spans_langchain_did_not_make(captured):
    import dataclasses
    import pickle

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from otel_label_studio.reading.record import LLMRecord

    GenericFakeChatModel(messages=iter([AIMessage(content="ok")])).invoke("hi")
    (live,) = records(captured.get_finished_spans()).records
    assert (live.dialect, live.model, live.model_class) == ("genai", None, "GenericFakeChatModel")
    native = SpanView(
        trace_id="ab" * 16,
        span_id="cd" * 8,
        name="chat gpt-4o",
        attributes={**_chat_attributes("q", "a"), "gen_ai.provider.name": "openai"},
    )
    (record,) = records_from_views([native])
    assert (record.provider, record.model_class) == ("openai", None)
    # a record spooled before the span's name was kept still loads: no class
    before = [f.name for f in dataclasses.fields(LLMRecord)].index("span_name")
    old = LLMRecord.from_bytes(pickle.dumps(pickle.loads(live.to_bytes())[:before], protocol=5))
    assert (old.span_name, old.model_class, old.outputs) == ("", None, ["ok"])
