"""`otel-label-studio replay`: backfill from files the Collector's file exporter writes."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from otel_label_studio.receiver.replay import frame, read_requests
from tests.support.label_studio_reads import tasks_of
from tests.support.otlp_requests import attribute, llm_spans, span_ids

SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")


def otlp_json_line(request) -> str:
    """One line as the file exporter writes it: OTLP/JSON, hex ids."""
    document = json_format.MessageToDict(request)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId"):
                    span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document)


def test_reading_every_format():
    first, second = llm_spans(["a", "b"]), llm_spans(["c"])
    lines = (otlp_json_line(first) + "\n" + otlp_json_line(second) + "\n").encode()
    assert list(read_requests("x.jsonl", lines)) == [first, second]
    pretty = json.dumps(json.loads(otlp_json_line(first)), indent=2).encode()
    assert list(read_requests("x.json", pretty)) == [first]
    assert list(read_requests("x.pb", frame([first, second]))) == [first, second]
    assert list(read_requests("body.bin", first.SerializeToString())) == [first]
    with pytest.raises(ValueError, match=r"y.jsonl, line 2: not OTLP/JSON"):
        list(read_requests("y.jsonl", lines.splitlines()[0] + b"\n{broken\n"))


@pytest.mark.integration
def test_replay_backfills_files_into_tasks(label_studio, ls, tmp_path, project_name):
    first, second, third = llm_spans(["q1", "q2"]), llm_spans(["q3"]), llm_spans(["q4", "q5"])
    (tmp_path / "traces.jsonl").write_text(otlp_json_line(first) + "\n" + otlp_json_line(second) + "\n")
    (tmp_path / "traces.pb").write_bytes(frame([third]))
    env = {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.pat}
    command = [SCRIPT, "replay", str(tmp_path / "traces.jsonl"), str(tmp_path / "traces.pb"),
               "--project-name", project_name, "--data-dir", str(tmp_path / "replay-spool")]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 spans read, 5 new LLM records: 5 tasks created, 0 dead letters" in result.stdout
    assert "replay: 100%" in result.stderr  # the progress bar
    landed = {task.data["span_id"] for task in tasks_of(ls, project_name)}
    assert landed == span_ids(first) | span_ids(second) | span_ids(third)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "5 spans read, 0 new LLM records" in again.stdout
    assert len(tasks_of(ls, project_name)) == 5  # the spool remembered what was replayed


def test_replay_says_which_file_is_not_otlp(tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": [1, 2]}\n{"resourceSpans": "x"}\n')
    result = subprocess.run(
        [SCRIPT, "replay", str(bad)],
        env={**os.environ, "LABEL_STUDIO_API_KEY": "k"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "notes.json, line 2: not OTLP/JSON" in result.stderr


@pytest.mark.integration
def test_spool_drain_delivers_in_the_foreground(label_studio, ls, tmp_path, project_name):
    from otel_label_studio.store.spool import Spool
    from tests.support.builders import record

    spool = Spool.in_directory(str(tmp_path / "data"))
    waiting = [record(n) for n in range(7)]
    for item in waiting:
        item.project = None
    spool.add(waiting)
    spool.close()
    env = {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.pat}
    result = subprocess.run(
        [SCRIPT, "spool", "drain", "--data-dir", str(tmp_path / "data"), "--project-name", project_name],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 records waited: 7 tasks created" in result.stdout
    assert "drain: 100%" in result.stderr
    assert {task.data["span_id"] for task in tasks_of(ls, project_name)} == {r.span_id for r in waiting}


REVIEW_RULES = """\
rules:
  - name: failures
    match: {{status: error}}
  - name: gpt4o
    match: {{model: "gpt-4o*"}}
    limit: 2/day
    project: "{routed}"
  - name: everything-else
    sample: 0.5
fold_duplicates: 24h
"""
HALF = round(0.5 * 2**64)  # TraceIdRatioBased(0.5): kept when the trace id's low 64 bits are below


def text(content: str) -> dict[str, str]:
    return {"type": "text", "content": content}


def review_traffic(count: int = 60, seed: int = 11):
    """Two requests of GenAI chat spans (failures, gpt-4o calls, repeats of one exchange, plain
    calls) and, computed here from the rules as written, the trace ids of the tasks per rule."""
    rng = random.Random(seed)
    spans: list[Span] = []
    expected: dict[str, set[int]] = {"failures": set(), "gpt4o": set(), "everything-else": set()}
    seen: set[tuple[str, str]] = set()
    folded = over_limit = 0
    for i in range(count):
        trace_id = rng.getrandbits(128)
        failed, gpt4o, repeated = i % 10 == 7, i % 4 == 0, i % 5 == 1
        question, answer = ("Capital of France?", "Paris.") if repeated else (f"question {i}", f"answer {i}")
        attributes = [
            attribute("gen_ai.operation.name", "chat"),
            attribute("gen_ai.request.model", "gpt-4o-mini" if gpt4o else "claude-3-5-haiku"),
            attribute(
                "gen_ai.input.messages",
                json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
            ),
        ]
        if not failed:
            output = [{"role": "assistant", "parts": [text(answer)]}]
            attributes.append(attribute("gen_ai.output.messages", json.dumps(output)))
        code = Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_UNSET
        spans.append(
            Span(
                trace_id=trace_id.to_bytes(16, "big"),
                span_id=rng.getrandbits(64).to_bytes(8, "big"),
                name="ChatOpenAI.chat",
                start_time_unix_nano=1_700_000_000_000_000_000,
                end_time_unix_nano=1_700_000_000_500_000_000,
                attributes=attributes,
                status=Status(code=code, message="the model is down" if failed else ""),
            )
        )
        rule = "failures" if failed else "gpt4o" if gpt4o else "everything-else"
        if rule == "everything-else" and trace_id & (2**64 - 1) >= HALF:
            continue  # sampled out
        content = (question, "" if failed else answer)
        if content in seen:
            folded += 1
            continue
        if rule == "gpt4o" and len(expected["gpt4o"]) == 2:
            over_limit += 1
            continue
        seen.add(content)
        expected[rule].add(trace_id)
    assert folded and over_limit  # the capture exercises folding and the limit
    resource = Resource(attributes=[attribute("service.name", "replayed")])
    requests = [
        ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=part)])]
        )
        for part in (spans[: count // 2], spans[count // 2 :])
    ]
    return requests, expected


@pytest.mark.integration
def test_replay_with_review_rules_makes_the_tasks_rules_check_predicts(
    label_studio, ls, tmp_path, project_name
):
    routed = f"{project_name}-4o"
    rules = tmp_path / "rules.yaml"
    rules.write_text(REVIEW_RULES.format(routed=routed))
    requests, expected = review_traffic()
    capture = tmp_path / "capture.pb"
    capture.write_bytes(frame(requests))
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_LABEL_STUDIO_", "LABEL_STUDIO_"))}
    check = [
        SCRIPT,
        "rules",
        "check",
        "--review-rules",
        str(rules),
        str(capture),
        "--project-name",
        project_name,
    ]
    predicted = subprocess.run([*check, "--json"], env=bare, capture_output=True, text=True, timeout=60)
    assert predicted.returncode == 0, predicted.stderr
    prediction = json.loads(predicted.stdout)["rules"]
    table = subprocess.run(check, env=bare, capture_output=True, text=True, timeout=60)
    assert table.returncode == 0, table.stderr

    env = {**bare, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.pat}
    command = [SCRIPT, "replay", str(capture), "--project-name", project_name, "--review-rules", str(rules)]
    result = subprocess.run([*command, "--no-progress"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

    tasks = {
        "failures": len(expected["failures"]),
        "gpt4o": 2,
        "everything-else": len(expected["everything-else"]),
    }
    assert {name: rule["tasks"] for name, rule in prediction.items()} == tasks
    made = sum(tasks.values())
    assert f"60 spans read, {made} new LLM records: {made} tasks created, 0 dead letters" in result.stdout
    assert table.stdout.strip() in result.stdout  # the counts per rule, as rules check printed them
    default = {int(t.data["trace_id"], 16) for t in tasks_of(ls, project_name)}
    assert default == expected["failures"] | expected["everything-else"]
    assert {int(t.data["trace_id"], 16) for t in tasks_of(ls, routed)} == expected["gpt4o"]
    assert prediction["gpt4o"]["projects"] == {routed: 2}
    assert prediction["everything-else"]["projects"] == {project_name: len(expected["everything-else"])}
