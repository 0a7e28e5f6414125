"""Receiver policy, decided once for both transports.

Who may send (the bearer token; on the webhook route, Label Studio with the webhook secret), what
a full bound means (a decode gate or receive budget that is full, a spool or disk that is full:
busy, 503 / UNAVAILABLE with a retry delay, the sender keeps its data), and what is said about a
request whose LLM spans were partly rejected. A refusal is an ``OtlpError`` carrying its HTTP
status and google.rpc code (and a ``retry_after`` when retrying helps): ``http.py`` and
``grpc.py`` only put it into their protocol's words.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from google.protobuf.message import Message

from ..store.queue import QueueFull
from .limits import Busy
from .otlp import OtlpError

_logger = logging.getLogger(__name__)

BUSY = (Busy, QueueFull)
"""What a full bound raises: the transports catch these and ask ``ReceiverPolicy.busy``."""


class Refusal(OtlpError):
    """A request refused by policy; ``retry_after`` (seconds) is set when the sender should retry."""

    def __init__(self, status: int, message: str, retry_after: float | None = None):
        super().__init__(status, message)
        self.retry_after = retry_after


class ReceiverPolicy:
    """Thread-safe (it holds only the token and the webhook secret)."""

    def __init__(self, auth_token: str | None, webhook_secret: str | None = None):
        self._token = auth_token.encode() if auth_token is not None else None
        self._webhook_secret = webhook_secret.encode() if webhook_secret is not None else None

    @property
    def requires_token(self) -> bool:
        return self._token is not None

    def authorize(self, authorization: str | None) -> None:
        """Raise a 401 / UNAUTHENTICATED ``Refusal`` unless ``authorization`` (the HTTP header or
        gRPC metadata value) is ``Bearer <token>``; anything goes when no token is set."""
        if self._token is None:
            return
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self._token):
            raise Refusal(401, "missing or wrong bearer token (Authorization: Bearer <token>)")

    def authorize_webhook(self, authorization: str | None) -> None:
        """Raise a 401 ``Refusal`` unless ``authorization`` is ``Bearer <webhook secret>``, as Label
        Studio sends it (the header ``otel-label-studio webhook`` registers). Compared in constant
        time; the value is never logged. Without a secret no webhook is taken. The OTLP token is
        not the webhook's: every sender holds it."""
        if self._webhook_secret is None:
            raise Refusal(403, "no webhook secret is set (--webhook-secret): webhooks are refused")
        scheme, _, value = (authorization or "").partition(" ")
        given = value.strip().encode("utf-8", "replace")
        if not (scheme.lower() == "bearer") & hmac.compare_digest(given, self._webhook_secret):
            raise Refusal(401, "missing or wrong webhook secret (Authorization: Bearer <webhook secret>)")

    @staticmethod
    def busy(cause: Busy | QueueFull) -> Refusal:
        """A full bound -> 503 / UNAVAILABLE with its retry delay. Not logged here: the spool warns
        once per full episode, and each transport logs the answer it gives."""
        return Refusal(503, f"the bridge is busy: {cause}; retry later", cause.retry_after)

    @staticmethod
    def accepted(response: Message) -> None:
        """Say what a partly rejected request lost (the sender sees it in ``partial_success``):
        spans of a traces request, log records of a logs request."""
        if response.HasField("partial_success"):
            partial: Any = response.partial_success
            if hasattr(partial, "rejected_spans"):
                rejected, what = partial.rejected_spans, "spans"
            else:
                rejected, what = partial.rejected_log_records, "log records"
            _logger.warning(
                "Accepted a request with %d rejected %s: %s", rejected, what, partial.error_message
            )
