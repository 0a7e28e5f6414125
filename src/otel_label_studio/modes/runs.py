"""Runs: the spans of one LangChain run read as one trajectory (pure, no I/O).

A run is the top-most LangChain span of a trace and every LangChain span below it. A trace can hold
several runs (e.g. two agent calls under one web request span): each is a run. "LangChain span" means
a span any of the three dialects writes: OpenLLMetry 0.55+ (``gen_ai.operation.name`` such as
``invoke_agent``, ``execute_task``, ``execute_tool``, ``vector_db_retrieve``, ``chat``), OpenLLMetry
0.54- (``traceloop.span.kind``, ``llm.request.type``) and OpenInference (``openinference.span.kind``).

``pieces`` splits a batch of spans by trace (what a durable assembler holds until the run is whole);
``runs_of`` splits one trace's spans into runs; ``build_run`` reads one run's spans, in any order, into
a ``RunRecord``: the user's request, each step (``run_steps``), the final answer, provenance per step,
the run's totals and the project its resource names (``label_studio.project``, as for an LLM call).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

from ..reading.dialects._common import PROJECT_ATTRIBUTE, SERVICE_NAME, error_text, text_attr
from ..reading.record import _PlainUnpickler
from ..reading.spanview import STATUS_ERROR, SpanView
from .run_steps import (
    DOCUMENT_LIMIT,
    OPENINFERENCE_KIND,
    OPERATION,
    STEP_READERS,
    TOOL_RESULT_LIMIT,
    TRACELOOP_KIND,
    Document,
    Step,
    ToolCall,
    cut,
    input_messages,
    openai_call,
    step_kind,
    tool_definitions,
    top_text,
)

LEGACY_REQUEST_TYPE = "llm.request.type"

_GENAI_OPERATIONS = frozenset(
    {
        "chat",
        "text_completion",
        "generate_content",
        "invoke_agent",
        "execute_task",
        "execute_tool",
        "vector_db_retrieve",
        "goto",
        "llm_request",
    }
)
_TOP_KINDS = frozenset({"workflow", "agent", "CHAIN", "AGENT"})  # spans that start a run
_TOP_OPERATIONS = frozenset({"invoke_agent"})


# ---------------------------------------------------------------- which spans belong to runs


def is_run_span(view: SpanView) -> bool:
    """Whether a LangChain instrumentation (any dialect) wrote this span as part of a run.
    ``create_agent`` (building a LangGraph agent, in a trace of its own) is not a run."""
    attributes = view.attributes
    if attributes.get(OPERATION) == "create_agent":
        return False
    return (
        attributes.get(OPERATION) in _GENAI_OPERATIONS
        or TRACELOOP_KIND in attributes
        or LEGACY_REQUEST_TYPE in attributes
        or OPENINFERENCE_KIND in attributes
    )


def looks_like_top(view: SpanView) -> bool:
    """Whether the span can start a run: a trace's root, or a workflow / agent / chain span, or an LLM
    call made outside any workflow. A tool, retriever or inner task span cannot: a run whose top-most
    span is one of those has lost its top span."""
    if not view.parent_span_id:
        return True
    attributes = view.attributes
    if attributes.get(OPERATION) in _TOP_OPERATIONS:
        return True
    if attributes.get(TRACELOOP_KIND) in _TOP_KINDS or attributes.get(OPENINFERENCE_KIND) in _TOP_KINDS:
        return True
    return step_kind(view) == "llm" and "traceloop.workflow.name" not in attributes


@dataclass(slots=True)
class Piece:
    """The run spans of one trace found in one batch."""

    trace_id: str
    spans: list[SpanView]


def pieces(views: Iterable[SpanView]) -> list[Piece]:
    """A batch split by trace, keeping only LangChain spans, in the batch's order of traces."""
    by_trace: dict[str, list[SpanView]] = {}
    for view in views:
        if is_run_span(view):
            by_trace.setdefault(view.trace_id, []).append(view)
    return [Piece(trace_id, spans) for trace_id, spans in by_trace.items()]


def runs_of(views: Iterable[SpanView]) -> list[list[SpanView]]:
    """One trace's LangChain spans split into runs: each top-most span with the spans below it.

    A span whose parent is not among the LangChain spans given is a top. Order: by top span start.
    """
    spans = {view.span_id: view for view in views if is_run_span(view)}
    tops: dict[str, str] = {}

    def top_of(span_id: str) -> str:
        seen = []
        current = span_id
        while current not in tops:
            seen.append(current)
            parent = spans[current].parent_span_id
            if parent not in spans or parent in seen:
                tops[current] = current
                break
            current = parent
        top = tops[current]
        for span in seen:
            tops[span] = top
        return top

    groups: dict[str, list[SpanView]] = {}
    for span_id, view in spans.items():
        groups.setdefault(top_of(span_id), []).append(view)
    return sorted(groups.values(), key=lambda run: spans[tops[run[0].span_id]].start_time_unix_nano)


@dataclass(slots=True)
class RunRecord:
    """One LangChain run, ready to become a task."""

    trace_id: str
    span_id: str  # the top span's
    name: str
    request: str  # the user's request
    final_answer: str
    steps: list[Step] = field(default_factory=list)
    prompt: list[dict[str, Any]] = field(default_factory=list)  # the first LLM call's input, OpenAI form
    tools: list[dict[str, Any]] = field(default_factory=list)  # tool definitions the spans carried
    incomplete: bool = False  # the top span never arrived
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0
    service_name: str | None = None
    error: str | None = None  # the top span's error
    project: str | None = None  # the resource's label_studio.project, else the request's project header
    # The span id of the record this run completes: the same run queued before its top span came
    # (``assembly.RunAssembler``); delivery updates that record's task in place instead of adding one.
    replaces: str | None = None

    @property
    def model(self) -> str | None:
        return next((step.model for step in self.steps if step.model), None)

    @property
    def tools_called(self) -> list[str]:
        return [step.name for step in self.steps if step.kind == "tool"]

    @property
    def totals(self) -> dict[str, Any]:
        """Steps, tokens, duration and errors of the whole run."""
        tokens: dict[str, int] = {}
        for step in self.steps:
            for key, value in step.usage.items():
                tokens[key] = tokens.get(key, 0) + value
        start, end = self.start_time_unix_nano, self.end_time_unix_nano
        return {
            "steps": len(self.steps),
            "llm_steps": sum(step.kind == "llm" for step in self.steps),
            "tool_steps": sum(step.kind == "tool" for step in self.steps),
            "retriever_steps": sum(step.kind == "retriever" for step in self.steps),
            "tokens": tokens,
            "duration_ms": (end - start) / 1e6 if start and end >= start else None,
            "errors": sum(step.error is not None for step in self.steps) + (self.error is not None),
        }

    def to_bytes(self) -> bytes:
        """The run for the spool: a pickle of plain values only, as ``LLMRecord.to_bytes``."""
        return pickle.dumps(asdict(self), protocol=5)

    @classmethod
    def from_bytes(cls, data: bytes) -> RunRecord:
        values = _PlainUnpickler(io.BytesIO(data)).load()
        steps = []
        for step in values.pop("steps"):
            step["tool_calls"] = [ToolCall(**call) for call in step["tool_calls"]]
            step["documents"] = [Document(**document) for document in step["documents"]]
            steps.append(Step(**step))
        return cls(**values, steps=steps)

    def redact(self, text: Callable[[str], str]) -> RunRecord:
        """Mask every text a reviewer or a dataset would see (e.g. ``Redactor.text``), in place."""
        self.request, self.final_answer = text(self.request), text(self.final_answer)
        for message in self.prompt:
            if isinstance(message.get("content"), str):
                message["content"] = text(message["content"])
        for step in self.steps:
            step.text, step.result, step.query = text(step.text), text(step.result), text(step.query)
            if step.error is not None:
                step.error = text(step.error)
            if isinstance(step.arguments, str):
                step.arguments = text(step.arguments)
            elif step.arguments is not None:
                step.arguments = _mask(step.arguments, text)
            for call in step.tool_calls:
                call.arguments = _mask(call.arguments, text)
            for document in step.documents:
                document.content = text(document.content)
        return self

    def messages(self) -> list[dict[str, Any]]:
        """The trajectory as OpenAI chat messages, up to (not including) the final answer: the first
        LLM call's input, then each assistant turn with its ``tool_calls`` (arguments as JSON text)
        and each tool's result as a ``tool`` message with its ``tool_call_id``."""
        messages = [dict(message) for message in self.prompt]
        if not messages and self.request:
            messages.append({"role": "user", "content": self.request})
        llm_steps = [step for step in self.steps if step.kind == "llm"]
        final = llm_steps[-1] if llm_steps and not llm_steps[-1].tool_calls else None
        pending: list[ToolCall] = []
        for step in self.steps:
            if step.kind == "llm" and step is not final:
                message: dict[str, Any] = {"role": "assistant", "content": step.text or None}
                if step.tool_calls:
                    message["tool_calls"] = [openai_call(call) for call in step.tool_calls]
                    pending = list(step.tool_calls)
                messages.append(message)
            elif step.kind == "tool":
                call_id = step.tool_call_id or _match(pending, step.name)
                if call_id is None:  # a tool the model did not call (e.g. a chain's fixed step)
                    continue
                pending = [call for call in pending if call.id != call_id]
                content = f"[error] {step.error}" if step.error else step.result
                messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
        return messages


def _arguments_from_calls(steps: list[Step]) -> None:
    """A tool step whose span kept no structured arguments (OpenInference records the tool's input
    string) takes them from the model's call it answers."""
    calls = {call.id: call for step in steps for call in step.tool_calls}
    for step in steps:
        call = calls.get(step.tool_call_id or "")
        if step.kind == "tool" and call is not None and not isinstance(step.arguments, dict):
            step.arguments = call.arguments


def _mask(value: Any, text: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {key: _mask(item, text) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, text) for item in value]
    return value


def _match(pending: list[ToolCall], name: str) -> str | None:
    return next((call.id for call in pending if call.name == name), None)


def build_run(views: Iterable[SpanView], *, incomplete: bool | None = None) -> RunRecord:
    """The run record of one run's spans (any order). ``incomplete`` defaults to whether the top-most
    span given cannot be a run's top (see ``looks_like_top``); an assembler that gave up waiting for
    the top span passes True."""
    spans = sorted(
        (view for view in views if is_run_span(view)),
        key=lambda view: (view.start_time_unix_nano, -view.end_time_unix_nano),
    )
    if not spans:
        raise ValueError("a run needs at least one LangChain span")
    ids = {view.span_id for view in spans}
    top = next((view for view in spans if view.parent_span_id not in ids), spans[0])
    llm_ids = {view.span_id for view in spans if step_kind(view) == "llm"}

    steps: list[Step] = []
    tools: list[dict[str, Any]] = []
    first_llm: SpanView | None = None
    for view in spans:
        kind = step_kind(view)
        if kind is None or (kind == "llm" and view.parent_span_id in llm_ids):
            continue  # structure, or a provider SDK's span inside a LangChain LLM span
        if kind == "llm":
            first_llm = first_llm or view
            for definition in tool_definitions(view):
                if definition not in tools:
                    tools.append(definition)
        steps.append(STEP_READERS[kind](view))
    _arguments_from_calls(steps)

    prompt = input_messages(first_llm) if first_llm is not None else []
    request = next(
        (str(m["content"]) for m in reversed(prompt) if m["role"] == "user" and m.get("content")), ""
    ) or top_text(top, "input")
    final = next((step for step in reversed(steps) if step.kind == "llm"), None)
    if final is not None and not final.tool_calls and final.text:
        final_answer = final.text
    else:
        final_answer = top_text(top, "output")
    return RunRecord(
        trace_id=top.trace_id,
        span_id=top.span_id,
        name=top.name,
        request=request,
        final_answer=final_answer,
        steps=steps,
        prompt=prompt,
        tools=tools,
        incomplete=not looks_like_top(top) if incomplete is None else incomplete,
        start_time_unix_nano=min(view.start_time_unix_nano for view in spans),
        end_time_unix_nano=max(view.end_time_unix_nano for view in spans),
        service_name=text_attr(top.resource, SERVICE_NAME),
        error=error_text(top) if top.status_code == STATUS_ERROR else None,
        project=_run_project(top, spans),
    )


def _run_project(top: SpanView, spans: Iterable[SpanView]) -> str | None:
    """The project the run's resource names (``label_studio.project``), as an LLM call's record reads
    it: the top span's, else the first of the other spans carrying it (a run's spans share one
    resource unless the run crossed processes)."""
    for view in (top, *spans):
        project = text_attr(view.resource, PROJECT_ATTRIBUTE)
        if project is not None:
            return project
    return None


__all__ = [
    "DOCUMENT_LIMIT",
    "TOOL_RESULT_LIMIT",
    "Document",
    "Piece",
    "RunRecord",
    "Step",
    "ToolCall",
    "build_run",
    "cut",
    "is_run_span",
    "looks_like_top",
    "pieces",
    "runs_of",
]


def is_run_bytes(data: bytes) -> bool:
    """Whether queued bytes are a run: its pickle holds a dict, a call's a tuple, so the first opcode
    after the header (and frame) is ``}`` (an empty dict, then filled); no second unpickling."""
    first = 11 if data[2:3] == pickle.FRAME else 2
    return data[first : first + 1] == pickle.EMPTY_DICT
