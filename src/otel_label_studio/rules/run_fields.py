"""Review rules over agent runs (``mode`` agent): what a rule matches a run on, and which runs it keeps.

A run is decided when the assembler releases it (``assembly``), before it is queued: a run no rule
keeps is not queued. The first rule whose match holds decides, sampling by trace id exactly as for
spans (``TraceIdRatioBased`` over the run's trace id), then limits and folding count per run.

The keys a rule may match a run on:

- ``run.steps``, ``run.llm_steps``, ``run.tool_steps``, ``run.retriever_steps``: how many steps;
- ``run.tools``: the tools the run called (the condition holds when any of them matches; ``{exists:
  false}`` for a run that called none);
- ``run.failed``: whether any step, or the run's top span, failed (true / false);
- ``run.incomplete``: whether the run's top span never came;
- ``run.total_tokens`` (all steps, as the task's ``total_tokens``), ``run.duration_ms``;
- ``model`` (the first LLM step's), ``status`` (the top span's: ``error`` or ``ok``),
  ``metadata.<key>`` (the first of the run's spans, top first, that carries it) and any other key as
  the top span's attribute, else its resource's (``service.name``).

The other span fields (``provider``, ``operation``, ``latency_ms``, the token counts of one call,
``dialect``, ``evaluation.<name>``) describe one LLM call: ``check_mode`` refuses them in mode agent,
and refuses ``run.*`` keys in the other modes, each with the file, the line and what to write.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..modes.runs import RunRecord
from ..reading.dialects import genai, openinference
from ..reading.spanview import STATUS_ERROR, SpanView
from .fields import FieldReader
from .language import (
    EVALUATION_PREFIX,
    METADATA_PREFIX,
    RECORD_FIELDS,
    RUN_PREFIX,
    Rule,
    RulesError,
    RuleSet,
)

#: The plain record fields that also describe a run (see the module's docstring).
RUN_RECORD_FIELDS = ("model", "status")


@dataclass(frozen=True, slots=True)
class RunView:
    """One released run, as rules read it: its record and its spans (``top``: its top-most)."""

    record: RunRecord
    spans: Sequence[SpanView]
    top: SpanView


RunReader = Callable[[RunView], Any]


def run_view(record: RunRecord, spans: Sequence[SpanView]) -> RunView:
    ids = {span.span_id for span in spans}
    top = next((span for span in spans if span.span_id == record.span_id), None)
    if top is None:
        top = next(span for span in spans if span.parent_span_id not in ids)
    return RunView(record, spans, top)


def _total_tokens(run: RunView) -> int | None:
    tokens = run.record.totals["tokens"]
    if "total_tokens" in tokens:
        return int(tokens["total_tokens"])
    if "input_tokens" in tokens or "output_tokens" in tokens:
        return int(tokens.get("input_tokens", 0) + tokens.get("output_tokens", 0))
    return None


def _count(kind: str) -> RunReader:
    return lambda run: run.record.totals[kind]


_RUN_READERS: dict[str, RunReader] = {
    "run.steps": _count("steps"),
    "run.llm_steps": _count("llm_steps"),
    "run.tool_steps": _count("tool_steps"),
    "run.retriever_steps": _count("retriever_steps"),
    "run.tools": lambda run: run.record.tools_called or None,
    "run.failed": lambda run: run.record.totals["errors"] > 0,
    "run.incomplete": lambda run: run.record.incomplete,
    "run.total_tokens": _total_tokens,
    "run.duration_ms": lambda run: run.record.totals["duration_ms"],
    "model": lambda run: run.record.model,
    "status": lambda run: "error" if run.top.status_code == STATUS_ERROR else "ok",
}


def run_reader(key: str, fields: FieldReader) -> RunReader:
    """The reader of one match key over a run (the key checked by ``check_mode``)."""
    fixed = _RUN_READERS.get(key)
    if fixed is not None:
        return fixed
    if key.startswith(METADATA_PREFIX):
        name = key[len(METADATA_PREFIX) :]

        def metadata(run: RunView) -> Any:
            for span in (run.top, *run.spans):
                dialect = openinference.NAME if openinference.SPAN_KIND in span.attributes else genai.NAME
                value = fields.metadata(span, dialect, name)
                if value is not None:
                    return value
            return None

        return metadata

    def attribute(run: RunView) -> Any:
        value = run.top.attributes.get(key)
        return run.top.resource.get(key) if value is None else value

    return attribute


def _any_of(holds: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """``run.tools``: the condition holds for the list when it holds for one of the names."""
    return lambda names: holds(None) if names is None else any(holds(name) for name in names)


CompiledRuns = tuple[tuple[Rule, tuple[tuple[RunReader, Callable[[Any], bool]], ...]], ...]


def compile_runs(rules: RuleSet, fields: FieldReader) -> CompiledRuns:
    """``(rule, ((reader, holds), ...))`` per rule, for ``ReviewGate.decide_run``."""
    return tuple(
        (
            rule,
            tuple(
                (run_reader(c.key, fields), _any_of(c.holds) if c.key == "run.tools" else c.holds)
                for c in rule.conditions
            ),
        )
        for rule in rules.rules
    )


def check_mode(rules: RuleSet, mode: str | None) -> None:
    """RulesError (file, line, what to write) for a key the mode cannot match on."""
    agent = mode == "agent"
    for rule in rules.rules:
        for condition in rule.conditions:
            key = condition.key
            if not agent and key.startswith(RUN_PREFIX):
                raise RulesError(
                    rules.path,
                    condition.line or rule.line,
                    f"{key} in rule {rule.name!r} is a run's field: it applies in mode agent only; "
                    "set mode agent, or match one LLM call's fields (e.g. total_tokens, latency_ms)",
                )
            if agent and (
                (key in RECORD_FIELDS and key not in RUN_RECORD_FIELDS) or key.startswith(EVALUATION_PREFIX)
            ):
                instead = {"total_tokens": "run.total_tokens", "latency_ms": "run.duration_ms"}.get(
                    key, "a run field (" + ", ".join(_RUN_READERS) + ")"
                )
                raise RulesError(
                    rules.path,
                    condition.line or rule.line,
                    f"{key} in rule {rule.name!r} is one LLM call's field and mode agent decides whole "
                    f"runs: match {instead} instead",
                )


def run_fingerprint(record: RunRecord) -> bytes:
    """What a reviewer would see twice in a run: the request, each step and the final answer, hashed
    (BLAKE2b, 16 bytes), as ``record_fingerprint`` for one call."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(" ".join(record.request.split()).encode())
    for step in record.steps:
        parts = (
            step.kind,
            step.name,
            step.text,
            _json(step.arguments),
            step.result,
            step.query,
            step.error or "",
            *(call.name + _json(call.arguments) for call in step.tool_calls),
            *(document.content for document in step.documents),
        )
        for part in parts:
            digest.update(b"\x1e")
            digest.update(" ".join(str(part).split()).encode())
        digest.update(b"\x1d")
    digest.update(" ".join(record.final_answer.split()).encode())
    if record.error:
        digest.update(b"\x1d")
        digest.update(record.error.encode())
    return digest.digest()


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
