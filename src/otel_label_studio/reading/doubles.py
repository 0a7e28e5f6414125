"""LLM calls described twice: two LangChain instrumentations in one app. Pure: records in, doubles out.

With both ``opentelemetry-instrumentation-langchain`` (OpenLLMetry: the ``genai`` or ``legacy``
dialect) and ``openinference-instrumentation-langchain`` installed, ``opentelemetry-instrument``
turns both on, and each LLM call gets two spans, one per instrumentation: two tasks per call.

The rule for "the same call", cheap and needing nothing but the batch's records: an OpenLLMetry
record and an OpenInference record with

- the same service (``service.name``: one app, one resource);
- the same input messages and the same outputs, as the dialects render them (both instrumentations
  watch the same LangChain callbacks, so they saw the same prompt and the same answer);
- overlapping times (both spans open and close around the one model call).

Neither trace nor parent is compared: at top level each instrumentation starts a trace of its own,
and inside an app's span each hangs its LLM span under a chain span of its own. Two real calls match
only if one service made them at the same moment, with the same prompt, got the same answer, and was
traced by the two instrumentations at once; their tasks would be the same task.

Of a double, the OpenLLMetry record is kept and the OpenInference one dropped, every time, so a
project's tasks all come from one dialect: OpenLLMetry's instrumentation is this package's own
dependency, the one the README sets up, and its run metadata sits under the default metadata prefix.
A judge result sent for a dropped span's id finds no task. A double split across two batches is not
found: that call becomes two tasks, and no call is ever lost to a guess.
"""

from __future__ import annotations

from typing import Sequence

from .record import LLMRecord

OPENLLMETRY = frozenset({"genai", "legacy"})
OPENINFERENCE = "openinference"

WHY = (
    "LangChain is instrumented twice: opentelemetry-instrumentation-langchain (OpenLLMetry spans) and "
    "openinference-instrumentation-langchain (OpenInference spans) each describe every LLM call"
)
FIX = (
    "Keep one: pip uninstall openinference-instrumentation-langchain; or, to keep OpenInference for "
    "another backend, set OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=langchain (under opentelemetry-instrument "
    "it turns off both: they share the entry point name langchain) and instrument once at start-up, "
    "e.g. LangchainInstrumentor().instrument()"
)


def find_doubles(records: Sequence[LLMRecord]) -> list[LLMRecord]:
    """The OpenInference records that describe a call an OpenLLMetry record of the batch describes too
    (the module's rule); each OpenLLMetry record pairs with one at most."""
    kept: dict[tuple[object, ...], list[LLMRecord]] = {}
    others = []
    for record in records:
        if record.dialect in OPENLLMETRY:
            kept.setdefault(_call(record), []).append(record)
        elif record.dialect == OPENINFERENCE:
            others.append(record)
    if not kept or not others:
        return []
    doubles = []
    for record in others:
        partners = kept.get(_call(record), [])
        for index, partner in enumerate(partners):
            if _overlap(partner, record):
                del partners[index]
                doubles.append(record)
                break
    return doubles


def warning(one_task_kept: bool) -> str:
    """What the one warning says: why, what became of the tasks, and the fix."""
    tasks = (
        "one task is made per call, from the OpenLLMetry span"
        if one_task_kept
        else "each becomes a task of its own (this mode does not merge them)"
    )
    return f"{WHY}; {tasks}. {FIX}."


def _call(record: LLMRecord) -> tuple[object, ...]:
    return (
        record.service_name,
        tuple((message.role, message.content) for message in record.messages),
        tuple(record.outputs),
    )


def _overlap(a: LLMRecord, b: LLMRecord) -> bool:
    return a.start_time_unix_nano <= b.end_time_unix_nano and b.start_time_unix_nano <= a.end_time_unix_nano
