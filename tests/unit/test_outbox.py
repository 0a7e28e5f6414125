"""The feedback outbox keeps evaluation events until the endpoint takes them, in order, across restarts."""

from __future__ import annotations

import threading
import time

from otel_label_studio.feedback import FeedbackError
from otel_label_studio.outbox import FeedbackOutbox, OutboxForwarder


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


def test_the_forwarder_retries_with_backoff_until_the_endpoint_takes_the_events(tmp_path, caplog):
    outbox = FeedbackOutbox.in_directory(str(tmp_path))
    endpoint = FlakyEndpoint(failures=2)
    forwarder = OutboxForwarder(outbox, endpoint, endpoint="http://collector:4318/v1/logs")
    forwarder.start()
    outbox.put(b"score", 1)
    forwarder.wake()
    deadline = time.monotonic() + 15  # retries after 1 s, then 2 s
    while not endpoint.taken and time.monotonic() < deadline:
        time.sleep(0.05)
    forwarder.stop()
    assert endpoint.taken == [b"score"] and endpoint.attempts == 3
    assert outbox.waiting() == 0
    warnings = [r for r in caplog.records if "kept and re-sent" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per attempt
    assert any("takes events again" in r.getMessage() for r in caplog.records)
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
