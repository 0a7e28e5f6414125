"""Label Studio's annotation webhooks, each claim confirmed once, handed to what serve takes them for.

serve takes annotation webhooks for two things: human scores back into the traces
(``--feedback-endpoint``: the feedback loop keeps each annotation's evaluation events, ``loop.py``)
and a task's judges shown once it has its answers (``--reveal-judges after_answer``: the judge join,
``judges/judge_join.py``). Both read a webhook the same way: its secret checked first (serve's HTTP
server), its body parsed, bounded, into what it claims and dropped (``webhook.py``), and each
annotation it claims confirmed in Label Studio (``confirm.py``) before anything acts on it, so both
act on Label Studio's copy, never on the body: a forged webhook cannot reveal a task's judges
before Label Studio holds its answers, any more than it can send a score. One confirmation serves
both; the judge join is told the task and project Label Studio holds, and reads the task's answers
itself before it shows anything.
"""

from __future__ import annotations

import logging
from typing import Callable

from .confirm import Confirmed, Confirmer
from .webhook import Claims, WebhookRefused, read_claims

_logger = logging.getLogger(__name__)

Keep = Callable[[str, Confirmed], int | None]
"""Keep an annotation version's events: how many, or None when that version was taken before."""

Answered = Callable[[int, int], None]
"""A task (id, project id) has a confirmed annotation: its judges may be shown."""


class AnnotationWebhooks:
    """``read(body)`` then ``take(claims)`` (serve's ``receiver.http.Webhook``); thread-safe as
    ``keep`` and ``answered`` are."""

    def __init__(self, confirmer: Confirmer, *, keep: Keep | None = None, answered: Answered | None = None):
        self.confirmer = confirmer
        self._keep = keep  # the feedback loop's outbox (--feedback-endpoint)
        self._answered = answered  # the judge join (--reveal-judges after_answer)

    @staticmethod
    def read(body: bytes | bytearray) -> Claims:
        """What a webhook body claims (the body can be dropped then); ``WebhookRefused`` 400
        (malformed) or 413 (too many values)."""
        return read_claims(body)

    def take(self, claims: Claims) -> dict[str, int]:
        """Confirm each claim in Label Studio, then tell the judge join its task was answered and
        keep the events of each annotation version not taken before (durable when this returns):
        the answer's counts. ``WebhookRefused`` 422 when none of the claims is acted on because Label
        Studio confirms none, 503 when it cannot be asked; ``DiskFull`` when the outbox cannot keep
        the events."""
        kept = duplicates = told = 0
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
            if self._answered is not None:  # first: showing judges waits on no outbox
                self._answered(int(confirmed.task["id"]), int(confirmed.task["project"]))
                told += 1
            if self._keep is None:
                continue
            events = self._keep(claims.action, confirmed)
            if events is None:
                duplicates += 1
                _logger.info(
                    "Annotation %d (updated %s) was taken before: nothing sent again", *confirmed.version
                )
            else:
                kept += events
        if refused and not kept and not duplicates and not told:
            raise refused[0]
        return {"evaluation_events": kept, "duplicates": duplicates, "unconfirmed": len(refused)}
