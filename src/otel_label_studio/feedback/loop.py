"""The feedback loop: Label Studio's annotation webhooks in, evaluation events out to the traces.

serve's HTTP server checks a webhook's secret (``receiver/policy.py``), then hands its body here
in two steps, as it hands traces to the intake: ``read`` (in a decode slot: the body parsed once
into what it claims, ``webhook.py``, and dropped) and ``take`` (on an operations thread: each
claim confirmed in Label Studio, ``confirm.py``, through ``annotation_webhooks.py``, which also
tells the judge join a task was answered when serve reveals judges after the answer; then ``keep``
builds its evaluation events from Label Studio's copy of the task and annotation, ``events.py``;
for a pair task, one per side, ``pairs.pair_evaluations``). The events are kept in the outbox
(``outbox.py``) with the annotation's version (id and ``updated_at``) before the webhook is
answered, once per version, and the forwarder sends them with ``FeedbackSender`` (``sender.py``)
until the endpoint takes them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..modes.pairs import pair_evaluations
from .annotation_webhooks import AnnotationWebhooks, Answered
from .confirm import Confirmed, Confirmer, LabelStudioCopies
from .events import Evaluation, evaluations, logs_request
from .outbox import FeedbackOutbox, OutboxForwarder
from .sender import FeedbackSender
from .webhook import Claims, read_claims

_logger = logging.getLogger(__name__)


class FeedbackLoop:
    """``read(body)`` then ``take(claims)`` for each webhook; ``start()`` sends what a previous run
    kept; ``stop()`` leaves what is unsent for the next start; ``close()`` releases the outbox and
    the sender. ``answered`` (the judge join's, with ``reveal_judges="after_answer"``) is told of
    each task whose annotation Label Studio confirms."""

    def __init__(
        self,
        endpoint: str,
        data_dir: str,
        *,
        label_studio: LabelStudioCopies,
        secret: str,
        timeout: float | None = None,
        answered: Answered | None = None,
    ):
        self.outbox = FeedbackOutbox.in_directory(data_dir)  # ValueError when it is damaged
        self.sender = FeedbackSender(endpoint)
        self.forwarder = OutboxForwarder(self.outbox, self.sender.send, endpoint=self.sender.url)
        self.webhooks = AnnotationWebhooks(
            Confirmer(label_studio, secret, timeout=timeout), keep=self.keep, answered=answered
        )
        self._lock = threading.Lock()
        self.events_received = 0  # kept in the outbox since start

    @property
    def url(self) -> str:
        return self.sender.url

    @property
    def confirmer(self) -> Confirmer:
        return self.webhooks.confirmer

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

    @staticmethod
    def read(body: bytes | bytearray) -> Claims:
        """What a webhook body claims (the body can be dropped then); ``WebhookRefused`` 400
        (malformed) or 413 (too many values)."""
        return read_claims(body)

    def take(self, claims: Claims) -> dict[str, int]:
        """Confirm each claim in Label Studio and keep the events of each annotation version not
        taken before (durable when this returns): the answer's counts. ``WebhookRefused`` 422 when
        Label Studio confirms none of the claims, 503 when it cannot be asked; ``DiskFull`` when
        the outbox cannot keep them."""
        return self.webhooks.take(claims)

    def keep(self, action: str, confirmed: Confirmed) -> int | None:
        """Keep the events of a confirmed annotation version in the outbox, before the webhook is
        answered: how many; None when that version was taken before (nothing is sent twice)."""
        events = self._events(action, confirmed)
        body = logs_request(events).SerializeToString() if events else None
        if not self.outbox.put_once(confirmed.version, body, len(events)):
            return None
        if events:
            with self._lock:
                self.events_received += len(events)
            self.forwarder.wake()
            _logger.info("Took %d evaluation events for %s", len(events), self.sender.url)
        return len(events)

    @staticmethod
    def _events(action: str, confirmed: Confirmed) -> list[Evaluation]:
        """The events of Label Studio's copy of the annotation (its task with its predictions)."""
        payload: dict[str, Any] = {
            "action": action,
            "task": confirmed.task,
            "annotation": confirmed.annotation,
        }
        meta = confirmed.task.get("meta")
        if isinstance(meta, dict) and "pair" in meta:
            # A pair task (pairwise layout): an event per side, each on its own span.
            return pair_evaluations(payload, now_ns=time.time_ns())
        return evaluations(payload)
