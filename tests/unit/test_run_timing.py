"""One task per agent run whatever the timing (issue 26): a run's pieces arriving without their top,
the top coming 0, 8 or 60 seconds later (``run_grace`` 5, ``run_idle_timeout`` 60), in all three
dialects (the recorded 0.54 and OpenInference runs, a live 0.55+ capture), held in memory or in the
spool, across a restart. The clock is injected: the timers move by hand, nothing sleeps. Delivery
goes to a scripted Label Studio stand-in, so what is counted is the tasks Label Studio would hold."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from otel_label_studio.delivery.projects import Projects
from otel_label_studio.delivery.worker import DeliveryWorker
from otel_label_studio.modes.layouts import layout_for
from otel_label_studio.modes.run_tasks import run_task
from otel_label_studio.modes.runs import build_run, is_run_span, looks_like_top, pieces
from otel_label_studio.reading.spanview import SpanView, from_readable_span
from otel_label_studio.rules import ReviewGate, parse
from otel_label_studio.store.assembly import MemoryHold, RunAssembler
from otel_label_studio.store.memory_queue import MemoryQueue
from otel_label_studio.store.run_codec import encode_view
from otel_label_studio.store.spool import Spool, SpoolHold
from tests.support import fixtures, scenarios
from tests.support.clock import Clock
from tests.support.fake_label_studio import FakeLabelStudio

GRACE, IDLE = 5.0, 60.0
PREFIX = "traceloop.association.properties"
DIALECTS = ("legacy", "openinference", "genai")
DELAYS = (0, 8, 60)


def run_of(dialect: str, captured) -> list[SpanView]:
    """The spans of the dialect's recorded agent run (the 0.55+ one captured live), its trace only."""
    if dialect == "genai":
        scenarios.agent_run()
        spans = captured.get_finished_spans()
        captured.clear()
    else:
        spans = fixtures.load(dialect, "agent_run")
    views = [from_readable_span(span) for span in spans]
    run = max(pieces(views), key=lambda piece: len(piece.spans)).spans
    return [view for view in views if view.trace_id == run[0].trace_id]


def marked_incomplete(dialect: str) -> bool:
    """Whether the run without its root is marked incomplete: OpenInference's is three subtrees under
    the missing root; OpenLLMetry's (both versions) is its ``LangGraph.workflow`` span, which can be a
    run's top (it might hang under a web request's span that never comes), and everything below it."""
    return dialect == "openinference"


def root_of(views: list[SpanView]) -> SpanView:
    [root] = [view for view in views if is_run_span(view) and not view.parent_span_id]
    return root


class Bridge:
    """Mode agent's path on one clock: hold -> queue -> delivery worker -> "Label Studio"."""

    def __init__(
        self,
        clock: Clock,
        client: FakeLabelStudio,
        spool_path: str | None = None,
        gate: ReviewGate | None = None,
    ):
        self.clock = clock
        self.queue = Spool(spool_path, clock=clock) if spool_path else MemoryQueue(100, clock=clock)
        hold = SpoolHold(self.queue) if isinstance(self.queue, Spool) else MemoryHold(self.queue, 10)
        self.runs = RunAssembler(hold, grace=GRACE, idle_timeout=IDLE, clock=clock, gate=gate)
        projects = Projects(
            client,  # type: ignore[arg-type]
            layout_for("agent", None),
            project_id=None,
            project_name="Runs",
            config_given=False,
            now=clock,
            clock=clock,
        )
        self.worker = DeliveryWorker(
            self.queue,
            client,  # type: ignore[arg-type]
            projects,
            batch_size=100,
            timeout=5,
            clock=clock,
            rng=random.Random(7),
        )

    def send(self, views: list[SpanView]) -> None:
        self.runs.hold(self.runs.pieces_of(views))

    def wait(self, seconds: float) -> None:
        """Time passes, a second at a time: the timer releases what is ready, delivery delivers it."""
        for _ in range(int(seconds)):
            self.clock.now += 1
            self.runs.release_ready()
            while self.worker.run_once():
                pass

    def close(self) -> None:
        self.queue.close()


def the_task(client: FakeLabelStudio, views: list[SpanView]) -> dict:
    """The one task Label Studio holds, checked to be the whole run's."""
    assert len(client.tasks) == 1, [task["data"]["steps_count"] for task in client.tasks]
    [task] = client.tasks
    expected = run_task(layout_for("agent", None), build_run([v for v in views if is_run_span(v)]))
    assert task["data"] == expected["data"]
    assert task["meta"] == expected["meta"]
    assert task["data"]["incomplete"] is False
    assert [p["result"] for p in task["predictions"]] == [p["result"] for p in expected["predictions"]]
    return task


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("held_in", ["memory", "spool"])
def test_a_run_whose_top_comes_late_is_one_task(captured, tmp_path, dialect, delay, held_in):
    views = run_of(dialect, captured)
    root = root_of(views)
    client = FakeLabelStudio("agent")
    bridge = Bridge(Clock(), client, str(tmp_path / "spool") if held_in == "spool" else None)
    try:
        rest = [view for view in views if view is not root]
        for start in range(0, len(rest), 3):  # the pieces in several requests, the last ones first
            bridge.send(list(reversed(rest))[start : start + 3])
        bridge.wait(delay)
        if delay >= IDLE:  # released without its top at the idle timeout: a task
            [first] = client.tasks
            assert first["data"]["incomplete"] is marked_incomplete(dialect)
            first["annotations"] = [{"result": [], "completed_by": 1}]  # a reviewer began
        bridge.send([root])
        bridge.wait(GRACE + 1)
        task = the_task(client, views)
        assert client.updates == ([0] if delay >= IDLE else [])  # completed in place, not a second task
        if delay >= IDLE:
            assert task["annotations"] == [{"result": [], "completed_by": 1}]
            assert bridge.runs.stats.runs_completed == 1 and bridge.worker.stats.tasks_updated == 1
        assert bridge.runs.open_runs == 0 and bridge.queue.depth == 0
    finally:
        bridge.close()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_spans_under_a_top_that_never_comes_are_one_task_after_the_idle_timeout(captured, dialect):
    views = run_of(dialect, captured)
    root = root_of(views)
    client = FakeLabelStudio("agent")
    bridge = Bridge(Clock(), client)
    bridge.send([view for view in views if view is not root])
    bridge.wait(IDLE - 1)
    assert client.tasks == [] and bridge.runs.open_runs == 1  # waits for the top as long as it may
    bridge.wait(1)
    [task] = client.tasks
    assert task["data"]["incomplete"] is marked_incomplete(dialect)
    assert task["data"]["steps_count"] == 4
    assert bridge.runs.stats.runs_released == 1


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_restart_between_the_pieces_and_the_top_makes_one_task(captured, tmp_path, dialect, delay):
    """kill -9 between a run's pieces and its top: the spool is the only thing that survives."""
    views = run_of(dialect, captured)
    root = root_of(views)
    client, clock, path = FakeLabelStudio("agent"), Clock(), str(tmp_path / "spool")
    first = Bridge(clock, client, path)
    first.send([view for view in views if view is not root])
    first.wait(1)
    first.close()  # nothing but what was committed is left
    clock.now += delay
    second = Bridge(clock, client, path)
    try:
        second.wait(1)
        if delay >= IDLE:
            assert [task["data"]["incomplete"] for task in client.tasks] == [marked_incomplete(dialect)]
        second.send([root])
        second.wait(GRACE + 1)
        the_task(client, views)
        assert client.updates == ([0] if delay >= IDLE else [])
    finally:
        second.close()


def test_a_restart_after_the_incomplete_task_keeps_the_pieces_the_top_completes(captured, tmp_path):
    views = run_of("openinference", captured)
    root = root_of(views)
    client, clock, path = FakeLabelStudio("agent"), Clock(), str(tmp_path / "spool")
    first = Bridge(clock, client, path)
    first.send([view for view in views if view is not root])
    first.wait(IDLE + 1)
    assert [task["data"]["incomplete"] for task in client.tasks] == [True]
    first.close()
    second = Bridge(clock, client, path)
    try:
        second.send([root])
        second.wait(GRACE + 1)
        the_task(client, views)
        assert client.updates == [0]
        second.wait(2 * IDLE)  # the kept pieces are forgotten with the released trace
        assert SpoolHold(second.queue).kept() == []  # type: ignore[arg-type]
    finally:
        second.close()


def test_a_top_that_comes_before_the_incomplete_task_was_delivered_replaces_it_in_the_queue(captured):
    views = run_of("openinference", captured)
    root = root_of(views)
    client = FakeLabelStudio("agent")
    bridge = Bridge(Clock(), client)
    bridge.send([view for view in views if view is not root])
    bridge.clock.now += IDLE
    assert bridge.runs.release_ready() == 1  # queued, not delivered
    bridge.send([root])
    bridge.clock.now += GRACE
    assert bridge.runs.release_ready() == 1
    assert bridge.queue.depth == 2
    while bridge.worker.run_once():
        pass
    the_task(client, views)
    assert client.updates == [] and client.import_sizes == [1]  # the whole run went in its place


def test_a_run_under_a_web_request_span_waits_for_that_span_then_the_grace(captured):
    """A span the run hangs under that is no LangChain span (a web request's) counts as its parent
    coming; without it, the run waits for it up to the idle timeout, then is a whole run still."""
    views = run_of("genai", captured)
    root = root_of(views)
    request = SpanView(root.trace_id, "f" * 16, "POST /chat", {"http.request.method": "POST"})
    under = [view if view is not root else _with_parent(root, request.span_id) for view in views]
    assert looks_like_top(_with_parent(root, request.span_id))
    client = FakeLabelStudio("agent")
    bridge = Bridge(Clock(), client)
    bridge.send(under)
    bridge.wait(GRACE + 1)
    assert client.tasks == []  # the request's span has not come: it may be a LangChain span
    bridge.send([request])
    bridge.wait(GRACE)
    [task] = client.tasks
    assert task["data"]["incomplete"] is False

    second = Bridge(Clock(), FakeLabelStudio("agent"))
    second.send(under)
    second.wait(IDLE)
    assert second.runs.stats.runs_released == 1 and second.runs.stats.runs_incomplete == 0


def _with_parent(view: SpanView, parent: str) -> SpanView:
    return replace(view, parent_span_id=parent)


def test_a_top_arriving_while_its_run_is_being_released_without_it_takes_the_run_back(captured):
    views = run_of("openinference", captured)
    root = root_of(views)
    client = FakeLabelStudio("agent")
    bridge = Bridge(Clock(), client)
    hold = bridge.runs._hold
    release = hold.release

    def release_while_the_top_arrives(*args, **kwargs):
        added = release(*args, **kwargs)
        bridge.send([root])  # the release is not over: the top is held as a span of its own
        return added

    hold.release = release_while_the_top_arrives  # type: ignore[method-assign]
    bridge.send([view for view in views if view is not root])
    bridge.wait(IDLE)
    hold.release = release  # type: ignore[method-assign]
    bridge.wait(GRACE + 1)
    the_task(client, views)
    assert bridge.runs.stats.runs_completed == 1


def test_a_spool_file_of_an_earlier_version_gets_the_kept_pieces_columns_and_keeps_its_held_spans(
    captured, tmp_path
):
    import sqlite3  # the earlier version's table and rows, written by hand

    views = run_of("openinference", captured)
    root = root_of(views)
    path = str(tmp_path / "spool")
    clock = Clock()
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE run_pieces (trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT "
            "NOT NULL, top_candidate INTEGER NOT NULL, received_at REAL NOT NULL, project TEXT, view BLOB "
            "NOT NULL, PRIMARY KEY (trace_id, span_id)) WITHOUT ROWID"
        )
        db.executemany(
            "INSERT INTO run_pieces VALUES (?, ?, ?, ?, ?, NULL, ?)",
            [
                (v.trace_id, v.span_id, v.parent_span_id, int(looks_like_top(v)), clock.now, encode_view(v))
                for v in views
                if v is not root and is_run_span(v)
            ],
        )
    client = FakeLabelStudio("agent")
    bridge = Bridge(clock, client, path)
    try:
        assert bridge.runs.open_runs == 1  # found, waiting for its root
        bridge.wait(GRACE + 1)
        assert client.tasks == []
        bridge.send([root])
        bridge.wait(GRACE + 1)
        the_task(client, views)
    finally:
        bridge.close()


@pytest.mark.parametrize(
    ("rules", "first_kept"),
    [
        ("rules:\n  - name: all\n    limit: 1/day\n", 1),  # the completion is not counted again
        ("rules:\n  - name: whole\n    match: {run.incomplete: false}\n  - name: rest\n    sample: 0\n", 0),
    ],
)
def test_the_review_rules_decide_a_run_once_whether_its_top_came_late_or_not(captured, rules, first_kept):
    """A run the rules kept while its top was missing is completed without being decided again (a
    limit of one a day still takes it); one they kept out is decided when its top comes."""
    views = run_of("openinference", captured)
    root = root_of(views)
    client = FakeLabelStudio("agent")
    gate = ReviewGate(parse(rules), metadata_prefix=PREFIX, default_project="Runs")
    bridge = Bridge(Clock(), client, gate=gate)
    bridge.send([view for view in views if view is not root])
    bridge.wait(IDLE)
    assert len(client.tasks) == int(first_kept)
    bridge.send([root])
    bridge.wait(GRACE + 1)
    the_task(client, views)
    assert client.updates == ([0] if first_kept else [])
    counts = gate.counts().rules
    if first_kept:
        assert (counts["all"].kept, counts["all"].over_limit) == (1, 0)
    else:
        assert (counts["whole"].kept, counts["rest"].sampled_out) == (1, 1)
