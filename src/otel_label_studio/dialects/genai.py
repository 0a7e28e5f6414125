"""OpenTelemetry GenAI semantic conventions (opentelemetry-instrumentation-langchain 0.55 and later).

Messages are JSON strings: ``gen_ai.input.messages``, ``gen_ai.output.messages``,
``gen_ai.system_instructions``; or the same keys as attributes of a
``gen_ai.client.inference.operation.details`` event. A string cut short by an attribute
length limit no longer parses: its raw text is kept and the record is flagged truncated.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from ..record import (
    LLMRecord,
    Message,
    join_parts,
    normalize_role,
    render_media,
    render_tool_call,
    render_tool_result,
    to_text,
)
from ..spanview import SpanView
from ._common import new_record, provider_name, text_attr, usage_from

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
    return view.attributes.get(OPERATION) in OPERATIONS


def to_record(view: SpanView, metadata_prefix: str) -> LLMRecord:
    attributes = view.attributes
    operation = OPERATIONS[attributes[OPERATION]]
    record = new_record(view, operation=operation, dialect=NAME, metadata_prefix=metadata_prefix)
    content = _content_source(view)

    system, ok_system = _decode(content.get(SYSTEM), plain_string_ok=True)
    inputs, ok_input = _decode(content.get(INPUT))
    outputs, ok_output = _decode(content.get(OUTPUT))
    if not (ok_system and ok_input and ok_output):
        record.truncated = True

    record.messages.extend(_system_messages(system))
    record.messages.extend(_messages(inputs, default_role="user"))
    record.outputs.extend(_outputs(outputs))
    for message in outputs if isinstance(outputs, list) else ():
        if isinstance(message, dict) and message.get("finish_reason"):
            record.finish_reasons.append(str(message["finish_reason"]))
    reasons = attributes.get("gen_ai.response.finish_reasons")
    if not record.finish_reasons and isinstance(reasons, (list, tuple)):
        record.finish_reasons.extend(str(reason) for reason in reasons if reason)

    record.request_model = text_attr(attributes, "gen_ai.request.model")
    record.response_model = text_attr(attributes, "gen_ai.response.model")
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


def _decode(raw: Any, *, plain_string_ok: bool = False) -> tuple[Any, bool]:
    """Parsed JSON and whether it parsed. Unparseable text comes back as itself."""
    if raw is None:
        return None, True
    if not isinstance(raw, str):
        return raw, True
    try:
        return parse_json(raw), True
    except ValueError:
        return raw, plain_string_ok


_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner json.loads uses


def parse_json(text: str) -> Any:
    """``json.loads``, minus two Python layers and a regex per call on the common case (compact
    JSON, as the instrumentation writes it); anything unusual takes the full path."""
    try:
        value, end = _SCAN(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


def _system_messages(system: Any) -> list[Message]:
    if system is None:
        return []
    if isinstance(system, list):
        text = join_parts([_render_part(part) for part in system])
    else:
        text = to_text(system)
    return [Message("system", text)] if text else []


def _messages(raw: Any, *, default_role: str) -> list[Message]:
    if raw is None:
        return []
    if not isinstance(raw, list):  # truncated or unexpected: keep the text
        return [Message(default_role, to_text(raw))]
    messages = []
    for item in raw:
        if not isinstance(item, dict):
            messages.append(Message(default_role, to_text(item)))
            continue
        role = normalize_role(item.get("role"), default=default_role)
        messages.append(Message(role, _render_parts(item)))
    return messages


def _outputs(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        return [to_text(raw)]
    return [_render_parts(item) if isinstance(item, dict) else to_text(item) for item in raw]


def _render_parts(message: dict[str, Any]) -> str:
    parts = message.get("parts")
    if isinstance(parts, list):
        return join_parts([_render_part(part) for part in parts])
    return to_text(message.get("content"))


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
