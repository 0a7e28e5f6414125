"""Review rules in a real ``serve`` against the real Label Studio, with real LangChain runs.

200 instrumented LangChain calls across two services (checkout, search) go through a rules file
with a failures rule, a model rule with a limit of 3/day and its own project, and a 25% catch-all
that folds repeats. The tasks expected are computed here from the trace ids (the SDK's
``TraceIdRatioBased``), the limit and the repeats, never read back from the code under test.
Half of the calls are sent, serve restarts, the other half follows: the limit and the folding
hold across the restart. ``rules check`` on the same capture predicts serve's counts.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased

from otel_label_studio.receiver.replay import frame
from tests.support import memory, serve_calls, sidecar
from tests.support.label_studio_reads import tasks_of, wait_for_tasks
from tests.support.labelstudio_server import nowhere
from tests.support.otlp_requests import llm_request

SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")
PROTOBUF = {"Content-Type": "application/x-protobuf"}
CALLS = 200
LIMIT = 3
SAMPLER = TraceIdRatioBased(0.25)
REPEATED = ("What is the capital of France?", "Paris.")

RULES = """\
rules:
  - name: failures
    match: {{status: error}}
  - name: gpt4o
    match: {{model: "gpt-4o*"}}
    limit: {limit}/day
    project: "{routed}"
  - name: everything-else
    sample: 0.25
fold_duplicates: 24h
"""
OUTCOMES = ("matched", "kept", "sampled_out", "over_limit", "folded")


class Gpt4o(FakeListChatModel):
    model_name: str = "gpt-4o-mini"


class Boom(FakeListLLM):
    def _call(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("the model is down")


@dataclass
class Call:
    index: int
    kind: str  # failing, gpt4o, repeated, plain
    service: str
    trace_id: int
    content: tuple[str, str]


def run_call(i: int) -> tuple[str, tuple[str, str]]:
    """One real LangChain call through the instrumentation; its kind and (question, answer)."""
    if i % 20 == 7:
        question = f"This call fails, number {i}"
        with contextlib.suppress(ValueError):
            Boom(responses=["never"]).invoke(question)
        return "failing", (question, "")
    if i % 10 == 3:
        question, answer = f"Summarise ticket {i}", f"Ticket {i} is about billing."
        Gpt4o(responses=[answer]).invoke([HumanMessage(content=question)])
        return "gpt4o", (question, answer)
    question, answer = REPEATED if i % 5 == 1 else (f"Question number {i}?", f"Answer number {i}.")
    FakeListChatModel(responses=[answer]).invoke([HumanMessage(content=question)])
    return ("repeated" if i % 5 == 1 else "plain"), (question, answer)


def request_for(spans, service: str) -> ExportTraceServiceRequest:
    request = encode_spans(spans)
    for resource_spans in request.resource_spans:
        for attribute in resource_spans.resource.attributes:
            if attribute.key == "service.name":
                attribute.value.string_value = service
    return request


def make_traffic(captured) -> tuple[list[Call], list[list[ExportTraceServiceRequest]]]:
    """The calls, and per phase (before and after the restart) one request per service."""
    calls, spans_of = [], {}
    for i in range(CALLS):
        before = len(captured.get_finished_spans())
        kind, content = run_call(i)
        spans = captured.get_finished_spans()[before:]
        assert spans, f"call {i} made no span"
        trace_ids = {span.context.trace_id for span in spans}
        assert len(trace_ids) == 1
        service = ("checkout", "search")[i % 2]
        calls.append(Call(i, kind, service, trace_ids.pop(), content))
        spans_of[i] = spans
    phases = []
    for phase in (range(0, CALLS // 2), range(CALLS // 2, CALLS)):
        phases.append(
            [
                request_for([s for i in phase if calls[i].service == service for s in spans_of[i]], service)
                for service in ("checkout", "search")
            ]
        )
    return calls, phases


def processing_order(calls: list[Call]) -> list[Call]:
    """As serve sees them: per phase, the checkout request, then the search request."""
    order = []
    for phase in (calls[: CALLS // 2], calls[CALLS // 2 :]):
        for service in ("checkout", "search"):
            order += [c for c in phase if c.service == service]
    return order


def sampled(trace_id: int) -> bool:
    return SAMPLER.should_sample(None, trace_id, "llm").decision == Decision.RECORD_AND_SAMPLE


def predict(calls: list[Call]) -> tuple[dict[str, set[int]], dict[str, dict[str, int]]]:
    """Trace ids of the tasks per rule, and serve's counters per rule, from the rules as written."""
    tasks: dict[str, set[int]] = {"failures": set(), "gpt4o": set(), "everything-else": set()}
    counts = {name: dict.fromkeys(OUTCOMES, 0) for name in tasks}
    seen: set[tuple[str, str]] = set()
    for call in processing_order(calls):
        rule = {"failing": "failures", "gpt4o": "gpt4o"}.get(call.kind, "everything-else")
        counts[rule]["matched"] += 1
        if rule == "everything-else" and not sampled(call.trace_id):
            counts[rule]["sampled_out"] += 1
            continue
        if call.content in seen:
            counts[rule]["folded"] += 1
            continue
        if rule == "gpt4o" and len(tasks["gpt4o"]) == LIMIT:
            counts[rule]["over_limit"] += 1
            continue
        seen.add(call.content)
        counts[rule]["kept"] += 1
        tasks[rule].add(call.trace_id)
    return tasks, counts


def send(side: sidecar.Sidecar, requests: list[ExportTraceServiceRequest]) -> None:
    for request in requests:
        response = httpx.post(
            side.traces_url, content=request.SerializeToString(), headers={**PROTOBUF, **side.auth()}
        )
        assert response.status_code == 200, response.text


def review_counts(side: sidecar.Sidecar) -> dict[str, dict[str, int]]:
    values = serve_calls.metrics(side)
    counts: dict[str, dict[str, int]] = {}
    for name, value in values.items():
        if name.startswith("otel_label_studio_review_spans_total{"):
            labels = dict(part.split("=", 1) for part in name[name.index("{") + 1 : -1].split(","))
            rule, outcome = labels["rule"].strip('"'), labels["outcome"].strip('"')
            counts.setdefault(rule, {})[outcome] = int(value)
    return counts


def command(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_LABEL_STUDIO_", "LABEL_STUDIO_"))}
    return subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True, timeout=60)


def wait_for_log(side: sidecar.Sidecar, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = side.logs()
        if text in logs:
            return logs
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in serve's log:\n{side.logs()[-3000:]}")


def test_serve_makes_exactly_the_tasks_the_rules_predict_across_a_restart(
    captured, label_studio, ls, tmp_path, project_name
):
    routed = f"{project_name}-4o"
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(limit=LIMIT, routed=routed))
    calls, phases = make_traffic(captured)
    expected_tasks, expected_counts = predict(calls)
    assert expected_counts["everything-else"]["folded"] > 0 and expected_counts["gpt4o"]["over_limit"] > 0
    assert all(c.trace_id not in expected_tasks["gpt4o"] for c in calls[CALLS // 2 :])  # B: over the limit

    # The dry run on the capture, before serve sees it.
    capture = tmp_path / "capture.pb"
    capture.write_bytes(frame([request for phase in phases for request in phase]))
    dry = command(
        "rules", "check", "--review-rules", str(rules), str(capture), "--json", "--project-name", project_name
    )
    assert dry.returncode == 0, dry.stderr
    predicted = json.loads(dry.stdout)

    side = sidecar.start(label_studio, tmp_path / "data", project_name, args=["--review-rules", str(rules)])
    try:
        send(side, phases[0])
        before_restart = review_counts(side)
        serve_calls.wait_until_drained(side)
        assert side.terminate() == 0
        side.respawn()  # same data directory: the same spool, the same review state
        send(side, phases[1])
        after_restart = review_counts(side)
        serve_calls.wait_until_drained(side)

        # What serve counted over both runs: the prediction, and the dry run's.
        served = {
            rule: {o: before_restart[rule][o] + after_restart[rule][o] for o in OUTCOMES}
            for rule in expected_counts
        }
        assert served == expected_counts
        assert before_restart[""]["no_rule_matched"] + after_restart[""]["no_rule_matched"] == 0
        for rule, counts in served.items():
            dry_rule = predicted["rules"][rule]
            assert (dry_rule["matched"], dry_rule["kept_by_sampling"], dry_rule["cut_by_limit"]) == (
                counts["matched"],
                counts["matched"] - counts["sampled_out"],
                counts["over_limit"],
            )
            assert (dry_rule["folded"], dry_rule["tasks"]) == (counts["folded"], counts["kept"])

        # Exactly the predicted tasks, each in its project; failed calls show their error.
        default_ids = expected_tasks["failures"] | expected_tasks["everything-else"]
        landed = wait_for_tasks(ls, project_name, len(default_ids))
        assert {int(t.data["trace_id"], 16) for t in landed} == default_ids
        assert len(landed) == len(default_ids)
        failed = [t for t in landed if int(t.data["trace_id"], 16) in expected_tasks["failures"]]
        assert len(failed) == 10 and all("the model is down" in json.dumps(t.data) for t in failed)
        repeats = [t for t in landed if REPEATED[0] in json.dumps(t.data)]
        assert len(repeats) == 1  # folded repeats made no task, before or after the restart
        routed_tasks = tasks_of(ls, routed)
        assert {int(t.data["trace_id"], 16) for t in routed_tasks} == expected_tasks["gpt4o"]
        assert len(routed_tasks) == LIMIT
        assert predicted["rules"]["gpt4o"]["projects"] == {routed: LIMIT}
        assert predicted["rules"]["everything-else"]["projects"] == {
            project_name: len(expected_tasks["everything-else"])
        }

        # spool stats shows the folded repeats per project.
        stats = command("spool", "stats", "--data-dir", str(side.data_dir), "--json")
        assert stats.returncode == 0, stats.stderr
        folded = expected_counts["everything-else"]["folded"] + expected_counts["gpt4o"]["folded"]
        assert json.loads(stats.stdout)["folded_repeats"] == {project_name: folded}
        assert (
            serve_calls.metrics(side)[
                f'otel_label_studio_review_folded_repeats_total{{project="{project_name}"}}'
            ]
            == folded
        )

        # SIGHUP with a bad file: refused with file and line, the rules in force stay.
        rules.write_text("rules:\n  - name: typo\n    mach: {model: x}\n")
        side.process.send_signal(signal.SIGHUP)
        logs = wait_for_log(side, "Review rules not reloaded")
        assert f"{rules}, line 3" in logs
        send(side, phases[0][:1])  # the first request again: decided by the old rules
        again = review_counts(side)
        sent = sum(1 for c in calls[: CALLS // 2] if c.service == "checkout")
        assert sum(again[rule]["matched"] for rule in expected_counts) == sent + sum(
            after_restart[rule]["matched"] for rule in expected_counts
        )
        assert "typo" not in again
        assert serve_calls.wait_until_drained(side)["otel_label_studio_spool_records"] == 0
        assert len(tasks_of(ls, project_name)) == len(default_ids)  # all folded or over the limit

        # SIGHUP with a good file: the new rules decide from now on.
        rules.write_text("rules:\n  - name: nothing\n    sample: 0.0\n")
        side.process.send_signal(signal.SIGHUP)
        wait_for_log(side, "Review rules reloaded")
        assert "nothing" in review_counts(side)
    finally:
        assert side.terminate() == 0


def test_serve_refuses_a_bad_rules_file_at_start_with_file_and_line(label_studio, tmp_path, project_name):
    rules = tmp_path / "bad.yaml"
    rules.write_text("rules:\n  - name: slow\n    match: {latency_ms: '>fast'}\n")
    side = sidecar.start(
        label_studio, tmp_path / "data", project_name, args=["--review-rules", str(rules)], wait=False
    )
    assert side.process.wait(timeout=30) == 2
    logs = side.logs()
    assert f"--review-rules: {rules}, line 3" in logs


# --- files a user points serve at: a regular file, read with a bound -------------------------------------

DEVICE = "is a character device, not a regular file"
KEY = "user-files-key-0123"  # Label Studio is nowhere: serve only receives


def user_path(tmp_path: Path, kind: str) -> Path:
    """A path that is no small regular file: the device that never ends, a symlink to it, a FIFO
    (an open for reading blocks until a writer comes), a directory, a valid file over the limit."""
    if kind == "dev-zero":
        return Path("/dev/zero")
    path = tmp_path / f"given-{kind}"
    if kind == "symlink-to-dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:  # valid YAML (and XML) of 5 MiB: a comment of it
        path.write_text("rules: []\n# " + "x" * (5 * 1024 * 1024) + "\n")
    return path


@pytest.mark.parametrize(
    "option, kind, said",
    [
        ("--review-rules", "dev-zero", f"/dev/zero: the rules file {DEVICE} (of at most 1 MiB)"),
        ("--review-rules", "symlink-to-dev-zero", f"the rules file {DEVICE}"),
        ("--review-rules", "fifo", "the rules file is a FIFO (named pipe), not a regular file"),
        ("--review-rules", "directory", "the rules file is a directory, not a regular file"),
        (
            "--review-rules",
            "over-the-limit",
            "the rules file is larger than the 1 MiB limit for a rules file",
        ),
        ("--project-config", "dev-zero", f"label config file /dev/zero {DEVICE} (of at most 4 MiB)"),
        ("--project-config", "fifo", "is a FIFO (named pipe), not a regular file"),
        ("--project-config", "over-the-limit", "is larger than the 4 MiB limit for a label config file"),
    ],
)
def test_serve_refuses_a_file_that_is_not_a_small_regular_file_at_start(tmp_path, option, kind, said):
    """Exit 2 at start with the file and the limit named; never a read without end (the issue saw
    2.3 GB within a second of ``--review-rules /dev/zero``) nor a FIFO's open that never returns."""
    path = user_path(tmp_path, kind)
    side = sidecar.start(
        nowhere(), tmp_path / "data", "user-files", api_key=KEY, args=[option, str(path)], wait=False
    )
    code = memory.watch(side.process, max_rss_kib=1024 * memory.MIB, timeout=120)
    assert code == 2, side.logs()
    logs = side.logs()
    assert f"{option}: " in logs and said in logs, logs[-2000:]
    assert str(path) in logs


def test_sighup_with_the_rules_file_swapped_for_a_symlink_to_dev_zero_keeps_the_rules(tmp_path):
    """The ERROR names the file and what it is; the rules in force stay and decide the next span;
    serve's memory does not grow (the issue saw 2.5 GB)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: keep-all\n    sample: 1.0\n")
    side = sidecar.start(
        nowhere(), tmp_path / "data", "user-files", api_key=KEY, args=["--review-rules", str(rules)]
    )
    try:
        send(side, [llm_request(question="before the swap")])
        assert review_counts(side)["keep-all"]["matched"] == 1
        pid = side.process.pid
        resident = memory.rss_kib(pid)
        memory.reset_peak(pid)
        swap = tmp_path / "swap"
        swap.symlink_to("/dev/zero")
        os.replace(swap, rules)  # what an editor or a config-map update does: the path now a symlink
        side.process.send_signal(signal.SIGHUP)
        memory.watch(
            side.process,
            max_rss_kib=resident + 512 * memory.MIB,
            timeout=60,
            until=lambda: "Review rules not reloaded" in side.logs(),
        )
        assert f"Review rules not reloaded, the rules in force stay: {rules}: the rules file {DEVICE}" in (
            side.logs()
        )
        grown = (memory.peak_kib(pid) - resident) / memory.MIB
        assert grown < 32, f"serve grew by {grown:.0f} MiB on SIGHUP"
        send(side, [llm_request(question="after the swap")])
        assert review_counts(side)["keep-all"]["matched"] == 2  # the rules in force decided it
        assert side.process.poll() is None
    finally:
        assert side.terminate() == 0
