"""What a webhook claims, confirmed in Label Studio: the feedback loop acts on Label Studio's copy.

A claim (``webhook.Claim``: an annotation id, its task id, the span the task says it carries) is
confirmed through label-studio-sdk, with serve's own key, never taken from the body:

- the task exists (Label Studio's copy, read by id) and is in the project the body names;
- its project is one serve takes scores for: Label Studio lists a webhook of that project (or of
  the whole organization) whose headers carry serve's webhook secret, as ``otel-label-studio
  webhook`` registers it: the projects whose scores flow back are the ones someone with rights on
  them chose, in Label Studio;
- the annotation is one of that task's annotations in Label Studio; its result, its
  ``was_cancelled`` and its ``updated_at`` are Label Studio's;
- the span ids the body says the task carries are the ones Label Studio's copy carries, and that
  copy names the span of a trace (a task the bridge made).

So a forged or altered webhook can at most make serve send what Label Studio itself holds, once
(the outbox remembers each annotation version). What cannot be confirmed is refused (422, logged
with the reason); when Label Studio cannot be asked the webhook is answered 503.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from ..delivery.labelstudio import ErrorKind, LabelStudioError
from .webhook import Claim, WebhookRefused, carries_a_span, span_of

_logger = logging.getLogger(__name__)

PROJECTS_FRESH_SECONDS = 60.0
"""How long the projects that have serve's webhook, as last listed, are trusted before a new list."""

RELIST_SECONDS = 2.0
"""A project not in the list is looked up again only if the list is older than this (a webhook
registered a moment ago is found; a flood of claims on other projects makes one list per pause)."""

CANNOT_ASK_RETRY_SECONDS = 5.0


class LabelStudioCopies(Protocol):
    """What confirming reads (``delivery.labelstudio.LabelStudioClient``)."""

    def get_task(self, task_id: int, timeout: float | None = None) -> dict[str, Any]: ...

    def list_webhooks(
        self, project_id: int | None = None, timeout: float | None = None
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Confirmed:
    """A claim as Label Studio holds it."""

    task: dict[str, Any]  # Label Studio's copy: id, project, data, meta, predictions
    annotation: dict[str, Any]  # Label Studio's copy: id, result, was_cancelled, updated_at

    @property
    def version(self) -> tuple[int, str]:
        """The annotation's id and ``updated_at``: what the outbox remembers."""
        return int(self.annotation["id"]), str(self.annotation.get("updated_at") or "")


class Confirmer:
    """Thread-safe; webhooks are confirmed on serve's operations threads."""

    def __init__(
        self,
        client: LabelStudioCopies,
        secret: str,
        *,
        timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self._expected = f"Bearer {secret}".encode()
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._listed_at: float | None = None
        self._projects: frozenset[int] = frozenset()
        self._everywhere = False  # a webhook of the whole organization carries the secret

    def confirm(self, claim: Claim) -> Confirmed:
        """Label Studio's copy of what ``claim`` names; ``WebhookRefused`` 422 when Label Studio
        does not confirm it, 503 when Label Studio cannot be asked."""
        if claim.task_id is None:
            raise WebhookRefused(422, f"annotation {claim.annotation_id}: the webhook names no task")
        task = self._task(claim.task_id)
        project = task.get("project")
        if claim.project_id is not None and project != claim.project_id:
            raise WebhookRefused(
                422,
                f"task {claim.task_id} is in project {project}, not {claim.project_id} as the webhook says",
            )
        if not isinstance(project, int) or not self.serves(project):
            raise WebhookRefused(
                422,
                f"task {claim.task_id} is in project {project}, which has no webhook with serve's secret "
                f"(register it: otel-label-studio webhook --project-id {project} --target URL)",
            )
        annotation = next(
            (
                item
                for item in task.get("annotations") or ()
                if isinstance(item, Mapping) and item.get("id") == claim.annotation_id
            ),
            None,
        )
        if annotation is None:
            raise WebhookRefused(
                422,
                f"annotation {claim.annotation_id} is not one of task {claim.task_id}'s in Label Studio",
            )
        held = dict(span_of(task))
        for field, claimed in claim.span:
            if held.get(field) != claimed:
                raise WebhookRefused(
                    422,
                    f"task {claim.task_id} in Label Studio carries {field} {held.get(field)!r}, not "
                    f"{claimed[:40]!r} as the webhook says",
                )
        if not carries_a_span(task):
            raise WebhookRefused(
                422, f"task {claim.task_id} names no span of a trace: not a task the bridge made"
            )
        return Confirmed(task, dict(annotation))

    def _task(self, task_id: int) -> dict[str, Any]:
        try:
            return self._client.get_task(task_id, self._timeout)
        except LabelStudioError as error:
            if error.status == 404:
                raise WebhookRefused(422, f"task {task_id} is not in Label Studio") from None
            raise _cannot_ask(error) from None

    def serves(self, project_id: int) -> bool:
        """Whether Label Studio lists a webhook of ``project_id`` (or of the organization) whose
        headers carry serve's secret; the list is read again when it is stale."""
        with self._lock:
            now = self._clock()
            age = None if self._listed_at is None else now - self._listed_at
            known = self._everywhere or project_id in self._projects
            if age is not None and (age < RELIST_SECONDS or (known and age < PROJECTS_FRESH_SECONDS)):
                return known
            try:
                hooks = self._client.list_webhooks(None, self._timeout)
            except LabelStudioError as error:
                raise _cannot_ask(error) from None
            ours = [hook for hook in hooks if hook.get("is_active") and self._carries_secret(hook)]
            self._projects = frozenset(int(h["project"]) for h in ours if isinstance(h.get("project"), int))
            self._everywhere = any(hook.get("project") is None for hook in ours)
            self._listed_at = now
            return self._everywhere or project_id in self._projects

    def _carries_secret(self, hook: Mapping[str, Any]) -> bool:
        headers = hook.get("headers")
        if not isinstance(headers, Mapping):
            return False
        value = next((v for k, v in headers.items() if str(k).lower() == "authorization"), None)
        return isinstance(value, str) and hmac.compare_digest(value.strip().encode(), self._expected)


def _cannot_ask(error: LabelStudioError) -> WebhookRefused:
    what = "refused serve's API key" if error.kind == ErrorKind.AUTH else "cannot be asked"
    _logger.warning("A webhook could not be confirmed: Label Studio %s (%s)", what, error.detail)
    return WebhookRefused(
        503,
        f"cannot confirm the webhook: Label Studio {what} ({error.detail})",
        error.retry_after or CANNOT_ASK_RETRY_SECONDS,
    )
