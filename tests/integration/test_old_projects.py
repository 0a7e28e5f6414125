"""Projects made before the reviewer's page changed (issue 25) keep working: a project created with the
default label configs of that time (``tests/fixtures/layouts-before-issue-25/``, saved as they were)
still receives tasks from every mode, its reviewers' answers still export, and its report still reads.
Real Label Studio, the real exporter, the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_label_studio import LabelStudioSpanExporter
from tests.support import fixtures, scenarios
from tests.support.label_studio_reads import tasks_of, wait_for_tasks
from tests.support.pipelines import deliver, pipeline

pytestmark = pytest.mark.integration

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "layouts-before-issue-25"
SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")


def old_project(ls, project_name: str, mode: str) -> int:
    config = (OLD / f"{mode}.xml").read_text()
    return ls.projects.create(title=project_name, label_config=config).id


def exporter_into(label_studio, project_id: int, mode: str, **extra: Any) -> LabelStudioSpanExporter:
    return LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_id=project_id, mode=mode, **extra
    )


def cli(label_studio, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.legacy_token,
    }
    return subprocess.run(
        [SCRIPT, *args, "--no-progress"], env=env, capture_output=True, text=True, timeout=120
    )


def exported(label_studio, project_id: int, fmt: str, out: Path) -> list[dict[str, Any]]:
    done = cli(label_studio, "export", "--project-id", str(project_id), "--format", fmt, "--output", str(out))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def reviewed(target: str, corrected: str) -> list[dict[str, Any]]:
    """A reviewer's answer on the old configs: four stars and a corrected response."""
    return [
        {"from_name": "rating", "to_name": target, "type": "rating", "value": {"rating": 4}},
        {"from_name": "response", "to_name": target, "type": "textarea", "value": {"text": [corrected]}},
    ]


@pytest.mark.parametrize(
    "mode, target, scenario", [("prompt", "prompt", "completion"), ("chat", "dialogue", "multi_turn")]
)
def test_an_old_prompt_or_chat_project_still_takes_tasks_exports_and_reports(
    label_studio, ls, project_name, tmp_path, mode, target, scenario
):
    project_id = old_project(ls, project_name, mode)
    exporter = exporter_into(label_studio, project_id, mode)
    deliver(exporter, fixtures.load("legacy", scenario))
    exporter.shutdown()
    (task,) = tasks_of(ls, project_name)
    ls.annotations.create(id=task.id, result=reviewed(target, "A corrected answer."), was_cancelled=False)
    (line,) = exported(label_studio, project_id, "sft", tmp_path / "sft.jsonl")
    assert line["messages"][-1] == {"role": "assistant", "content": "A corrected answer."}
    report = cli(label_studio, "report", "--project-id", str(project_id), "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["tasks"] == 1


def test_an_old_agent_project_still_takes_runs_and_exports_them(
    routing, captured, label_studio, ls, project_name, tmp_path
):
    project_id = old_project(ls, project_name, "agent")
    exporter = exporter_into(label_studio, project_id, "agent", run_grace=0.5)
    with pipeline(routing, exporter):
        scenarios.agent_run()
    (task,) = wait_for_tasks(ls, project_name, 1)
    exporter.shutdown()
    old_config = (OLD / "agent.xml").read_text()
    for key in ("steps", "step_options"):  # what the old config reads is still in the task
        assert f"${key}" in old_config and task.data.get(key), key
    ls.annotations.create(id=task.id, result=reviewed("steps", "It is sunny in Paris."), was_cancelled=False)
    (line,) = exported(label_studio, project_id, "sft", tmp_path / "sft.jsonl")
    assert line["messages"][0]["role"] in ("system", "user") and line["messages"][-1]["content"] == (
        "It is sunny in Paris."
    )


def test_an_old_pairwise_project_still_takes_pairs_and_exports_the_preference(
    routing, captured, label_studio, ls, project_name, tmp_path
):
    project_id = old_project(ls, project_name, "pairwise")
    exporter = exporter_into(label_studio, project_id, "pairwise", pair_wait=1)
    with pipeline(routing, exporter):
        scenarios.n2()
    (task,) = wait_for_tasks(ls, project_name, 1)
    exporter.shutdown()
    choice = {"from_name": "choice", "to_name": "choice", "type": "pairwise", "value": {"selected": "left"}}
    ls.annotations.create(id=task.id, result=[choice], was_cancelled=False)
    (line,) = exported(label_studio, project_id, "preference", tmp_path / "preference.jsonl")
    assert line["chosen"][-1]["content"] == task.data["answer_a"]
    assert line["rejected"][-1]["content"] == task.data["answer_b"]
