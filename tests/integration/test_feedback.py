"""Human scores flow back into the traces: a real Label Studio webhook -> serve -> an OTLP receiver."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otel_label_studio.feedback import EVENT_NAME, evaluations, logs_request
from otel_label_studio.feedback.loop import FeedbackLoop
from tests.support import sidecar
from tests.support.label_studio_reads import project_by_title, wait_for_tasks
from tests.support.labelstudio_server import free_port
from tests.support.logs_receiver import LogsReceiver
from tests.support.otlp_requests import PROTOBUF, llm_request
from tests.support.serve_calls import register_webhook


def payload(action="ANNOTATION_CREATED", *, result=None, cancelled=False, data=None):
    return {
        "action": action,
        "task": {
            "id": 7,
            "data": data if data is not None else {"trace_id": "ab" * 16, "span_id": "cd" * 8},
            "predictions": [{"result": [{"type": "textarea", "value": {"text": ["model answer"]}}]}],
        },
        "annotation": {"id": 3, "was_cancelled": cancelled, "result": result or []},
    }


def test_evaluations_from_webhook_payloads():
    edited = [
        {"type": "textarea", "value": {"text": ["better answer"]}},
        {"type": "rating", "value": {"rating": 4}},
    ]
    (item,) = evaluations(payload(result=edited), now_ns=5)
    assert (item.trace_id, item.span_id, item.label, item.score, item.explanation) == (
        "ab" * 16,
        "cd" * 8,
        "edited",
        4.0,
        "better answer",
    )
    accepted = [{"type": "textarea", "value": {"text": ["model answer"]}}]
    assert evaluations(payload("ANNOTATION_UPDATED", result=accepted))[0].label == "accepted"
    assert evaluations(payload(cancelled=True))[0].label == "skipped"
    assert evaluations(payload("PROJECT_CREATED")) == []
    assert evaluations(payload(data={"text": "a task someone else made"})) == []
    request = logs_request([item])
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    assert record.event_name == EVENT_NAME
    assert record.trace_id == bytes.fromhex("ab" * 16) and record.span_id == bytes.fromhex("cd" * 8)
    attributes = {kv.key: kv.value for kv in record.attributes}
    assert attributes["gen_ai.evaluation.score.value"].double_value == 4.0
    assert attributes["gen_ai.evaluation.score.label"].string_value == "edited"
    assert attributes["gen_ai.evaluation.name"].string_value == "label_studio.human_review"


@pytest.mark.integration
def test_a_real_webhook_becomes_an_evaluation_event_on_the_original_span(
    label_studio, ls, tmp_path, project_name
):
    receiver = LogsReceiver()
    side = sidecar.start(
        label_studio, tmp_path / "data", project_name, args=["--feedback-endpoint", receiver.url]
    )
    try:
        request = llm_request(question="What is a span?", answer="A unit of work.")
        body = request.SerializeToString()
        assert (
            httpx.post(side.traces_url, content=body, headers={**PROTOBUF, **side.auth()}).status_code == 200
        )
        (task,) = wait_for_tasks(ls, project_name, 1)
        project = project_by_title(ls, project_name)
        registered = register_webhook(side, label_studio, project.id)
        assert registered.returncode == 0, registered.stderr
        assert side.token not in registered.stdout + registered.stderr

        ls.annotations.create(
            id=task.id,
            result=[
                {"from_name": "response", "to_name": "prompt", "type": "textarea",
                 "value": {"text": ["A span is one timed operation in a trace."]}},
                {"from_name": "rating", "to_name": "prompt", "type": "rating", "value": {"rating": 4}},
            ],
            was_cancelled=False,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not receiver.records() and time.monotonic() < deadline:
            time.sleep(0.1)
        (record,) = receiver.records()
        assert record.event_name == "gen_ai.evaluation.result"
        assert record.trace_id.hex() == task.data["trace_id"]
        assert record.span_id.hex() == task.data["span_id"]
        attributes = {kv.key: kv.value for kv in record.attributes}
        assert attributes["gen_ai.evaluation.score.value"].double_value == 4.0
        assert attributes["gen_ai.evaluation.score.label"].string_value == "edited"
        assert (
            attributes["gen_ai.evaluation.explanation"].string_value
            == "A span is one timed operation in a trace."
        )

        unauthenticated = httpx.post(
            f"{side.http_url}/webhooks/label-studio", json={"action": "ANNOTATION_CREATED"}
        )
        assert unauthenticated.status_code == 401
    finally:
        side.terminate()
        receiver.close()


def _metric(side, name: str) -> float:
    text = httpx.get(f"{side.http_url}/metrics").text
    (line,) = [line for line in text.splitlines() if line.startswith(f"otel_label_studio_{name} ")]
    return float(line.split()[1])


@pytest.mark.integration
def test_scores_wait_for_a_feedback_endpoint_that_is_down_even_across_a_restart(
    label_studio, tmp_path, project_name
):
    """Label Studio sends a webhook once: an endpoint that is down must not lose the score."""
    port = free_port()  # nothing listens here yet
    side = sidecar.start(
        label_studio,
        tmp_path / "data",
        project_name,
        args=["--feedback-endpoint", f"http://127.0.0.1:{port}"],
    )
    receiver = None
    try:
        answer = httpx.post(
            f"{side.http_url}/webhooks/label-studio",
            json=payload(result=[{"type": "rating", "value": {"rating": 5}}]),
            headers=side.auth(),
        )
        assert answer.status_code == 200 and answer.json() == {"evaluation_events": 1}
        assert _metric(side, "feedback_waiting_events") == 1
        assert side.terminate() == 0
        assert "1 evaluation events stay in the feedback outbox" in side.logs()

        receiver = LogsReceiver(port)
        side.respawn()
        deadline = time.monotonic() + 30
        while not receiver.records() and time.monotonic() < deadline:
            time.sleep(0.1)
        (record,) = receiver.records()
        assert record.trace_id.hex() == "ab" * 16 and record.span_id.hex() == "cd" * 8
        attributes = {kv.key: kv.value for kv in record.attributes}
        assert attributes["gen_ai.evaluation.score.value"].double_value == 5.0
        assert attributes["gen_ai.evaluation.score.label"].string_value == "accepted"
        assert _metric(side, "feedback_waiting_events") == 0
        assert _metric(side, "feedback_sent_events_total") == 1
    finally:
        side.terminate()
        if receiver is not None:
            receiver.close()


def test_the_feedback_loop_keeps_a_webhook_s_events_and_refuses_what_is_not_a_payload(tmp_path, caplog):
    """What serve's HTTP server hands it: the body. Not JSON, or not an object: ValueError (400);
    a payload without predictions has them read from Label Studio, and a failed read still keeps
    the event (as "accepted")."""
    asked = []

    def predictions(task_id: int) -> list:
        asked.append(task_id)
        raise ValueError("Label Studio is away")

    loop = FeedbackLoop("http://127.0.0.1:9", str(tmp_path), predictions=predictions)
    try:
        with pytest.raises(ValueError, match="malformed JSON"):
            loop.take(b"{not json")
        with pytest.raises(ValueError, match="a webhook payload is a JSON object"):
            loop.take(b"[1, 2]")
        assert (
            loop.take(json.dumps(payload(result=[{"type": "rating", "value": {"rating": 2}}])).encode()) == 1
        )
        bare = payload()
        del bare["task"]["predictions"]
        assert loop.take(json.dumps(bare).encode()) == 1
        assert asked == [7]
        assert any("Could not read the predictions of task 7" in r.getMessage() for r in caplog.records)
        assert loop.take(json.dumps(payload("PROJECT_CREATED")).encode()) == 0
        assert loop.counts() == (2, 0, 2)  # received, sent (the forwarder was not started), waiting
        kept = ExportLogsServiceRequest.FromString(loop.outbox.oldest()[0].body)
        assert kept.resource_logs[0].scope_logs[0].log_records[0].trace_id == bytes.fromhex("ab" * 16)
    finally:
        loop.close()
