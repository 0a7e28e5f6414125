"""The join of judge results that arrive on their own with their span's task: kept before the task
(in the spool's file, or bounded in memory), attached to the record at delivery, added to an
existing task once, dropped after judge_wait; and the in-process logs exporter's hand-over."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from otel_label_studio.delivery.labelstudio import ErrorKind, Imported, LabelStudioError
from otel_label_studio.delivery.projects import Projects as ProjectsOf
from otel_label_studio.delivery.worker import DeliveryWorker
from otel_label_studio.distro import Pairing
from otel_label_studio.judge_logs import LabelStudioLogExporter, judge_event
from otel_label_studio.judges.judge_join import JudgeJoin, MemoryJudgeStore, SpoolJudgeStore
from otel_label_studio.modes.layouts import layout_for
from otel_label_studio.reading.evaluations import JudgeEvent
from otel_label_studio.store.queue import QueueFull, QueueItem
from otel_label_studio.store.spool import Spool, SpoolJudgeResults
from tests.support.builders import plain
from tests.support.clock import Clock
from tests.support.fake_label_studio import FakeLabelStudio
from tests.support.judge_client import JudgeClient as Client

EVENT = "gen_ai.evaluation.result"
ATTRIBUTES = {"gen_ai.evaluation.name": "helpfulness", "gen_ai.evaluation.score.value": 0.75}
HELPFUL = {"name": "helpfulness", "score": 0.75, "label": "helpful", "explanation": None}


class Projects:
    def layout_of(self, project_id: int, timeout: float | None = None):
        return layout_for("prompt", None)


def event(record, result=HELPFUL, *, by_response: str | None = None) -> JudgeEvent:
    if by_response:
        return JudgeEvent("", "", by_response, dict(result), 0)
    return JudgeEvent(record.trace_id, record.span_id, None, dict(result), 0)


def delivered(join: JudgeJoin, record, task_id: int) -> None:
    """What the worker does after an import: the queue's bookkeeping, then the join's."""
    item = QueueItem(1, record, 0.0, 1, True)
    if isinstance(join._store, SpoolJudgeStore):
        join._store._spool.delivered([item], 7, [task_id])
    join.delivered([item], 7, [task_id])


@pytest.fixture(params=["memory", "spool"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryJudgeStore(100)
        return
    spool = Spool(str(tmp_path / "spool.sqlite3"), max_rows=100)
    yield SpoolJudgeStore(spool)
    spool.close()


def make_join(store, client: Client, clock: Clock, wait: float = 60.0) -> JudgeJoin:
    return JudgeJoin(store, client, Projects(), wait=wait, timeout=5.0, clock=clock)  # type: ignore[arg-type]


def test_a_result_before_the_task_rides_in_its_import_before_the_model_s_prediction(store):
    client, clock = Client(), Clock()
    join = make_join(store, client, clock)
    record = plain(1)
    join.accept([event(record)])
    attached = join.attach(record)
    task = layout_for("prompt", None).task(attached)
    assert [p["model_version"] for p in task["predictions"]] == ["judge:helpfulness", "gpt-x"]
    assert join.attach(plain(2)) == plain(2)  # another span: untouched
    delivered(join, record, 11)
    assert join.waiting == 0 and not join.pump() and client.created == []
    assert join.counts["judge_added"] == 1


def test_a_result_after_the_task_is_added_to_it_once(store):
    client, clock = Client(), Clock()
    join = make_join(store, client, clock)
    record = plain(1)
    delivered(join, record, 11)
    join.accept([event(record)])
    assert join.pump()
    ((task_id, prediction),) = client.created
    assert (task_id, prediction["model_version"]) == (11, "judge:helpfulness")
    # issue 25: no score (Label Studio shows 0.75 as "75.00%") and no Rating item (the reviewer's stars);
    # the result is in the task's data, where the reviewer reads it, and in its meta, where export does
    assert "score" not in prediction and all(item["type"] != "rating" for item in prediction["result"])
    assert client.data[11]["judge_helpfulness_score"] == 0.75 and client.meta[11]["evaluations"] == [HELPFUL]
    assert "helpfulness: helpful · score 0.75" in client.data[11]["judges"]
    join.accept([event(record)])  # the sender retried, or a crash came before the bookkeeping
    assert join.pump()
    assert len(client.created) == 1 and join.stats.already_present == 1 and join.waiting == 0


def test_a_result_naming_only_the_response_id_finds_its_task(store):
    client, clock = Client(), Clock()
    join = make_join(store, client, clock)
    record = plain(1)
    record.request_params["response_id"] = "chatcmpl-42"
    join.accept([event(record, by_response="chatcmpl-42")])
    assert join.attach(record).evaluations == [HELPFUL]
    delivered(join, record, 11)
    assert join.waiting == 0
    join.accept([event(record, {**HELPFUL, "score": 0.25}, by_response="chatcmpl-42")])
    assert join.pump() and client.created[0][0] == 11


def test_a_result_for_a_span_that_never_becomes_a_task_is_dropped_after_judge_wait(store, caplog):
    client, clock = Client(), Clock()
    join = make_join(store, client, clock, wait=30.0)
    join.accept([event(plain(9))])
    assert not join.pump() and join.waiting == 1
    clock.now += 29.0
    assert not join.pump() and join.waiting == 1
    clock.now += 1.0
    with caplog.at_level(logging.WARNING, "otel_label_studio.judges.judge_join"):
        assert join.pump()
    assert join.waiting == 0 and join.counts["judge_expired"] == 1
    assert "no task for their span within judge_wait (30 s)" in caplog.text


def test_label_studio_down_waits_on_the_backoff_and_a_refusal_drops_and_counts(store):
    client, clock = Client(), Clock()
    join = make_join(store, client, clock)
    record = plain(1)
    delivered(join, record, 11)
    join.accept([event(record)])
    client.fail = LabelStudioError(ErrorKind.UNREACHABLE, "connection refused")
    assert not join.pump() and join.waiting == 1
    client.fail = None
    assert not join.pump()  # still paused
    clock.now += 60.0
    assert join.pump() and len(client.created) == 1
    join.accept([event(record, {**HELPFUL, "score": 0.5})])
    client.fail = LabelStudioError(ErrorKind.REJECTED, "HTTP 404: task gone", status=404)
    assert join.pump()
    assert join.waiting == 0 and join.counts["judge_rejected"] == 1


def test_the_spool_keeps_waiting_results_across_a_restart_and_refuses_over_its_row_limit(tmp_path):
    path = str(tmp_path / "spool.sqlite3")
    spool = Spool(path, max_rows=2)
    join = make_join(SpoolJudgeStore(spool), Client(), Clock())
    join.accept([event(plain(1)), event(plain(2))])
    with pytest.raises(QueueFull):
        join.accept([event(plain(3))])
    spool.close()
    spool = Spool(path, max_rows=2)
    client = Client()
    join = make_join(SpoolJudgeStore(spool), client, Clock())
    assert join.waiting == 2
    assert join.attach(plain(1)).evaluations == [HELPFUL]
    spool.close()


def test_the_in_memory_join_drops_and_counts_what_does_not_fit():
    join = make_join(MemoryJudgeStore(1), Client(), Clock())
    join.accept([event(plain(1)), event(plain(2))])
    assert join.waiting == 1 and join.counts["judge_dropped"] == 1


class Partner:
    """What the logs exporter needs of its span exporter: where judge results go."""

    def __init__(self, join: JudgeJoin | None):
        self.join = join

    def judge_sink(self) -> JudgeJoin | None:
        return self.join


def log_records(
    attributes: dict[str, Any],
    *,
    event_name: str | None = "gen_ai.evaluation.result",
    span=True,
    partner: Partner | None = None,
):
    """Records as the SDK's LoggerProvider hands them to a logs exporter paired with ``partner``."""
    exporter = LabelStudioLogExporter(span_exporter=partner)  # type: ignore[arg-type]
    seen: list[Any] = []
    original = exporter.export
    exporter.export = lambda batch: (seen.extend(batch), original(batch))[1]  # type: ignore[method-assign]
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    context = SpanContext(0xAB, 0xCD, is_remote=True, trace_flags=TraceFlags(1)) if span else None
    parent = set_span_in_context(NonRecordingSpan(context)) if context is not None else None
    provider.get_logger("t").emit(LogRecord(event_name=event_name, attributes=attributes, context=parent))
    provider.shutdown()
    return exporter, seen


def test_an_evaluation_log_record_becomes_a_judge_event_and_other_records_do_not():
    _, (record,) = log_records(ATTRIBUTES)
    found = judge_event(record.log_record.event_name, record.log_record.attributes, 0xAB, 0xCD, 5)
    assert found == JudgeEvent(f"{0xAB:032x}", f"{0xCD:016x}", None, {**HELPFUL, "label": None}, 5)
    by_attribute = {**ATTRIBUTES, "event.name": "gen_ai.evaluation.result", "gen_ai.response.id": "r-1"}
    assert judge_event(None, by_attribute, 0, 0, 5) == JudgeEvent(
        "", "", "r-1", {**HELPFUL, "label": None}, 5
    )
    assert judge_event("app.log", ATTRIBUTES, 0xAB, 0xCD, 5) is None
    assert judge_event("gen_ai.evaluation.result", ATTRIBUTES, 0, 0, 5) is None  # names nothing


def test_the_logs_exporter_hands_results_to_the_span_exporter_s_join():
    store = MemoryJudgeStore(10)
    join = make_join(store, Client(), Clock())
    exporter, _ = log_records(ATTRIBUTES, partner=Partner(join))
    assert join.waiting == 1 and exporter.dropped == 0


def test_the_logs_exporter_alone_warns_once_and_counts_what_it_drops(caplog):
    with caplog.at_level(logging.WARNING, "otel_label_studio.judge_logs"):
        exporter, _ = log_records(ATTRIBUTES)
        exporter.export([])  # nothing to say
    assert exporter.dropped == 1
    assert caplog.text.count("no Label Studio span exporter in this process") == 1


def test_the_logs_exporter_of_a_shut_down_span_exporter_drops_and_counts():
    exporter, _ = log_records(ATTRIBUTES, partner=Partner(None))  # judge_sink() is None once shut down
    assert exporter.dropped == 1


def test_the_configurator_pairs_the_logs_exporter_it_makes_with_its_span_exporter():
    join = make_join(MemoryJudgeStore(10), Client(), Clock())
    pairing = Pairing(
        lambda exporter: ("span processor", exporter), lambda exporter: ("log processor", exporter)
    )
    logs = LabelStudioLogExporter()
    other = InMemorySpanExporter()  # not ours: wrapped as it is, never paired
    assert pairing.span(other) == ("span processor", other)
    assert pairing.span(Partner(join)) == ("span processor", pairing.span_exporter)  # type: ignore[arg-type]
    assert pairing.log_record(logs) == ("log processor", logs)
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    context = set_span_in_context(NonRecordingSpan(SpanContext(0xAB, 0xCD, is_remote=True)))
    provider.get_logger("t").emit(LogRecord(event_name=EVENT, attributes=ATTRIBUTES, context=context))
    provider.shutdown()
    assert join.waiting == 1 and logs.dropped == 0


class Stripping(FakeLabelStudio):
    """Saves the tasks of the first import without their predictions (seen live after a 500)."""

    strip = True

    def import_tasks(self, project_id, tasks, timeout=None, import_timeout=None):
        imported = super().import_tasks(project_id, tasks, timeout, import_timeout)
        if self.strip:
            self.strip = False
            for task in self.tasks:
                task["predictions"] = []
            return Imported(imported.task_ids, 0)
        return imported

    def task_predictions(self, task_id, timeout=None):
        return list(self.tasks[task_id]["predictions"])

    def create_prediction(self, task_id, prediction, timeout=None):  # pragma: no cover - must not be needed
        raise AssertionError("the judge result was in the import: nothing to add")


def judged_worker(spool: Spool, client: FakeLabelStudio, clock: Clock) -> DeliveryWorker:
    layout = layout_for("prompt", None)
    projects = ProjectsOf(client, layout, project_id=None, project_name="P", config_given=False)  # type: ignore[arg-type]
    worker = DeliveryWorker(spool, client, projects, batch_size=100, timeout=5, clock=clock)  # type: ignore[arg-type]
    worker.judges = JudgeJoin(
        SpoolJudgeStore(spool),
        client,  # type: ignore[arg-type]
        projects,
        wait=60.0,
        timeout=5.0,
        clock=clock,
    )
    return worker


def test_a_result_in_an_import_saved_without_predictions_is_repaired_with_the_model_s(tmp_path):
    clock = Clock()
    spool = Spool(str(tmp_path / "spool.sqlite3"), clock=clock)
    client = Stripping()
    worker = judged_worker(spool, client, clock)
    assert worker.judges is not None
    worker.judges.accept([event(plain(1))])  # type: ignore[attr-defined]
    spool.add([plain(1)])
    assert worker.run_once()
    ((task),) = client.tasks
    assert [p["model_version"] for p in task["predictions"]] == ["judge:helpfulness", "gpt-x"]
    assert SpoolJudgeResults(spool).waiting() == 0 and not worker.judges.pump()
    spool.close()


def test_after_a_crash_between_import_and_commit_a_result_that_rode_in_it_is_not_added_again(tmp_path):
    clock = Clock()
    path = str(tmp_path / "spool.sqlite3")
    spool = Spool(path, clock=clock)
    client = Stripping()
    client.strip = False
    worker = judged_worker(spool, client, clock)
    worker.judges.accept([event(plain(1))])  # type: ignore[union-attr,attr-defined]
    spool.add([plain(1)])

    def die() -> None:
        raise RuntimeError("killed after the import, before the commit")

    worker._after_import = die
    with pytest.raises(RuntimeError):
        worker.run_once()
    spool.close()
    spool = Spool(path, clock=clock)
    worker = judged_worker(spool, client, clock)  # a new process
    clock.now += 60.0
    assert worker.run_once()  # the lookup finds the task, with the result that rode in its import
    assert worker.judges is not None and not worker.judges.pump()
    ((task),) = client.tasks
    assert [p["model_version"] for p in task["predictions"]] == ["judge:helpfulness", "gpt-x"]
    assert SpoolJudgeResults(spool).waiting() == 0
    spool.close()
