"""The feedback loop: Label Studio's annotation webhooks in, evaluation events out to the traces.

serve's HTTP server hands each webhook body here (as it hands traces to the intake). Its
evaluation events (``events.py``; for a pair task, one per side, ``pairs.pair_evaluations``)
are kept in the outbox (``outbox.py``) before the webhook is answered, and the forwarder sends
them with ``FeedbackSender`` (``sender.py``) to the feedback endpoint until it takes them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable

from ..delivery.labelstudio import LabelStudioError
from ..modes.pairs import pair_evaluations
from .events import Evaluation, evaluations, logs_request
from .outbox import FeedbackOutbox, OutboxForwarder
from .sender import FeedbackSender

_logger = logging.getLogger(__name__)


def webhook_payload(body: bytes) -> dict[str, Any]:
    """A webhook body as its JSON object; ValueError saying what is wrong with it."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ValueError("a webhook payload is a JSON object")
    return payload


class FeedbackLoop:
    """``take(body)`` for each webhook; ``start()`` sends what a previous run kept; ``stop()``
    leaves what is unsent for the next start; ``close()`` releases the outbox and the client."""

    def __init__(self, endpoint: str, data_dir: str, *, predictions: Callable[[int], list[Any]]):
        self._predictions = predictions  # a task's predictions, read from Label Studio
        self.outbox = FeedbackOutbox.in_directory(data_dir)  # ValueError when it is damaged
        self.sender = FeedbackSender(endpoint)
        self.forwarder = OutboxForwarder(self.outbox, self.sender.send, endpoint=self.sender.url)
        self._lock = threading.Lock()
        self.events_received = 0  # kept in the outbox since start

    @property
    def url(self) -> str:
        return self.sender.url

    def start(self) -> None:
        self.forwarder.start()

    def stop(self) -> None:
        self.forwarder.stop()

    def counts(self) -> tuple[int, int, int]:
        """Evaluation events received (kept), sent, and waiting in the outbox."""
        return self.events_received, self.forwarder.events_sent, self.outbox.waiting()

    def close(self) -> None:
        self.outbox.close()
        self.sender.close()

    def take(self, body: bytes) -> int:
        """One webhook body -> its evaluation events kept (durable when this returns); how many.
        ValueError when the body is not a JSON object; ``DiskFull`` when the outbox cannot keep them."""
        return self.accept(webhook_payload(body))

    def accept(self, payload: dict[str, Any]) -> int:
        task = payload.get("task")
        if isinstance(task, dict) and isinstance(task.get("meta"), dict) and "pair" in task["meta"]:
            # A pair task (pairwise layout): an event per side, each on its own span.
            return self._keep(pair_evaluations(payload, now_ns=time.time_ns()))
        if isinstance(task, dict) and task.get("id") and "predictions" not in task:
            # Label Studio's webhook payload has no predictions: "edited" needs the model's answer.
            try:
                payload = {**payload, "task": {**task, "predictions": self._predictions(int(task["id"]))}}
            except (LabelStudioError, ValueError) as exc:
                _logger.warning("Could not read the predictions of task %s: %s", task.get("id"), exc)
        return self._keep(evaluations(payload))

    def _keep(self, items: list[Evaluation]) -> int:
        if items:
            self.outbox.put(logs_request(items).SerializeToString(), len(items))  # kept before the answer
            with self._lock:
                self.events_received += len(items)
            self.forwarder.wake()
            _logger.info("Took %d evaluation events for %s", len(items), self.sender.url)
        return len(items)
