"""Label Studio annotation webhooks -> ``gen_ai.evaluation.result`` events (pure mapping, no I/O).

Each annotation a reviewer submits (or updates) on a task the bridge made becomes one OpenTelemetry
GenAI evaluation event, carrying the trace and span ids of the LLM call the task came from;
``logs_request`` puts them into one OTLP logs request for the feedback endpoint.

An agent run's task (``mode`` agent) gets that event against the run's top span and, for each step
the reviewer judged (``ParagraphLabels`` regions over the steps, or the first agent layout's "first step
that went wrong" choice), one more named ``label_studio.human_review.step`` against that step's span (the
span ids of the task's step provenance, ``meta["steps"]``): its label is the labels given (e.g. "Wrong
step", and "First wrong step": the step chosen so, else the earliest step marked "Wrong step", as
``modes/run_answers.py`` reads it), its explanation the text the reviewer marked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from ..judges.judge import NOTE_NAME, is_judge
from ..modes.run_answers import read_run_answer, step_heading

EVENT_NAME = "gen_ai.evaluation.result"
EVALUATION_NAME = "label_studio.human_review"
ANNOTATION_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED")
STEP_EVALUATION_NAME = "label_studio.human_review.step"
FIRST_WRONG_STEP = "First wrong step"
EXPLANATION_LIMIT = 2000


@dataclass(frozen=True)
class Evaluation:
    trace_id: str
    span_id: str
    label: str  # "edited", "accepted" or "skipped"
    score: float | None
    explanation: str
    annotation_id: int | None
    task_id: int | None
    time_unix_nano: int
    name: str = EVALUATION_NAME


def evaluations(payload: Mapping[str, Any], *, now_ns: int | None = None) -> list[Evaluation]:
    """The evaluation events a webhook payload asks for (none for other actions or foreign tasks)."""
    if payload.get("action") not in ANNOTATION_ACTIONS:
        return []
    task = payload.get("task") or {}
    data = task.get("data") or {}
    trace_id, span_id = str(data.get("trace_id") or ""), str(data.get("span_id") or "")
    if not (is_hex_id(trace_id, 32) and is_hex_id(span_id, 16)):
        return []  # not a task the bridge made: nothing to link to
    annotations = payload.get("annotations") or [payload.get("annotation") or {}]
    found = []
    for annotation in annotations:
        if not isinstance(annotation, Mapping):
            continue
        result = annotation.get("result") or []
        response = _textarea(result)
        model = _textarea_of_predictions(task.get("predictions") or [])
        if model is None and (task.get("meta") or {}).get("unit") == "run":
            model = ""  # a run without a final answer: nothing was pre-filled, so an answer is an edit
        if annotation.get("was_cancelled"):
            label = "skipped"
        elif response is not None and model is not None and response.strip() != model.strip():
            label = "edited"
        else:
            label = "accepted"
        explanation = (response or "") if label == "edited" else ""
        # An agent run's task (mode agent): what went wrong, as the reviewer chose it.
        judged = {
            item.get("from_name"): ", ".join(map(str, (item.get("value") or {}).get("choices") or ()))
            for item in result
            if isinstance(item, Mapping) and item.get("type") == "choices"
        }
        first = read_run_answer(result).first_wrong_step
        if not judged.get("first_wrong_step") and first is not None:  # the earliest step marked wrong
            judged["first_wrong_step"] = step_heading(data, first)
        wrong = "; ".join(
            f"{title}: {judged[name]}"
            for name, title in (("failure_modes", "failure modes"), ("first_wrong_step", "first wrong step"))
            if judged.get(name)
        )
        if wrong:
            explanation = f"{wrong}\n{explanation}".strip()
        at = now_ns if now_ns is not None else time.time_ns()
        found.append(
            Evaluation(
                trace_id=trace_id,
                span_id=span_id,
                label=label,
                score=_rating(result),
                explanation=explanation[:EXPLANATION_LIMIT],
                annotation_id=annotation.get("id"),
                task_id=task.get("id"),
                time_unix_nano=at,
            )
        )
        if not annotation.get("was_cancelled"):
            found.extend(
                Evaluation(
                    trace_id=trace_id,
                    span_id=step_span,
                    label=", ".join(labels),
                    score=None,
                    explanation="\n".join(texts)[:EXPLANATION_LIMIT],
                    annotation_id=annotation.get("id"),
                    task_id=task.get("id"),
                    time_unix_nano=at,
                    name=STEP_EVALUATION_NAME,
                )
                for step_span, (labels, texts) in _step_judgments(result, task.get("meta")).items()
            )
    return found


def _step_judgments(result: Any, meta: Any) -> dict[str, tuple[list[str], list[str]]]:
    """Per step span id, in step order: the labels the reviewer gave the step (and "First wrong step")
    and the text marked. Item n (n >= 1) of the task's ``steps`` is step n, whose span id is
    ``meta["steps"][n - 1]``."""
    provenance = meta.get("steps") if isinstance(meta, Mapping) else None
    if not isinstance(provenance, list) or not isinstance(result, list):
        return {}
    span_ids = {
        step.get("number"): str(step.get("span_id"))
        for step in provenance
        if isinstance(step, Mapping) and is_hex_id(str(step.get("span_id")), 16)
    }
    answer = read_run_answer(result)
    judged = {number: (list(labels), list(texts)) for number, (labels, texts) in answer.marks.items()}
    if answer.first_wrong_step is not None:
        labels, _ = judged.setdefault(answer.first_wrong_step, ([], []))
        labels.append(FIRST_WRONG_STEP)
    return {span_ids[number]: judged[number] for number in sorted(judged) if number in span_ids}


def logs_request(
    items: list[Evaluation], service_name: str = "otel-label-studio"
) -> ExportLogsServiceRequest:
    """One OTLP logs request holding an event per evaluation, each linked to its span."""
    records = []
    for item in items:
        attributes = [
            _kv("gen_ai.evaluation.name", item.name),
            _kv("gen_ai.evaluation.score.label", item.label),
        ]
        if item.score is not None:
            attributes.append(
                KeyValue(key="gen_ai.evaluation.score.value", value=AnyValue(double_value=item.score))
            )
        if item.explanation:
            attributes.append(_kv("gen_ai.evaluation.explanation", item.explanation))
        if item.annotation_id is not None:
            attributes.append(
                KeyValue(key="label_studio.annotation.id", value=AnyValue(int_value=item.annotation_id))
            )
        if item.task_id is not None:
            attributes.append(
                KeyValue(key="label_studio.task.id", value=AnyValue(int_value=int(item.task_id)))
            )
        records.append(
            LogRecord(
                time_unix_nano=item.time_unix_nano,
                observed_time_unix_nano=item.time_unix_nano,
                event_name=EVENT_NAME,
                trace_id=bytes.fromhex(item.trace_id),
                span_id=bytes.fromhex(item.span_id),
                attributes=attributes,
            )
        )
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=[_kv("service.name", service_name)]),
                scope_logs=[
                    ScopeLogs(scope=InstrumentationScope(name="otel-label-studio"), log_records=records)
                ],
            )
        ]
    )


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def is_hex_id(value: str, length: int) -> bool:
    """Whether ``value`` is ``length`` hex digits (a trace id: 32, a span id: 16)."""
    if len(value) != length:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True


def _textarea(result: Any) -> str | None:
    """The first TextArea's text but a judge's note (an annotation started from a judge's prediction
    holds it; it is what the judge said, not the reviewer's response)."""
    for item in result if isinstance(result, list) else []:
        if not isinstance(item, Mapping) or item.get("from_name") == NOTE_NAME:
            continue
        if item.get("type") == "textarea":
            text = (item.get("value") or {}).get("text")
            if isinstance(text, list):
                return "\n".join(str(part) for part in text)
            if text is not None:
                return str(text)
    return None


def _textarea_of_predictions(predictions: Any) -> str | None:
    for prediction in predictions if isinstance(predictions, list) else []:
        if isinstance(prediction, Mapping) and not is_judge(prediction):
            text = _textarea(prediction.get("result"))
            if text is not None:
                return text
    return None


def _rating(result: Any) -> float | None:
    for item in result if isinstance(result, list) else []:
        if isinstance(item, Mapping) and item.get("type") == "rating":
            rating = (item.get("value") or {}).get("rating")
            if isinstance(rating, (int, float)) and not isinstance(rating, bool):
                return float(rating)
    return None
