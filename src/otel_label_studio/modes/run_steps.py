"""The steps of a run, read from its spans per dialect (pure, no I/O): an LLM call's output text and
tool calls, a tool's name / arguments / result / error, a retriever's query and documents.

OpenLLMetry 0.55+ writes tools as ``execute_tool`` spans (``gen_ai.tool.call.arguments`` / ``.result``
hold LangChain's callback input and output as JSON) and retrievers as ``vector_db_retrieve`` spans
(``gen_ai.task.input`` ``{"query"}``, ``gen_ai.task.output`` ``{"documents": [{"page_content",
"metadata"}]}``); 0.54- writes the same JSON under ``traceloop.entity.input`` / ``.output`` with
``traceloop.span.kind`` = ``tool`` (a retriever is a task span with documents out). OpenInference writes
``openinference.span.kind`` TOOL (``tool.name``, ``input.value``, ``output.value``) and RETRIEVER
(``input.value``, ``retrieval.documents.<i>.document.content|metadata|id|score``).

Text limits: a retrieved document keeps its first ``DOCUMENT_LIMIT`` characters and a tool result its
first ``TOOL_RESULT_LIMIT``; what is cut is marked ``… [cut: N more characters]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..reading import dialects
from ..reading.dialects._common import error_text, indexed, text_attr
from ..reading.jsontext import loads
from ..reading.record import blocks_text, normalize_role, to_text
from ..reading.spanview import STATUS_ERROR, SpanView

DOCUMENT_LIMIT = 1000
"""Characters kept of each retrieved document."""
TOOL_RESULT_LIMIT = 4000
"""Characters kept of each tool result."""

OPERATION = "gen_ai.operation.name"
TRACELOOP_KIND = "traceloop.span.kind"
OPENINFERENCE_KIND = "openinference.span.kind"
_ENTITY_INPUT = "traceloop.entity.input"
_ENTITY_OUTPUT = "traceloop.entity.output"
_METADATA_PREFIX = "traceloop.association.properties"  # not read here: steps keep no run metadata


def cut(text: str, limit: int) -> str:
    """``text`` up to ``limit`` characters, the cut marked with how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut: {len(text) - limit} more characters]"


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: Any  # an object, or the text the model wrote when it was not JSON


@dataclass(slots=True)
class Document:
    content: str  # cut to DOCUMENT_LIMIT, the cut marked
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Step:
    """One LLM call, tool call or retrieval of a run, with where it came from."""

    kind: str  # "llm", "tool" or "retriever"
    span_id: str
    name: str
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    # llm
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    # tool
    arguments: Any = None
    result: str = ""
    tool_call_id: str | None = None
    # retriever
    query: str = ""
    documents: list[Document] = field(default_factory=list)

    @property
    def latency_ms(self) -> float | None:
        start, end = self.start_time_unix_nano, self.end_time_unix_nano
        return (end - start) / 1e6 if start and end >= start else None


def openai_call(call: ToolCall) -> dict[str, Any]:
    arguments = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}}


def step_kind(view: SpanView) -> str | None:
    attributes = view.attributes
    if dialects.dialect_for(view) is not None:
        return "llm"
    operation = attributes.get(OPERATION)
    kind = attributes.get(OPENINFERENCE_KIND)
    if operation == "execute_tool" or kind == "TOOL" or attributes.get(TRACELOOP_KIND) == "tool":
        return "tool"
    if operation == "vector_db_retrieve" or kind == "RETRIEVER":
        return "retriever"
    output = attributes.get("traceloop.entity.output")
    if (
        isinstance(output, str)
        and '"documents"' in output
        and '"query"' in str(attributes.get("traceloop.entity.input"))
    ):
        return "retriever"  # 0.54-: a retriever is a task span with documents out
    return None


def _new_step(view: SpanView, kind: str, name: str) -> Step:
    step = Step(
        kind=kind,
        span_id=view.span_id,
        name=name,
        start_time_unix_nano=view.start_time_unix_nano,
        end_time_unix_nano=view.end_time_unix_nano,
    )
    if view.status_code == STATUS_ERROR:
        step.error = error_text(view)
    return step


def _llm_step(view: SpanView) -> Step:
    record = dialects.to_record(view, _METADATA_PREFIX)
    assert record is not None  # _step_kind said a dialect claims it
    step = _new_step(view, "llm", record.model or view.name)
    step.model = record.model
    step.usage = dict(record.usage)
    step.text, step.tool_calls = _output(view)
    if not step.text and not step.tool_calls and record.outputs:
        step.text = record.outputs[0]
    return step


def _tool_step(view: SpanView) -> Step:
    attributes = view.attributes
    name = (
        text_attr(attributes, "gen_ai.tool.name")
        or text_attr(attributes, "tool.name")
        or text_attr(attributes, "traceloop.entity.name")
        or view.name
    )
    step = _new_step(view, "tool", name)
    raw_input = _json(attributes.get("gen_ai.tool.call.arguments") or attributes.get(_ENTITY_INPUT))
    raw_output = _json(attributes.get("gen_ai.tool.call.result") or attributes.get(_ENTITY_OUTPUT))
    if isinstance(raw_input, dict) and ("inputs" in raw_input or "input_str" in raw_input):
        kwargs = raw_input.get("kwargs")
        kwargs = kwargs if isinstance(kwargs, dict) else {}
        step.tool_call_id = _text_or_none(kwargs.get("tool_call_id"))
        inputs = raw_input.get("inputs")
        step.arguments = inputs if inputs not in (None, "", {}) else _json(raw_input.get("input_str"))
        output = raw_output.get("output") if isinstance(raw_output, dict) else raw_output
    else:  # OpenInference: input.value / output.value hold the arguments and the result
        step.arguments = _json(attributes.get("input.value")) if raw_input is None else raw_input
        output = _json(attributes.get("output.value")) if raw_output is None else raw_output
    message = _message_kwargs(output)
    if message is not None:  # a serialized ToolMessage
        step.tool_call_id = step.tool_call_id or _text_or_none(message.get("tool_call_id"))
        if message.get("status") == "error" and step.error is None:
            step.error = to_text(message.get("content"))
        output = message.get("content")
    step.tool_call_id = step.tool_call_id or _text_or_none(
        attributes.get("gen_ai.tool.call.id") or attributes.get("tool_call.id")
    )
    text = blocks_text(output)
    step.result = cut(to_text(output) if text is None else text, TOOL_RESULT_LIMIT)
    return step


def _retriever_step(view: SpanView) -> Step:
    attributes = view.attributes
    name = text_attr(attributes, "traceloop.entity.name") or view.name
    step = _new_step(view, "retriever", name)
    raw_input = _json(attributes.get("gen_ai.task.input") or attributes.get(_ENTITY_INPUT))
    raw_output = _json(attributes.get("gen_ai.task.output") or attributes.get(_ENTITY_OUTPUT))
    if isinstance(raw_input, dict) and "query" in raw_input:
        step.query = to_text(raw_input["query"])
    else:
        step.query = to_text(attributes.get("input.value"))
    if isinstance(raw_output, dict) and isinstance(raw_output.get("documents"), list):
        for document in raw_output["documents"]:
            if isinstance(document, dict):
                metadata = document.get("metadata")
                step.documents.append(
                    Document(
                        cut(to_text(document.get("page_content")), DOCUMENT_LIMIT),
                        metadata if isinstance(metadata, dict) else {},
                    )
                )
    for document in indexed(attributes, "retrieval.documents"):  # OpenInference
        metadata = _json(document.get("document.metadata"))
        extra = {k: document[f"document.{k}"] for k in ("id", "score") if f"document.{k}" in document}
        step.documents.append(
            Document(
                cut(to_text(document.get("document.content")), DOCUMENT_LIMIT),
                (metadata if isinstance(metadata, dict) else {}) | extra,
            )
        )
    return step


STEP_READERS = {"llm": _llm_step, "tool": _tool_step, "retriever": _retriever_step}


def _output(view: SpanView) -> tuple[str, list[ToolCall]]:
    """The first generation's text and tool calls, structured (the record renders them as text)."""
    attributes = view.attributes
    raw = _json(attributes.get("gen_ai.output.messages"))
    if isinstance(raw, list) and raw and isinstance(raw[0], dict):  # 0.55+
        texts: list[str] = []
        calls: list[ToolCall] = []
        for part in raw[0].get("parts") or ():
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                texts.append(to_text(part.get("content")))
            elif part.get("type") == "tool_call":
                calls.append(_call(part.get("id"), part.get("name"), part.get("arguments"), len(calls)))
        return "\n".join(t for t in texts if t), calls
    completions = indexed(attributes, "gen_ai.completion")  # 0.54-
    if completions:
        return _indexed_message(completions[0], "", "tool_calls.", "id", "name", "arguments")
    outputs = indexed(attributes, "llm.output_messages")  # OpenInference
    if outputs:
        return _indexed_message(
            outputs[0],
            "message.",
            "message.tool_calls.",
            "tool_call.id",
            "tool_call.function.name",
            "tool_call.function.arguments",
        )
    return "", []


def _indexed_message(
    message: Mapping[str, Any], prefix: str, calls_prefix: str, id_key: str, name_key: str, args_key: str
) -> tuple[str, list[ToolCall]]:
    content = message.get(f"{prefix}content")
    text = blocks_text(content)
    groups: dict[int, dict[str, Any]] = {}
    for key, value in message.items():
        if key.startswith(calls_prefix):
            index, _, rest = key[len(calls_prefix) :].partition(".")
            if index.isdigit():
                groups.setdefault(int(index), {})[rest] = value
    calls = [
        _call(group.get(id_key), group.get(name_key), group.get(args_key), position)
        for position, group in enumerate(groups[i] for i in sorted(groups))
    ]
    return (to_text(content) if text is None else text), calls


def _call(call_id: Any, name: Any, arguments: Any, position: int) -> ToolCall:
    return ToolCall(
        id=to_text(call_id) or f"call_{position}",
        name=to_text(name) or "?",
        arguments=_json(arguments) if isinstance(arguments, str) else (arguments or {}),
    )


def input_messages(view: SpanView) -> list[dict[str, Any]]:
    """The LLM call's input as OpenAI chat messages: system first, assistant tool calls structured,
    tool results as ``tool`` messages. Other dialects' history keeps the dialect reader's text."""
    attributes = view.attributes
    raw = _json(attributes.get("gen_ai.input.messages"))
    if isinstance(raw, list):  # 0.55+
        messages: list[dict[str, Any]] = []
        system = _json(attributes.get("gen_ai.system_instructions"))
        if system:
            text = "\n".join(
                to_text(p.get("content")) if isinstance(p, dict) else to_text(p)
                for p in (system if isinstance(system, list) else [system])
            )
            messages.append({"role": "system", "content": text})
        for item in raw:
            if isinstance(item, dict):
                messages.extend(_genai_message(item))
        return messages
    record = dialects.to_record(view, _METADATA_PREFIX)
    if record is None:
        return []
    return [{"role": m.role, "content": m.content} for m in record.messages]


def _genai_message(item: dict[str, Any]) -> list[dict[str, Any]]:
    role = normalize_role(item.get("role"), default="user")
    texts: list[str] = []
    calls: list[ToolCall] = []
    results: list[dict[str, Any]] = []
    for part in item.get("parts") or ():
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "tool_call":
            calls.append(_call(part.get("id"), part.get("name"), part.get("arguments"), len(calls)))
        elif kind == "tool_call_response":
            response = part["response"] if "response" in part else part.get("result")
            text = blocks_text(response)
            content = to_text(response) if text is None else text
            results.append({"role": "tool", "tool_call_id": to_text(part.get("id")), "content": content})
        else:
            texts.append(to_text(part.get("content")))
    if results:
        return results
    message: dict[str, Any] = {"role": role, "content": "\n".join(t for t in texts if t) or None}
    if calls:
        message["tool_calls"] = [openai_call(call) for call in calls]
    elif message["content"] is None:
        message["content"] = ""
    return [message]


def tool_definitions(view: SpanView) -> list[dict[str, Any]]:
    """OpenAI ``tools`` entries from what the span says the model was offered."""
    attributes = view.attributes
    found: list[dict[str, Any]] = []
    raw = _json(attributes.get("gen_ai.tool.definitions"))  # 0.55+
    items: list[Any] = raw if isinstance(raw, list) else []
    items += indexed(attributes, "llm.request.functions")  # 0.54-
    for tool in indexed(attributes, "llm.tools"):  # OpenInference
        items.append(_json(tool.get("tool.json_schema")))
    for item in items:
        if not isinstance(item, dict):
            continue
        function = item.get("function")
        function = function if isinstance(function, dict) else item
        name = function.get("name")
        if not name:
            continue
        definition: dict[str, Any] = {"name": to_text(name)}
        if function.get("description"):
            definition["description"] = to_text(function["description"])
        parameters = _json(function.get("parameters"))
        if isinstance(parameters, dict):
            definition["parameters"] = parameters
        found.append({"type": "function", "function": definition})
    return found


def top_text(top: SpanView, which: str) -> str:
    """The top span's input or output as text: a chain's plain string, or the last message."""
    attributes = top.attributes
    raw = _json(
        attributes.get(f"traceloop.entity.{which}")
        or attributes.get(f"gen_ai.task.{which}")
        or attributes.get(f"{which}.value")
    )
    if isinstance(raw, dict):
        raw = raw.get(f"{which}s", raw.get(which, raw))
    if isinstance(raw, dict) and isinstance(raw.get("messages"), list) and raw["messages"]:
        raw = raw["messages"][-1]
    message = _message_kwargs(raw)
    if message is not None:
        raw = message.get("content")
    return "" if raw is None else to_text(raw)


def _message_kwargs(value: Any) -> dict[str, Any] | None:
    """The fields of a LangChain message serialized as ``{"lc": 1, "kwargs": {...}}`` (OpenLLMetry) or
    as ``{"type": "tool", "data": {...}}`` (``message_to_dict``, OpenInference)."""
    if not isinstance(value, dict):
        return None
    if value.get("lc") == 1 and isinstance(value.get("kwargs"), dict):
        return value["kwargs"]
    if isinstance(value.get("type"), str) and isinstance(value.get("data"), dict) and len(value) == 2:
        return value["data"]
    return None


def _json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return loads(value)
        except ValueError:
            return value
    return value


def _text_or_none(value: Any) -> str | None:
    return to_text(value) or None
