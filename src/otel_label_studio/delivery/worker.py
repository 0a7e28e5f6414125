"""The delivery worker: drains the spool into Label Studio, one import in flight at a time.

- Batches: up to ``batch_size`` tasks per import request (Label Studio is ~50x faster in bulk).
  One import is in flight at a time; while it is, the next batch is taken and encoded.
- Exactly once: records are marked in flight before their import and removed by the commit
  after it. The import waits for Label Studio's answer up to ``import_timeout`` (only connecting
  is bounded by ``timeout``). Records found in flight (the process died, or no answer said how
  the import ended) are looked up in Label Studio by span id first; the ones not found are
  imported again only once their last import can no longer land: ``import_timeout`` after it
  was sent, or, when an earlier (killed) process sent it, ``ORPHAN_SETTLE_SECONDS`` after this
  process started.
- Predictions: an import that saved fewer predictions than it was sent, and a task found by the
  lookup without its prediction, get the prediction added (counted, logged at WARNING).
- Failures: an unreachable or overloaded Label Studio pauses delivery with exponential backoff
  and jitter (``backoff.Backoff``, on the worker's clock), honouring ``Retry-After``; a refused
  key pauses it until the key works (nothing is dropped, ``/readyz`` says why); a request Label
  Studio refuses for good is split until the task at fault is found, which goes to the dead
  letters with the reason while its batch-mates land. Which failure it is comes from the error's
  ``ErrorKind``, set where Label Studio's answer is translated (``labelstudio.py``).
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence, cast

from opentelemetry.instrumentation.utils import suppress_instrumentation

from ..config import default
from ..modes.layouts import Layout
from ..modes.pair_layout import PairLayout
from ..modes.units import unit_of
from ..store.queue import QueueFull, QueueItem, RecordQueue
from ..store.run_codec import AnyRecord
from . import threads
from .backoff import label_studio_backoff
from .completions import Completions
from .labelstudio import (
    ErrorKind,
    FoundTask,
    Imported,
    ImportUnsettled,
    LabelStudioClient,
    LabelStudioError,
    encode_task,
)
from .outages import OutageLog
from .projects import RECHECK_SECONDS, Projects, Target
from .retry import RetryLoop

_logger = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 1.0
PRUNE_EVERY_SECONDS = 3600.0  # how often remembered deliveries past their retention are dropped
LATENCY_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
WAITING_IN_SPOOL = "wait to be delivered; nothing is dropped"  # what an outage means for spooled records
DEAD_LETTERS_LOGGED_PER_BATCH = 3  # each with its span and reason; the rest of a batch in one line
DRAIN_RETRY_SECONDS = 1.0  # in a drain, delivery tries at least this often, whatever the backoff says
UNSETTLED_RECHECK_SECONDS = 5.0  # how often records whose import may still land are looked up
ORPHAN_SETTLE_SECONDS = 30.0
"""Records a killed process left in flight: its import, if Label Studio took the whole request,
lands within seconds (unless Label Studio stalls on SQLite locks for longer), and one whose
request never arrived whole never lands. So they are looked up at once, and the missing ones are
imported again this long after this process started (or ``import timeout``, if shorter), rather
than a whole ``import timeout`` later: a crash delays them by seconds, not minutes."""


class JudgeHooks(Protocol):
    """What the worker tells the judge join (``judge_join.JudgeJoin``), and when it lets it work."""

    def attach(self, record: AnyRecord) -> AnyRecord: ...
    def delivered(
        self, items: Sequence[QueueItem], project_id: int, task_ids: Sequence[int] = ()
    ) -> None: ...
    def pump(self) -> bool: ...


@dataclass
class WorkerStats:
    tasks_created: int = 0
    dead_lettered: int = 0
    already_present: int = 0  # found in Label Studio after a crash; not imported again
    tasks_updated: int = 0  # tasks completed in place: a run whose top span came after its task
    predictions_repaired: int = 0  # tasks Label Studio saved without their prediction, given it again
    import_requests: int = 0
    failures: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    latency_count: int = 0
    latency_sum: float = 0.0
    on_latency: Callable[[float], None] | None = None  # serve's delivery-latency histogram

    def observe_latency(self, seconds: float) -> None:
        if self.on_latency is not None:
            self.on_latency(seconds)
        self.latency_count += 1
        self.latency_sum += seconds
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_buckets[index] += 1


class DeliveryWorker:
    """A daemon thread; ``wake()`` after adding to the queue, ``stop(drain)`` to finish."""

    def __init__(
        self,
        queue: RecordQueue,
        client: LabelStudioClient,
        projects: Projects,
        *,
        batch_size: int,
        timeout: float,
        import_timeout: float = default("import_timeout"),
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        after_import: Callable[[], None] | None = None,
        waiting: str = WAITING_IN_SPOOL,
    ):
        self._queue = queue
        self._waiting = waiting  # what becomes of records during an outage, as the queue keeps them
        self._client = client
        self._projects = projects
        self._batch_size = batch_size
        self._timeout = timeout
        self._import_timeout = max(import_timeout, timeout)
        self._clock = clock
        # In flight -> when their last import can no longer land. Records in flight that are not
        # here were sent by an earlier process: they settle at ``_orphans_settle``.
        self._settles_at: dict[tuple[str, str], float] = {}
        # Records of the next batch, encoded while the last import was in flight, with the layout used.
        self._encoder = TaskEncoder(batch_size, lambda: self.judges)
        self._started = clock()
        self._orphans_settle = self._started + min(ORPHAN_SETTLE_SECONDS, self._import_timeout)
        self._backoff = label_studio_backoff(clock, rng)
        self._pause_cap: float | None = None  # set by ``cap_pauses``: no pause lasts longer
        self._after_import = after_import  # a test hook: runs between an import and its commit
        self._dead_in_batch = 0
        self._outages = OutageLog(client)
        self._completions = Completions(
            client, queue, timeout=timeout, clock=clock, shape=task_of, delivered=self._delivered
        )
        self._loop = RetryLoop("otel-label-studio-delivery", self._attempt, finished=self._progressed)
        self._pruned_at = -PRUNE_EVERY_SECONDS
        self._progress = threading.Condition()  # notified after every delivery cycle, and at the end
        self._stopping = threading.Event()
        self._drain_deadline = 0.0
        self.paused_reason: str | None = None  # set while delivery waits on an outage or a bad key
        self.key_refused = False  # the last attempt failed on the API key: /readyz says so
        self.stats = WorkerStats()
        self.judges: JudgeHooks | None = None  # judge results that arrived on their own (judge_join.py)

    def start(self) -> bool:
        """Start the delivery thread; False when the interpreter refuses one (at its shutdown): then
        ``deliver_here`` and ``stop`` deliver in the caller's thread."""
        return self._loop.start()

    @property
    def threaded(self) -> bool:
        """Whether the delivery thread runs (False before ``start`` or when none could be started)."""
        return self._loop.running

    def wake(self) -> None:
        self._loop.wake()

    @property
    def paused_until(self) -> float:
        """The clock's time before which delivery makes no attempt (0 when it is not paused)."""
        return self._backoff.until

    def cap_pauses(self, seconds: float) -> None:
        """From now on no pause lasts more than ``seconds``, the current one included (a shutdown
        drain: delivery keeps trying at least this often until it ends)."""
        self._pause_cap = seconds
        self._backoff.shorten(seconds)
        self._loop.wake()

    def wait_until_empty(self, timeout: float, *, or_key_refused: bool = False) -> bool:
        """Block until the queue is empty (True) or ``timeout`` seconds passed (False); with
        ``or_key_refused``, also stop waiting (False) once delivery is paused on a refused key,
        which no wait mends. Woken by each delivery cycle, not by polling."""

        def done() -> bool:
            return self._queue.depth == 0 or (or_key_refused and self.key_refused)

        with self._progress:
            self._progress.wait_for(done, max(0.0, timeout))
        return self._queue.depth == 0

    def stop(self, drain_seconds: float) -> bool:
        """Deliver what is due for up to ``drain_seconds``, then stop; True when the spool was emptied."""
        self._drain_deadline = self._clock() + drain_seconds
        self._stopping.set()
        if self._loop.running:
            self._loop.wake()
            self._loop.join(drain_seconds + self._timeout + 1.0)
        else:
            self.deliver_here(drain_seconds)
        return self._queue.stats().depth == 0

    def deliver_here(self, seconds: float) -> bool:
        """Deliver in the calling thread until the queue is empty, ``seconds`` (real time) passed or
        the key is refused; True when the queue was emptied. For when no delivery thread could be
        started: the app's last batch, exported during interpreter shutdown, is still delivered."""
        deadline = time.monotonic() + seconds
        self.cap_pauses(DRAIN_RETRY_SECONDS)  # a backoff pause must not outlast the drain
        with suppress_instrumentation():
            while self._queue.depth and not self.key_refused:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if not self._cycle():
                    self._loop.pause(min(left, DRAIN_RETRY_SECONDS))
        self._progressed()
        return self._queue.depth == 0

    def _progressed(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def _attempt(self) -> float | None:
        """One turn of the delivery loop (``retry.RetryLoop``): the seconds to wait before the next."""
        if self._clock() - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._pruned_at = self._clock()
            self._queue.forget_delivered()
        if self._stopping.is_set() and self._clock() >= self._drain_deadline:
            self._loop.end()
            return None
        worked = self._cycle()
        self._progressed()
        if self._stopping.is_set() and not worked:
            self._loop.end()
            return None
        return 0.0 if worked else self._pause_length()

    def _cycle(self) -> bool:
        """One delivery cycle that never raises; whether it did any work."""
        try:
            delivered = self.run_once()  # then judge results whose task exists now (their own backoff)
            return delivered | (self.judges.pump() if self.judges is not None else False)
        except QueueFull as full:  # a full disk: the spool warned once; what was in flight is looked up
            self._pause(None, str(full))
        except Exception:  # the worker must outlive any bug in one cycle
            _logger.exception("Delivery cycle failed; retrying")
            self._pause(None, "internal error")
        return False

    def _delivered(self, items: Sequence[QueueItem], project_id: int, task_ids: Sequence[int]) -> None:
        """Bookkeeping after a commit: the queue forgets the records, waiting judge results get due."""
        self._queue.delivered(items, project_id, task_ids)
        if self.judges is not None:
            self.judges.delivered(items, project_id, task_ids)

    def _pause_length(self) -> float:
        """How long to wait after a cycle with nothing to do: the backoff's pause, else until the
        next record is due (at most ``IDLE_POLL_SECONDS``), never past the drain's end."""
        now = self._clock()
        wait = IDLE_POLL_SECONDS
        if self._backoff.until > now:
            wait = self._backoff.until - now
        else:
            due = self._queue.next_due()
            if due is not None and due > now:
                wait = min(wait, due - now)
        if self._stopping.is_set():
            wait = min(wait, max(0.0, self._drain_deadline - now))
        return wait

    def run_once(self) -> bool:
        """One cycle: deliver the due records of one take. False when there was nothing to do."""
        if self._clock() < self._backoff.until:
            return False
        items = self._queue.take(self._batch_size)
        if not items:
            return False
        groups: dict[str, list[QueueItem]] = {}
        for item in items:
            groups.setdefault(self._projects.key(item.record.project), []).append(item)
        progressed = False
        for key, group in groups.items():
            try:
                progressed |= self._deliver_group(key, group)
            except LabelStudioError as error:
                self._failed(key, group, error)
                if error.kind != ErrorKind.MISFIT:  # Label Studio itself is failing: pause everything
                    return False
        if progressed:
            self._backoff.succeeded()
            if self.paused_reason is not None:
                _logger.warning("Delivery resumed")
            self.paused_reason = None
            self.key_refused = False
            self._outages.recovered("tasks waited in the spool")
        return progressed

    def _deliver_group(self, key: str, group: list[QueueItem]) -> bool:
        target = self._projects.resolve(key, self._timeout)
        project_id = target.project.id
        progressed = False
        maybe_landed = [item for item in group if item.in_flight]
        if maybe_landed:
            landed, again = self._settle(target, maybe_landed)
            progressed = landed > 0
            group = [item for item in group if not item.in_flight or item in again]
        if group:  # records completing an earlier task update it in place
            updated = self._completions.updated
            group = self._completions.settle(target, group)
            self.stats.tasks_updated = self._completions.updated
            progressed |= self._completions.updated > updated
        if group:
            self._dead_in_batch = 0
            self._import(key, target, group)
            progressed = True
            unlogged = self._dead_in_batch - DEAD_LETTERS_LOGGED_PER_BATCH
            if unlogged > 0:
                _logger.error(
                    "... and %d more tasks of the same batch for project %d went to the dead letters; "
                    "see `otel-label-studio spool dead-letters` for each one and its reason",
                    unlogged,
                    project_id,
                )
        return progressed

    def _settle(self, target: Target, maybe_landed: list[QueueItem]) -> tuple[int, list[QueueItem]]:
        """Look up records whose import may have landed: how many had, and those to import again
        (their import cannot land any more)."""
        project_id = target.project.id
        found = self._client.find_tasks(
            project_id, [item.record.span_id for item in maybe_landed], self._timeout
        )
        landed = [item for item in maybe_landed if _key(item) in found]
        if landed:
            self._repair(
                target, [(item, found[_key(item)]) for item in landed], "found after an interrupted import"
            )
            self._delivered(landed, project_id, [found[_key(item)].id for item in landed])
            _forget(self._settles_at, landed)
            self.stats.already_present += len(landed)
            _logger.info(
                "%d records already had tasks in project %d (an earlier import landed), skipped",
                len(landed),
                project_id,
            )
        now = self._clock()
        missing = [item for item in maybe_landed if _key(item) not in found]
        waiting = [item for item in missing if self._settles_at.get(_key(item), self._orphans_settle) > now]
        if waiting:
            settles = min(self._settles_at.get(_key(item), self._orphans_settle) for item in waiting)
            self._queue.defer(
                waiting, min(settles, now + UNSETTLED_RECHECK_SECONDS), "the last import may still land"
            )
            _logger.info(
                "%d records of an import with no answer are not in project %d yet; not importing them again "
                "before %.0f s have passed, when that import can no longer land",
                len(waiting),
                project_id,
                max(0.0, settles - now),
            )
        return len(landed), [item for item in missing if item not in waiting]

    def _import(self, key: str, target: Target, items: Sequence[QueueItem]) -> None:
        encoded: list[bytes] = []
        ready: list[QueueItem] = []
        sent = 0  # predictions in the request
        for item in items:
            try:
                body, predictions = self._encoder.encode(target, item)
            except Exception as exc:  # a record this project's config cannot show
                self._dead(item, f"cannot shape a task for project {target.project.id}: {exc}")
                continue
            encoded.append(body)
            ready.append(item)
            sent += predictions
        if not ready:
            return
        self._queue.mark_in_flight(ready)
        sent_at = self._clock()
        try:
            self.stats.import_requests += 1
            imported = self._send(key, target, ready, encoded)
        except ImportUnsettled:
            for item in ready:  # Label Studio may still be importing them
                self._settles_at[_key(item)] = sent_at + self._import_timeout
            raise
        except LabelStudioError as error:
            for item in ready:  # answered, or never sent: this import cannot land later
                self._settles_at[_key(item)] = 0.0
            if error.kind == ErrorKind.REJECTED:  # the request itself: find the task at fault
                self._queue.defer(ready, 0.0, error.detail, landed=False)
                self._split(key, target, ready, error)
                return
            raise
        if self._after_import is not None:
            self._after_import()
        if imported.prediction_count is not None and imported.prediction_count < sent:
            for item in ready:  # landed: if the repair fails, the lookup finds them and repairs again
                self._settles_at[_key(item)] = 0.0
            found = self._client.find_tasks(
                target.project.id, [item.record.span_id for item in ready], self._timeout
            )
            pairs = [(item, found[_key(item)]) for item in ready if _key(item) in found]
            self._repair(target, pairs, f"the import saved {imported.prediction_count} of {sent} predictions")
        self._delivered(ready, target.project.id, imported.task_ids)
        _forget(self._settles_at, ready)
        now = self._clock()
        self.stats.tasks_created += len(ready)
        for item in ready:
            self.stats.observe_latency(max(0.0, now - item.enqueued_at))

    def _send(self, key: str, target: Target, ready: Sequence[QueueItem], encoded: list[bytes]) -> Imported:
        """The import, from its own thread, while this one encodes the next batch: one in flight."""
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["imported"] = self._client.import_tasks(
                    target.project.id, encoded, self._timeout, self._import_timeout
                )
            except BaseException as exc:  # noqa: BLE001 - raised again in the worker's thread
                outcome["error"] = exc

        sender = threading.Thread(
            target=contextvars.copy_context().run,  # instrumentation stays suppressed there too
            args=(call,),
            name="otel-label-studio-import",
            daemon=True,
        )
        if not threads.start(sender):  # at interpreter shutdown: the import runs here, no head start
            call()
        else:
            try:
                self._encoder.prefetch(self._queue, self._projects, key, target, ready)
            except Exception:  # noqa: BLE001 - only a head start; the next cycle encodes what it needs
                _logger.debug("Encoding the next batch ahead failed", exc_info=True)
            sender.join()
        if "error" in outcome:
            raise outcome["error"]
        return cast(Imported, outcome["imported"])

    def _repair(self, target: Target, pairs: Sequence[tuple[QueueItem, FoundTask]], reason: str) -> None:
        """Add our prediction to each found task that lacks it, in one request."""
        missing: list[tuple[int, dict]] = []
        for item, task in pairs:
            try:
                record = item.record if self.judges is None else self.judges.attach(item.record)
                wanted = task_of(target.layout, record).get("predictions") or []
            except Exception:  # noqa: BLE001 - a record the config cannot show has no prediction to add
                continue
            missing.extend(
                (task.id, prediction) for prediction in wanted if not _carries(task.predictions, prediction)
            )
        if not missing:
            return
        self._client.add_predictions(target.project.id, missing, self._timeout)
        self.stats.predictions_repaired += len(missing)
        _logger.warning(
            "Label Studio kept %d tasks in project %d without their prediction (%s); added it again",
            len(missing),
            target.project.id,
            reason,
        )

    def _split(self, key: str, target: Target, items: Sequence[QueueItem], error: LabelStudioError) -> None:
        """Label Studio refused the whole request: find the tasks at fault by halving it."""
        if len(items) == 1:
            self._dead(items[0], error.detail)
            return
        middle = len(items) // 2
        for half in (items[:middle], items[middle:]):
            self._import(key, target, half)

    def _dead(self, item: QueueItem, reason: str) -> None:
        self._queue.dead(item, reason)
        _forget(self._settles_at, [item])
        self.stats.dead_lettered += 1
        self._dead_in_batch += 1
        if self._dead_in_batch > DEAD_LETTERS_LOGGED_PER_BATCH:
            return  # a batch refused whole (a config changed by hand) would log a line per task
        _logger.error(
            "Label Studio refused the task for span %s (trace %s) for good; moved to the dead letters: %s. "
            "See `otel-label-studio spool dead-letters`, fix the cause, then `spool retry`.",
            item.record.span_id,
            item.record.trace_id,
            reason,
        )

    def _failed(self, key: str, group: list[QueueItem], error: LabelStudioError) -> None:
        self.stats.failures += 1
        if error.kind == ErrorKind.PROJECT_GONE:
            self._projects.forget(key)  # look it up (or create it) again
        if error.kind == ErrorKind.MISFIT:
            # Only this project's records wait; others keep flowing.
            self._queue.defer(group, self._clock() + RECHECK_SECONDS, error.detail)
            self._outages.failed(error, key, len(group), "wait to be delivered")
            return
        self._queue.defer(group, 0.0, error.detail)  # in flight stays set where an import was sent
        self.key_refused = error.kind == ErrorKind.AUTH
        self._outages.failed(error, key, len(group), self._waiting)
        self._pause(error, "Label Studio refused the API key" if self.key_refused else error.detail)

    def _pause(self, error: LabelStudioError | None, reason: str) -> None:
        self._backoff.failed(error.retry_after if error is not None else None)
        if self._pause_cap is not None:
            self._backoff.shorten(self._pause_cap)
        self.paused_reason = f"delivery paused: {reason}"


class TaskEncoder:
    """Tasks encoded ahead: while one import is in flight, the records the next will most likely take
    are shaped and encoded, so the worker's thread sends the next request sooner."""

    def __init__(self, batch_size: int, judges: Callable[[], JudgeHooks | None]):
        self._batch_size = batch_size
        self._judges = judges  # set on the worker after it is built
        self._ahead: dict[tuple[str, str], tuple[Layout | PairLayout, bytes, int]] = {}

    def prefetch(
        self, queue: RecordQueue, projects: Projects, key: str, target: Target, in_flight: Sequence[QueueItem]
    ) -> None:
        """Encode the records the next import will most likely take, while this one is in flight."""
        sending = {_key(item) for item in in_flight}
        ahead: dict[tuple[str, str], tuple[Layout | PairLayout, bytes, int]] = {}
        for item in queue.take(self._batch_size + len(sending)):
            if len(ahead) >= self._batch_size:
                break
            record_key = _key(item)
            if record_key in sending or item.in_flight or projects.key(item.record.project) != key:
                continue
            known = self._ahead.get(record_key)
            if known is not None and known[0] is target.layout:
                ahead[record_key] = known
                continue
            try:
                ahead[record_key] = (target.layout, *self.shaped(target.layout, item))
            except Exception:  # noqa: BLE001 - the import dead-letters it with the reason
                continue
        self._ahead = ahead

    def encode(self, target: Target, item: QueueItem) -> tuple[bytes, int]:
        """A record's task as JSON and its number of predictions; encoded ahead when it could be."""
        known = self._ahead.pop(_key(item), None)
        if known is not None and known[0] is target.layout:
            return known[1], known[2]
        return self.shaped(target.layout, item)

    def shaped(self, layout: Layout | PairLayout, item: QueueItem) -> tuple[bytes, int]:
        """``_encoded`` with the judge results that wait for the record's span among its evaluations."""
        judges = self._judges()
        if judges is None:
            return _encoded(layout, item.record)
        return _encoded(layout, judges.attach(item.record))


def _encoded(layout: Layout | PairLayout, record: AnyRecord) -> tuple[bytes, int]:
    task = task_of(layout, record)
    return encode_task(task), len(task.get("predictions") or ())


def task_of(layout: Layout | PairLayout, record: AnyRecord) -> dict:
    """The task of a queued record, as its review unit shapes it; a record the project's layout cannot
    show raises ValueError (the record goes to the dead letters with the reason)."""
    return unit_of(record).task(layout, record)


def _forget(settles_at: dict[tuple[str, str], float], items: Sequence[QueueItem]) -> None:
    """Records whose import settled (landed, or dead-lettered) need no lookup any more."""
    for item in items:
        settles_at.pop(_key(item), None)


def _key(item: QueueItem) -> tuple[str, str]:
    return (item.record.trace_id, item.record.span_id)


def _carries(predictions: Sequence[dict], wanted: dict) -> bool:
    """Whether a task's predictions include ``wanted`` (same model version, same result names)."""
    names = {result.get("from_name") for result in wanted.get("result") or ()}
    return any(
        prediction.get("model_version") == wanted.get("model_version")
        and names <= {result.get("from_name") for result in prediction.get("result") or ()}
        for prediction in predictions
    )
