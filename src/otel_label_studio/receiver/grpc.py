"""OTLP/gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``.

The request is parsed here rather than by gRPC so malformed bytes get INVALID_ARGUMENT (not an
INTERNAL deserialization failure). The receive limit is raised to the body cap (64 MiB by
default; gRPC's own 4 MiB is too small for LLM payloads) and gRPC answers RESOURCE_EXHAUSTED
above it. Backpressure is UNAVAILABLE with ``google.rpc.retryinfo-bin``, the one key the
OpenTelemetry exporters read to wait before retrying.
"""

from __future__ import annotations

import hmac
import logging
import math
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from ..spool import SpoolFull
from .intake import PROJECT_HEADER, Intake, project_from_header

_logger = logging.getLogger(__name__)

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
RETRY_INFO_KEY = "google.rpc.retryinfo-bin"


class TraceService:
    def __init__(self, intake: Intake, auth_token: str | None):
        self._intake = intake
        self._auth_token = auth_token
        self.responses: dict[str, int] = {}

    def export(self, body: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        metadata = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        if self._auth_token is not None:
            scheme, _, value = (metadata.get("authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), self._auth_token.encode()
            ):
                self._abort(context, grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
            project = project_from_header(metadata.get(PROJECT_HEADER))
        except (DecodeError, RecursionError, ValueError) as exc:
            self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {exc}")
        try:
            response = self._intake.accept(request, project)
        except SpoolFull as full:
            _logger.warning("Spool full, asking the sender to retry later: %s", full)
            delay = Duration(seconds=max(1, math.ceil(full.retry_after)))
            context.set_trailing_metadata(
                ((RETRY_INFO_KEY, RetryInfo(retry_delay=delay).SerializeToString()),)
            )
            self._abort(context, grpc.StatusCode.UNAVAILABLE, f"the bridge is busy: {full}; retry later")
        except Exception:
            _logger.exception("Unexpected error while receiving spans")
            self._abort(context, grpc.StatusCode.INTERNAL, "internal error while receiving spans")
        if response.HasField("partial_success"):
            _logger.warning(
                "Accepted a request with %d rejected spans: %s",
                response.partial_success.rejected_spans,
                response.partial_success.error_message,
            )
        self._count("OK")
        return response

    def _abort(self, context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> Any:
        self._count(code.name)
        if code is not grpc.StatusCode.INTERNAL:
            _logger.info("gRPC Export -> %s: %s", code.name, message)
        context.abort(code, message)  # raises

    def _count(self, name: str) -> None:
        self.responses[name] = self.responses.get(name, 0) + 1


def make_grpc_server(
    intake: Intake, *, host: str, port: int, auth_token: str | None, max_body_bytes: int, workers: int = 8
) -> tuple[grpc.Server, TraceService, int]:
    """A started-ready server bound to host:port; raises ValueError when the port cannot be bound."""
    service = TraceService(intake, auth_token)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        options=[
            ("grpc.max_receive_message_length", max_body_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    handler = grpc.unary_unary_rpc_method_handler(
        service.export,
        request_deserializer=None,  # raw bytes: parsed in export()
        response_serializer=ExportTraceServiceResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ValueError(f"cannot listen for OTLP/gRPC on {address}: {exc}") from None
    if bound == 0:
        raise ValueError(f"cannot listen for OTLP/gRPC on {address}: the port is in use or not allowed")
    return server, service, bound
