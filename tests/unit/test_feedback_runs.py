"""Human scores of an agent run's task go back against the run's top span, with what went wrong."""

from __future__ import annotations

from otel_label_studio.feedback import evaluations, logs_request
from otel_label_studio.layouts import AGENT_CONFIG, Layout
from otel_label_studio.run_tasks import run_task
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
    [item] = evaluations(payload, now_ns=1)
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
