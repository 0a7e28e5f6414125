"""`otel-label-studio replay`: backfill from files the Collector's file exporter writes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import json_format

from otel_label_studio.replay import frame, read_requests
from tests.support.label_studio_reads import tasks_of
from tests.support.otlp_requests import llm_spans, span_ids

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
    from otel_label_studio.spool import Spool
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
