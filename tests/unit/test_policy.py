"""Receiver policy, decided once for OTLP/HTTP and OTLP/gRPC: the token, busy, partial success."""

from __future__ import annotations

import logging

import pytest
from google.rpc import code_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_label_studio.receiver.limits import Busy
from otel_label_studio.receiver.otlp import response_for
from otel_label_studio.receiver.policy import BUSY, ReceiverPolicy, Refusal
from otel_label_studio.store.durable import DiskFull
from otel_label_studio.store.queue import QueueFull


@pytest.mark.parametrize("header", [None, "", "Bearer wrong", "Basic s3cret-token", "s3cret-token"])
def test_a_missing_or_wrong_token_is_401_unauthenticated(header):
    with pytest.raises(Refusal) as refused:
        ReceiverPolicy("s3cret-token").authorize(header)
    assert (refused.value.status, refused.value.code) == (401, code_pb2.UNAUTHENTICATED)
    assert refused.value.retry_after is None  # retrying with the same token cannot help
    assert "s3cret-token" not in refused.value.message


@pytest.mark.parametrize("header", ["Bearer s3cret-token", "bearer  s3cret-token ", "BEARER s3cret-token"])
def test_the_right_token_passes_whatever_the_scheme_case(header):
    ReceiverPolicy("s3cret-token").authorize(header)


def test_no_token_set_lets_everyone_send():
    policy = ReceiverPolicy(None)
    assert not policy.requires_token
    policy.authorize(None)
    policy.authorize("Bearer anything")


@pytest.mark.parametrize(
    "cause",
    [
        Busy("all 2 decode slots are busy", retry_after=1.0),
        QueueFull("the spool holds 10 records, its limit", retry_after=2.5),
        DiskFull("no space left on the disk for the spool", retry_after=30.0),
    ],
)
def test_every_full_bound_is_503_unavailable_with_its_retry_delay(cause):
    assert isinstance(cause, BUSY)
    refusal = ReceiverPolicy(None).busy(cause)
    assert (refusal.status, refusal.code) == (503, code_pb2.UNAVAILABLE)
    assert refusal.retry_after == cause.retry_after
    assert refusal.message == f"the bridge is busy: {cause}; retry later"


def test_a_partial_success_is_logged_once_and_a_full_success_not(caplog):
    caplog.set_level(logging.INFO, logger="otel_label_studio.receiver.policy")
    ReceiverPolicy.accepted(ExportTraceServiceResponse())
    assert caplog.records == []
    ReceiverPolicy.accepted(response_for(2, "2 LLM spans carry no prompt or response to label"))
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "Accepted a request with 2 rejected spans: 2 LLM spans carry no prompt or response to label"
    )
