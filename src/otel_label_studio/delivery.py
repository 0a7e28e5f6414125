"""Records to Label Studio: group by project, shape tasks for each project's config, import in bulk.

One import request per project per ``batch_size`` tasks (Label Studio imports ~7 tasks/s one
at a time and hundreds per second in bulk). All requests of one delivery share one deadline.
Failures are logged once per outage, not once per span, and the recovery is logged too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from .labelstudio import AUTH, REJECTED, UNREACHABLE, LabelStudioClient, LabelStudioError
from .projects import MISFIT, Projects
from .record import LLMRecord

_logger = logging.getLogger(__name__)


@dataclass
class DeliveryResult:
    tasks_created: int = 0
    tasks_failed: int = 0
    import_requests: int = 0
    error: LabelStudioError | None = None


class Delivery:
    def __init__(
        self,
        client: LabelStudioClient,
        projects: Projects,
        *,
        batch_size: int,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self._projects = projects
        self._batch_size = batch_size
        self._timeout = timeout
        self._clock = clock
        self._outages = OutageLog(client)

    def deliver(self, records: Iterable[LLMRecord]) -> DeliveryResult:
        result = DeliveryResult()
        groups: dict[str, list[LLMRecord]] = {}
        for record in records:
            groups.setdefault(self._projects.key(record.project), []).append(record)
        deadline = self._clock() + self._timeout
        for key, group in groups.items():
            done = 0
            try:
                target = self._projects.resolve(key, self._remaining(deadline))
                tasks = [target.layout.task(record) for record in group]
                for start in range(0, len(tasks), self._batch_size):
                    chunk = tasks[start : start + self._batch_size]
                    result.import_requests += 1
                    self._client.import_tasks(target.project.id, chunk, self._remaining(deadline))
                    done += len(chunk)
            except LabelStudioError as error:
                if error.kind == REJECTED and error.status == 404:
                    self._projects.forget(key)
                result.error = error
                self._outages.failed(error, key, len(group) - done, "not delivered")
                result.tasks_failed += len(group) - done
            result.tasks_created += done
        if result.tasks_failed == 0 and result.tasks_created:
            self._outages.recovered("tasks were not delivered")
        return result

    def _remaining(self, deadline: float) -> float:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise LabelStudioError(UNREACHABLE, f"export deadline of {self._timeout:g}s passed")
        return remaining


class OutageLog:
    """Says a failure once per outage (not once per span), and says when delivery recovered."""

    def __init__(self, client: LabelStudioClient):
        self._client = client
        self._outage: str | None = None
        self._affected = 0

    @property
    def in_outage(self) -> bool:
        return self._outage is not None

    def failed(self, error: LabelStudioError, key: str, count: int, fate: str) -> None:
        """``count`` tasks for project ``key`` failed with ``error``; ``fate`` says what became of them."""
        self._affected += count
        signature = f"{error.kind}:{error.status}"
        if self._outage == signature:
            _logger.debug("Still failing (%s): %d tasks for %s %s", error.detail, count, key, fate)
            return
        self._outage = signature
        if error.kind == MISFIT:
            return  # Projects already said exactly what is wrong, once
        _logger.error(
            "Label Studio at %s: %s; %d tasks for project %s %s%s. "
            "Further failures of this kind are logged at DEBUG until delivery recovers.",
            self._client.url,
            error.detail,
            count,
            key,
            fate,
            auth_hint(error, self._client.token_kind) if error.kind == AUTH else "",
        )

    def recovered(self, what: str) -> None:
        if self._outage is None:
            return
        _logger.warning("Label Studio delivery recovered; during the outage %d %s", self._affected, what)
        self._outage, self._affected = None, 0


def auth_hint(error: LabelStudioError, kind: str | None) -> str:
    """What to do about a refused key, in one clause."""
    if "legacy token" in error.detail.lower():
        return (
            " (this organization has legacy tokens disabled: use a Personal Access Token from "
            "Account & Settings, or enable legacy tokens in Organization > API Tokens Settings)"
        )
    refused = f"the {kind} was refused; " if kind else ""
    return f" ({refused}check LABEL_STUDIO_API_KEY: copy the token from Label Studio > Account & Settings)"
