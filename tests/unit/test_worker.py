"""The delivery worker's decisions, against a scripted Label Studio stand-in (the real one is in
test_receiver.py): splitting out a poisoned task, backoff with Retry-After, pausing on a bad key,
and asking before re-importing after a crash."""

from __future__ import annotations

import random
import threading

import pytest

from otel_label_studio.delivery.labelstudio import ErrorKind, LabelStudioError
from otel_label_studio.delivery.projects import Projects
from otel_label_studio.delivery.worker import DeliveryWorker
from otel_label_studio.modes.layouts import layout_for
from otel_label_studio.store.spool import Spool
from tests.support.builders import plain
from tests.support.clock import Clock
from tests.support.fake_label_studio import FakeLabelStudio


@pytest.fixture
def setup(tmp_path):
    clock = Clock()
    spool = Spool(str(tmp_path / "spool.db"), clock=clock)
    client = FakeLabelStudio()
    projects = Projects(
        client, layout_for("prompt", None), project_id=None, project_name="P", config_given=False
    )  # type: ignore[arg-type]
    worker = DeliveryWorker(
        spool,
        client,
        projects,
        batch_size=100,
        timeout=5,
        clock=clock,
        rng=random.Random(7),  # type: ignore[arg-type]
    )
    yield spool, client, worker, clock
    spool.close()


def test_a_poisoned_task_is_dead_lettered_and_its_batch_mates_land(setup):
    spool, client, worker, _ = setup
    records = [plain(n) for n in range(8)]
    records[5].messages[-1].content = "POISON"
    spool.add(records)
    assert worker.run_once()
    assert len(client.tasks) == 7
    (letter,) = spool.dead_letters()
    assert letter.span_id == records[5].span_id and "poisoned prompt" in letter.reason
    assert spool.stats().depth == 0
    assert worker.stats.dead_lettered == 1 and worker.stats.tasks_created == 7
    assert client.import_sizes[0] == 8  # one request first; splitting only after the refusal


def test_a_batch_refused_whole_logs_a_few_dead_letters_and_one_line_for_the_rest(setup, caplog):
    spool, client, worker, _ = setup
    records = [plain(n) for n in range(10)]
    for item in records:
        item.messages[-1].content = "POISON"
    spool.add(records)
    assert worker.run_once()
    assert len(spool.dead_letters()) == 10 and worker.stats.dead_lettered == 10
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 4
    assert all("refused the task for span" in line for line in errors[:3])
    assert "7 more tasks of the same batch for project 1" in errors[3]


def test_transient_failures_back_off_exponentially_and_honour_retry_after(setup):
    spool, client, worker, clock = setup
    spool.add([plain(1)])
    client.fail_with = LabelStudioError(ErrorKind.TRANSIENT, "HTTP 503: busy", status=503)
    waits = []
    for _ in range(4):
        assert not worker.run_once()
        waits.append(worker.paused_until - clock.now)
        assert not worker.run_once()  # paused: not even tried
        clock.now = worker.paused_until
    assert all(later > earlier for earlier, later in zip(waits, waits[1:], strict=False))
    client.fail_with = LabelStudioError(
        ErrorKind.TRANSIENT, "HTTP 429: slow down", status=429, retry_after=120
    )
    assert not worker.run_once()
    assert worker.paused_until - clock.now >= 120
    clock.now = worker.paused_until
    client.fail_with = None
    assert worker.run_once()
    assert len(client.tasks) == 1 and worker.paused_reason is None


def test_a_refused_key_pauses_delivery_and_drops_nothing(setup):
    spool, client, worker, clock = setup
    spool.add([plain(1), plain(2)])
    client.fail_with = LabelStudioError(ErrorKind.AUTH, "HTTP 401: Invalid token", status=401)
    assert not worker.run_once()
    assert worker.key_refused and "API key" in (worker.paused_reason or "")
    assert spool.stats().depth == 2
    clock.now = worker.paused_until
    client.fail_with = None
    assert worker.run_once()
    assert len(client.tasks) == 2 and not worker.key_refused


def test_after_a_crash_between_import_and_commit_nothing_is_imported_twice(setup, tmp_path):
    spool, client, worker, _ = setup
    spool.add([plain(1), plain(2), plain(3)])
    crash = RuntimeError("killed after the import, before the commit")

    def die() -> None:
        raise crash

    worker._after_import = die
    with pytest.raises(RuntimeError):
        worker.run_once()
    assert len(client.tasks) == 3 and spool.stats().in_flight == 3
    worker._after_import = None
    spool.add([plain(4)])
    assert worker.run_once()
    assert client.lookups == [[plain(n).span_id for n in (1, 2, 3)]]
    assert sorted(t["data"]["span_id"] for t in client.tasks) == sorted(
        plain(n).span_id for n in (1, 2, 3, 4)
    )
    assert worker.stats.already_present == 3
    assert spool.stats().depth == 0


def test_a_deleted_project_is_looked_up_again_and_its_records_wait_not_dead_lettered(setup):
    spool, client, worker, clock = setup
    looked_up, attempts = [], []
    find_project, import_tasks = client.find_project, client.import_tasks
    client.find_project = lambda title, timeout=None: looked_up.append(title) or find_project(title)
    client.import_tasks = lambda *args: attempts.append(len(args[1])) or import_tasks(*args)
    spool.add([plain(1), plain(2)])
    client.fail_with = LabelStudioError(ErrorKind.PROJECT_GONE, "HTTP 404: Not found", status=404)
    assert not worker.run_once()
    assert spool.dead_letters() == [] and spool.stats().depth == 2
    assert attempts == [2]  # not split in search of a task at fault: none is
    clock.now = worker.paused_until
    client.fail_with = None
    assert worker.run_once()
    assert looked_up == ["P", "P"] and attempts == [2, 2] and len(client.tasks) == 2


def test_waiting_for_an_empty_queue_wakes_with_delivery_and_gives_up_on_a_refused_key(setup):
    spool, client, worker, _ = setup
    spool.add([plain(n) for n in range(5)])
    worker.start()
    assert worker.wait_until_empty(30)
    assert len(client.tasks) == 5
    client.fail_with = LabelStudioError(ErrorKind.AUTH, "HTTP 401: Invalid token", status=401)
    spool.add([plain(9)])
    worker.wake()
    assert not worker.wait_until_empty(600, or_key_refused=True)  # returns at the refusal, not in 10 min
    assert worker.key_refused and spool.stats().depth == 1
    assert worker.stop(0) is False


def test_with_no_thread_to_be_had_stop_delivers_in_the_callers_thread(setup, monkeypatch):
    spool, client, worker, _ = setup
    spool.add([plain(n) for n in range(3)])

    def refused(self):  # Python 3.12 at interpreter shutdown
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refused)
    assert worker.start() is False and not worker.threaded
    assert worker.stop(5.0) is True  # the imports ran here, each without a sender thread
    assert len(client.tasks) == 3 and spool.stats().depth == 0
