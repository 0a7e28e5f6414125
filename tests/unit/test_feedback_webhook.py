"""A webhook nobody can forge, offline: the secret, what a body claims, what Label Studio confirms,
and each annotation version sent once (the outbox remembers it across a restart)."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otel_label_studio.cli import main
from otel_label_studio.config import SettingsError, read_settings
from otel_label_studio.doctor import FAIL, _webhooks
from otel_label_studio.feedback.loop import FeedbackLoop
from otel_label_studio.feedback.webhook import (
    MAX_ANNOTATIONS,
    MAX_STRINGS,
    Claim,
    WebhookRefused,
    read_claims,
)
from otel_label_studio.receiver.policy import ReceiverPolicy, Refusal
from otel_label_studio.receiver.serve import ServeOptions, _check_webhook_secret
from tests.support.label_studio_copies import SECRET, LabelStudioCopies

TRACE, SPAN = "ab" * 16, "cd" * 8


def task(task_id=7, *, rating=4, updated="2026-12-01T10:00:00.000001Z", annotation_id=3, data=None):
    return {
        "id": task_id,
        "data": data if data is not None else {"prompt": "user: hi", "trace_id": TRACE, "span_id": SPAN},
        "meta": {},
        "predictions": [{"result": [{"type": "textarea", "value": {"text": ["model answer"]}}]}],
        "annotations": [
            {
                "id": annotation_id,
                "result": [{"type": "rating", "value": {"rating": rating}}],
                "was_cancelled": False,
                "updated_at": updated,
            }
        ],
    }


def webhook(held, action="ANNOTATION_CREATED", **changes) -> bytes:
    """The body Label Studio sends for the task's first annotation (its copy of both, as it was)."""
    body = {
        "action": action,
        "project": {"id": held["project"], "title": "p"},
        "task": {key: value for key, value in held.items() if key not in ("annotations", "predictions")},
        "annotation": {**held["annotations"][0], "task": held["id"]},
    }
    body.update(changes)
    return json.dumps(body).encode()


@pytest.fixture
def copies():
    return LabelStudioCopies()


@pytest.fixture
def loop(tmp_path, copies):
    made = FeedbackLoop("http://127.0.0.1:9", str(tmp_path), label_studio=copies, secret=SECRET)
    yield made
    made.close()


def take(loop, body: bytes) -> dict:
    return loop.take(loop.read(body))


def scores(loop) -> list[float]:
    found = []
    for item in loop.outbox.oldest():
        request = ExportLogsServiceRequest.FromString(item.body)
        for record in request.resource_logs[0].scope_logs[0].log_records:
            values = {kv.key: kv.value for kv in record.attributes}
            found.append(values["gen_ai.evaluation.score.value"].double_value)
    return found


# --- the secret ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Basic {SECRET}", f"Bearer {SECRET}x", "Bearer otlp-token"],
)
def test_a_webhook_without_its_secret_is_401(authorization):
    policy = ReceiverPolicy("otlp-token", SECRET)
    with pytest.raises(Refusal) as error:
        policy.authorize_webhook(authorization)
    assert error.value.status == 401
    assert SECRET not in error.value.message
    policy.authorize_webhook(f"Bearer {SECRET}")
    policy.authorize_webhook(f"bearer  {SECRET} ")


def test_without_a_secret_no_webhook_is_taken():
    with pytest.raises(Refusal) as error:
        ReceiverPolicy(None, None).authorize_webhook(f"Bearer {SECRET}")
    assert error.value.status == 403


@pytest.mark.parametrize(
    "raw, said",
    [
        ("short", "use 16 or more"),
        ("has a space in it 0123456789", "printable ASCII"),
        ("é" * 20, "printable"),
    ],
)
def test_a_weak_or_unsendable_secret_is_refused_without_showing_it(raw, said):
    with pytest.raises(SettingsError) as error:
        read_settings(("webhook_secret",), environ={"OTEL_LABEL_STUDIO_WEBHOOK_SECRET": raw})
    assert said in str(error.value) and raw not in str(error.value)


def test_serve_takes_webhooks_only_with_a_secret_of_their_own(tmp_path):
    settings = read_settings((), environ={})
    base = {"settings": settings, "data_dir": str(tmp_path), "feedback_endpoint": "http://127.0.0.1:9"}
    with pytest.raises(ValueError, match="need a secret of their own: set OTEL_LABEL_STUDIO_WEBHOOK_SECRET"):
        _check_webhook_secret(ServeOptions(**base))
    with pytest.raises(ValueError, match="must differ from --auth-token"):
        _check_webhook_secret(ServeOptions(**base, webhook_secret=SECRET, auth_token=SECRET))
    _check_webhook_secret(ServeOptions(**base, webhook_secret=SECRET, auth_token="another-token"))
    options = ServeOptions(**base, webhook_secret=SECRET)
    assert SECRET not in repr(options) and "webhook_secret=<set>" in repr(options)
    # doctor says what serve's start would say (its webhook finding alone: offline)
    finding = _webhooks(settings.model_copy(update={"feedback_endpoint": "http://127.0.0.1:9"}))
    assert finding.status == FAIL and "need a secret of their own" in finding.detail


# --- what a body claims -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, status, said",
    [
        (b"{not json", 400, "malformed JSON"),
        (b"[1, 2]", 400, "a webhook payload is a JSON object"),
        (b"[" * 5000, 400, "malformed JSON: depth limit exceeded"),  # orjson's 1024 levels
        (b"[" * (1 << 20), 400, "nested deeper than 1024 levels"),  # over the budget: never parsed
        (b'{"a": [' + b"0," * 2_000_000 + b"0]}", 413, "more than 64 MiB of JSON values"),
        (b'{"action": "ANNOTATION_CREATED"}', 400, "names its annotation"),
        (b'{"action": "ANNOTATION_CREATED", "annotation": {"task": 7}}', 400, "has no id"),
    ],
)
def test_a_body_that_is_not_a_payload_is_refused_before_label_studio_is_asked(body, status, said):
    with pytest.raises(WebhookRefused) as error:
        read_claims(body)
    assert error.value.status == status and said in error.value.message


def test_a_body_claims_only_what_names_an_annotation():
    held = {**task(), "project": 1}
    claims = read_claims(bytearray(webhook(held)))  # the buffer the HTTP server fills, read in place
    assert claims.action == "ANNOTATION_CREATED"
    assert claims.items == (Claim(3, 7, 1, (("trace_id", TRACE), ("span_id", SPAN))),)
    assert read_claims(b'{"action": "PROJECT_UPDATED", "project": {"id": 1}}').items == ()
    many = {
        "action": "ANNOTATIONS_CREATED",
        "annotation": [{"id": n, "task": n} for n in range(MAX_ANNOTATIONS + 1)],
        "task": [],
    }
    with pytest.raises(WebhookRefused, match=f"more than {MAX_ANNOTATIONS} annotations") as error:
        read_claims(json.dumps(many).encode())
    assert error.value.status == 413


def test_long_strings_are_cut_out_of_a_large_body_in_place_before_it_is_parsed():
    """orjson copies its input and makes each string an object: 60 MB of task text would be held
    three times. Cut out first (in the received buffer), the claims are the same."""
    held = {**task(), "project": 1}
    document = json.loads(webhook(held))
    document["task"]["data"]["prompt"] = (
        'a prompt, with "quotes", \\escapes\\, [brackets] and {braces}; ' * 100_000
    )
    document["annotation"]["result"] = [{"type": "textarea", "value": {"text": ["\u00e9" * 10_000]}}]
    raw = bytearray(json.dumps(document).encode())
    assert len(raw) > 6_000_000
    assert read_claims(raw).items == (Claim(3, 7, 1, (("trace_id", TRACE), ("span_id", SPAN))),)
    assert len(raw) < 2_000  # the text is gone from the buffer: no copy of it was parsed
    many = b'{"action": "ANNOTATION_CREATED", "x": [' + b'"abc",' * (MAX_STRINGS + 1) + b'"a"]}'
    with pytest.raises(WebhookRefused, match=f"more than {MAX_STRINGS} strings") as error:
        read_claims(many)
    assert error.value.status == 413


# --- what Label Studio confirms -----------------------------------------------------------------------


def test_a_real_annotation_becomes_its_events_from_label_studio_s_copy(loop, copies):
    held = copies.add_task(task(rating=4))
    # The body says 1; Label Studio's copy says 4: the score is Label Studio's.
    forged_result = {
        **held["annotations"][0],
        "task": 7,
        "result": [{"type": "rating", "value": {"rating": 1}}],
    }
    answer = take(loop, webhook(held, annotation=forged_result))
    assert answer == {"evaluation_events": 1, "duplicates": 0, "unconfirmed": 0}
    assert scores(loop) == [4.0]
    assert loop.counts() == (1, 0, 1)


@pytest.mark.parametrize(
    "change, said",
    [
        (
            {"task": {"id": 999999}, "annotation": {"id": 3, "task": 999999}},
            "task 999999 is not in Label Studio",
        ),
        ({"annotation": {"id": 404, "task": 7}}, "annotation 404 is not one of task 7's in Label Studio"),
        ({"project": {"id": 2}}, "task 7 is in project 1, not 2 as the webhook says"),
        (
            {"task": {"id": 7, "data": {"trace_id": TRACE, "span_id": "ef" * 8}}},
            f"task 7 in Label Studio carries span_id '{SPAN}', not '{'ef' * 8}' as the webhook says",
        ),
        ({"annotation": {"id": 3}, "task": None}, "the webhook names no task"),
    ],
)
def test_a_forged_or_altered_webhook_sends_nothing(loop, copies, change, said):
    held = copies.add_task(task())
    with pytest.raises(WebhookRefused) as error:
        take(loop, webhook(held, **change))
    assert error.value.status == 422 and said in error.value.message
    assert loop.outbox.oldest() == [] and loop.counts() == (0, 0, 0)


def test_only_projects_with_serve_s_webhook_are_served(loop, copies):
    held = copies.add_task(task(), project=5)
    copies.webhooks[0]["headers"] = {"Authorization": "Bearer someone-else-s-secret-0123"}
    with pytest.raises(WebhookRefused, match="project 5, which has no webhook with serve's secret") as error:
        take(loop, webhook(held))
    assert error.value.status == 422
    copies.webhooks[0]["headers"] = {"authorization": f"Bearer {SECRET}"}  # registered a moment later
    copies.webhooks[0]["project"] = None  # for the whole organization: every project
    loop.confirmer._listed_at -= 5  # past the pause between two lists
    assert take(loop, webhook(held))["evaluation_events"] == 1


def test_a_task_the_bridge_did_not_make_sends_nothing(loop, copies):
    held = copies.add_task(task(data={"text": "someone else's task"}))
    with pytest.raises(WebhookRefused, match="names no span of a trace"):
        take(loop, webhook(held))


def test_label_studio_out_of_reach_is_a_503_to_retry(loop, copies):
    held = copies.add_task(task())
    copies.down = True
    with pytest.raises(WebhookRefused) as error:
        take(loop, webhook(held))
    assert error.value.status == 503 and error.value.retry_after is not None
    assert "cannot confirm the webhook: Label Studio cannot be asked" in error.value.message


# --- once per annotation version --------------------------------------------------------------------------


def test_a_replayed_webhook_sends_nothing_twice_even_after_a_restart(tmp_path, copies):
    held = copies.add_task(task(rating=5))
    body = webhook(held)
    loop = FeedbackLoop("http://127.0.0.1:9", str(tmp_path), label_studio=copies, secret=SECRET)
    try:
        answers = [take(loop, body) for _ in range(4)]  # the webhook and 3 replays
    finally:
        loop.close()
    assert [a["evaluation_events"] for a in answers] == [1, 0, 0, 0]
    assert [a["duplicates"] for a in answers] == [0, 1, 1, 1]
    again = FeedbackLoop("http://127.0.0.1:9", str(tmp_path), label_studio=copies, secret=SECRET)
    try:
        assert take(again, body) == {"evaluation_events": 0, "duplicates": 1, "unconfirmed": 0}
        assert scores(again) == [5.0]  # the one event, still waiting for the endpoint
        # The reviewer changes the score: a new version of the annotation, sent once more.
        copies.tasks[7]["annotations"][0].update(
            result=[{"type": "rating", "value": {"rating": 2}}], updated_at="2026-12-01T11:00:00Z"
        )
        assert take(again, webhook(copies.tasks[7], action="ANNOTATION_UPDATED"))["evaluation_events"] == 1
        assert take(again, body)["duplicates"] == 1  # the old body now reads the new version: taken
        assert scores(again) == [5.0, 2.0]
    finally:
        again.close()


def test_several_annotations_in_one_webhook_are_each_confirmed(loop, copies):
    first = copies.add_task(task(7, annotation_id=3, rating=4))
    second = copies.add_task(task(8, annotation_id=4, rating=1))
    body = {
        "action": "ANNOTATIONS_CREATED",
        "annotation": [
            {"id": 3, "task": 7},
            {"id": 4, "task": 8},
            {"id": 5, "task": 999999},
        ],
        "task": [{"id": 7, "data": first["data"]}, {"id": 8, "data": second["data"]}],
    }
    answer = take(loop, json.dumps(body).encode())
    assert answer == {"evaluation_events": 2, "duplicates": 0, "unconfirmed": 1}
    assert sorted(scores(loop)) == [1.0, 4.0]


def test_the_webhook_command_needs_serve_s_secret(monkeypatch, capsys):
    """Registering a webhook without the secret would register one serve refuses: exit 2, before
    Label Studio is asked."""
    for name in ("OTEL_LABEL_STUDIO_WEBHOOK_SECRET", "LABEL_STUDIO_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "a-key-that-is-never-used")
    with pytest.raises(SystemExit) as exited:
        main(["webhook", "--project-id", "3", "--target", "http://bridge:4318"])
    assert exited.value.code == 2
    assert "give serve's webhook secret: OTEL_LABEL_STUDIO_WEBHOOK_SECRET" in capsys.readouterr().err
