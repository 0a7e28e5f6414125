"""OpenTelemetry GenAI semantic conventions (opentelemetry-instrumentation-langchain 0.55 and later).

Messages are JSON strings: ``gen_ai.input.messages``, ``gen_ai.output.messages``,
``gen_ai.system_instructions``; or the same keys as attributes of a
``gen_ai.client.inference.operation.details`` event. A string cut short by an attribute
length limit no longer parses: its raw text is kept and the record is flagged truncated.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..jsontext import loads
from ..record import (
    MAX_IMAGES,
    ROLES,
    LLMRecord,
    Message,
    blocks_images,
    image_source,
    join_parts,
    normalize_role,
    render_media,
    render_tool_call,
    render_tool_result,
    to_text,
)
from ..spanview import SpanView
from ._common import model_attr, new_record, provider_name, text_attr, usage_from

NAME = "genai"

OPERATION = "gen_ai.operation.name"
OPERATIONS = {"chat": "chat", "text_completion": "completion", "generate_content": "chat"}
INPUT = "gen_ai.input.messages"
OUTPUT = "gen_ai.output.messages"
SYSTEM = "gen_ai.system_instructions"
DETAILS_EVENT = "gen_ai.client.inference.operation.details"

_USAGE_KEYS = {
    "gen_ai.usage.input_tokens": "input_tokens",
    "gen_ai.usage.output_tokens": "output_tokens",
    "gen_ai.usage.total_tokens": "total_tokens",
    "gen_ai.usage.cache_read.input_tokens": "cache_read_input_tokens",
}
_REQUEST_KEYS = tuple(
    (name, f"gen_ai.request.{name}")
    for name in ("temperature", "max_tokens", "top_p", "top_k", "frequency_penalty", "presence_penalty")
)


def claims(view: SpanView) -> bool:
    return view.attribute(OPERATION) in OPERATIONS


def to_record(view: SpanView, metadata_prefix: str) -> LLMRecord:
    attributes = view.attributes
    operation = OPERATIONS[attributes[OPERATION]]
    record = new_record(view, operation=operation, dialect=NAME, metadata_prefix=metadata_prefix)
    content = _content_source(view)

    system, ok_system = _decode(content.get(SYSTEM), True)
    inputs, ok_input = _decode(content.get(INPUT))
    outputs, ok_output = _decode(content.get(OUTPUT))
    if not (ok_system and ok_input and ok_output):
        record.truncated = True

    _read_system(system, record.messages)
    _read_messages(inputs, record.messages)
    _read_outputs(outputs, record.outputs, record.finish_reasons)
    reasons = attributes.get("gen_ai.response.finish_reasons")
    if not record.finish_reasons and isinstance(reasons, (list, tuple)):
        record.finish_reasons.extend(str(reason) for reason in reasons if reason)

    record.request_model = model_attr(attributes, "gen_ai.request.model")
    record.response_model = model_attr(attributes, "gen_ai.response.model")
    record.provider = provider_name(
        text_attr(attributes, "gen_ai.provider.name") or text_attr(attributes, "gen_ai.system"),
        record.metadata,
    )
    record.usage = usage_from(attributes, _USAGE_KEYS)
    for name, key in _REQUEST_KEYS:
        value = attributes.get(key)
        if value is not None:
            record.request_params[name] = value
    response_id = text_attr(attributes, "gen_ai.response.id")
    if response_id:
        record.request_params["response_id"] = response_id
    return record


def _content_source(view: SpanView) -> Mapping[str, Any]:
    """Span attributes, or the details event's when the span itself carries no messages."""
    if INPUT in view.attributes or OUTPUT in view.attributes:
        return view.attributes
    for event in view.events:
        if event.name == DETAILS_EVENT:
            return event.attributes
    return view.attributes


def _decode(raw: Any, plain_string_ok: bool = False) -> tuple[Any, bool]:
    """Parsed JSON and whether it parsed. Unparseable text comes back as itself."""
    if not isinstance(raw, str):  # absent, or already structured (an SDK span's attribute)
        return raw, True
    try:
        return loads(raw), True
    except ValueError:
        return raw, plain_string_ok


def _read_system(system: Any, messages: list[Message]) -> None:
    if system is None:
        return
    text = _parts_text(system) if isinstance(system, list) else to_text(system)
    if text:
        messages.append(Message("system", text))


def _read_messages(raw: Any, messages: list[Message]) -> None:
    if raw is None:
        return
    if not isinstance(raw, list):  # truncated or unexpected: keep the text
        messages.append(Message("user", to_text(raw)))
        return
    for item in raw:
        if not isinstance(item, dict):
            messages.append(Message("user", to_text(item)))
            continue
        role = item.get("role")
        if role not in ROLES:  # "user", "assistant"... as written; anything else is normalized
            role = normalize_role(role, default="user")
        messages.append(Message(role, _message_text(item), _message_images(item)))


def _read_outputs(raw: Any, outputs: list[str], finish_reasons: list[str]) -> None:
    if raw is None:
        return
    if not isinstance(raw, list):
        outputs.append(to_text(raw))
        return
    for item in raw:
        if not isinstance(item, dict):
            outputs.append(to_text(item))
            continue
        outputs.append(_message_text(item))
        reason = item.get("finish_reason")
        if reason:
            finish_reasons.append(str(reason))


def _message_text(message: dict[str, Any]) -> str:
    parts = message.get("parts")
    if isinstance(parts, list):
        return _parts_text(parts)
    return to_text(message.get("content"))


def _message_images(message: dict[str, Any]) -> list[str]:
    """The images of a message's ``uri`` and ``blob`` parts of modality image (or of its content
    blocks), in order."""
    parts = message.get("parts")
    if not isinstance(parts, list):
        return blocks_images(message.get("content"))
    found: list[str] = []
    for part in parts:
        if not isinstance(part, dict) or part.get("modality") != "image":
            continue
        if part.get("type") == "uri":
            image = image_source(part.get("uri"))
        elif part.get("type") == "blob":
            image = image_source(part.get("content"), part.get("mime_type"))
        else:
            continue
        if image is not None and len(found) < MAX_IMAGES:
            found.append(image)
    return found


def _parts_text(parts: list[Any]) -> str:
    """The parts rendered and joined; one text part, the usual message, is its own text."""
    if len(parts) == 1:
        part = parts[0]
        if isinstance(part, dict) and part.get("type") == "text":
            content = part.get("content")
            if isinstance(content, str):
                return content
        return _render_part(part)
    return join_parts([_render_part(part) for part in parts])


def _render_part(part: Any) -> str:
    if not isinstance(part, dict):
        return to_text(part)
    kind = part.get("type")
    if kind == "text":
        return to_text(part.get("content"))
    if kind == "tool_call":
        return render_tool_call(part.get("name"), part.get("arguments"), part.get("id"))
    if kind == "tool_call_response":
        result = part["response"] if "response" in part else part.get("result")
        return render_tool_result(result, part.get("id"))
    if kind == "uri":
        return render_media(part.get("modality"), uri=part.get("uri"), mime_type=part.get("mime_type"))
    if kind == "blob":
        content = part.get("content")
        size = len(content) if isinstance(content, str) else None
        return render_media(part.get("modality"), mime_type=part.get("mime_type"), size=size)
    if kind == "reasoning":
        return f"[reasoning] {to_text(part.get('content'))}"
    if "content" in part:
        return to_text(part.get("content"))
    return to_text(part)
