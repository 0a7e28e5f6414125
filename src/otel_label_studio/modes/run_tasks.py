"""A run record -> a Label Studio task, for any bound layout (pure).

The agent layout (``layouts.AGENT_CONFIG``) shows, top to bottom: ``$run_status`` (succeeded, raised with
its error, or cut off) beside ``$answer`` (the final answer, or a line saying there is none); ``$setup``,
step 0: the system prompt and the tools the model was offered; ``$steps``: item 0 is the user's request and
item n (n >= 1) is step n, named by its kind, ``"n · model <name>"``, ``"n · tool <name>"`` or
``"n · retriever <name>"``, with ``" · ✗ failed"`` after the name of a step that failed. ``$step_options``
(the same names, and "No step went wrong") is what the first agent layout read for its "first wrong step"
choice: a project made with it still gets it. A user's own config binds as any layout does: its object gets
the steps (Paragraphs) or the trajectory as text (Text), and its other ``$variables`` are filled from the run
fields below.

Beside what the config reads, every task carries ``trace_id`` / ``span_id`` (the run's top span), the
run fields a reviewer sorts and filters by (``RUN_COLUMNS``: ``status``, ``errors``, ``tools_called``,
``steps_count``, ``duration_ms`` in whole milliseconds, ``total_tokens``, ...) and ``trajectory``: the
OpenAI chat messages up to the final answer and the tool definitions, which
``export --format sft|preference`` turns into training lines. The task's meta holds provenance per step
(span id, model, latency, tokens, error) in step order, and the totals.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .layouts import CONVERSATION_KEY, Layout
from .runs import RunRecord, Step

#: The data key with what a training export needs: ``{"messages": [...], "tools": [...]}``.
TRAJECTORY_KEY = "trajectory"
NO_WRONG_STEP = "No step went wrong"

#: How a step's heading names its kind.
KIND_WORDS = {"llm": "model", "tool": "tool", "retriever": "retriever"}
#: After the name of a step whose span ended in an error.
FAILED_MARK = "✗ failed"
#: The heading of step 0 (``$setup``): what the model was given before step 1.
SETUP_NAME = "0 · system prompt and tools offered"

#: A run's ``status``: its top span ended without an error, ended with one, or never arrived.
SUCCEEDED, RAISED, CUT_OFF = "succeeded", "raised", "cut off"

#: The run fields every task carries, in this order, first in its data after what the config reads (the
#: agent config declares the first six for the Data Manager's first columns).
RUN_COLUMNS = (
    "status",
    "errors",
    "tools_called",
    "steps_count",
    "duration_ms",
    "total_tokens",
    "model",
    "trace_id",
    "span_id",
    "service_name",
    "incomplete",
)
#: Those of them that are numbers (the Data Manager tab types them so, to sort and filter as numbers).
NUMBER_COLUMNS = ("errors", "steps_count", "duration_ms", "total_tokens")
#: The variables only a config made for runs reads: a layout reading one of them shows runs.
RUN_VARIABLES = ("setup", "steps", "step_options", "run_status")


def step_name(number: int, step: Step) -> str:
    """The step's heading: its number, kind and name, and ``✗ failed`` when its span ended in an error."""
    name = f"{number} · {KIND_WORDS.get(step.kind, step.kind)} {step.name}"
    return f"{name} · {FAILED_MARK}" if step.error is not None else name


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


def system_prompt(run: RunRecord) -> str:
    """The system messages the run's first LLM call was given, as one text."""
    return "\n\n".join(
        str(message["content"])
        for message in run.prompt
        if message.get("role") == "system" and isinstance(message.get("content"), str) and message["content"]
    )


def tool_line(tool: dict[str, Any]) -> str:
    """An offered tool as a reviewer reads it: ``• name(parameters): description``."""
    function = tool.get("function")
    function = function if isinstance(function, dict) else tool
    parameters = function.get("parameters")
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    names = ", ".join(properties) if isinstance(properties, dict) else ""
    line = f"• {function.get('name')}({names})"
    description = str(function.get("description") or "").strip()
    return f"{line}: {description}" if description else line


def setup_text(run: RunRecord) -> str:
    """Step 0: the system prompt and the tools the model was offered (as the spans recorded them)."""
    prompt = system_prompt(run)
    lines = ["System prompt:", prompt or "(none recorded)", ""]
    if run.tools:
        lines.append(f"Tools offered ({len(run.tools)}):")
        lines.extend(tool_line(tool) for tool in run.tools)
    else:
        lines.append("Tools offered: none recorded")
    return "\n".join(lines)


def setup(run: RunRecord) -> list[dict[str, str]]:
    """Step 0 as Paragraphs shows it, above the steps."""
    return [{"role": SETUP_NAME, "content": setup_text(run)}]


def status(run: RunRecord) -> str:
    """``cut off`` (the top span never arrived), ``raised`` (it ended in an error) or ``succeeded``."""
    if run.incomplete:
        return CUT_OFF
    return RAISED if run.error is not None else SUCCEEDED


def run_status(run: RunRecord) -> str:
    """The line at the top of the page: how the run ended, with the error it raised, and its steps."""
    count = len(run.steps)
    failed = [
        f"{n} · {KIND_WORDS.get(step.kind, step.kind)} {step.name}"
        for n, step in enumerate(run.steps, 1)
        if step.error is not None
    ]
    failures = "none failed" if not failed else f"{len(failed)} failed (" + ", ".join(failed[:3])
    if failed:
        failures += ", …)" if len(failed) > 3 else ")"
    ended = status(run)
    if ended == CUT_OFF:
        head = "⚠ Cut off (incomplete): the run's end was never recorded"
    elif ended == RAISED:
        head = f"✗ Raised {run.error}"
    else:
        head = "✓ Succeeded"
    return f"{head} · {count} step{'' if count == 1 else 's'}, {failures}"


def answer(run: RunRecord) -> str:
    """The final answer as the page shows it beside the status: the answer, or why there is none."""
    if run.final_answer.strip():
        return run.final_answer
    ended = status(run)
    if ended == RAISED:
        return "No final answer: the run raised before answering."
    if ended == CUT_OFF:
        return "No final answer recorded: the run was cut off."
    return "No final answer recorded."


def trajectory_text(run: RunRecord) -> str:
    return "\n\n".join(f"{item['role']}: {item['content']}" for item in steps(run))


def step_options(run: RunRecord) -> list[dict[str, str]]:
    return [{"value": NO_WRONG_STEP}] + [{"value": step_name(n, s)} for n, s in enumerate(run.steps, 1)]


def _total_tokens(run: RunRecord) -> int:
    tokens = run.totals["tokens"]
    if "total_tokens" in tokens:
        return int(tokens["total_tokens"])
    return int(tokens.get("input_tokens", 0) + tokens.get("output_tokens", 0))


def _duration_ms(run: RunRecord) -> int | None:
    """Whole milliseconds (the meta's totals keep the exact figure)."""
    duration = run.totals["duration_ms"]
    return None if duration is None else round(duration)


def _arguments(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


_FIELDS: dict[str, Callable[[RunRecord], Any]] = {
    "steps": steps,
    "setup": setup,
    "step_options": step_options,
    "run_status": run_status,
    "answer": answer,
    "status": status,
    "system_prompt": system_prompt,
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
    "duration_ms": _duration_ms,
    "errors": lambda run: run.totals["errors"],
    "steps_count": lambda run: run.totals["steps"],
    "incomplete": lambda run: run.incomplete,
}
"""What a config's ``$variable`` can show of a run; any other variable gets an empty string."""

RUN_FIELDS = tuple(_FIELDS)


def reads_runs(variables: tuple[str, ...] | list[str]) -> bool:
    """Whether a config reading these ``$variables`` was made for runs (the agent layout, old or new)."""
    return any(name in RUN_VARIABLES for name in variables)


def run_task(layout: Layout, run: RunRecord) -> dict[str, Any]:
    """The task for a run: data (what the config reads, the run fields, the trajectory for export),
    meta (provenance per step, totals) and the final answer pre-filled as the editable response
    (nothing pre-filled when there is none: the box shows its placeholder, not an empty answer)."""
    data: dict[str, Any] = {layout.prompt_key: steps(run) if layout.dialogue else trajectory_text(run)}
    for name in layout.variables:
        if name not in data:
            field = _FIELDS.get(name)
            data[name] = field(run) if field is not None else ""
    for name in RUN_COLUMNS:
        data.setdefault(name, _FIELDS[name](run))
    if layout.dialogue:
        data.setdefault(CONVERSATION_KEY, trajectory_text(run))
    data[TRAJECTORY_KEY] = {"messages": run.messages(), "tools": run.tools}

    answered = [
        {
            "from_name": layout.response_name,
            "to_name": layout.target_name,
            "type": "textarea",
            "value": {"text": [run.final_answer]},
        }
    ]
    prediction = {"model_version": run.model or "agent run", "result": answered if run.final_answer else []}
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


__all__ = [
    "NO_WRONG_STEP",
    "NUMBER_COLUMNS",
    "RUN_COLUMNS",
    "RUN_FIELDS",
    "TRAJECTORY_KEY",
    "reads_runs",
    "run_meta",
    "run_task",
    "steps",
]
