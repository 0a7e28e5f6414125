"""Judge results in as OTLP logs, decoded without sockets: which log records are judge results,
what makes one unusable, protobuf and OTLP/JSON bodies, the per-request bounds, and the answer."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from otel_label_studio.reading.evaluations import JudgeEvent
from otel_label_studio.receiver.judge_intake import JudgeIntake, JudgeIntakeStats
from otel_label_studio.receiver.otlp import JSON, PROTOBUF, PROTOBUF_SCAN_ABOVE_BYTES, OtlpError, encode
from otel_label_studio.receiver.otlp_logs import judge_results, parse_logs_request, response_for
from otel_label_studio.receiver.policy import ReceiverPolicy
from otel_label_studio.store.queue import QueueFull
from tests.support.judge_logs import HELPFUL, logs_request, span_context

TRACE, SPAN = 0x5B8EFFF798038103D269B633813FC60C, 0xEEE19B7EC3C1B174
TRACE_HEX, SPAN_HEX = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
EXPECTED = {"name": "helpfulness", "score": 0.75, "label": "helpful", "explanation": "answers the question"}


def records(request: ExportLogsServiceRequest) -> list[LogRecord]:
    return [r for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]


def test_an_evaluation_event_from_the_sdk_becomes_a_judge_event_on_its_span():
    request = logs_request([(span_context(TRACE, SPAN), HELPFUL)])
    assert records(request)[0].event_name == "gen_ai.evaluation.result"  # the field, not an attribute
    found = judge_results(request, observed_ns=123)
    assert found.events == [JudgeEvent(TRACE_HEX, SPAN_HEX, None, EXPECTED, 123)]
    assert (found.records, found.ignored, found.rejected) == (1, 0, 0)
    assert response_for(found) == ExportLogsServiceResponse()  # full success: no partial_success


def test_an_older_sender_s_event_name_attribute_is_read_too():
    attributes = {"event.name": "gen_ai.evaluation.result", **HELPFUL}
    request = logs_request([(span_context(TRACE, SPAN), attributes)], event_name=None)
    assert records(request)[0].event_name == ""
    (event,) = judge_results(request, 0).events
    assert (event.trace_id, event.span_id, event.result) == (TRACE_HEX, SPAN_HEX, EXPECTED)


def test_other_log_records_are_counted_as_ignored_and_accepted():
    plain = logs_request([(span_context(TRACE, SPAN), {"http.method": "GET"})], event_name=None, body="hi")
    other_event = logs_request([(span_context(TRACE, SPAN), HELPFUL)], event_name="gen_ai.choice")
    for request in (plain, other_event):
        found = judge_results(request, 0)
        assert (found.events, found.ignored, found.rejected) == ([], 1, 0)
        assert not response_for(found).HasField("partial_success")


def test_a_record_naming_no_span_is_rejected_unless_it_names_the_response():
    found = judge_results(logs_request([(None, HELPFUL)]), 0)
    assert (found.events, found.rejected) == ([], 1)
    partial = response_for(found).partial_success
    assert partial.rejected_log_records == 1
    assert "names no evaluated span" in partial.error_message
    assert "gen_ai.response.id" in partial.error_message

    by_response = {**HELPFUL, "gen_ai.response.id": "chatcmpl-42"}
    (event,) = judge_results(logs_request([(None, by_response)]), 0).events
    assert (event.trace_id, event.span_id, event.response_id) == ("", "", "chatcmpl-42")


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [(bytes(16), bytes.fromhex(SPAN_HEX)), (bytes.fromhex(TRACE_HEX), bytes(8)), (b"\x01" * 15, b"\x02" * 8)],
    ids=["zero-trace", "zero-span", "short-trace"],
)
def test_all_zero_or_wrong_length_ids_do_not_link_a_record(trace_id, span_id):
    request = logs_request([(None, HELPFUL)])
    record = records(request)[0]
    record.trace_id, record.span_id = trace_id, span_id
    found = judge_results(request, 0)
    assert (found.events, found.rejected) == ([], 1)


def test_a_record_saying_nothing_readable_is_rejected_with_the_reason():
    no_name = {key: value for key, value in HELPFUL.items() if key != "gen_ai.evaluation.name"}
    only_bad_score = {"gen_ai.evaluation.name": "toxicity", "gen_ai.evaluation.score.value": "high"}
    found = judge_results(
        logs_request([(span_context(TRACE, SPAN), no_name), (span_context(TRACE, SPAN + 1), only_bad_score)]),
        0,
    )
    assert (found.events, found.rejected) == ([], 2)
    message = response_for(found).partial_success.error_message
    assert "has no gen_ai.evaluation.name" in message
    assert "has no score, label or explanation (the score 'high' is not a number)" in message


@pytest.mark.parametrize("score", ["NaN", "inf", True, "n/a"])
def test_a_bad_score_beside_a_label_is_left_out_and_said_as_a_warning(score):
    attributes = {**HELPFUL, "gen_ai.evaluation.score.value": score}
    found = judge_results(logs_request([(span_context(TRACE, SPAN), attributes)]), 0)
    (event,) = found.events
    assert event.result == {**EXPECTED, "score": None}
    partial = response_for(found).partial_success
    assert partial.rejected_log_records == 0  # a warning: nothing rejected
    assert "is not a number, kept without it" in partial.error_message


def test_a_score_written_as_text_is_read_as_for_span_events():
    attributes = {**HELPFUL, "gen_ai.evaluation.score.value": "4"}
    (event,) = judge_results(logs_request([(span_context(TRACE, SPAN), attributes)]), 0).events
    assert event.result["score"] == 4.0


def test_many_problems_are_named_three_at_a_time_and_counted():
    request = logs_request([(None, HELPFUL)] * 5)
    message = response_for(judge_results(request, 0)).partial_success.error_message
    assert message.count("names no evaluated span") == 3
    assert message.endswith("(and 2 more)")


# --- bytes in ---------------------------------------------------------------------------------------


def otlp_json(request: ExportLogsServiceRequest, upper: bool = False) -> dict:
    """OTLP/JSON as the spec writes it: hex ids (json_format writes base64)."""
    document = json_format.MessageToDict(request)
    for resource_logs in document["resourceLogs"]:
        for scope_logs in resource_logs["scopeLogs"]:
            for record in scope_logs["logRecords"]:
                for key in ("traceId", "spanId"):
                    if key in record:
                        text = base64.b64decode(record[key]).hex()
                        record[key] = text.upper() if upper else text
    return document


def test_protobuf_and_json_bodies_give_the_same_results():
    request = logs_request([(span_context(TRACE, SPAN), HELPFUL)])
    from_protobuf = parse_logs_request(request.SerializeToString(), PROTOBUF, max_records=10)
    for upper in (False, True):
        document = otlp_json(request, upper=upper)
        document["somethingNew"] = {"x": 1}  # unknown fields are ignored
        from_json = parse_logs_request(json.dumps(document).encode(), JSON, max_records=10)
        assert judge_results(from_json, 0).events == judge_results(from_protobuf, 0).events
    (event,) = judge_results(from_protobuf, 0).events
    assert (event.trace_id, event.span_id) == (TRACE_HEX, SPAN_HEX)


@pytest.mark.parametrize(
    ("body", "kind", "said"),
    [
        (b"\xff\xff\xff", PROTOBUF, "malformed protobuf"),
        (b"{not json", JSON, "malformed JSON"),
        (b"[1, 2]", JSON, "must be a JSON object"),
        (
            b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"spanId":"zz00000000000000"}]}]}]}',
            JSON,
            "is not hex",
        ),
        (b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":7}]}]}]}', JSON, "must be a hex string"),
        (b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}', JSON, "OTLP/JSON"),
    ],
)
def test_malformed_bodies_are_400(body, kind, said):
    with pytest.raises(OtlpError) as caught:
        parse_logs_request(body, kind, max_records=10)
    assert caught.value.status == 400
    assert said in caught.value.message


def test_a_wrong_length_hex_id_in_json_is_an_unlinked_record_not_a_bad_request():
    body = json.dumps(
        {
            "resourceLogs": [
                {
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {
                                    "eventName": "gen_ai.evaluation.result",
                                    "traceId": "abcd",
                                    "spanId": SPAN_HEX,
                                    "attributes": [
                                        {"key": "gen_ai.evaluation.name", "value": {"stringValue": "x"}},
                                        {"key": "gen_ai.evaluation.score.value", "value": {"doubleValue": 1}},
                                    ],
                                }
                            ]
                        }
                    ]
                }
            ]
        }
    ).encode()
    found = judge_results(parse_logs_request(body, JSON, max_records=10), 0)
    assert (found.events, found.rejected) == ([], 1)


def many_records(count: int) -> ExportLogsServiceRequest:
    name = KeyValue(key="gen_ai.evaluation.name", value=AnyValue(string_value="x" * 40))
    record = LogRecord(event_name="gen_ai.evaluation.result", attributes=[name])
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[record] * count)])]
    )


@pytest.mark.parametrize("count", [11, 40_000], ids=["small-body", "pre-scanned-body"])
def test_more_log_records_than_the_limit_is_413_in_both_encodings(count):
    request = many_records(count)
    body = request.SerializeToString()
    assert (len(body) > PROTOBUF_SCAN_ABOVE_BYTES) == (count > 11)
    with pytest.raises(OtlpError) as caught:
        parse_logs_request(body, PROTOBUF, max_records=10)
    assert caught.value.status == 413
    assert "more than 10 log records" in caught.value.message
    with pytest.raises(OtlpError) as caught:
        parse_logs_request(encode(request, JSON), JSON, max_records=10)
    assert caught.value.status == 413
    assert parse_logs_request(body, PROTOBUF, max_records=count) == request


def test_empty_bodies_are_empty_requests():
    assert parse_logs_request(b"", PROTOBUF, max_records=1) == ExportLogsServiceRequest()
    assert parse_logs_request(b"{}", JSON, max_records=1) == ExportLogsServiceRequest()


# --- the intake: into the sink, counted ---------------------------------------------------------------


class Sink:
    def __init__(self, full: bool = False):
        self.full = full
        self.taken: list[JudgeEvent] = []

    def accept(self, events):
        if self.full:
            raise QueueFull("the judge store is full", 2.0)
        self.taken.extend(events)


def mixed_body() -> bytes:
    request = logs_request([(span_context(TRACE, SPAN), HELPFUL), (None, HELPFUL)])
    request.resource_logs.extend(
        logs_request([(span_context(TRACE, SPAN), {"x": 1})], event_name=None).resource_logs
    )
    return request.SerializeToString()


def test_the_intake_hands_results_to_the_sink_and_counts_each_outcome():
    sink = Sink()
    intake = JudgeIntake(sink, clock=lambda: 99)
    response = intake.commit(intake.decode(mixed_body(), PROTOBUF, max_records=10))
    assert sink.taken == [JudgeEvent(TRACE_HEX, SPAN_HEX, None, EXPECTED, 99)]
    assert response.partial_success.rejected_log_records == 1
    assert intake.stats == JudgeIntakeStats(requests=1, accepted=1, rejected=1, ignored=1)


def test_a_full_sink_raises_queue_full_and_nothing_is_counted():
    intake = JudgeIntake(Sink(full=True))
    with pytest.raises(QueueFull):
        intake.commit(intake.decode(mixed_body(), PROTOBUF, max_records=10))
    assert intake.stats == JudgeIntakeStats()


def test_a_partly_rejected_logs_request_is_logged_in_log_records(caplog):
    caplog.set_level(logging.INFO, logger="otel_label_studio.receiver.policy")
    ReceiverPolicy.accepted(response_for(judge_results(logs_request([(None, HELPFUL)]), 0)))
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "1 rejected log records" in record.getMessage()
