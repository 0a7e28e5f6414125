"""Human scores of an agent run's task go back against the run's top span, with what went wrong."""

from __future__ import annotations

from dataclasses import replace

from otel_label_studio.feedback import evaluations, logs_request
from otel_label_studio.modes.layouts import AGENT_CONFIG, Layout
from otel_label_studio.modes.run_tasks import run_task
from tests.support.agent_runs import captured_run


def test_an_agent_runs_rating_and_failure_modes_go_to_its_top_span(captured):
    run = captured_run(captured)
    task = {"id": 7, **run_task(Layout.from_config(AGENT_CONFIG), run)}
    result = [
        {"from_name": "rating", "to_name": "steps", "type": "rating", "value": {"rating": 2}},
        {
            "from_name": "failure_modes",
            "to_name": "steps",
            "type": "choices",
            "value": {"choices": ["Wrong tool", "Unsupported claim"]},
        },
        {
            "from_name": "first_wrong_step",
            "to_name": "steps",
            "type": "choices",
            "value": {"choices": ["2 · tool search_weather"]},
        },
        {
            "from_name": "response",
            "to_name": "steps",
            "type": "textarea",
            "value": {"text": ["I could not check the weather."]},
        },
    ]
    payload = {"action": "ANNOTATION_CREATED", "task": task, "annotation": {"id": 3, "result": result}}
    item, step = evaluations(payload, now_ns=1)
    assert (step.span_id, step.label, step.name) == (
        run.steps[1].span_id,
        "First wrong step",
        "label_studio.human_review.step",
    )
    assert (item.trace_id, item.span_id) == (run.trace_id, run.span_id)
    assert item.span_id not in {step.span_id for step in run.steps}  # the run, not one of its steps
    assert (item.label, item.score) == ("edited", 2.0)
    assert item.explanation == (
        "failure modes: Wrong tool, Unsupported claim; first wrong step: 2 · tool search_weather\n"
        "I could not check the weather."
    )
    [record] = logs_request([item]).resource_logs[0].scope_logs[0].log_records
    assert record.span_id.hex() == run.span_id
    attributes = {kv.key: kv.value for kv in record.attributes}
    assert attributes["gen_ai.evaluation.explanation"].string_value.startswith("failure modes: Wrong tool")


def test_an_accepted_run_without_failure_modes_has_no_explanation(captured):
    run = captured_run(captured)
    task = run_task(Layout.from_config(AGENT_CONFIG), run)
    result = [{"from_name": "rating", "to_name": "steps", "type": "rating", "value": {"rating": 5}}]
    [item] = evaluations({"action": "ANNOTATION_CREATED", "task": task, "annotation": {"result": result}})
    assert (item.span_id, item.label, item.score, item.explanation) == (run.span_id, "accepted", 5.0, "")


def test_each_step_a_reviewer_labels_gets_its_own_evaluation_against_the_steps_span(captured):
    run = captured_run(captured)
    task = {"id": 7, **run_task(Layout.from_config(AGENT_CONFIG), run)}

    def region(start: str, end: str, label: str, text: str) -> dict:
        return {
            "from_name": "step_judgment",
            "to_name": "steps",
            "type": "paragraphlabels",
            "value": {"start": start, "end": end, "startOffset": 0, "endOffset": len(text), "text": text,
                      "paragraphlabels": [label]},
        }  # fmt: skip

    result = [
        region("1", "1", "Good step", "→ calls search_weather"),
        region("2", "3", "Wrong step", "result: Paris weather"),
        region("0", "0", "Wrong step", "What's the weather"),  # the request: not a step
        {"from_name": "first_wrong_step", "to_name": "steps", "type": "choices",
         "value": {"choices": ["2 · tool search_weather"]}},
        {"from_name": "rating", "to_name": "steps", "type": "rating", "value": {"rating": 3}},
    ]  # fmt: skip
    payload = {"action": "ANNOTATION_CREATED", "task": task, "annotation": {"id": 3, "result": result}}
    top, *steps = evaluations(payload, now_ns=1)
    assert (top.span_id, top.score, top.name) == (run.span_id, 3.0, "label_studio.human_review")
    assert [(item.span_id, item.label, item.explanation) for item in steps] == [
        (run.steps[0].span_id, "Good step", "→ calls search_weather"),
        (run.steps[1].span_id, "Wrong step, First wrong step", "result: Paris weather"),
        (run.steps[2].span_id, "Wrong step", "result: Paris weather"),
    ]
    records = logs_request([top, *steps]).resource_logs[0].scope_logs[0].log_records
    names = [
        {kv.key: kv.value.string_value for kv in r.attributes}["gen_ai.evaluation.name"] for r in records
    ]
    assert names == ["label_studio.human_review"] + ["label_studio.human_review.step"] * 3
    assert [r.span_id.hex() for r in records[1:]] == [step.span_id for step in run.steps[:3]]
    skipped = {**payload, "annotation": {"id": 4, "result": result, "was_cancelled": True}}
    assert [item.span_id for item in evaluations(skipped)] == [run.span_id]


def test_the_earliest_step_marked_wrong_is_sent_as_the_first_wrong_step(captured):
    """issue 25: the agent layout has no "first wrong step" row; marking a step "Wrong step" says it."""
    run = captured_run(captured)
    task = {"id": 7, **run_task(Layout.from_config(AGENT_CONFIG), run)}
    result = [
        {"from_name": "step_judgment", "to_name": "steps", "type": "paragraphlabels",
         "value": {"start": "3", "end": "3", "text": "query:", "paragraphlabels": ["Wrong step"]}},
        {"from_name": "step_judgment", "to_name": "steps", "type": "paragraphlabels",
         "value": {"start": "2", "end": "2", "text": "result:", "paragraphlabels": ["Wrong step"]}},
        {"from_name": "rating", "to_name": "steps", "type": "rating", "value": {"rating": 2}},
    ]  # fmt: skip
    payload = {"action": "ANNOTATION_CREATED", "task": task, "annotation": {"id": 3, "result": result}}
    top, *steps = evaluations(payload, now_ns=1)
    assert top.explanation == "first wrong step: 2 · tool search_weather"
    assert [(item.span_id, item.label) for item in steps] == [
        (run.steps[1].span_id, "Wrong step, First wrong step"),
        (run.steps[2].span_id, "Wrong step"),
    ]


def test_an_answer_written_for_a_run_without_one_is_an_edit(captured):
    """A run that raised pre-fills no answer; what the reviewer writes is their correction."""
    run = replace(captured_run(captured), final_answer="", error="ValueError: boom")
    task = run_task(Layout.from_config(AGENT_CONFIG), run)
    result = [{"from_name": "response", "type": "textarea", "value": {"text": ["Sunny."]}}]
    [item] = evaluations({"action": "ANNOTATION_CREATED", "task": task, "annotation": {"result": result}})
    assert (item.label, item.explanation) == ("edited", "Sunny.")
