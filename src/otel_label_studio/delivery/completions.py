"""Records that complete a task made before: an agent run queued without its top span, then again,
whole, once the top came (``store/assembly.py``). Its unit says which record it replaces
(``ReviewUnit.replaces``: the span id that record was queued under).

Such a record does not become a second task. Before its batch is imported:

- the record it replaces is in the same batch (it was never imported): that one is settled as
  delivered without a task, and this one is imported in its place;
- else the task made from it is looked up by its span id, as the exactly-once lookup does
  (``LabelStudioClient.find_tasks``), and updated in place: its data and meta replaced, our
  prediction given the new answer (``tasks.update``, ``predictions.update``); its annotations,
  drafts and other predictions stay;
- not found while the record it replaces still waits in the queue (deferred, or its import may
  still land): this one waits too and is looked at again shortly;
- not found and not waiting (dead-lettered, kept out by the review rules, or deleted in Label
  Studio): imported as a task of its own.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from ..modes.units import unit_of
from ..store.queue import QueueItem, RecordQueue
from ..store.run_codec import AnyRecord
from .labelstudio import FoundTask, LabelStudioClient
from .projects import Target

_logger = logging.getLogger(__name__)

WAIT_SECONDS = 5.0  # how often a record whose predecessor still waits in the queue is looked at again


class Completions:
    """The worker's step for records that complete an earlier task (one import in flight at a time,
    so no lock)."""

    def __init__(
        self,
        client: LabelStudioClient,
        queue: RecordQueue,
        *,
        timeout: float,
        clock: Callable[[], float],
        shape: Callable[[Any, AnyRecord], dict],
        delivered: Callable[[Sequence[QueueItem], int, Sequence[int]], None],
    ):
        self._client = client
        self._queue = queue
        self._timeout = timeout
        self._clock = clock
        self._shape = shape  # (layout, record) -> the record's task
        self._delivered = delivered  # the worker's bookkeeping after a commit
        self.updated = 0  # tasks updated in place

    def settle(self, target: Target, group: list[QueueItem]) -> list[QueueItem]:
        """The records of ``group`` still to import; those that complete a task are settled here
        (updated in place, or waiting for their predecessor)."""
        completing = {}
        for item in group:
            replaces = unit_of(item.record).replaces(item.record)
            if replaces:
                completing[_key(item)] = (item, (item.record.trace_id, replaces))
        if not completing:
            return group
        by_key = {_key(item): item for item in group}
        superseded = [by_key[old] for _, old in completing.values() if old in by_key]
        if superseded:  # never imported: the whole run is imported in its place
            self._delivered(superseded, target.project.id, ())
        settled = {_key(item) for item in superseded}
        look_up = [(item, old) for item, old in completing.values() if old not in by_key]
        if look_up:
            settled.update(self._update(target, look_up))
        return [item for item in group if _key(item) not in settled]

    def _update(
        self, target: Target, look_up: list[tuple[QueueItem, tuple[str, str]]]
    ) -> set[tuple[str, str]]:
        """Update the tasks found in place; defer the records whose predecessor still waits. The keys
        of the records settled either way (the others are imported)."""
        project_id = target.project.id
        found = self._client.find_tasks(project_id, [old[1] for _, old in look_up], self._timeout)
        missing = [(item, old) for item, old in look_up if old not in found]
        waiting = self._queue.holds([old for _, old in missing]) if missing else set()
        deferred = [item for item, old in missing if old in waiting]
        if deferred:
            self._queue.defer(
                deferred, self._clock() + WAIT_SECONDS, "waits for the task of the run it completes"
            )
        updated: list[tuple[QueueItem, int]] = []
        for item, old in look_up:
            task = found.get(old)
            if task is not None:
                self._update_task(target, task, self._shape(target.layout, item.record))
                updated.append((item, task.id))
        if updated:
            self._delivered([item for item, _ in updated], project_id, [task_id for _, task_id in updated])
            self.updated += len(updated)
            _logger.info(
                "%d tasks in project %d completed in place: their runs' top spans came after them",
                len(updated),
                project_id,
            )
        return {_key(item) for item in deferred} | {_key(item) for item, _ in updated}

    def _update_task(self, target: Target, task: FoundTask, wanted: dict[str, Any]) -> None:
        self._client.update_task(task.id, wanted["data"], wanted.get("meta") or {}, self._timeout)
        missing: list[tuple[int, dict]] = []
        for prediction in wanted.get("predictions") or ():
            ours = _ours(task.predictions, prediction)
            if ours is None:
                missing.append((task.id, prediction))
            elif ours.get("result") != prediction["result"] and ours.get("id") is not None:
                self._client.update_prediction(int(ours["id"]), prediction, self._timeout)
        if missing:
            self._client.add_predictions(target.project.id, missing, self._timeout)


def _ours(predictions: Sequence[dict], wanted: dict) -> dict | None:
    """The task's prediction that is ``wanted``'s earlier version: same model version, same result names."""
    names = {result.get("from_name") for result in wanted.get("result") or ()}
    return next(
        (
            prediction
            for prediction in predictions
            if prediction.get("model_version") == wanted.get("model_version")
            and names == {result.get("from_name") for result in prediction.get("result") or ()}
        ),
        None,
    )


def _key(item: QueueItem) -> tuple[str, str]:
    return (item.record.trace_id, item.record.span_id)
