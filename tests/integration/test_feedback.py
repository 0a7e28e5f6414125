"""Human scores flow back into the traces: a real Label Studio webhook -> serve -> an OTLP receiver."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from otel_label_studio.feedback import EVENT_NAME, evaluations, logs_request
from tests.support import memory, sidecar
from tests.support.label_studio_reads import project_by_title, wait_for_tasks
from tests.support.labelstudio_server import free_port
from tests.support.logs_receiver import LogsReceiver
from tests.support.otlp_requests import PROTOBUF, llm_request
from tests.support.serve_calls import register_webhook

JSON = {"Content-Type": "application/json"}


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
        assert side.webhook_secret not in registered.stdout + registered.stderr
        again = register_webhook(side, label_studio, project.id)  # the same URL: updated, not doubled
        assert again.returncode == 0 and "updated" in again.stdout, again.stderr

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


def _reviewed_task(side, ls, label_studio, project_name, *, rating: int, capture: str | None = None):
    """A task serve made, its project's webhook registered as a user does (and, with ``capture``,
    a second webhook of Label Studio's to that URL, so a test holds the very body it sends), then
    a reviewer's annotation: (task, annotation id)."""
    body = llm_request(question="What is a span?", answer="A unit of work.").SerializeToString()
    assert httpx.post(side.traces_url, content=body, headers={**PROTOBUF, **side.auth()}).status_code == 200
    (task,) = wait_for_tasks(ls, project_name, 1)
    project = project_by_title(ls, project_name)
    registered = register_webhook(side, label_studio, project.id)
    assert registered.returncode == 0, registered.stderr
    if capture is not None:
        ls.webhooks.create(
            url=capture,
            project=project.id,
            actions=["ANNOTATION_CREATED", "ANNOTATION_UPDATED"],
            send_payload=True,
            send_for_all_actions=False,
            headers=side.webhook_auth(),
            is_active=True,
        )
    annotation = ls.annotations.create(
        id=task.id,
        result=[{"from_name": "rating", "to_name": "prompt", "type": "rating", "value": {"rating": rating}}],
        was_cancelled=False,
    )
    return task, int(annotation.id)


def _wait_for(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)


def _settle(side, seconds: float = 3.0) -> None:
    """Give the outbox's forwarder time to send whatever it holds (nothing must come)."""
    _wait_for(lambda: _metric(side, "feedback_waiting_events") == 0, 30)
    time.sleep(seconds)


@pytest.mark.integration
def test_scores_wait_for_a_feedback_endpoint_that_is_down_even_across_a_restart(
    label_studio, ls, tmp_path, project_name
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
        task, _ = _reviewed_task(side, ls, label_studio, project_name, rating=5)
        _wait_for(lambda: _metric(side, "feedback_received_events_total") == 1)
        assert _metric(side, "feedback_waiting_events") == 1
        assert side.terminate() == 0
        assert "1 evaluation events stay in the feedback outbox" in side.logs()

        receiver = LogsReceiver(port)
        side.respawn()
        _wait_for(lambda: bool(receiver.records()))
        (record,) = receiver.records()
        assert record.trace_id.hex() == task.data["trace_id"] and record.span_id.hex() == task.data["span_id"]
        attributes = {kv.key: kv.value for kv in record.attributes}
        assert attributes["gen_ai.evaluation.score.value"].double_value == 5.0
        assert attributes["gen_ai.evaluation.score.label"].string_value == "accepted"
        assert _metric(side, "feedback_waiting_events") == 0
        assert _metric(side, "feedback_sent_events_total") == 1
    finally:
        side.terminate()
        if receiver is not None:
            receiver.close()


# --- a webhook nobody can forge ---------------------------------------------------------------------


def _claim(task_id: int, annotation_id: int, project_id: int | None = None, **data) -> dict:
    """A webhook body as Label Studio shapes it, naming what the sender wants."""
    body: dict = {
        "action": "ANNOTATION_CREATED",
        "task": {"id": task_id, "data": data},
        "annotation": {
            "id": annotation_id,
            "task": task_id,
            "result": [{"type": "rating", "value": {"rating": 5}}],
        },
    }
    if project_id is not None:
        body["project"] = {"id": project_id}
    return body


@pytest.mark.integration
@pytest.mark.parametrize(
    "auth_token", [None, "sidecar-test-token-0123456789"], ids=["no-auth-token", "auth-token"]
)
def test_a_forged_webhook_sends_nothing(label_studio, ls, tmp_path, project_name, auth_token):
    """Without the webhook secret: 401 (the OTLP token every sender holds is not it). With it, what
    Label Studio does not confirm (a task it does not have, an annotation not of that task, another
    span) is a 422, and a claimed score is not the one sent: only the real annotation, as Label
    Studio holds it, becomes one event."""
    receiver = LogsReceiver()
    side = sidecar.start(
        label_studio,
        tmp_path / "data",
        project_name,
        token=auth_token,
        args=["--feedback-endpoint", receiver.url],
    )
    try:
        task, annotation_id = _reviewed_task(side, ls, label_studio, project_name, rating=4)
        project = project_by_title(ls, project_name)
        _wait_for(lambda: bool(receiver.records()))
        forged = _claim(999999, 1, trace_id="ab" * 16, span_id="cd" * 8)
        refused = {
            "none": httpx.post(side.webhook_url, json=forged),
            "wrong": httpx.post(side.webhook_url, json=forged, headers={"authorization": "Bearer wrong"}),
        }
        if auth_token:
            refused["otlp token"] = httpx.post(side.webhook_url, json=forged, headers=side.auth())
        assert {name: answer.status_code for name, answer in refused.items()} == {
            name: 401 for name in refused
        }
        unconfirmed = {
            "no such task": forged,
            "no such annotation": _claim(task.id, 987654, project.id, **task.data),
            "another span": _claim(
                task.id, annotation_id, project.id, trace_id=task.data["trace_id"], span_id="ef" * 8
            ),
        }
        answers = {
            name: httpx.post(side.webhook_url, json=claim, headers=side.webhook_auth())
            for name, claim in unconfirmed.items()
        }
        assert {name: a.status_code for name, a in answers.items()} == {name: 422 for name in answers}
        assert "task 999999 is not in Label Studio" in answers["no such task"].json()["message"]
        # The real annotation, claiming a score of 5: Label Studio's copy says 4, and it was sent.
        claimed = httpx.post(
            side.webhook_url,
            json=_claim(task.id, annotation_id, project.id, **task.data),
            headers=side.webhook_auth(),
        )
        assert claimed.status_code == 200 and claimed.json()["evaluation_events"] == 0
        _settle(side)
        (record,) = receiver.records()  # the real webhook's, and nothing forged
        assert record.span_id.hex() == task.data["span_id"]
        attributes = {kv.key: kv.value for kv in record.attributes}
        assert attributes["gen_ai.evaluation.score.value"].double_value == 4.0
        logs = side.logs()
        assert "task 999999 is not in Label Studio" in logs
        assert side.webhook_secret not in logs
    finally:
        side.terminate()
        receiver.close()


@pytest.mark.integration
def test_a_replayed_webhook_sends_one_event_even_after_a_restart(label_studio, ls, tmp_path, project_name):
    """Label Studio's own webhook body, captured and sent again three times, and once more after a
    restart: one event in all (the outbox remembers the annotation's id and updated_at)."""
    receiver = LogsReceiver()
    side = sidecar.start(
        label_studio, tmp_path / "data", project_name, token=None, args=["--feedback-endpoint", receiver.url]
    )
    try:
        _reviewed_task(side, ls, label_studio, project_name, rating=3, capture=f"{receiver.url}/capture")
        _wait_for(lambda: bool(receiver.records()) and bool(receiver.posts))
        ((_, headers, body),) = receiver.posts
        sent_again = {k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type")}
        replays = [httpx.post(side.webhook_url, content=body, headers=sent_again) for _ in range(3)]
        assert [r.status_code for r in replays] == [200, 200, 200]
        assert [r.json()["evaluation_events"] for r in replays] == [0, 0, 0]
        _settle(side)
        assert len(receiver.records()) == 1
        assert side.terminate() == 0
        side.respawn()
        again = httpx.post(side.webhook_url, content=body, headers=sent_again)
        assert again.status_code == 200 and again.json() == {
            "evaluation_events": 0,
            "duplicates": 1,
            "unconfirmed": 0,
        }
        _settle(side)
        assert len(receiver.records()) == 1
    finally:
        side.terminate()
        receiver.close()


@pytest.mark.integration
def test_webhook_bodies_are_bounded_in_memory_and_malformed_ones_are_400(
    label_studio, ls, tmp_path, project_name
):
    """60 MB bodies (under the 64 MiB cap), each measured by serve's own high-water mark
    (/proc/<pid>/status VmHWM, reset before each): a real annotation's webhook with 60 MB of task
    text (200: Label Studio confirms it; it was taken already), 60 MB of nesting (400, never a 503
    "maximum recursion depth exceeded"), 60 MB of small values (413): each under 300 MB."""
    receiver = LogsReceiver()
    side = sidecar.start(
        label_studio, tmp_path / "data", project_name, token=None, args=["--feedback-endpoint", receiver.url]
    )
    try:
        task, annotation_id = _reviewed_task(side, ls, label_studio, project_name, rating=2)
        project = project_by_title(ls, project_name)
        _wait_for(lambda: bool(receiver.records()))
        size = 60 * 1000 * 1000
        real = _claim(task.id, annotation_id, project.id, **task.data)
        real["task"]["data"]["prompt"] = "x" * size
        values = _claim(task.id, annotation_id, project.id, **task.data)
        values["padding"] = []
        bodies = {
            "a real webhook with 60 MB of text": (json.dumps(real).encode(), 200),
            "60 MB of nesting": (b"[" * size, 400),
            "60 MB of small values": (json.dumps(values).encode()[:-2] + b"0," * (size // 2) + b"0]}", 413),
        }
        pid = side.process.pid
        seen = {}
        for name, (body, _) in bodies.items():
            memory.reset_peak(pid)
            answer = httpx.post(
                side.webhook_url, content=body, headers={**side.webhook_auth(), **JSON}, timeout=120
            )
            seen[name] = (answer.status_code, memory.peak_kib(pid) // memory.MIB)
        print(f"serve's answer and peak resident memory (MiB) per 60 MB webhook body: {seen}")
        assert {name: status for name, (status, _) in seen.items()} == {
            name: status for name, (_, status) in bodies.items()
        }, seen
        assert max(peak for _, peak in seen.values()) < 300, seen
        assert httpx.get(f"{side.http_url}/healthz").status_code == 200
    finally:
        side.terminate()
        receiver.close()
