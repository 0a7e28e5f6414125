"""OpenInference (``openinference-instrumentation-*``): ``openinference.span.kind`` = ``LLM``.

Messages are flattened into ``llm.input_messages.<i>.message.*`` and
``llm.output_messages.<i>.message.*``; completion prompts are ``llm.prompts``; when no
message attributes are present, ``input.value`` / ``output.value`` hold the raw text.
"""

from __future__ import annotations

import json
from typing import Any

from ..record import (
    MAX_IMAGES,
    LLMRecord,
    Message,
    image_source,
    join_parts,
    normalize_role,
    render_media,
    render_tool_call,
    render_tool_result,
    to_text,
)
from ..spanview import SpanView
from ._common import indexed, model_attr, new_record, text_attr, usage_from

NAME = "openinference"

SPAN_KIND = "openinference.span.kind"

_USAGE_KEYS = {
    "llm.token_count.prompt": "input_tokens",
    "llm.token_count.completion": "output_tokens",
    "llm.token_count.total": "total_tokens",
    "llm.token_count.prompt_details.cache_read": "cache_read_input_tokens",
}


def claims(view: SpanView) -> bool:
    return view.attribute(SPAN_KIND) == "LLM"


def to_record(view: SpanView, metadata_prefix: str) -> LLMRecord:
    attributes = view.attributes
    inputs = indexed(attributes, "llm.input_messages")
    outputs = indexed(attributes, "llm.output_messages")
    prompts = attributes.get("llm.prompts")
    operation = "chat" if inputs else "completion"
    record = new_record(view, operation=operation, dialect=NAME, metadata_prefix=metadata_prefix)

    if inputs:
        messages = [Message(_role(m, "user"), _render(m), _images(m)) for m in inputs]
        record.messages.extend(m for m in messages if m.role == "system")
        record.messages.extend(m for m in messages if m.role != "system")
    elif isinstance(prompts, (list, tuple)) and prompts:
        record.messages.extend(Message("user", to_text(p)) for p in prompts)
    elif text_attr(attributes, "input.value"):
        record.messages.append(Message("user", to_text(attributes["input.value"])))

    if outputs:
        record.outputs.extend(_render(m) for m in outputs)
    elif text_attr(attributes, "output.value"):
        record.outputs.extend(_generations(attributes["output.value"]))

    reasons = attributes.get("llm.finish_reason")
    if isinstance(reasons, str):
        reasons = (reasons,)
    if isinstance(reasons, (list, tuple)):
        record.finish_reasons.extend(str(reason) for reason in reasons if reason)

    record.request_model = model_attr(attributes, "llm.model_name")
    record.provider = text_attr(attributes, "llm.provider") or text_attr(attributes, "llm.system")
    record.usage = usage_from(attributes, _USAGE_KEYS)
    params = attributes.get("llm.invocation_parameters")
    if isinstance(params, str):
        try:
            decoded = json.loads(params)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            record.request_params.update(
                {k: v for k, v in decoded.items() if isinstance(v, (int, float, str, bool))}
            )
    record.metadata.update(_metadata(attributes))
    return record


def _role(message: dict[str, Any], default: str) -> str:
    return normalize_role(message.get("message.role"), default=default)


def _render(message: dict[str, Any]) -> str:
    text = _text(message)
    if message.get("message.tool_call_id"):
        return render_tool_result(text, message["message.tool_call_id"])
    return text


def _text(message: dict[str, Any]) -> str:
    """The content, or the content blocks (``message.contents.<i>.message_content.*``), and tool calls."""
    parts = [to_text(message.get("message.content"))]
    contents: dict[int, dict[str, Any]] = {}
    calls: dict[int, dict[str, Any]] = {}
    for key, value in message.items():
        for prefix, target in (("message.contents.", contents), ("message.tool_calls.", calls)):
            if key.startswith(prefix):
                position, _, rest = key[len(prefix) :].partition(".")
                if position.isdigit():
                    target.setdefault(int(position), {})[rest] = value
    for index in sorted(contents):
        content = contents[index]
        if content.get("message_content.type") == "image":
            parts.append(render_media("image", uri=content.get("message_content.image.image.url")))
        else:
            parts.append(to_text(content.get("message_content.text")))
    for index in sorted(calls):
        call = calls[index]
        parts.append(
            render_tool_call(
                call.get("tool_call.function.name"),
                call.get("tool_call.function.arguments"),
                call.get("tool_call.id"),
            )
        )
    return join_parts(parts)


def _images(message: dict[str, Any]) -> list[str]:
    """The images of the message's image content blocks (``message_content.image.image.url``: a URL
    or a data URI), in order."""
    contents: dict[int, dict[str, Any]] = {}
    for key, value in message.items():
        if key.startswith("message.contents."):
            position, _, rest = key[len("message.contents.") :].partition(".")
            if position.isdigit():
                contents.setdefault(int(position), {})[rest] = value
    found: list[str] = []
    for index in sorted(contents):
        content = contents[index]
        if content.get("message_content.type") == "image":
            image = image_source(content.get("message_content.image.image.url"))
            if image is not None and len(found) < MAX_IMAGES:
                found.append(image)
    return found


def _generations(value: Any) -> list[str]:
    """Texts of a LangChain ``LLMResult`` dumped into ``output.value``; other text as is."""
    text = to_text(value)
    try:
        decoded = json.loads(text)
    except ValueError:
        return [text]
    if not isinstance(decoded, dict) or not isinstance(decoded.get("generations"), list):
        return [text]
    return [
        to_text(generation.get("text"))
        for per_prompt in decoded["generations"]
        if isinstance(per_prompt, list)
        for generation in per_prompt
        if isinstance(generation, dict)
    ]


def metadata_object(attributes: Any) -> dict[str, Any]:
    """The run metadata OpenInference writes as one JSON object in ``metadata`` ({} when not one)."""
    raw = attributes.get("metadata")
    if not isinstance(raw, str):
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _metadata(attributes: Any) -> dict[str, str]:
    return {str(k): to_text(v) for k, v in metadata_object(attributes).items()}
