"""The durable spool on a real SQLite file: once per span, survives reopening, limits, dead letters."""

from __future__ import annotations

import os
import threading
import time

import pytest

from otel_label_studio.feedback.outbox import FeedbackOutbox
from otel_label_studio.reading.record import LLMRecord
from otel_label_studio.store.durable import DamagedFile, DiskFull
from otel_label_studio.store.queue import QueueFull
from otel_label_studio.store.spool import Spool
from tests.support.builders import record
from tests.support.clock import Clock
from tests.support.spools import big_record, overwrite


@pytest.fixture
def spool(tmp_path):
    opened = Spool.in_directory(str(tmp_path / "data"))
    yield opened
    opened.close()


def test_records_survive_the_round_trip_exactly(spool):
    original = record(1)
    spool.add([original])
    (item,) = spool.take(10)
    assert item.record == original
    assert not item.in_flight


def test_a_span_is_spooled_once_however_often_it_arrives(spool):
    assert spool.add([record(1), record(2)]).added == 2
    again = spool.add([record(1), record(2), record(3)])
    assert (again.added, again.duplicates) == (1, 2)
    items = spool.take(10)
    assert [i.record.span_id for i in items] == [f"{n:016x}" for n in (1, 2, 3)]
    spool.delivered(items, project_id=7, task_ids=[70, 71, 72])
    late = spool.add([record(1)])  # a sender retry after the task was made
    assert (late.added, late.duplicates) == (0, 1)
    assert spool.stats().depth == 0
    assert spool.add([record(1, trace="b" * 32)]).added == 1  # same span id, other trace: another span


def test_in_flight_marks_survive_a_restart(tmp_path):
    path = str(tmp_path / "data")
    first = Spool.in_directory(path)
    first.add([record(1), record(2)])
    items = first.take(10)
    first.mark_in_flight(items[:1])
    first.close()  # the process died between the import and its commit
    second = Spool.in_directory(path)
    flags = {i.record.span_id: i.in_flight for i in second.take(10)}
    assert flags == {f"{1:016x}": True, f"{2:016x}": False}
    assert second.stats().in_flight == 1
    second.close()


def test_defer_hides_records_until_due_and_can_clear_in_flight(tmp_path):
    clock = Clock()
    spool = Spool(str(tmp_path / "s.db"), clock=clock)
    spool.add([record(1)])
    items = spool.take(10)
    spool.mark_in_flight(items)
    spool.defer(items, clock.now + 30, "HTTP 503", landed=True)
    assert spool.take(10) == []
    assert spool.next_due() == clock.now + 30
    clock.now += 31
    (again,) = spool.take(10)
    assert again.in_flight and again.attempts == 1
    spool.defer([again], 0, "HTTP 400", landed=False)
    assert not spool.take(10)[0].in_flight
    spool.close()


def test_full_spool_refuses_without_adding(tmp_path):
    spool = Spool(str(tmp_path / "s.db"), max_rows=3)
    spool.add([record(1), record(2)])
    with pytest.raises(QueueFull) as full:
        spool.add([record(3), record(4)])
    assert full.value.retry_after > 0
    assert spool.stats().depth == 2
    spool.delivered(spool.take(10), project_id=1)
    assert spool.add([record(3), record(4)]).added == 2  # room again after delivery
    spool.close()


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_concurrent_adds_share_one_commit_and_keep_their_own_outcomes(tmp_path):
    spool = Spool.in_directory(str(tmp_path / "data"), max_rows=4)
    commits = []
    transaction = spool._transaction
    spool._transaction = lambda: (commits.append(1), transaction())[1]  # type: ignore[method-assign]
    outcomes: dict[str, object] = {}

    def add(name, records):
        try:
            outcomes[name] = spool.add(records)
        except QueueFull as full:
            outcomes[name] = full

    # The first caller commits alone while the connection is busy; the three that arrive
    # meanwhile are committed together by the next one.
    spool._lock.acquire()
    first = threading.Thread(target=add, args=("first", [record(1)]))
    first.start()
    _wait_for(lambda: spool._committing)
    others = [
        threading.Thread(target=add, args=("repeat", [record(1), record(2)])),
        threading.Thread(target=add, args=("fits", [record(3)])),
        threading.Thread(target=add, args=("too_many", [record(4), record(5)])),
    ]
    for queued, thread in enumerate(others, start=1):  # one at a time: the order decides who fits
        thread.start()
        _wait_for(lambda queued=queued: len(spool._waiting) == queued)
    spool._lock.release()
    for thread in [first, *others]:
        thread.join(10)

    assert len(commits) == 2
    assert (outcomes["first"].added, outcomes["first"].duplicates) == (1, 0)
    assert (outcomes["repeat"].added, outcomes["repeat"].duplicates) == (1, 1)
    assert (outcomes["fits"].added, outcomes["fits"].duplicates) == (1, 0)
    assert isinstance(outcomes["too_many"], QueueFull)  # 3 spooled, limit 4: two more do not fit
    assert sorted(i.record.span_id for i in spool.take(10)) == [f"{n:016x}" for n in (1, 2, 3)]
    spool.close()


def test_an_error_before_the_transaction_fails_every_caller_of_the_group(spool):
    spool._lock.acquire()
    outcomes: dict[str, object] = {}

    def add(name, n):
        try:
            outcomes[name] = spool.add([record(n)])
        except Exception as error:
            outcomes[name] = error

    threads = {name: threading.Thread(target=add, args=(name, n)) for n, name in enumerate(("a", "b", "c"))}
    threads["a"].start()  # commits alone; b and c queue behind it and are committed as one group
    _wait_for(lambda: spool._committing)
    threads["b"].start()
    _wait_for(lambda: len(spool._waiting) == 1)
    threads["c"].start()
    _wait_for(lambda: len(spool._waiting) == 2)

    def broken_size():
        raise RuntimeError("stat failed")

    spool._size = broken_size  # type: ignore[method-assign]
    spool._lock.release()
    for thread in threads.values():
        thread.join(10)
    # c's records were never kept: it must not be answered as if they were (e.g. as duplicates).
    assert all(isinstance(outcomes[name], RuntimeError) for name in "abc"), outcomes
    assert spool.depth == 0


def test_a_failed_group_commit_reaches_every_caller_and_adds_nothing(spool):
    def failing():
        raise OSError("disk full")

    spool._transaction = failing  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk full"):
        spool.add([record(1)])
    assert spool.depth == 0
    assert not spool._committing  # the next caller can commit


def test_size_limit(tmp_path):
    spool = Spool(str(tmp_path / "s.db"), max_bytes=1)
    with pytest.raises(QueueFull):
        spool.add([record(1)])
    spool.close()


def test_dead_letters_keep_the_reason_and_can_be_retried(spool):
    spool.add([record(1), record(2)])
    first, second = spool.take(10)
    spool.dead(first, "HTTP 400: task data lacks $prompt")
    spool.delivered([second], project_id=3)
    (letter,) = spool.dead_letters()
    assert letter.reason == "HTTP 400: task data lacks $prompt"
    assert letter.record == first.record
    assert spool.add([record(1)]).duplicates == 1  # a dead letter is not spooled again by a retry
    stats = spool.stats()
    assert (stats.depth, stats.dead_letters, stats.delivered_remembered) == (0, 1, 1)
    assert spool.dead_letter_count() == 1
    assert spool.retry_dead_letters() == 1
    assert [i.record.span_id for i in spool.take(10)] == [first.record.span_id]
    assert spool.stats().dead_letters == 0 and spool.dead_letter_count() == 0


def test_remembered_deliveries_are_forgotten_after_the_retention(tmp_path):
    clock = Clock()
    spool = Spool(str(tmp_path / "s.db"), keep_delivered_seconds=60, clock=clock)
    spool.add([record(1)])
    spool.delivered(spool.take(1), project_id=1)
    assert spool.forget_delivered() == 0
    clock.now += 61
    assert spool.forget_delivered() == 1
    spool.close()


def test_oldest_age(tmp_path):
    clock = Clock()
    spool = Spool(str(tmp_path / "s.db"), clock=clock)
    assert spool.stats().oldest_age_seconds is None
    spool.add([record(1)])
    clock.now += 12.5
    assert spool.stats().oldest_age_seconds == pytest.approx(12.5)
    spool.close()


def test_an_unwritable_data_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="cannot create data directory"):
        Spool.in_directory(str(blocker / "sub"))


def test_a_spool_file_cannot_make_the_bridge_run_code():
    import pickle

    class Sneaky:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(pickle.UnpicklingError, match="only plain values"):
        LLMRecord.from_bytes(pickle.dumps(Sneaky()))


# --- a full disk ------------------------------------------------------------------------------------------


def fill_disk(spool: Spool) -> None:
    """SQLite's own cap on the file: the next page it needs fails with SQLITE_FULL, as on a full disk."""
    pages = spool._db.execute("PRAGMA page_count").fetchone()[0]
    spool._db.execute(f"PRAGMA max_page_count={pages}")


def free_disk(spool: Spool) -> None:
    spool._db.execute("PRAGMA max_page_count=1073741823")


def test_a_full_disk_is_a_retryable_refusal_that_keeps_what_was_committed(spool, caplog):
    spool.add([big_record(1)])
    fill_disk(spool)
    for attempt in range(3):
        with pytest.raises(QueueFull) as full:
            spool.add([big_record(10 + attempt), big_record(20 + attempt)])
        assert isinstance(full.value, DiskFull)
        assert full.value.retry_after > 0
    assert not spool._db.in_transaction  # rolled back: the connection takes the next transaction
    assert spool.depth == 1 and spool.stats().depth == 1
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "No space left" in r.message]
    assert len(warnings) == 1, "one warning per episode, not per request"
    assert spool.path in warnings[0].message
    free_disk(spool)
    assert spool.add([big_record(10)]).added == 1
    assert "Space is free again" in caplog.text
    assert [item.record.span_id for item in spool.take(10)] == [f"{n:016x}" for n in (1, 10)]


def test_delivery_on_a_full_disk_loses_nothing_and_resumes(spool):
    spool.add([big_record(n) for n in range(40)])
    items = spool.take(100)
    spool.mark_in_flight(items)
    spool.delivered(items[:20], project_id=1)  # frees pages: the next ones must come from beyond the cap
    fill_disk(spool)
    spool._db.execute("PRAGMA max_page_count=1")  # cannot go below the pages in use: the file as it is
    rest = spool.take(100)
    with pytest.raises(DiskFull):
        spool.add([big_record(n) for n in range(100, 140)])
    assert spool.forget_delivered() == 0  # housekeeping waits; it must not stop the delivery thread
    free_disk(spool)
    spool.delivered(rest, project_id=1, task_ids=range(len(rest)))
    assert spool.stats().depth == 0 and spool.stats().delivered_remembered == 40


# --- the byte limit ----------------------------------------------------------------------------------------


def test_the_byte_limit_recovers_once_delivery_drained_the_spool(tmp_path):
    spool = Spool(str(tmp_path / "s.db"), max_bytes=600_000)
    n = 0
    with pytest.raises(QueueFull):
        while n < 1000:
            spool.add([big_record(n)])
            n += 1
    assert n > 5
    size_when_full = os.path.getsize(spool.path) + os.path.getsize(spool.path + "-wal")
    spool.delivered(spool.take(1000), project_id=1)
    assert spool.add([big_record(5000)]).added == 1  # no restart: the pages delivery freed are reused
    stats = spool.stats()
    assert stats.used_bytes < 600_000 and stats.used_bytes < size_when_full
    for more in range(n // 2):  # and the file does not grow past the limit while it is reused
        spool.add([big_record(6000 + more)])
    assert os.path.getsize(spool.path) <= 600_000 + 100_000
    spool.close()


def test_the_byte_limit_truncates_a_wal_that_stands_over_it(tmp_path):
    spool = Spool(str(tmp_path / "s.db"))
    spool._db.execute("PRAGMA wal_autocheckpoint=0")  # a WAL that grows, as when a reader holds it
    for n in range(300):
        spool.add([big_record(n)])
    spool.delivered(spool.take(1000), project_id=1)
    wal = os.path.getsize(spool.path + "-wal")
    spool._max_bytes = wal // 2  # the pages in use fit, the WAL does not
    assert spool.add([big_record(1000)]).added == 1  # checkpointed and truncated, then measured again
    assert os.path.getsize(spool.path + "-wal") < wal // 10
    spool.close()


# --- a damaged file ----------------------------------------------------------------------------------------


def test_a_damaged_outbox_is_named_too(tmp_path):
    path = tmp_path / "feedback-outbox.sqlite3"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(DamagedFile, match=f"the feedback outbox {path} is damaged: it is not an SQLite"):
        FeedbackOutbox(str(path))


def test_the_exporter_with_a_damaged_spool_logs_an_error_and_keeps_records_in_memory(tmp_path, caplog):
    from otel_label_studio import LabelStudioSpanExporter
    from tests.support import fixtures

    path = tmp_path / "app-spool.sqlite3"
    overwrite(str(path))
    exporter = LabelStudioSpanExporter(url="http://127.0.0.1:9", api_key="k", timeout=1, spool_path=str(path))
    (error,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert f"the spool file {path} is damaged" in error.message and f"mv {path} " in error.message
    assert not exporter._queue.durable and exporter._queue.location is None
    exporter.export(fixtures.load("legacy", "completion"))
    assert exporter.counts["waiting"] == 1 and exporter.counts["dropped"] == 0
    exporter.shutdown()


def test_the_outbox_on_a_full_disk_refuses_retryably_and_keeps_what_it_holds(tmp_path, caplog):
    outbox = FeedbackOutbox(str(tmp_path / "feedback-outbox.sqlite3"))
    outbox.put(b"kept", 1)
    pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
    outbox._db.execute(f"PRAGMA max_page_count={pages}")
    for _ in range(2):
        with pytest.raises(DiskFull):
            outbox.put(os.urandom(50_000), 3)
    assert caplog.text.count("No space left on the disk of the feedback outbox") == 1
    assert outbox.waiting() == 1 and not outbox._db.in_transaction
    outbox._db.execute("PRAGMA max_page_count=1073741823")
    outbox.put(os.urandom(50_000), 3)
    assert outbox.waiting() == 4 and "Space is free again" in caplog.text
    outbox.close()
