"""The feedback outbox keeps evaluation events until the endpoint takes them, in order, across restarts."""

from __future__ import annotations

import random
import threading
import time

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from otel_label_studio.delivery.backoff import Backoff
from otel_label_studio.feedback import FeedbackError
from otel_label_studio.feedback.outbox import FeedbackOutbox, OutboxForwarder


def test_kept_events_survive_reopening_in_order(tmp_path):
    outbox = FeedbackOutbox.in_directory(str(tmp_path))
    outbox.put(b"first", 2)
    outbox.put(b"second", 1)
    outbox.close()

    again = FeedbackOutbox.in_directory(str(tmp_path))
    assert again.waiting() == 3
    first, second = again.oldest()
    assert (first.body, first.events, second.body) == (b"first", 2, b"second")
    again.failed(first, "HTTP 503")
    assert again.waiting() == 3  # a failed send keeps the events
    again.sent(first)
    assert [item.body for item in again.oldest()] == [b"second"]
    assert again.waiting() == 1
    again.close()


class FlakyEndpoint:
    """Refuses the first ``failures`` sends, then takes everything."""

    def __init__(self, failures: int):
        self.failures = failures
        self.taken: list[bytes] = []
        self.attempts = 0

    def __call__(self, body: bytes) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise FeedbackError("connection refused")
        self.taken.append(body)


def test_a_refused_send_stops_the_round_and_keeps_everything_after_it(tmp_path):
    outbox = FeedbackOutbox.in_directory(str(tmp_path))
    for name in (b"a", b"b", b"c"):
        outbox.put(name, 1)
    endpoint = FlakyEndpoint(failures=1)
    forwarder = OutboxForwarder(outbox, endpoint, endpoint="http://collector:4318/v1/logs")

    assert forwarder.send_waiting() is False
    assert endpoint.taken == [] and outbox.waiting() == 3
    assert forwarder.send_waiting() is True
    assert endpoint.taken == [b"a", b"b", b"c"]  # in the order the webhooks came
    assert outbox.waiting() == 0 and forwarder.events_sent == 3
    outbox.close()


class SteppedClock:
    """A clock the test moves: nothing sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_forwarder_retries_with_the_shared_backoff_until_the_endpoint_takes_the_events(tmp_path, caplog):
    """Each failed round asks the shared Backoff (jittered, doubling, capped) how long to pause;
    the round that empties the outbox starts it over. Stepped by hand: no thread, no sleep."""
    outbox = FeedbackOutbox.in_directory(str(tmp_path))
    endpoint = FlakyEndpoint(failures=3)
    clock = SteppedClock()
    backoff = Backoff(start=1.0, cap=60.0, rng=random.Random(7), clock=clock)
    forwarder = OutboxForwarder(outbox, endpoint, endpoint="http://collector:4318/v1/logs", backoff=backoff)
    outbox.put(b"score", 1)

    pauses = [forwarder.step() for _ in range(3)]
    assert endpoint.taken == [] and outbox.waiting() == 1
    for failures, pause in enumerate(pauses, start=1):
        step = 2.0 ** (failures - 1)
        assert pause is not None and step / 2 <= pause <= step  # equal jitter: half to whole of the step
    assert len(set(pauses)) == 3 and backoff.until == clock.now + pauses[-1]
    assert forwarder.step() is None  # taken: wait for the next webhook
    assert endpoint.taken == [b"score"] and endpoint.attempts == 4
    assert backoff.failures == 0 and outbox.waiting() == 0
    warnings = [r for r in caplog.records if "kept and re-sent" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per attempt
    assert any("takes events again" in r.getMessage() for r in caplog.records)
    outbox.close()


def test_the_forwarder_thread_retries_and_suppresses_instrumentation(tmp_path):
    """The thread waits what the backoff says (tiny here), and its sends make no spans: an
    instrumented HTTP client must see instrumentation suppressed, as on the delivery worker."""
    outbox = FeedbackOutbox.in_directory(str(tmp_path))
    endpoint = FlakyEndpoint(failures=2)
    suppressed: list[bool] = []

    def send(body: bytes) -> None:
        suppressed.append(not is_instrumentation_enabled())
        endpoint(body)

    backoff = Backoff(start=0.01, cap=0.02, rng=random.Random(1))
    forwarder = OutboxForwarder(outbox, send, endpoint="http://collector:4318/v1/logs", backoff=backoff)
    forwarder.start()
    outbox.put(b"score", 1)
    forwarder.wake()
    taken = threading.Event()
    deadline = time.monotonic() + 10
    while not endpoint.taken and time.monotonic() < deadline:
        taken.wait(0.01)
    forwarder.stop()
    assert endpoint.taken == [b"score"] and endpoint.attempts == 3
    assert suppressed == [True, True, True]
    outbox.close()


def test_stop_leaves_unsent_events_for_the_next_start(tmp_path, caplog):
    outbox = FeedbackOutbox.in_directory(str(tmp_path))
    forwarder = OutboxForwarder(outbox, FlakyEndpoint(failures=100), endpoint="http://collector:4318/v1/logs")
    forwarder.start()
    outbox.put(b"score", 4)
    forwarder.wake()
    stopped = threading.Event()
    threading.Thread(target=lambda: (forwarder.stop(), stopped.set())).start()
    assert stopped.wait(10)  # a failing endpoint does not hold up shutdown
    assert outbox.waiting() == 4
    assert any("4 evaluation events stay in the feedback outbox" in r.getMessage() for r in caplog.records)
    outbox.close()
