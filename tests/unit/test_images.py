"""A message's images (issue 25): read per dialect beside the text that names them, kept through the
spool, dropped by redaction, and a task's ``images`` for the Image tag of the prompt and chat layouts."""

import json
import pickle

import pytest

from otel_label_studio.modes.layouts import layout_for
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.record import (
    MAX_IMAGE_CHARS,
    LLMRecord,
    Message,
    blocks_images,
    image_source,
)
from otel_label_studio.reading.redact import Redactor
from otel_label_studio.reading.spanview import SpanView, from_readable_span

PNG = "data:image/png;base64,iVBORw0KGgo="
URL = "https://example.com/cat.png"


def read(attributes):
    view = SpanView(trace_id="ab" * 16, span_id="cd" * 8, name="chat", attributes=attributes)
    (record,) = (
        Mapper(metadata_prefix="traceloop.association.properties", include_errors=False).map([view]).records
    )
    return record


def test_the_live_instrumentation_s_image_parts_are_kept_beside_their_text(captured):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.messages import HumanMessage

    FakeListChatModel(responses=["A blue square."]).invoke(
        [
            HumanMessage(
                content=[
                    {"type": "text", "text": "Summarize this:\n\nQuarterly report"},
                    {"type": "image_url", "image_url": {"url": PNG}},
                    {"type": "image", "source_type": "url", "url": URL},
                ]
            )
        ]
    )
    (record,) = (
        Mapper(metadata_prefix="traceloop.association.properties", include_errors=False)
        .map(from_readable_span(s) for s in captured.get_finished_spans())
        .records
    )
    (message,) = record.messages
    assert message.content == (
        "Summarize this:\n\nQuarterly report\n[image: data:image/png;base64, 34 characters inline]\n"
        f"[image: {URL}]"
    )  # the text as before
    assert message.images == [PNG, URL]


def test_genai_uri_and_blob_parts():
    inputs = [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is in this picture?"},
                {"type": "uri", "modality": "image", "uri": URL},
                {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "QUJD"},
                {"type": "uri", "modality": "video", "uri": "https://example.com/a.mp4"},
                {"type": "uri", "modality": "image", "uri": "s3://bucket/cat.png"},
            ],
        },
        {"role": "user", "parts": [{"type": "text", "content": "and?"}]},
    ]
    record = read(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": json.dumps(inputs),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": []}]),
        }
    )
    assert [m.images for m in record.messages] == [[URL, "data:image/png;base64,QUJD"], []]


def test_openinference_image_contents():
    record = read(
        {
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.contents.0.message_content.type": "text",
            "llm.input_messages.0.message.contents.0.message_content.text": "Look",
            "llm.input_messages.0.message.contents.1.message_content.type": "image",
            "llm.input_messages.0.message.contents.1.message_content.image.image.url": PNG,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "A square.",
        }
    )
    (message,) = record.messages
    assert message.content.startswith("Look\n[image: data:image/png;base64,") and message.images == [PNG]


def test_legacy_list_content_keeps_its_text_and_gives_its_images():
    mixed = json.dumps([{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": URL}}])
    record = read(
        {
            "llm.request.type": "chat",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": mixed,
            "gen_ai.completion.0.content": "ok",
        }
    )
    (message,) = record.messages
    assert message.content == mixed and message.images == [URL]  # the text as before


def test_which_images_are_kept():
    assert blocks_images(
        [
            {"type": "image_url", "image_url": URL},
            {"type": "input_image", "image_url": PNG},
            {"type": "image", "source_type": "base64", "data": "QUJD", "mime_type": "image/jpeg"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lG"}},
            {"type": "image", "source": {"type": "url", "url": URL}},
            {"type": "text", "text": "no"},
            {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}},
            {"type": "image", "source_type": "base64", "data": "QUJD", "mime_type": "application/pdf"},
        ]
    ) == [URL, PNG, "data:image/jpeg;base64,QUJD", "data:image/gif;base64,R0lG", URL]
    assert blocks_images("not json") == [] and blocks_images('[{"type": "text"}]') == []
    assert image_source("data:text/html,<script>") is None and image_source("javascript:x") is None
    assert image_source("HTTPS://EXAMPLE.COM/A.PNG") == "HTTPS://EXAMPLE.COM/A.PNG"
    huge = "data:image/png;base64," + "A" * MAX_IMAGE_CHARS
    assert image_source(huge) is None  # named in the text only


def test_images_survive_the_spool_and_an_older_record_still_loads():
    record = LLMRecord(
        trace_id="a" * 32,
        span_id="b" * 16,
        operation="chat",
        dialect="genai",
        messages=[Message("system", "Be brief."), Message("user", "Look\n[image: x]", [PNG, URL])],
        outputs=["A square."],
    )
    again = LLMRecord.from_bytes(record.to_bytes())
    assert again == record and again.messages[1].images == [PNG, URL] and again.messages[0].images == []
    # spooled before messages had images: (role, content) pairs
    values = list(pickle.loads(record.to_bytes()))
    index = [name for name in LLMRecord.__dataclass_fields__].index("messages")
    values[index] = [(m.role, m.content) for m in record.messages]
    old = LLMRecord.from_bytes(pickle.dumps(tuple(values), protocol=5))
    assert [m.images for m in old.messages] == [[], []] and old.messages[1].content == "Look\n[image: x]"
    # a message without images is written as before: an older reader still reads it
    plain = LLMRecord.from_bytes(pickle.dumps(tuple(values), protocol=5)).to_bytes()
    assert pickle.loads(plain)[index] == [("system", "Be brief."), ("user", "Look\n[image: x]")]


def test_redaction_drops_images():
    record = LLMRecord(
        trace_id="a" * 32,
        span_id="b" * 16,
        operation="chat",
        dialect="genai",
        messages=[Message("user", f"mail bob@example.com\n[image: {URL}]", [URL])],
    )
    Redactor(builtin=True).record(record)
    assert record.messages[0].images == [] and "[REDACTED]" in record.messages[0].content
    kept = LLMRecord(trace_id="a" * 32, span_id="b" * 16, operation="chat", dialect="genai")
    kept.messages = [Message("user", "x", [URL])]
    assert Redactor().record(kept).messages[0].images == [URL]  # no patterns: nothing changes


@pytest.mark.parametrize("mode", ["prompt", "chat"])
def test_a_task_has_the_messages_images_or_an_empty_string(mode):
    record = LLMRecord(
        trace_id="a" * 32,
        span_id="b" * 16,
        operation="chat",
        dialect="genai",
        messages=[
            Message("user", "one", [PNG]),
            Message("assistant", "two"),
            Message("user", "three", [URL, PNG]),
        ],
        outputs=["ok"],
        start_time_unix_nano=1_000_000,
        end_time_unix_nano=1_000_000 + 1_234_567_890,
    )
    layout = layout_for(mode, None)
    data = layout.task(record)["data"]
    assert data["images"] == [PNG, URL, PNG]
    assert data["latency_ms"] == 1235 and isinstance(data["latency_ms"], int)
    record.messages = [Message("user", "no image")]
    record.end_time_unix_nano = 0  # no times: the config still gets a value for its column
    data = layout.task(record)["data"]
    assert data["images"] == "" and data["latency_ms"] == ""
