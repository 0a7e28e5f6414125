"""opentelemetry-instrumentation-langchain 0.54 and earlier: indexed attributes.

``llm.request.type`` is ``completion`` or ``chat``; messages are flattened into
``gen_ai.prompt.<i>.role|content|tool_call_id|tool_calls.<j>.*`` and
``gen_ai.completion.<i>.role|content|finish_reason|tool_calls.<j>.*``.
"""

from __future__ import annotations

from typing import Any

from ..record import (
    LLMRecord,
    Message,
    blocks_images,
    blocks_text,
    join_parts,
    normalize_role,
    render_tool_call,
    render_tool_result,
    to_text,
)
from ..spanview import SpanView
from ._common import indexed, model_attr, new_record, provider_name, text_attr, usage_from

NAME = "legacy"

REQUEST_TYPE = "llm.request.type"
OPERATIONS = {"completion": "completion", "chat": "chat"}

_USAGE_KEYS = {
    "gen_ai.usage.prompt_tokens": "input_tokens",
    "gen_ai.usage.input_tokens": "input_tokens",
    "gen_ai.usage.completion_tokens": "output_tokens",
    "gen_ai.usage.output_tokens": "output_tokens",
    "llm.usage.total_tokens": "total_tokens",
    "gen_ai.usage.cache_read_input_tokens": "cache_read_input_tokens",
}


def claims(view: SpanView) -> bool:
    return view.attribute(REQUEST_TYPE) in OPERATIONS


def to_record(view: SpanView, metadata_prefix: str) -> LLMRecord:
    attributes = view.attributes
    operation = OPERATIONS[attributes[REQUEST_TYPE]]
    record = new_record(view, operation=operation, dialect=NAME, metadata_prefix=metadata_prefix)

    prompts = indexed(attributes, "gen_ai.prompt")
    system = [m for m in prompts if normalize_role(m.get("role"), default="user") == "system"]
    for item in system + [m for m in prompts if m not in system]:
        role = normalize_role(item.get("role"), default="user")
        record.messages.append(Message(role, _render(item), blocks_images(item.get("content"))))
    for item in indexed(attributes, "gen_ai.completion"):
        record.outputs.append(_render(item))
        if item.get("finish_reason"):
            record.finish_reasons.append(str(item["finish_reason"]))

    record.request_model = model_attr(attributes, "gen_ai.request.model")
    record.response_model = model_attr(attributes, "gen_ai.response.model")
    record.provider = provider_name(text_attr(attributes, "gen_ai.system"), record.metadata)
    record.usage = usage_from(attributes, _USAGE_KEYS)
    for name in ("temperature", "max_tokens", "top_p"):
        value = attributes.get(f"gen_ai.request.{name}")
        if value is not None:
            record.request_params[name] = value
    return record


def _render(item: dict[str, Any]) -> str:
    content = item.get("content")
    if item.get("tool_call_id"):
        return render_tool_result(content, item["tool_call_id"])
    text = blocks_text(content)  # list content is written as its JSON
    parts = [to_text(content) if text is None else text]
    calls: dict[str, dict[str, Any]] = {}
    for key, value in item.items():
        if key.startswith("tool_calls."):
            index, _, field = key[len("tool_calls.") :].partition(".")
            calls.setdefault(index, {})[field] = value
    for index in sorted(calls, key=lambda i: int(i) if i.isdigit() else 0):
        call = calls[index]
        parts.append(render_tool_call(call.get("name"), call.get("arguments"), call.get("id")))
    return join_parts(parts)
