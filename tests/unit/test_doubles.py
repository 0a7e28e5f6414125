"""Calls described twice (``doubles.py``): two LangChain instrumentations in one app make two spans per
LLM call; the pure rule finds them, the one ingest path keeps one task per call and warns once with a fix
that leaves one instrumentation on. The spans carry what each instrumentation really writes."""

from __future__ import annotations

import json
import logging
import socket
import textwrap
from types import SimpleNamespace

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.doctor import langchain_instrumentations
from otel_label_studio.ingest import Ingest
from otel_label_studio.reading.doubles import find_doubles
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.record import LLMRecord
from otel_label_studio.reading.spanview import from_readable_span
from otel_label_studio.receiver.intake import Intake
from otel_label_studio.rules import ReviewGate, load_file
from otel_label_studio.store.memory_queue import MemoryQueue

PREFIX = "traceloop.association.properties"
FIX = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=langchain"
UNINSTALL = "pip uninstall openinference-instrumentation-langchain"
MS = 1_000_000


def genai_span(trace: int, span: int, start: int, question: str, answer: str, **more) -> ReadableSpan:
    """What opentelemetry-instrumentation-langchain 0.62 writes on a FakeListChatModel call."""
    return _span(
        "FakeListChatModel.chat",
        trace,
        span,
        start,
        {
            "gen_ai.provider.name": "langchain",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "unknown",
            f"{PREFIX}.ls_provider": "fakelistchatmodel",
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Answer briefly."}]),
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": question}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": ""}]
            ),
        },
        **more,
    )


def openinference_span(trace: int, span: int, start: int, question: str, answer: str, **more) -> ReadableSpan:
    """What openinference-instrumentation-langchain 0.1.80 writes on the same call."""
    return _span(
        "FakeListChatModel",
        trace,
        span,
        start,
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "fakelistchatmodel",
            "metadata": json.dumps({"ls_provider": "fakelistchatmodel", "ls_model_type": "chat"}),
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "Answer briefly.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": question,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": answer,
        },
        **more,
    )


def _span(
    name: str,
    trace: int,
    span: int,
    start: int,
    attributes: dict,
    *,
    parent: int | None = None,
    service: str = "shop",
    length: int = 3 * MS,
) -> ReadableSpan:
    return ReadableSpan(
        name=name,
        context=SpanContext(trace, span, False, TraceFlags(TraceFlags.SAMPLED)),
        parent=SpanContext(trace, parent, False) if parent else None,
        resource=Resource.create({"service.name": service}),
        attributes=attributes,
        status=Status(StatusCode.UNSET),
        start_time=start,
        end_time=start + length,
    )


T0 = 1_796_657_606_590_000_000


def two_calls_described_twice() -> list[ReadableSpan]:
    """Two top-level calls under both instrumentations: each span the root of a trace of its own,
    the OpenInference span opening a little before OpenLLMetry's, as the two callbacks run."""
    return [
        openinference_span(0xA1, 0x11, T0, "Capital of France?", "Paris."),
        genai_span(0xB1, 0x12, T0 + MS // 2, "Capital of France?", "Paris."),
        openinference_span(0xA2, 0x21, T0 + 5 * MS, "Capital of Italy?", "Rome."),
        genai_span(0xB2, 0x22, T0 + 5 * MS + MS // 2, "Capital of Italy?", "Rome."),
    ]


def records(spans: list[ReadableSpan]) -> list[LLMRecord]:
    mapper = Mapper(metadata_prefix=PREFIX, include_errors=False)
    return mapper.map(from_readable_span(span) for span in spans).records


def test_each_call_described_twice_keeps_its_openllmetry_record():
    mapped = records(two_calls_described_twice())
    doubles = find_doubles(mapped)
    assert [(r.dialect, r.span_id[-2:]) for r in doubles] == [
        ("openinference", "11"),
        ("openinference", "21"),
    ]
    kept = [r for r in mapped if r not in doubles]
    assert [(r.dialect, r.messages[-1].content, r.outputs) for r in kept] == [
        ("genai", "Capital of France?", ["Paris."]),
        ("genai", "Capital of Italy?", ["Rome."]),
    ]


def test_inside_an_app_span_the_two_share_its_trace_under_chain_spans_of_their_own():
    spans = [
        openinference_span(0xC, 0x31, T0, "Capital of Spain?", "Madrid.", parent=0x3A),
        genai_span(0xC, 0x32, T0 + MS // 2, "Capital of Spain?", "Madrid.", parent=0x3B),
    ]
    assert [r.span_id[-2:] for r in find_doubles(records(spans))] == ["31"]


def test_different_calls_are_never_taken_for_one():
    question, answer = "Capital of France?", "Paris."
    cases = {
        "another answer": genai_span(0xB, 0x2, T0, question, "Lyon?"),
        "another question": genai_span(0xB, 0x2, T0, "Capital of Peru?", answer),
        "one after the other": genai_span(0xB, 0x2, T0 + 10 * MS, question, answer),
        "another service": genai_span(0xB, 0x2, T0, question, answer, service="billing"),
    }
    for case, other in cases.items():
        assert find_doubles(records([openinference_span(0xA, 0x1, T0, question, answer), other])) == [], case
    # the same call twice from one instrumentation: two calls (n calls in parallel), both tasks
    same_family = [genai_span(0xA, 0x1, T0, question, answer), genai_span(0xB, 0x2, T0, question, answer)]
    assert find_doubles(records(same_family)) == []


def test_each_openllmetry_record_answers_for_one_openinference_record_only():
    spans = [
        openinference_span(0xA, 0x1, T0, "Hi?", "Hello."),
        openinference_span(0xB, 0x2, T0, "Hi?", "Hello."),
        genai_span(0xC, 0x3, T0, "Hi?", "Hello."),
    ]
    assert len(find_doubles(records(spans))) == 1  # the second OpenInference call has no partner: kept


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and FIX in r.getMessage()]


def test_the_exporter_makes_one_record_per_call_and_warns_once_with_the_fix(caplog):
    exporter = LabelStudioSpanExporter(url=f"http://127.0.0.1:{closed_port()}", api_key="k", timeout=1)
    caplog.set_level(logging.WARNING, logger="otel_label_studio")
    exporter.export(two_calls_described_twice())
    (warning,) = warnings_of(caplog)
    assert "opentelemetry-instrumentation-langchain" in warning and UNINSTALL in warning
    assert "LangchainInstrumentor().instrument()" in warning and "one task is made per call" in warning
    assert (exporter.counts["waiting"], exporter.counts["described_twice"]) == (2, 2)
    exporter.export(
        [
            openinference_span(0xA3, 0x41, T0 + 9 * MS, "Capital of Spain?", "Madrid."),
            genai_span(0xB3, 0x42, T0 + 9 * MS, "Capital of Spain?", "Madrid."),
        ]
    )
    assert len(warnings_of(caplog)) == 1  # once per exporter
    assert (exporter.counts["waiting"], exporter.counts["described_twice"]) == (3, 3)
    waiting = exporter._queue.take(10)
    assert {item.record.dialect for item in waiting} == {"genai"}
    exporter.shutdown()


def test_serve_takes_the_same_path_from_otlp(caplog):
    caplog.set_level(logging.WARNING, logger="otel_label_studio")
    queue = MemoryQueue(100)
    intake = Intake(Ingest(Mapper(metadata_prefix=PREFIX, include_errors=False), queue))
    answer = intake.accept(encode_spans(two_calls_described_twice()))
    assert answer.partial_success.rejected_spans == 0  # not the sender's fault
    assert queue.depth == 2 and intake.stats.described_twice == 2
    assert {item.record.dialect for item in queue.take(10)} == {"genai"}
    assert len(warnings_of(caplog)) == 1


def test_review_rules_give_back_the_place_a_dropped_double_took_under_a_limit(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("rules:\n  - name: all\n    sample: 1.0\n    limit: 2/day\n"))
    gate = ReviewGate(load_file(str(rules)), metadata_prefix=PREFIX, default_project="Default")
    queue = MemoryQueue(100)
    ingest = Ingest(Mapper(metadata_prefix=PREFIX, include_errors=False), queue, gate=gate)
    calls = two_calls_described_twice()
    for call in (calls[:2], calls[2:]):  # one doubled call a batch: it takes one place, not two
        ingest.enqueue(ingest.map([from_readable_span(span) for span in call]))
    questions = [item.record.messages[-1].content for item in queue.take(10)]
    assert questions == ["Capital of France?", "Capital of Italy?"]  # the second call found a place
    assert gate.counts().rules["all"].kept == 2 and ingest.stats.described_twice == 1


def test_mode_agent_keeps_both_and_warns_once(caplog):
    exporter = LabelStudioSpanExporter(
        url=f"http://127.0.0.1:{closed_port()}", api_key="k", timeout=1, mode="agent"
    )
    caplog.set_level(logging.WARNING, logger="otel_label_studio")
    exporter.export(two_calls_described_twice())
    exporter.export(two_calls_described_twice()[:2])
    (warning,) = warnings_of(caplog)
    assert "each becomes a task of its own" in warning and UNINSTALL in warning
    assert exporter.counts["described_twice"] == 0
    exporter.shutdown()


def test_doctor_names_each_distribution_that_registers_an_instrumentor_named_langchain():
    def entry(name: str, dist: str | None, value: str = "pkg.module:Instrumentor"):
        return SimpleNamespace(name=name, value=value, dist=SimpleNamespace(name=dist) if dist else None)

    ours = entry("langchain", "opentelemetry-instrumentation-langchain")
    theirs = entry("langchain", "openinference-instrumentation-langchain")
    assert langchain_instrumentations([ours, entry("httpx", "opentelemetry-instrumentation-httpx")]) == [
        "opentelemetry-instrumentation-langchain"
    ]
    assert langchain_instrumentations([ours, ours, theirs]) == [  # a distribution found twice counts once
        "openinference-instrumentation-langchain",
        "opentelemetry-instrumentation-langchain",
    ]
    assert langchain_instrumentations([entry("langchain", None, "some.module:X")]) == ["some.module"]
