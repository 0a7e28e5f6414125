"""Mode agent end to end: real LangChain / LangGraph runs become one task each in the real Label Studio,
in-process (the exporter) and through a real `serve` process (requests out of order, kill -9, a lost top)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.modes.layouts import AGENT_CONFIG, Layout
from otel_label_studio.modes.run_tasks import run_task
from otel_label_studio.modes.runs import build_run, looks_like_top, pieces, runs_of
from otel_label_studio.reading.spanview import from_readable_span
from tests.support import scenarios, sidecar
from tests.support.label_studio_reads import project_by_title, tasks_of, wait_for_tasks
from tests.support.logs_receiver import LogsReceiver
from tests.support.otlp_requests import PROTOBUF
from tests.support.pipelines import deliver, pipeline, routed
from tests.support.prerequisites import REPO_ROOT
from tests.support.serve_calls import metrics, register_webhook, wait_for_tasks_created

pytestmark = pytest.mark.integration

AGENT_ARGS = ["--mode", "agent", "--run-grace", "1"]


def agent_exporter(label_studio, project_name: str) -> LabelStudioSpanExporter:
    return LabelStudioSpanExporter(
        url=label_studio.url,
        api_key=label_studio.pat,
        project_name=project_name,
        mode="agent",
        run_grace=0.5,
    )


def run_spans(captured) -> list:
    """The finished spans of LangChain runs (not LangGraph's agent construction, a trace of its own)."""
    run_traces = {piece.trace_id for piece in pieces(map(from_readable_span, captured.get_finished_spans()))}
    return [s for s in captured.get_finished_spans() if format(s.context.trace_id, "032x") in run_traces]


def expected_task(spans) -> dict:
    [[run]] = [runs_of(piece.spans) for piece in pieces(map(from_readable_span, spans))]
    return run_task(Layout.from_config(AGENT_CONFIG), build_run(run))


def send(side, requests, headers: dict[str, str] | None = None) -> None:
    for request in requests:
        response = httpx.post(
            side.traces_url,
            content=request.SerializeToString(),
            headers={**PROTOBUF, **side.auth(), **(headers or {})},
        )
        assert response.status_code == 200, response.text


def test_an_agent_run_in_process_is_exactly_one_task_with_its_trajectory(
    routing, captured, label_studio, ls, project_name
):
    exporter = agent_exporter(label_studio, project_name)
    with pipeline(routing, exporter):
        scenarios.agent_run()
    assert exporter.force_flush(30_000)
    [task] = tasks_of(ls, project_name)
    expected = expected_task(run_spans(captured))
    assert task.data == expected["data"]
    assert task.meta == expected["meta"]
    steps = [(item["role"], item["content"]) for item in task.data["steps"]]
    assert steps[0] == ("user", "What's the weather in Paris?")
    assert [role for role, _ in steps[1:]] == [
        "1 · model ToolCallingFake.chat",
        "2 · tool search_weather",
        "3 · retriever WeatherNotes",
        "4 · model ToolCallingFake.chat",
    ]
    assert steps[1][1] == '→ calls search_weather {"city": "Paris"}'
    assert steps[2][1] == 'arguments: {"city": "Paris"}\nresult: Paris weather today: sunny, 22C.'
    assert "[1] Paris weather today: sunny, 22C. (source: today.txt)" in steps[3][1]
    assert "… [cut: 2320 more characters] (source: lyon)" in steps[3][1]
    [prediction] = task.predictions
    assert prediction.result[0]["value"] == {"text": ["It is sunny and 22C in Paris."]}
    assert task.data["incomplete"] is False
    counts = exporter.counts
    assert (counts["runs_released"], counts["tasks_created"], counts["runs_open"]) == (1, 1, 0)
    assert counts["llm_spans"] == 2  # its two chat calls, not every span of the run


def test_two_concurrent_runs_in_one_process_do_not_mix(routing, captured, label_studio, ls, project_name):
    exporter = agent_exporter(label_studio, project_name)
    cities = ("Paris", "Oslo")
    with pipeline(routing, exporter):
        barrier = threading.Barrier(2)

        def run(city: str) -> None:
            barrier.wait()
            scenarios.agent_run(city=city, answer=f"Sunny in {city}.")

        threads = [threading.Thread(target=run, args=(city,)) for city in cities]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    tasks = tasks_of(ls, project_name)
    assert len(tasks) == 2
    for task in tasks:
        city = next(city for city in cities if task.data["steps"][0]["content"].endswith(f"in {city}?"))
        other = next(c for c in cities if c != city)
        text = str(task.data["steps"])
        assert other not in text
        assert [item["role"] for item in task.data["steps"]][1:] == [
            "1 · model ToolCallingFake.chat",
            "2 · tool search_weather",
            "3 · retriever WeatherNotes",
            "4 · model ToolCallingFake.chat",
        ]
        assert task.data["steps"][2]["content"].endswith(f"result: {city} weather today: sunny, 22C.")
        assert task.predictions[0].result[0]["value"] == {"text": [f"Sunny in {city}."]}


def test_a_plain_call_outside_any_chain_is_a_one_step_run(routing, captured, label_studio, ls, project_name):
    exporter = agent_exporter(label_studio, project_name)
    with pipeline(routing, exporter):
        scenarios.chat_system_human()
    [task] = tasks_of(ls, project_name)
    assert [item["role"] for item in task.data["steps"]] == ["user", "1 · model FakeListChatModel.chat"]
    assert task.data["steps"][0]["content"] == "Tell me a joke"
    assert task.data["steps_count"] == 1 and task.data["incomplete"] is False
    assert task.predictions[0].result[0]["value"] == {"text": ["Hi there 😀 café"]}


def test_an_in_process_run_goes_to_the_project_its_resource_names(captured, label_studio, ls, project_name):
    """``label_studio.project`` on the app's resource wins over the exporter's project_name, as for
    LLM calls (docs/modes.md, "Projects")."""
    scenarios.agent_run()
    routed_title = f"{project_name}-routed"
    exporter = agent_exporter(label_studio, project_name)
    try:
        deliver(exporter, routed(run_spans(captured), routed_title))
    finally:
        exporter.shutdown()
    [task] = tasks_of(ls, routed_title)
    assert task.data["steps"][0]["content"] == "What's the weather in Paris?"
    assert task.predictions[0].result[0]["value"] == {"text": ["It is sunny and 22C in Paris."]}
    assert project_by_title(ls, project_name) is None


def test_serve_sends_a_run_to_its_resource_project_and_one_naming_none_to_the_requests_project(
    tmp_path, captured, label_studio, ls, project_name
):
    scenarios.agent_run()
    paris = run_spans(captured)
    captured.clear()
    scenarios.agent_run(city="Oslo", answer="Rain in Oslo.")
    oslo = run_spans(captured)
    routed_title, header_title = f"{project_name}-routed", f"{project_name}-header"
    side = sidecar.start(label_studio, tmp_path / "serve", project_name, args=AGENT_ARGS)
    try:
        requests = [encode_spans(routed(paris, routed_title)), encode_spans(oslo)]
        send(side, requests, headers={"x-label-studio-project": header_title})
        wait_for_tasks_created(side, 2)
    finally:
        side.terminate()
    assert project_by_title(ls, project_name) is None
    [routed_task] = tasks_of(ls, routed_title)
    assert routed_task.data["steps"][0]["content"] == "What's the weather in Paris?"
    [header_task] = tasks_of(ls, header_title)
    assert header_task.data["steps"][0]["content"] == "What's the weather in Oslo?"


def test_serve_makes_the_same_task_from_requests_sent_in_reverse_order(
    tmp_path, routing, captured, label_studio, ls, project_name
):
    exporter = agent_exporter(label_studio, f"{project_name}-in-process")
    with pipeline(routing, exporter):
        scenarios.agent_run()
    [in_process] = tasks_of(ls, f"{project_name}-in-process")
    spans = run_spans(captured)
    requests = [encode_spans(spans[i : i + 2]) for i in range(0, len(spans), 2)]
    assert len(requests) >= 4
    side = sidecar.start(label_studio, tmp_path / "serve", project_name, args=AGENT_ARGS)
    try:
        send(side, reversed(requests))
        [task] = wait_for_tasks(ls, project_name, 1)
        send(side, requests[:1])  # a sender's retry after the run became a task
        counts = metrics(side)
    finally:
        side.terminate()
    assert task.data == in_process.data
    assert task.meta == in_process.meta
    assert task.predictions[0].result == in_process.predictions[0].result
    assert len(tasks_of(ls, project_name)) == 1
    assert counts["otel_label_studio_runs_released_total"] == 1
    assert counts["otel_label_studio_runs_open"] == 0
    retried = sum(len(scope.spans) for spans in requests[0].resource_spans for scope in spans.scope_spans)
    assert counts["otel_label_studio_runs_late_spans_total"] == retried  # dropped, counted: no second task
    chat_calls_retried = sum(span.name == "ToolCallingFake.chat" for span in spans[:3])
    assert counts["otel_label_studio_receiver_llm_spans_total"] == 2 + chat_calls_retried  # chat spans only


def test_serve_killed_after_half_the_pieces_makes_one_complete_task_after_a_restart(
    tmp_path, routing, captured, label_studio, ls, project_name
):
    with pipeline(routing, agent_exporter(label_studio, f"{project_name}-unused")):
        scenarios.agent_run()
    spans = run_spans(captured)
    requests = [encode_spans(spans[i : i + 2]) for i in range(0, len(spans), 2)]
    half = len(requests) // 2
    # The last requests hold the top spans (they end last): sent first, a grace of 30 s keeps the run
    # open until the kill, so the first process cannot have released it.
    side = sidecar.start(
        label_studio, tmp_path / "serve", project_name, args=["--mode", "agent", "--run-grace", "30"]
    )
    try:
        send(side, reversed(requests[half:]))
        side.kill()
        side.command[side.command.index("30")] = "1"
        side.respawn()
        send(side, requests[:half])
        [task] = wait_for_tasks(ls, project_name, 1)
    finally:
        side.terminate()
    expected = expected_task(spans)
    assert task.data == expected["data"] and task.meta == expected["meta"]
    assert task.data["incomplete"] is False and task.data["steps_count"] == 4
    assert len(tasks_of(ls, project_name)) == 1


def test_serve_makes_one_incomplete_task_of_a_run_without_its_top_after_the_idle_timeout(
    tmp_path, routing, captured, label_studio, ls, project_name
):
    with pipeline(routing, agent_exporter(label_studio, f"{project_name}-unused")):
        scenarios.agent_run()
    spans = [s for s in run_spans(captured) if not looks_like_top(from_readable_span(s))]
    side = sidecar.start(
        label_studio,
        tmp_path / "serve",
        project_name,
        args=[*AGENT_ARGS, "--run-idle-timeout", "3"],
    )
    try:
        send(side, [encode_spans(spans[i : i + 3]) for i in range(0, len(spans), 3)])
        [task] = wait_for_tasks(ls, project_name, 1, timeout=30)
    finally:
        side.terminate()
    assert task.data["incomplete"] is True and task.meta["incomplete"] is True
    assert [item["role"] for item in task.data["steps"]][1:] == [
        "1 · model ToolCallingFake.chat",
        "2 · tool search_weather",
        "3 · retriever WeatherNotes",
        "4 · model ToolCallingFake.chat",
    ]
    assert task.predictions[0].result[0]["value"] == {"text": ["It is sunny and 22C in Paris."]}
    assert len(tasks_of(ls, project_name)) == 1


def test_a_reviewers_scores_of_a_run_go_back_against_its_top_span(
    tmp_path, routing, captured, label_studio, ls, project_name
):
    with pipeline(routing, agent_exporter(label_studio, f"{project_name}-unused")):
        scenarios.agent_run()
    spans = run_spans(captured)
    top = next(s for s in spans if s.parent is None)
    receiver = LogsReceiver()
    side = sidecar.start(
        label_studio,
        tmp_path / "serve",
        project_name,
        args=[*AGENT_ARGS, "--feedback-endpoint", receiver.url],
    )
    try:
        send(side, [encode_spans(spans)])
        [task] = wait_for_tasks(ls, project_name, 1)
        project = project_by_title(ls, project_name)
        registered = register_webhook(side, label_studio, project.id)
        assert registered.returncode == 0, registered.stderr
        ls.annotations.create(
            id=task.id,
            result=[
                {"from_name": "first_wrong_step", "to_name": "steps", "type": "choices",
                 "value": {"choices": ["2 · tool search_weather"]}},
                {"from_name": "failure_modes", "to_name": "steps", "type": "choices",
                 "value": {"choices": ["Wrong tool", "Unsupported claim"]}},
                {"from_name": "response", "to_name": "steps", "type": "textarea",
                 "value": {"text": ["It is sunny and 22C in Paris."]}},
                {"from_name": "rating", "to_name": "steps", "type": "rating", "value": {"rating": 2}},
                {"from_name": "step_judgment", "to_name": "steps", "type": "paragraphlabels",
                 "value": {"start": "1", "end": "1", "startOffset": 0, "endOffset": 8, "text": "→ calls ",
                           "paragraphlabels": ["Good step"]}},
                {"from_name": "step_judgment", "to_name": "steps", "type": "paragraphlabels",
                 "value": {"start": "3", "end": "3", "startOffset": 0, "endOffset": 6, "text": "query:",
                           "paragraphlabels": ["Wrong step"]}},
            ],
            was_cancelled=False,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while len(receiver.records()) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        record, *step_records = receiver.records()
    finally:
        side.terminate()
        receiver.close()
    assert record.event_name == "gen_ai.evaluation.result"
    assert record.trace_id.hex() == format(top.context.trace_id, "032x") == task.data["trace_id"]
    assert record.span_id.hex() == format(top.context.span_id, "016x") == task.data["span_id"]
    attributes = {kv.key: kv.value for kv in record.attributes}
    assert attributes["gen_ai.evaluation.score.value"].double_value == 2.0
    assert attributes["gen_ai.evaluation.score.label"].string_value == "accepted"
    assert attributes["gen_ai.evaluation.explanation"].string_value == (
        "failure modes: Wrong tool, Unsupported claim; first wrong step: 2 · tool search_weather"
    )
    # Each judged step, against its own span (the task's step provenance), in step order.
    span_ids = [step["span_id"] for step in task.meta["steps"]]
    by_id = {format(s.context.span_id, "016x"): s for s in spans}
    judged = []
    for step_record in step_records:
        values = {kv.key: kv.value.string_value for kv in step_record.attributes}
        assert values["gen_ai.evaluation.name"] == "label_studio.human_review.step"
        assert step_record.trace_id.hex() == task.data["trace_id"]
        judged.append((step_record.span_id.hex(), values["gen_ai.evaluation.score.label"]))
    assert judged == [
        (span_ids[0], "Good step"),
        (span_ids[1], "First wrong step"),
        (span_ids[2], "Wrong step"),
    ]
    assert by_id[judged[1][0]].name.endswith("search_weather")


def test_review_rules_keep_runs_with_a_tool_call_or_a_failure_and_sample_the_rest_out(
    tmp_path, routing, captured, label_studio, ls, project_name
):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: tools\n    match: {run.tools: {exists: true}}\n"
        "  - name: failed\n    match: {run.failed: true}\n"
        "  - name: rest\n    sample: 0\n",
        encoding="utf-8",
    )
    exporter = LabelStudioSpanExporter(
        url=label_studio.url,
        api_key=label_studio.pat,
        project_name=project_name,
        mode="agent",
        run_grace=0.5,
        review_rules=str(rules),
    )
    with pipeline(routing, exporter):
        scenarios.agent_run()
        scenarios.failing()
        scenarios.chat_system_human()
        scenarios.chain()
    assert exporter.force_flush(30_000)
    tasks = tasks_of(ls, project_name)
    assert sorted((t.data["tools_called"], t.data["errors"] > 0) for t in tasks) == [
        ("", True),
        ("search_weather", False),
    ]
    counts = exporter.counts
    assert (counts["review.tools.kept"], counts["review.failed.kept"]) == (1, 1)
    assert (counts["review.rest.sampled_out"], counts["review.no_rule_matched"]) == (2, 0)
    assert (counts["runs_released"], counts["tasks_created"], counts["runs_open"]) == (2, 2, 0)


def test_the_exporter_killed_mid_run_keeps_its_runs_in_the_spool_and_a_restart_makes_their_tasks(
    tmp_path, label_studio, ls, project_name
):
    """A real app process: one whole run, then one stopped after a few spans, SIGKILLed before any
    grace ran out; started again on the same spool_path (its exporter starts with the first span the
    restarted app exports), it makes the whole run's task and the half run's (incomplete) task, once."""
    spool = str(tmp_path / "spool")
    env = {
        **os.environ,
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.pat,
        "PROJECT_NAME": project_name,
    }
    command = [sys.executable, "-m", "tests.support.agent_app"]
    app = subprocess.Popen(
        [*command, "run", spool], env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        lines = []
        while not lines or lines[-1] != "HELD":
            line = app.stdout.readline()  # type: ignore[union-attr]
            assert line, f"the app ended before holding its runs: {lines}"
            lines.append(line.strip())
        assert "RUN 1" in lines  # the whole run waits in the spool (its grace is an hour)
        app.send_signal(signal.SIGKILL)
        assert app.wait(timeout=30) == -signal.SIGKILL
    finally:
        if app.poll() is None:
            app.kill()
    assert project_by_title(ls, project_name) is None  # nothing was released before the kill
    restart = subprocess.run(
        [*command, "restart", spool], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert restart.returncode == 0, restart.stderr[-2000:]
    tasks = {task.data["steps"][0]["content"]: task for task in tasks_of(ls, project_name)}
    assert sorted(tasks) == ["Tell me a joke", "What's the weather in Oslo?", "What's the weather in Paris?"]
    whole, half = tasks["What's the weather in Paris?"], tasks["What's the weather in Oslo?"]
    assert [item["role"] for item in whole.data["steps"]][1:] == [
        "1 · model ToolCallingFake.chat",
        "2 · tool search_weather",
        "3 · retriever WeatherNotes",
        "4 · model ToolCallingFake.chat",
    ]
    assert whole.data["incomplete"] is False
    assert whole.predictions[0].result[0]["value"] == {"text": ["It is sunny and 22C in Paris."]}
    assert half.data["incomplete"] is True  # its top span never ended: the app died mid-run
    assert half.data["steps"][1]["role"] == "1 · model ToolCallingFake.chat"
    assert half.data["steps"][1]["content"] == '→ calls search_weather {"city": "Oslo"}'


def test_sighup_refuses_a_rules_file_that_does_not_fit_mode_agent_as_the_start_does(
    tmp_path, label_studio, project_name
):
    """A call's field (latency_ms) stops serve --mode agent at start; re-read on SIGHUP it used to be
    taken, and the run rules in force replaced by one that no run can match."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: tools\n    match: {run.tools: {exists: true}}\n", encoding="utf-8")
    side = sidecar.start(
        label_studio, tmp_path / "serve", project_name, args=[*AGENT_ARGS, "--review-rules", str(rules)]
    )
    try:
        rules.write_text("rules:\n  - name: slow\n    match: {latency_ms: '>2000'}\n", encoding="utf-8")
        side.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "Review rules not reloaded" not in side.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        logs = side.logs()
        assert f"{rules}, line 3: latency_ms in rule 'slow' is one LLM call's field" in logs
        assert "Review rules reloaded" not in logs
        assert "1 rules decide which runs become tasks" in logs  # the start's line: runs, not LLM spans
    finally:
        assert side.terminate() == 0
