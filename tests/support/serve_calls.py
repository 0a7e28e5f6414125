"""Talking to a running ``serve`` process: its /metrics, waiting for its spool to drain, a raw gRPC call."""

from __future__ import annotations

import os
import subprocess
import time

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.support import sidecar


def metrics(process: sidecar.Sidecar) -> dict[str, float]:
    response = httpx.get(f"{process.http_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    values = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def wait_until_drained(process: sidecar.Sidecar, timeout: float = 60.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        values = metrics(process)
        if values["otel_label_studio_spool_records"] == 0:
            return values
        time.sleep(0.2)
    raise AssertionError("the spool did not drain")


def wait_for_tasks_created(process: sidecar.Sidecar, count: int, timeout: float = 60.0) -> dict[str, float]:
    """The metrics once ``count`` tasks were imported, whichever projects they went to."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        values = metrics(process)
        if values.get("otel_label_studio_delivery_tasks_created_total", 0) >= count:
            return values
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} tasks were created in {timeout}s")


def grpc_export(process: sidecar.Sidecar, body: bytes, metadata=()):
    channel = grpc.insecure_channel(process.grpc_target, options=[("grpc.max_send_message_length", 64 << 20)])
    try:
        call = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        return call(body, metadata=metadata, timeout=30)
    finally:
        channel.close()


def register_webhook(
    process: sidecar.Sidecar, label_studio, project_id: int
) -> subprocess.CompletedProcess[str]:
    """``otel-label-studio webhook`` as a user runs it: serve's webhook registered on the project,
    with serve's webhook secret."""
    env = {
        **os.environ,
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.pat,
        "OTEL_LABEL_STUDIO_WEBHOOK_SECRET": process.webhook_secret or "",
    }
    return subprocess.run(
        [str(sidecar.SCRIPT), "webhook", "--project-id", str(project_id), "--target", process.http_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
