"""`otel-label-studio rules check`: the real command, as a subprocess, on a capture.

The expected counts are computed here from the trace ids (TraceIdRatioBased's bound), the
limit and the repeats, not read back from the code under test.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from otel_label_studio.receiver.replay import frame

SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")
RULES = """\
rules:
  - name: failures
    match: {status: error}
  - name: slow-gpt4o
    match:
      model: "gpt-4o*"
      latency_ms: ">2000"
      service.name: [checkout, search]
    limit: 3/day
    project: "Slow-%Y"
  - name: everything-else
    sample: 0.25
fold_duplicates: 24h
"""
BOUND = round(0.25 * 2**64)
START = 1_700_000_000_000_000_000


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def traffic(count: int = 200, seed: int = 7) -> tuple[list[ExportTraceServiceRequest], dict]:
    """Requests of LLM spans (plus a chain span per request) and the counts the rules predict."""
    rng = random.Random(seed)
    expected = {
        "failures": {"matched": 0, "tasks": 0},
        "slow-gpt4o": {"matched": 0, "tasks": 0, "cut_by_limit": 0},
        "everything-else": {"matched": 0, "kept_by_sampling": 0, "tasks": 0, "folded": 0},
    }
    seen: set[str] = set()
    by_service: dict[str, list[Span]] = {"checkout": [], "search": [], "billing": []}
    for i in range(count):
        service = ("checkout", "search", "billing")[i % 3]
        trace_id = rng.getrandbits(128)
        failed = i % 10 == 7
        model = "gpt-4o-2024-08-06" if i % 2 == 0 else "claude-3-5-sonnet"
        slow = i % 4 == 0
        repeated = i % 5 == 1  # the same question and answer again and again
        question = "What is the capital of France?" if repeated else f"question {i}"
        answer = "Paris." if repeated else f"answer {i}"
        messages = [{"role": "user", "parts": [{"type": "text", "content": question}]}]
        attributes = [
            _kv("gen_ai.operation.name", "chat"),
            _kv("gen_ai.request.model", model),
            _kv("gen_ai.input.messages", json.dumps(messages)),
        ]
        if not failed:
            output = [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
            attributes.append(_kv("gen_ai.output.messages", json.dumps(output)))
        by_service[service].append(
            Span(
                trace_id=trace_id.to_bytes(16, "big"),
                span_id=rng.getrandbits(64).to_bytes(8, "big"),
                name="ChatOpenAI.chat",
                start_time_unix_nano=START,
                end_time_unix_nano=START + (3000 if slow else 500) * 1_000_000,
                attributes=attributes,
                status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_UNSET),
            )
        )
        if failed:
            expected["failures"]["matched"] += 1
            expected["failures"]["tasks"] += 1
        elif model.startswith("gpt-4o") and slow and service in ("checkout", "search"):
            expected["slow-gpt4o"]["matched"] += 1
            if expected["slow-gpt4o"]["tasks"] < 3:
                expected["slow-gpt4o"]["tasks"] += 1
                seen.add(question + answer)  # it made a task: a later repeat folds
            else:
                expected["slow-gpt4o"]["cut_by_limit"] += 1
        else:
            rest = expected["everything-else"]
            rest["matched"] += 1
            if trace_id & (2**64 - 1) < BOUND:
                rest["kept_by_sampling"] += 1
                if question + answer in seen:
                    rest["folded"] += 1
                else:
                    seen.add(question + answer)
                    rest["tasks"] += 1
    requests = []
    for service, spans in by_service.items():
        chain = Span(trace_id=spans[0].trace_id, span_id=b"\x01" * 8, name="RunnableSequence")
        requests.append(
            ExportTraceServiceRequest(
                resource_spans=[
                    ResourceSpans(
                        resource=Resource(attributes=[_kv("service.name", service)]),
                        scope_spans=[ScopeSpans(spans=[chain, *spans])],
                    )
                ]
            )
        )
    return requests, expected


def otlp_json_line(request: ExportTraceServiceRequest) -> str:
    document = json_format.MessageToDict(request)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId"):
                    span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document)


def rules_check(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_LABEL_STUDIO_", "LABEL_STUDIO_"))}
    return subprocess.run(
        [SCRIPT, "rules", "check", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_rules_check_predicts_what_the_rules_do_to_a_capture(tmp_path):
    requests, expected = traffic()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    (tmp_path / "traces.pb").write_bytes(frame(requests[:2]))
    (tmp_path / "traces.jsonl").write_text(otlp_json_line(requests[2]) + "\n")
    captures = [str(tmp_path / "traces.pb"), str(tmp_path / "traces.jsonl")]

    result = rules_check("--review-rules", str(rules), *captures, "--json", "--project-name", "Reviews-%Y")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["spans"], report["llm_spans"], report["no_rule_matched"]) == (203, 200, 0)
    year = time.strftime("%Y", time.gmtime())
    failures, slow, rest = (report["rules"][name] for name in ("failures", "slow-gpt4o", "everything-else"))
    assert failures["matched"] == failures["tasks"] == expected["failures"]["tasks"] == 20
    assert failures["projects"] == {f"Reviews-{year}": 20}  # failed calls are tasks: the rule names status
    assert (slow["matched"], slow["tasks"], slow["cut_by_limit"]) == (
        expected["slow-gpt4o"]["matched"],
        3,
        expected["slow-gpt4o"]["cut_by_limit"],
    )
    assert slow["projects"] == {f"Slow-{year}": 3}
    assert rest["matched"] == expected["everything-else"]["matched"]
    assert rest["kept_by_sampling"] == expected["everything-else"]["kept_by_sampling"]
    assert rest["folded"] == expected["everything-else"]["folded"] > 0
    assert rest["tasks"] == expected["everything-else"]["tasks"]
    assert rest["projects"] == {f"Reviews-{year}": rest["tasks"]}
    assert 0.15 < rest["kept_by_sampling"] / rest["matched"] < 0.35

    table = rules_check("--review-rules", str(rules), *captures)
    assert table.returncode == 0, table.stderr
    assert "matched  kept by sampling  cut by limit  folded" in table.stdout
    assert f"Slow-{year} (3)" in table.stdout


def test_rules_check_without_captures_validates_and_lists_the_rules(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    result = rules_check("--review-rules", str(rules))
    assert result.returncode == 0, result.stderr
    assert f"{rules}: valid, 3 rules" in result.stdout
    assert "slow-gpt4o (line 4): model: gpt-4o*, latency_ms: >2000" in result.stdout
    env_given = subprocess.run(
        [SCRIPT, "rules", "check"],
        env={**os.environ, "OTEL_LABEL_STUDIO_REVIEW_RULES": str(rules)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert env_given.returncode == 0 and "valid, 3 rules" in env_given.stdout


def test_rules_check_on_a_bad_file_exits_2_with_file_and_line(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("    limit: 3/day", "    limits: 3/day"))
    result = rules_check("--review-rules", str(rules))
    assert result.returncode == 2
    wanted = f"{rules}, line 9: unknown key 'limits' in rule 'slow-gpt4o' (did you mean 'limit'?)"
    assert wanted in result.stderr
    assert rules_check().returncode == 2  # no file at all: say how to give one
    broken_capture = tmp_path / "notes.json"
    broken_capture.write_text('{"hello": [1, 2]}\n{"resourceSpans": "x"}\n')
    rules.write_text(RULES)
    bad_capture = rules_check("--review-rules", str(rules), str(broken_capture))
    assert bad_capture.returncode == 2 and "notes.json" in bad_capture.stderr


AGENT_RULES = """\
rules:
  - name: tool-runs
    match: {run.tools: {exists: true}}
  - name: rest
    sample: 0.05
"""


def test_rules_check_reads_the_mode_as_serve_does(tmp_path):
    """run.* keys are refused outside mode agent, and any rules in mode pairwise, as serve refuses them."""
    rules = tmp_path / "agent.yaml"
    rules.write_text(AGENT_RULES)
    prompt = rules_check("--review-rules", str(rules))  # mode prompt, the default
    assert prompt.returncode == 2
    assert f"{rules}, line 3: run.tools in rule 'tool-runs' is a run's field" in prompt.stderr
    agent = rules_check("--review-rules", str(rules), "--mode", "agent")
    assert agent.returncode == 0, agent.stderr
    assert f"{rules}: valid, 2 rules" in agent.stdout and "mode agent" in agent.stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_LABEL_STUDIO_", "LABEL_STUDIO_"))}
    from_env = subprocess.run(
        [SCRIPT, "rules", "check", "--review-rules", str(rules)],
        env={**env, "OTEL_LABEL_STUDIO_MODE": "agent"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert from_env.returncode == 0, from_env.stderr
    pairwise = rules_check("--review-rules", str(rules), "--mode", "pairwise")
    assert pairwise.returncode == 2 and "do not apply to mode pairwise" in pairwise.stderr
    rules.write_text(RULES)  # one call's fields: refused in mode agent, with the run field to use
    calls_in_agent = rules_check("--review-rules", str(rules), "--mode", "agent")
    assert calls_in_agent.returncode == 2
    assert "latency_ms in rule 'slow-gpt4o' is one LLM call's field" in calls_in_agent.stderr
    assert "run.duration_ms" in calls_in_agent.stderr
