"""OTLP/gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``, and
``opentelemetry.proto.collector.logs.v1.LogsService/Export`` for judge results sent as logs.

Both services follow the same rules (``ExportService``): they share the receive slots, the
decode gate, the policy and the counts of answers; only how a message is decoded and where it
is committed differ.

The request is parsed here (``otlp.parse_request``) rather than by gRPC, so malformed bytes get
INVALID_ARGUMENT (not an INTERNAL deserialization failure) and an amplifying request is refused
with RESOURCE_EXHAUSTED before it is decoded. The receive limit is raised to the body cap (64 MiB
by default; gRPC's own 4 MiB is too small for LLM payloads) and gRPC answers RESOURCE_EXHAUSTED
above it.

Memory: Export is registered as a stream-unary method (the wire is the same for a unary
client), so the handler runs *before* the request message is received. It takes a receive slot
and only then reads the message, so at most that many gRPC bodies are held however many
senders call at once; it then takes a decode slot, shared with OTLP/HTTP, to parse, map and
spool. gRPC's Python API hands over a message only once it is whole, so its bytes cannot be
charged as they arrive (as OTLP/HTTP does): a receive slot stands for a whole message instead,
and there are as many as the receive budget holds messages of the body cap (256 MiB / 64 MiB:
4 by default), never fewer than the decode slots. A slow sender holds a receive slot, never a
decode slot, and for at most ``RECEIVE_SECONDS``. A call that has sent nothing and one halfway
through a large body look the same here, so a slot is not held against others for long: once a
call has held its slot for ``RECEIVE_FAIR_SECONDS`` without its message, a call waiting for a
slot takes it (``limits.ReceiveSlots``: the longest-held is cancelled, CANCELLED, which senders
retry). Stalled calls (opened, then silent) therefore delay other senders by that much at most,
however many there are, instead of holding every slot until they are cancelled; the price is
that a sender needing longer than that to send one message can be cancelled while the receiver
is busy. A call that finds no free slot within the gate's wait is answered UNAVAILABLE with
``google.rpc.retryinfo-bin`` (the one key the OpenTelemetry exporters read to wait before
retrying), as a full spool is, its body unread. gRPC itself queues calls past ``workers``;
nothing is refused with a code senders do not retry.

What a waiting call holds is its HTTP/2 flow-control window. gRPC's bandwidth-delay probing
grows that window to tens of MiB per stream on a fast link, so it is turned off and each
waiting stream holds its initial 64 KiB (measured with 32 concurrent 30 MiB requests: 1.2 GiB
peak with probing, 0.46 GiB without; ingest unchanged within the noise of the machine).

Who may send, what busy means and what a partial success logs are ``policy.py``'s: this module
only puts its answers into gRPC's words.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sys
import tempfile
import threading
from concurrent import futures
from typing import Any, Callable, Iterator

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ..config import default
from .intake import PROJECT_HEADER, Intake, project_from_header
from .judge_intake import JudgeIntake
from .limits import (
    RECEIVE_FAIR_SECONDS,
    DecodeGate,
    ReceiveSlots,
)
from .otlp import PROTOBUF, OtlpError, parse_request
from .policy import BUSY, ReceiverPolicy, Refusal

_logger = logging.getLogger(__name__)

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
RETRY_INFO_KEY = "google.rpc.retryinfo-bin"
GRPC_WORKERS = 64
"""Threads taking calls: a call waits here for a receive slot holding no body, so this can be
larger than the gate's slots; calls past it queue in gRPC, their bodies unread. A call that stalls
holds its thread until it is cancelled (its slot taken back for a waiting call, or
``RECEIVE_SECONDS``), so there are many: a thread that waits costs no body."""

RECEIVE_SECONDS = 60.0
"""Longest a request message may take to arrive once its receive slot is taken (64 MiB at
about 10 Mbit/s); past it the call is cancelled (CANCELLED, which senders retry)."""

_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


class ExportService:
    """One OTLP service's Export: auth, receive slot, decode slot, answers; ``_handle`` is the
    signal's part (decode and commit a whole message)."""

    items = "data"  # what the service receives, for messages
    response_type: type[Message] = Message

    def __init__(
        self,
        policy: ReceiverPolicy,
        gate: DecodeGate,
        receiving: ReceiveSlots | None = None,
        receive_seconds: float = RECEIVE_SECONDS,
        responses: dict[str, int] | None = None,
    ):
        self._policy = policy
        self._gate = gate
        self.receiving = receiving or ReceiveSlots(gate.slots)
        self._receive_seconds = receive_seconds
        self.responses: dict[str, int] = {} if responses is None else responses

    def export(self, messages: Iterator[bytes], context: grpc.ServicerContext) -> Any:
        try:
            response = self._export(messages, context)
        except OtlpError as refusal:
            if isinstance(refusal, Refusal) and refusal.retry_after is not None:
                delay = Duration(seconds=max(1, math.ceil(refusal.retry_after)))
                context.set_trailing_metadata(
                    ((RETRY_INFO_KEY, RetryInfo(retry_delay=delay).SerializeToString()),)
                )
            self._abort(context, _STATUS_CODES[refusal.code], refusal.message)
        except grpc.RpcError:  # the sender went away before its request was read
            self._count("CANCELLED")
            return self.response_type()
        except Exception:
            _logger.exception("Unexpected error while receiving %s", self.items)
            self._abort(context, grpc.StatusCode.INTERNAL, f"internal error while receiving {self.items}")
        self._policy.accepted(response)
        self._count("OK")
        return response

    def _export(self, messages: Iterator[bytes], context: grpc.ServicerContext) -> Message:
        metadata = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        self._policy.authorize(metadata.get("authorization"))
        try:
            project = project_from_header(metadata.get(PROJECT_HEADER))
        except ValueError as exc:
            raise OtlpError(400, f"malformed request: {exc}") from None
        try:
            with self.receiving.receiving(context.cancel) as received:
                body = self._receive(messages, context)  # only now, inside a receive slot
                received()  # whole: from now on its slot is not taken back
                if body is None:
                    raise OtlpError(400, "Export needs one request message")
                with self._gate.slot():
                    held = [body]
                    del body
                    return self._handle(held, project)
        except BUSY as busy:  # a slot not free in time, or the spool (the judge sink) full
            raise self._policy.busy(busy) from None

    def _handle(self, held: list[bytes], project: str | None) -> Message:
        """Decode the message in ``held`` (taking it out) and commit it; the Export response."""
        raise NotImplementedError

    def _receive(self, messages: Iterator[bytes], context: grpc.ServicerContext) -> bytes | None:
        """The request message, or the call cancelled (RpcError) when it takes longer than
        ``receive_seconds``: a sender that stalls mid-request gives its receive slot back."""
        timer = threading.Timer(self._receive_seconds, context.cancel)
        timer.daemon = True
        timer.start()
        try:
            return next(messages, None)
        finally:
            timer.cancel()

    def _abort(self, context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> Any:
        self._count(code.name)
        if code is not grpc.StatusCode.INTERNAL:
            _logger.info("gRPC Export -> %s: %s", code.name, message)
        context.abort(code, message)  # raises

    def _count(self, name: str) -> None:
        self.responses[name] = self.responses.get(name, 0) + 1


class TraceService(ExportService):
    items = "spans"
    response_type = ExportTraceServiceResponse

    def __init__(
        self,
        intake: Intake,
        policy: ReceiverPolicy,
        gate: DecodeGate,
        max_spans: int = default("max_spans_per_request"),
        receiving: ReceiveSlots | None = None,
        receive_seconds: float = RECEIVE_SECONDS,
    ):
        super().__init__(policy, gate, receiving, receive_seconds)
        self._intake = intake
        self._max_spans = max_spans

    def _handle(self, held: list[bytes], project: str | None) -> Message:
        request = parse_request(held.pop(), PROTOBUF, max_spans=self._max_spans)
        return self._intake.accept(request, project)


class LogsService(ExportService):
    """Judge results as OTLP logs; the project header does not apply (a result names its span)."""

    items = "log records"
    response_type = ExportLogsServiceResponse

    def __init__(self, judge: JudgeIntake, beside: ExportService, max_records: int):
        """``beside``: the traces service whose receive slots, policy and counts it shares."""
        super().__init__(
            beside._policy, beside._gate, beside.receiving, beside._receive_seconds, beside.responses
        )
        self._judge = judge
        self._max_records = max_records

    def _handle(self, held: list[bytes], project: str | None) -> Message:
        return self._judge.commit(self._judge.decode(held.pop(), PROTOBUF, max_records=self._max_records))


def make_grpc_server(
    intake: Intake,
    *,
    host: str,
    port: int,
    policy: ReceiverPolicy,
    max_body_bytes: int,
    gate: DecodeGate | None = None,
    max_spans: int = default("max_spans_per_request"),
    workers: int = GRPC_WORKERS,
    receive_seconds: float = RECEIVE_SECONDS,
    receive_budget_bytes: int = default("max_receive_bytes"),
    judge: JudgeIntake | None = None,
    receive_fair_seconds: float = RECEIVE_FAIR_SECONDS,
) -> tuple[grpc.Server, TraceService, int]:
    """A started-ready server bound to host:port; raises ValueError when the port cannot be bound.

    ``gate`` is the decode gate shared with OTLP/HTTP (a gate of its own when not given); the
    receive slots are as many messages of ``max_body_bytes`` as ``receive_budget_bytes`` holds,
    and at least the gate's slots. With ``judge``, LogsService/Export takes judge results too,
    sharing the traces service's slots and counts."""
    gate = gate or DecodeGate()
    receiving = ReceiveSlots(
        receive_slots(gate.slots, max_body_bytes, receive_budget_bytes), fair_seconds=receive_fair_seconds
    )
    service = TraceService(intake, policy, gate, max_spans, receiving, receive_seconds)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        options=[
            ("grpc.max_receive_message_length", max_body_bytes),
            ("grpc.so_reuseport", 0),
            ("grpc.http2.bdp_probe", 0),  # waiting streams keep a 64 KiB window (module doc)
        ],
    )
    handler = grpc.stream_unary_rpc_method_handler(
        service.export,
        request_deserializer=None,  # raw bytes: parsed in export(), inside a decode slot
        response_serializer=ExportTraceServiceResponse.SerializeToString,
    )
    handlers = [grpc.method_handlers_generic_handler(SERVICE, {"Export": handler})]
    if judge is not None:
        logs = LogsService(judge, service, max_spans)
        logs_handler = grpc.stream_unary_rpc_method_handler(
            logs.export,
            request_deserializer=None,
            response_serializer=ExportLogsServiceResponse.SerializeToString,
        )
        handlers.append(grpc.method_handlers_generic_handler(LOGS_SERVICE, {"Export": logs_handler}))
    server.add_generic_rpc_handlers(tuple(handlers))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with _stderr_kept() as said:
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError:
            bound = 0
        core_said = said() if bound == 0 else ""
    if bound == 0:
        _logger.debug("gRPC could not bind %s: %s", address, core_said.strip())
        raise ValueError(f"cannot listen for OTLP/gRPC on {address}: {_bind_reason(core_said)}")
    return server, service, bound


def receive_slots(decode_slots: int, max_body_bytes: int, receive_budget_bytes: int) -> int:
    """gRPC messages received at once: whole messages of the body cap in the receive budget."""
    return max(decode_slots, receive_budget_bytes // max_body_bytes)


@contextlib.contextmanager
def _stderr_kept() -> Iterator[Callable[[], str]]:
    """gRPC's core writes bind failures straight to file descriptor 2 (``add_port.cc`` lines);
    keep them aside so the user sees one clear message of ours instead."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:

            def said() -> str:
                sink.seek(0)
                return sink.read().decode("utf-8", errors="replace")

            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _bind_reason(core_said: str) -> str:
    """ "Address already in use" from gRPC's ``Error in bind for address '...': <reason>``."""
    found = re.search(r"Error in bind for address '[^']*': ([^()]+?)\)", core_said)
    return found.group(1).strip().lower() if found else "the port is in use or not allowed"
