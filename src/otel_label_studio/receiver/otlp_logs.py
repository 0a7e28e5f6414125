"""OTLP logs in, judge results out: ``gen_ai.evaluation.result`` log records (pure; no sockets).

The GenAI conventions make an evaluation an *event*: a log record whose ``event_name`` (an
``event.name`` attribute from senders older than opentelemetry-proto 1.5) is
``gen_ai.evaluation.result``, carrying the evaluated span's trace and span ids, or
``gen_ai.response.id`` where there is no span. A Collector may forward every log of an app, so
any other record is accepted and counted as ignored. An evaluation record that names no span
and no response, or that says nothing readable (no ``gen_ai.evaluation.name``; no score, label
nor explanation), is rejected in ``partial_success`` with the reason; a score that is not a
number, on a record that still has a label or an explanation, is kept without it and said in
``partial_success`` as a warning (no record rejected). What a result holds is read by
``evaluations.read_evaluations``, as for evaluations that arrive as span events.

The bytes are treated as ``otlp.parse_request`` treats traces: hex ids in JSON, unknown JSON
fields ignored, and the objects a body would decode into counted before it is decoded (a request
over ``DECODE_BUDGET_BYTES``, or holding more log records than the per-request item limit, is a
413). Wrong-length or all-zero ids are "not linked" in the logs data model, so they make a record
unusable, not the request malformed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from ..reading.evaluations import EVENT_NAME, SCORE, JudgeEvent, read_evaluations, score_value
from ..reading.spanview import EventView, _attributes
from .otlp import (
    DECODE_BUDGET_BYTES,
    SPAN_COST_BYTES,
    OtlpError,
    _dicts,
    _kinds,
    _Tally,
    _walk,
    parse_into,
)

LEGACY_EVENT_NAME = "event.name"
RESPONSE_ID = "gen_ai.response.id"
SHOWN_PROBLEMS = 3  # reasons named in partial_success; the rest are counted

_LOG_RECORD = "opentelemetry.proto.logs.v1.LogRecord"
_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)


def _logs_kind() -> Any:
    made: dict[str, Any] = {}
    root = _kinds(ExportLogsServiceRequest.DESCRIPTOR, made)
    record = made[_LOG_RECORD]  # a log record costs what a span does, and is what the limit counts
    record.cost = SPAN_COST_BYTES
    record.is_span = True
    return root


_REQUEST_KIND = _logs_kind()


def parse_logs_request(body: bytes, kind: str, *, max_records: int) -> ExportLogsServiceRequest:
    """An ``ExportLogsServiceRequest`` from protobuf or OTLP/JSON bytes: 400 when malformed (or an
    id in JSON is not hex), 413 when it holds more than ``max_records`` records or would decode
    into more objects than ``DECODE_BUDGET_BYTES`` allows."""
    request = parse_into(
        ExportLogsServiceRequest(),
        body,
        kind,
        prescan=lambda data: prescan_logs(data, max_records=max_records),
        hex_ids=_hex_ids_to_base64,
    )
    count = sum(len(scope.log_records) for logs in request.resource_logs for scope in logs.scope_logs)
    if count > max_records:
        raise _too_many_records(max_records)
    return request


def prescan_logs(body: bytes, *, max_records: int, budget: int = DECODE_BUDGET_BYTES) -> tuple[int, int]:
    """``otlp.prescan`` for a logs request: (log records, estimated bytes), or a 413 / 400."""
    tally = _Tally(budget, max_records)
    try:
        _walk(body, 0, len(body), _REQUEST_KIND, tally, 0, 0)
    except IndexError:
        raise OtlpError(400, "malformed protobuf: truncated message") from None
    except OtlpError:
        if tally.spans > max_records:  # the walk words it for spans
            raise _too_many_records(max_records) from None
        raise
    return tally.spans, tally.cost


def _too_many_records(max_records: int) -> OtlpError:
    return OtlpError(
        413,
        f"the request holds more than {max_records} log records: send smaller batches (e.g. the "
        "Collector's batch processor send_batch_max_size)",
    )


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    """OTLP/JSON writes ids as hex; protobuf's JSON reader expects base64. Any length is kept
    (a wrong length is "not linked", judged per record); text that is not hex is a 400."""
    for resource_logs in _dicts(document.get("resourceLogs")):
        for scope_logs in _dicts(resource_logs.get("scopeLogs")):
            for record in _dicts(scope_logs.get("logRecords")):
                for key in ("traceId", "spanId"):
                    value = record.get(key)
                    if value is None or value == "":
                        continue
                    if not isinstance(value, str):
                        found = type(value).__name__
                        raise OtlpError(400, f"log record {key} must be a hex string, not {found}")
                    try:
                        raw = bytes.fromhex(value)
                    except ValueError:
                        raise OtlpError(400, f"log record {key} {value[:40]!r} is not hex") from None
                    record[key] = base64.b64encode(raw).decode("ascii")


@dataclass
class JudgeResults:
    """What one logs request held: the judge results to keep and what became of the other records."""

    events: list[JudgeEvent] = field(default_factory=list)
    records: int = 0  # every log record in the request
    ignored: int = 0  # records that are not evaluation results
    rejected: int = 0  # evaluation results that cannot be used
    problems: list[str] = field(default_factory=list)  # why they were rejected, one per record
    warnings: list[str] = field(default_factory=list)  # what was left out of results that were kept


def event_name(record: LogRecord) -> str:
    """The record's event name: the ``event_name`` field, else an older sender's attribute."""
    if record.event_name:
        return record.event_name
    for pair in record.attributes:
        if pair.key == LEGACY_EVENT_NAME:
            return pair.value.string_value
    return ""


def judge_results(request: ExportLogsServiceRequest, observed_ns: int) -> JudgeResults:
    """The request's ``gen_ai.evaluation.result`` records as judge events, in request order."""
    found = JudgeResults()
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                found.records += 1
                if event_name(record) != EVENT_NAME:
                    found.ignored += 1
                    continue
                _read(record, observed_ns, found)
    return found


def _read(record: LogRecord, observed_ns: int, found: JudgeResults) -> None:
    attributes = _attributes(record.attributes)
    trace_id, span_id = record.trace_id, record.span_id
    has_trace = len(trace_id) == 16 and trace_id != _ZERO_TRACE
    linked = has_trace and len(span_id) == 8 and span_id != _ZERO_SPAN
    response_id = attributes.get(RESPONSE_ID)
    response_id = str(response_id) if response_id not in (None, "") else None
    where = f"evaluation record {found.rejected + len(found.events) + 1}"
    if not linked and response_id is None:
        found.rejected += 1
        found.problems.append(
            f"{where} names no evaluated span (a 16-byte trace_id and 8-byte span_id, not all zero) "
            f"and no {RESPONSE_ID}"
        )
        return
    evaluated = read_evaluations([EventView(EVENT_NAME, record.time_unix_nano, attributes)])
    raw_score = attributes.get(SCORE)
    bad_score = raw_score is not None and score_value(raw_score) is None
    if not evaluated:
        found.rejected += 1
        if not attributes.get("gen_ai.evaluation.name"):
            found.problems.append(f"{where} has no gen_ai.evaluation.name")
        else:
            bad = f" (the score {str(raw_score)[:40]!r} is not a number)" if bad_score else ""
            found.problems.append(f"{where} has no score, label or explanation{bad}")
        return
    if bad_score:
        found.warnings.append(f"{where}: the score {str(raw_score)[:40]!r} is not a number, kept without it")
    found.events.append(
        JudgeEvent(
            trace_id=trace_id.hex() if has_trace else "",
            span_id=span_id.hex() if linked else "",
            response_id=response_id,
            result=evaluated[0],
            observed_ns=observed_ns,
        )
    )


def response_for(found: JudgeResults) -> ExportLogsServiceResponse:
    """``partial_success`` says which records were rejected and why (and warnings, with 0 rejected)."""
    response = ExportLogsServiceResponse()
    said = [*found.problems, *found.warnings]
    if found.rejected or said:
        shown = "; ".join(said[:SHOWN_PROBLEMS])
        more = f" (and {len(said) - SHOWN_PROBLEMS} more)" if len(said) > SHOWN_PROBLEMS else ""
        response.partial_success.rejected_log_records = found.rejected
        response.partial_success.error_message = shown + more
    return response
