"""What `make demo` and `make stop` run: a whole local stack, demo traffic both ways, then stopped."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from tests.support import labelstudio_server
from tests.support.labelstudio_server import free_port
from tests.support.prerequisites import REPO_ROOT, missing

pytestmark = pytest.mark.integration


def stack(*args: str, state_dir) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LABEL_STUDIO_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "devtools.demo_stack", *args, "--state-dir", str(state_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone


def test_demo_up_twice_then_down(tmp_path):
    binary = labelstudio_server.find_binary(REPO_ROOT)
    if binary is None:
        message = "no Label Studio: run `make test` (it installs one into .venv-labelstudio)"
        missing(message)
    ports = ["--ls-port", str(free_port()), "--http-port", str(free_port()), "--grpc-port", str(free_port())]
    state = tmp_path / "demo"
    first = stack("up", "--label-studio-bin", str(binary), *ports, state_dir=state)
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        assert "Label Studio ... started" in first.stdout
        assert "Demo run with the in-process exporter: made 6 LLM calls" in first.stdout
        assert "Demo run with the OTLP exporter (through the sidecar): made 6 LLM calls" in first.stdout
        assert "already hold" not in first.stdout
        urls = re.findall(r"(http://127\.0\.0\.1:\d+/projects/(\d+))  \((\d+) tasks\)", first.stdout)
        assert len(urls) == 2 and all(int(count) == 6 for _, _, count in urls), first.stdout
        saved = json.loads((state / "stack.json").read_text())
        assert re.search(rf"as admin@example.com with password {re.escape(saved['password'])}", first.stdout)
        ls = LabelStudio(base_url=f"http://127.0.0.1:{saved['ls_port']}", api_key=saved["token"])
        for _, project_id, _ in urls:
            assert len(list(ls.tasks.list(project=int(project_id)))) == 6  # the printed URLs hold the tasks
        # the handover: the commands work as printed, from the repository's root
        export, report, stats = first.stdout.split("(copy-paste):\n")[1].splitlines()[:3]
        variables = dict(word.split("=", 1) for word in shlex.split(export)[1:])
        assert variables["LABEL_STUDIO_API_KEY"] == saved["token"]
        env = {**os.environ, **variables}
        for command in (report, stats):
            ran = subprocess.run(shlex.split(command), env=env, capture_output=True, text=True, timeout=120)
            assert ran.returncode == 0, command + "\n" + ran.stdout + ran.stderr

        second = stack("up", "--label-studio-bin", str(binary), *ports, state_dir=state)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "Label Studio ... reused" in second.stdout and "serve ... reused" in second.stdout
        assert second.stdout.count("(12 tasks)") == 2
        assert "already hold 12 tasks from earlier runs: this run adds 6 more to each" in second.stdout
        assert "`make demo-reset`" in second.stdout
    finally:
        down = stack("down", state_dir=state)
    assert down.returncode == 0 and "stopped otel-label-studio serve" in down.stdout
    pids = (saved["ls_pid"], saved["serve_pid"])
    assert not any(alive(pid) for pid in pids), "make stop left a process running"
    wiped = stack("down", "--wipe", state_dir=state)
    assert "nothing of the demo was running" in wiped.stdout and "wiped label-studio-data" in wiped.stdout
    assert not (state / "label-studio-data").exists() and not (state / "stack.json").exists()
