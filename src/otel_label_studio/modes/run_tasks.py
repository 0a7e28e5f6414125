"""A run record -> a Label Studio task, for any bound layout (pure).

The agent layout (``layouts.AGENT_CONFIG``) shows ``$steps``: item 0 is the user's request and item n
(n >= 1) is step n, named ``"n · assistant"``, ``"n · tool <name>"`` or ``"n · retriever <name>"``;
``$step_options`` offers the same names (and "No step went wrong") for the first step that went wrong.
A user's own config binds as any layout does: its object gets the steps (Paragraphs) or the trajectory
as text (Text), and its other ``$variables`` are filled from the run fields below.

Beside what the config reads, every task carries ``trace_id`` / ``span_id`` (the run's top span), the
run fields a reviewer filters on (``steps``, ``tools_called``, ``total_tokens``, ``duration_ms``,
``errors``, ``incomplete``) and ``trajectory``: the OpenAI chat messages up to the final answer and the
tool definitions, which ``export --format sft|preference`` turns into training lines. The task's meta
holds provenance per step (span id, model, latency, tokens, error) in step order, and the totals.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .layouts import CONVERSATION_KEY, Layout
from .runs import RunRecord, Step

#: The data key with what a training export needs: ``{"messages": [...], "tools": [...]}``.
TRAJECTORY_KEY = "trajectory"
NO_WRONG_STEP = "No step went wrong"


def step_name(number: int, step: Step) -> str:
    if step.kind == "llm":
        return f"{number} · assistant"
    return f"{number} · {step.kind} {step.name}"


def step_text(step: Step) -> str:
    """What a reviewer reads for one step."""
    lines: list[str] = []
    if step.kind == "llm":
        if step.text:
            lines.append(step.text)
        for call in step.tool_calls:
            lines.append(f"→ calls {call.name} {_arguments(call.arguments)}")
    elif step.kind == "tool":
        lines.append(f"arguments: {_arguments(step.arguments)}")
        if step.error is None:
            lines.append(f"result: {step.result}")
    else:
        lines.append(f"query: {step.query}")
        for index, document in enumerate(step.documents, 1):
            source = document.metadata.get("source")
            lines.append(f"[{index}] {document.content}" + (f" (source: {source})" if source else ""))
        if not step.documents:
            lines.append("(no documents)")
    if step.error is not None:
        lines.append(f"[error] {step.error}")
    return "\n".join(lines) or "(no output)"


def steps(run: RunRecord) -> list[dict[str, str]]:
    """The trajectory as Paragraphs shows it: the request, then one item per step."""
    items = [{"role": "user", "content": run.request or "(no request recorded)"}]
    items.extend(
        {"role": step_name(n, step), "content": step_text(step)} for n, step in enumerate(run.steps, 1)
    )
    return items


def trajectory_text(run: RunRecord) -> str:
    return "\n\n".join(f"{item['role']}: {item['content']}" for item in steps(run))


def step_options(run: RunRecord) -> list[dict[str, str]]:
    return [{"value": NO_WRONG_STEP}] + [{"value": step_name(n, s)} for n, s in enumerate(run.steps, 1)]


def _total_tokens(run: RunRecord) -> int:
    tokens = run.totals["tokens"]
    if "total_tokens" in tokens:
        return int(tokens["total_tokens"])
    return int(tokens.get("input_tokens", 0) + tokens.get("output_tokens", 0))


def _arguments(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


_FIELDS: dict[str, Callable[[RunRecord], Any]] = {
    "steps": steps,
    "step_options": step_options,
    "prompt": trajectory_text,
    "dialogue": steps,
    CONVERSATION_KEY: trajectory_text,
    "request": lambda run: run.request,
    "final_answer": lambda run: run.final_answer,
    "response": lambda run: run.final_answer,
    "model": lambda run: run.model or "",
    "service_name": lambda run: run.service_name or "",
    "trace_id": lambda run: run.trace_id,
    "span_id": lambda run: run.span_id,
    "tools_called": lambda run: ", ".join(run.tools_called),
    "total_tokens": _total_tokens,
    "duration_ms": lambda run: run.totals["duration_ms"],
    "errors": lambda run: run.totals["errors"],
    "incomplete": lambda run: run.incomplete,
}
"""What a config's ``$variable`` can show of a run; any other variable gets an empty string."""

RUN_FIELDS = tuple(_FIELDS)


def run_task(layout: Layout, run: RunRecord) -> dict[str, Any]:
    """The task for a run: data (what the config reads, the run fields, the trajectory for export),
    meta (provenance per step, totals) and the final answer pre-filled as the editable response."""
    data: dict[str, Any] = {layout.prompt_key: steps(run) if layout.dialogue else trajectory_text(run)}
    if layout.dialogue:
        data.setdefault(CONVERSATION_KEY, trajectory_text(run))
    for name in layout.variables:
        if name not in data:
            field = _FIELDS.get(name)
            data[name] = field(run) if field is not None else ""
    totals = run.totals
    for name in ("trace_id", "span_id", "model", "service_name", "tools_called", "total_tokens"):
        data.setdefault(name, _FIELDS[name](run))
    data.setdefault("steps_count", totals["steps"])
    data.setdefault("duration_ms", totals["duration_ms"])
    data.setdefault("errors", totals["errors"])
    data.setdefault("incomplete", run.incomplete)
    data[TRAJECTORY_KEY] = {"messages": run.messages(), "tools": run.tools}

    prediction = {
        "model_version": run.model or "agent run",
        "result": [
            {
                "from_name": layout.response_name,
                "to_name": layout.target_name,
                "type": "textarea",
                "value": {"text": [run.final_answer]},
            }
        ],
    }
    return {"data": data, "meta": run_meta(run), "predictions": [prediction]}


def run_meta(run: RunRecord) -> dict[str, Any]:
    """Provenance per step (item n of ``steps`` is ``meta["steps"][n - 1]``) and the run's totals."""
    return {
        "unit": "run",
        "run_name": run.name,
        "incomplete": run.incomplete,
        "start_time_unix_nano": run.start_time_unix_nano,
        "totals": run.totals,
        "error": run.error,
        "steps": [
            {
                "number": n,
                "kind": step.kind,
                "name": step.name,
                "span_id": step.span_id,
                "model": step.model,
                "latency_ms": step.latency_ms,
                "usage": step.usage,
                "error": step.error,
                **({"tool_call_id": step.tool_call_id} if step.tool_call_id else {}),
            }
            for n, step in enumerate(run.steps, 1)
        ],
    }


__all__ = ["NO_WRONG_STEP", "RUN_FIELDS", "TRAJECTORY_KEY", "run_meta", "run_task", "steps"]
