"""The feedback loop: Label Studio's annotation webhooks in, evaluation events out to the traces.

serve's HTTP server checks a webhook's secret (``receiver/policy.py``), then hands its body here
in two steps, as it hands traces to the intake: ``read`` (in a decode slot: the body parsed once
into what it claims, ``webhook.py``, and dropped) and ``take`` (on an operations thread: each
claim confirmed in Label Studio, ``confirm.py``, and its evaluation events built from Label
Studio's copy of the task and annotation, ``events.py``; for a pair task, one per side,
``pairs.pair_evaluations``). The events are kept in the outbox (``outbox.py``) with the
annotation's version (id and ``updated_at``) before the webhook is answered, once per version,
and the forwarder sends them with ``FeedbackSender`` (``sender.py``) until the endpoint takes them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..modes.pairs import pair_evaluations
from .confirm import Confirmed, Confirmer, LabelStudioCopies
from .events import Evaluation, evaluations, logs_request
from .outbox import FeedbackOutbox, OutboxForwarder
from .sender import FeedbackSender
from .webhook import Claims, WebhookRefused, read_claims

_logger = logging.getLogger(__name__)


class FeedbackLoop:
    """``read(body)`` then ``take(claims)`` for each webhook; ``start()`` sends what a previous run
    kept; ``stop()`` leaves what is unsent for the next start; ``close()`` releases the outbox and
    the sender."""

    def __init__(
        self,
        endpoint: str,
        data_dir: str,
        *,
        label_studio: LabelStudioCopies,
        secret: str,
        timeout: float | None = None,
    ):
        self.confirmer = Confirmer(label_studio, secret, timeout=timeout)
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
        kept = duplicates = 0
        refused: list[WebhookRefused] = []
        for claim in claims.items:
            try:
                confirmed = self.confirmer.confirm(claim)
            except WebhookRefused as refusal:
                if refusal.status == 503:
                    raise
                _logger.warning("Refused a webhook's annotation %d: %s", claim.annotation_id, refusal.message)
                refused.append(refusal)
                continue
            events = self._events(claims.action, confirmed)
            body = logs_request(events).SerializeToString() if events else None
            if self.outbox.put_once(confirmed.version, body, len(events)):  # kept before the answer
                kept += len(events)
            else:
                duplicates += 1
                _logger.info(
                    "Annotation %d (updated %s) was taken before: nothing sent again", *confirmed.version
                )
        if refused and not kept and not duplicates:
            raise refused[0]
        if kept:
            with self._lock:
                self.events_received += kept
            self.forwarder.wake()
            _logger.info("Took %d evaluation events for %s", kept, self.sender.url)
        return {"evaluation_events": kept, "duplicates": duplicates, "unconfirmed": len(refused)}

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
