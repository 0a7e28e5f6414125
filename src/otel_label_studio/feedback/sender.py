"""The only I/O of the feedback loop towards the backend: OTLP/HTTP logs to the feedback endpoint."""

from __future__ import annotations

from typing import Mapping

import httpx


class FeedbackError(Exception):
    pass


class FeedbackSender:
    """Posts evaluation events as OTLP/HTTP protobuf logs to ``<endpoint>/v1/logs``."""

    def __init__(self, endpoint: str, timeout: float = 10.0, headers: Mapping[str, str] | None = None):
        base = endpoint.rstrip("/")
        self.url = base if base.endswith("/v1/logs") else f"{base}/v1/logs"
        self._client = httpx.Client(timeout=timeout, headers=dict(headers or {}))

    def send(self, body: bytes) -> None:
        """Post one serialized logs request (``logs_request``); FeedbackError when the endpoint
        does not take it."""
        try:
            response = self._client.post(
                self.url, content=body, headers={"Content-Type": "application/x-protobuf"}
            )
        except httpx.HTTPError as exc:
            raise FeedbackError(f"cannot send to {self.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code // 100 != 2:
            raise FeedbackError(f"{self.url} answered HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()
