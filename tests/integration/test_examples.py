"""The sample captures in ``examples/`` do what examples/README.md says, against the real Label Studio:
``replay`` makes each mode's tasks, and serve takes the judge results for the chat example's spans."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.support import sidecar as sidecars
from tests.support.label_studio_reads import tasks_of, wait_for_tasks
from tests.support.prerequisites import REPO_ROOT

pytestmark = pytest.mark.integration

EXAMPLES = REPO_ROOT / "examples"
CLI = [sys.executable, "-m", "otel_label_studio.cli"]
JSON = {"Content-Type": "application/json"}


def test_the_examples_are_what_the_generator_writes():
    """In a process of its own: the LangChain instrumentation keeps the first provider it is given."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])}
    check = [sys.executable, "-m", "devtools.examples", "--check"]
    result = subprocess.run(check, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr  # out of date: run python -m devtools.examples


@pytest.mark.parametrize(
    ("name", "said", "tasks"),
    [
        ("prompt", "3 spans read, 3 new LLM records: 3 tasks created, 0 dead letters", 3),
        ("chat", "3 spans read, 3 new LLM records: 3 tasks created, 0 dead letters", 3),
        ("agent", "9 spans read, 1 new LLM record: 1 task created, 0 dead letters", 1),
    ],
)
def test_replay_makes_each_examples_tasks(name, said, tasks, label_studio, ls, project_name):
    env = {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.pat}
    command = [*CLI, "replay", "--mode", name, "--project-name", project_name, "--no-progress",
               str(EXAMPLES / f"{name}.jsonl")]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert said in result.stdout, result.stdout
    assert len(tasks_of(ls, project_name)) == tasks


def test_serve_takes_the_judge_results_of_the_chat_examples_spans(label_studio, ls, project_name, tmp_path):
    serve = sidecars.start(label_studio, tmp_path / "data", project_name, args=["--mode", "chat"])
    try:
        with httpx.Client(headers={**serve.auth(), **JSON}, timeout=30) as client:
            for line in (EXAMPLES / "chat.jsonl").read_bytes().splitlines():
                assert client.post(serve.traces_url, content=line).status_code == 200
            wait_for_tasks(ls, project_name, 3)
            for line in (EXAMPLES / "judge-results.jsonl").read_bytes().splitlines():
                answer = client.post(f"{serve.http_url}/v1/logs", content=line)
                assert answer.status_code == 200 and "rejected" not in answer.text, answer.text
        deadline, judged = time.monotonic() + 60, []
        while time.monotonic() < deadline:
            tasks = tasks_of(ls, project_name)
            judged = [
                t for t in tasks if any(e.get("name") == "helpfulness" for e in t.meta.get("evaluations", []))
            ]
            if len(judged) == 3:
                break
            time.sleep(0.5)
        assert len(judged) == 3, serve.logs()[-3000:]
    finally:
        assert serve.terminate() == 0
