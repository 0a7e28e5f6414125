"""The values review rules match on, read cheaply from a span view, agree with the mapped record.

For every recorded dialect scenario and every live GenAI scenario: what ``rules.fields`` reads
without mapping is what the dialect's record holds (model, provider, operation, status,
latency, token counts, dialect, run metadata), so a rule means the same before and after mapping.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_label_studio.reading import dialects
from otel_label_studio.reading.spanview import SpanView, from_otlp, from_readable_span
from otel_label_studio.rules.fields import FieldReader
from otel_label_studio.rules.language import RECORD_FIELDS
from tests.support import fixtures, scenarios

PREFIX = "traceloop.association.properties"
RECORDED = sorted(
    (dialect, path.stem)
    for dialect in ("legacy", "openinference")
    for path in (fixtures.FIXTURES / dialect).glob("*.json")
)


def expected_fields(view: SpanView) -> tuple[str, dict[str, object]]:
    dialect = dialects.dialect_for(view)
    assert dialect is not None
    record = dialect.to_record(view, PREFIX)
    usage = record.usage
    total = usage.get("total_tokens")
    if total is None and "input_tokens" in usage and "output_tokens" in usage:
        total = usage["input_tokens"] + usage["output_tokens"]
    values: dict[str, object] = {
        "model": record.model,
        "provider": record.provider,
        "operation": record.operation,
        "status": "error" if record.error else "ok",
        "latency_ms": record.latency_ms,
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "total_tokens": total,
        "dialect": record.dialect,
    }
    for key, value in record.metadata.items():
        values[f"metadata.{key}"] = value
    values["metadata.no_such_key"] = None
    return dialect.name, values


def assert_agree(views: list[SpanView]) -> int:
    reader = FieldReader(PREFIX)
    checked = 0
    for view in views:
        if dialects.dialect_for(view) is None:
            continue
        dialect, expected = expected_fields(view)
        seen = {key: reader.reader(key)(view, dialect) for key in expected}
        assert seen == expected, view.name
        checked += 1
    return checked


@pytest.mark.parametrize("dialect, scenario", RECORDED)
def test_cheap_reads_agree_with_the_record_for_recorded_dialects(dialect, scenario):
    views = [from_readable_span(span) for span in fixtures.load(dialect, scenario)]
    assert assert_agree(views) >= 1


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_cheap_reads_agree_with_the_record_for_live_genai_spans(captured, name):
    with contextlib.suppress(Exception):  # the failing scenario raises into the app, as LangChain does
        scenarios.SCENARIOS[name]()
    views = [from_readable_span(span) for span in captured.get_finished_spans()]
    assert assert_agree(views) >= 1


@pytest.mark.parametrize("dialect, scenario", RECORDED)
def test_cheap_reads_of_undecoded_otlp_views_agree_with_the_record(dialect, scenario):
    """As serve decides with rules: views whose attributes are decoded only when read; the reads
    of every key but OpenInference's operation (which looks at every key) leave them undecoded."""
    request = encode_spans(fixtures.load(dialect, scenario))
    reader = FieldReader(PREFIX)
    checked = 0
    for lazy, eager in zip(from_otlp(request, lazy=True), from_otlp(request), strict=True):
        found = dialects.dialect_for(lazy)
        if found is None:
            continue
        name, expected = expected_fields(eager)
        cheap = [key for key in expected if not (key == "operation" and name == "openinference")]
        seen = {key: reader.reader(key)(lazy, name) for key in cheap}
        assert seen == {key: expected[key] for key in cheap}, lazy.name
        assert lazy._decoded is None  # only the values read were decoded
        assert reader.reader("operation")(lazy, name) == expected["operation"]
        checked += 1
    assert checked >= 1


def test_every_record_field_has_a_reader_and_other_keys_are_attributes():
    reader = FieldReader(PREFIX)
    view = SpanView(
        "0" * 32,
        "1" * 16,
        "chat",
        {"gen_ai.operation.name": "chat", "app.user_tier": "gold"},
        resource={"service.name": "checkout", "app.user_tier": "resource-loses"},
    )
    for name in RECORD_FIELDS:
        reader.reader(name)(view, "genai")  # no KeyError for any record field
    assert reader.reader("service.name")(view, "genai") == "checkout"
    assert reader.reader("app.user_tier")(view, "genai") == "gold"  # the span's own attribute first
    assert reader.reader("app.absent")(view, "genai") is None


def test_the_recorded_fixtures_cover_metadata_and_tokens():
    """The agreement above is not vacuous: the fixtures carry metadata, usage and a failure."""
    keys: set[str] = set()
    for dialect, scenario in RECORDED:
        for span in fixtures.load(dialect, scenario):
            view = from_readable_span(span)
            if dialects.dialect_for(view) is not None:
                _, values = expected_fields(view)
                keys |= {key for key, value in values.items() if value is not None}
    assert {"provider", "input_tokens", "total_tokens", "latency_ms"} <= keys
    assert any(key.startswith("metadata.") for key in keys)
    assert Path(fixtures.FIXTURES / "legacy" / "error.json").exists()


_DIALECT_MARK = {
    "genai": {"gen_ai.operation.name": "chat"},
    "legacy": {"llm.request.type": "completion"},
    "openinference": {"openinference.span.kind": "LLM"},
}
_MODEL_AND_PROVIDER = [
    {"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06"},
    {"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "unknown"},
    {"gen_ai.request.model": "unknown", f"{PREFIX}.ls_model_name": "claude-3-5"},
    {"llm.model_name": "mistral-large", "llm.provider": "MistralAI"},
    {"llm.model_name": "unknown", "metadata": '{"ls_model_name": "gemini", "ls_provider": "google"}'},
    {"gen_ai.system": "Langchain", f"{PREFIX}.ls_provider": "anthropic"},
    {"gen_ai.provider.name": "OpenAI", "gen_ai.system": "other"},
    {"gen_ai.system": "AzureOpenAI", f"{PREFIX}.ls_provider": "azure"},
    {"llm.system": "openai", "gen_ai.usage.prompt_tokens": "12", "gen_ai.usage.completion_tokens": 3},
    {"gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 7, "llm.token_count.prompt": 9},
    {f"{PREFIX}.tags": ("a", "b"), "llm.input_messages.0.message.role": "user"},
]


@pytest.mark.parametrize("dialect", sorted(_DIALECT_MARK))
@pytest.mark.parametrize("attributes", _MODEL_AND_PROVIDER)
def test_cheap_reads_agree_on_model_provider_and_tokens_fallbacks(dialect, attributes):
    view = SpanView(
        "ab" * 16,
        "cd" * 8,
        "llm",
        {**_DIALECT_MARK[dialect], **attributes},
        start_time_unix_nano=1_000_000_000,
        end_time_unix_nano=3_500_400_000,
        status_code="ERROR" if "llm.system" in attributes else "UNSET",
    )
    assert assert_agree([view]) == 1
