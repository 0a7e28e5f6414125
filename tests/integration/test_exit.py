"""Nothing is lost at exit, on every supported Python: a real child app makes three fake-model calls
and ends without calling ``shutdown()``; its three tasks are in Label Studio afterwards.

The first export comes at different moments: during interpreter shutdown (the SDK's last batch, from
its ``atexit`` handler, where Python 3.12 refuses new threads), late (delivery's thread runs, the
last spans come at exit); zero-code under
``opentelemetry-instrument`` as well as in-process. The child environments are ``.venv-py/X.Y``,
which ``make pythons`` (part of ``make test``) builds from ``requirements/app.txt``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.child_env import user_environment
from tests.support.labelstudio_server import LabelStudioServer
from tests.support.prerequisites import REPO_ROOT, missing

SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
APP = REPO_ROOT / "tests" / "support" / "exit_app.py"
WAYS = {
    "zero-code": [],
    "in-process, first export at exit": ["--in-process", "at-exit"],
    "in-process, late": ["--in-process", "late"],
}


def test_the_supported_pythons_are_the_ones_the_package_declares() -> None:
    from importlib.metadata import metadata

    declared = {
        line.rsplit(":: ", 1)[1]
        for line in metadata("otel-label-studio").get_all("Classifier") or []
        if line.startswith("Programming Language :: Python :: 3.")
    }
    assert declared == set(SUPPORTED_PYTHONS)


def child_python(version: str) -> Path:
    venv = REPO_ROOT / ".venv-py" / version
    if not (venv / ".installed").is_file():
        missing(f"no environment for Python {version} at {venv}: run `make pythons` (make test does)")
    return venv / "bin" / "python"


@pytest.mark.integration
@pytest.mark.parametrize("way", list(WAYS))
@pytest.mark.parametrize("version", SUPPORTED_PYTHONS)
def test_three_calls_and_no_shutdown_make_three_tasks(
    version: str, way: str, label_studio: LabelStudioServer, ls, project_name: str, tmp_path: Path
) -> None:
    python = child_python(version)
    argv = [str(python), str(APP), *WAYS[way]]
    if way == "zero-code":
        argv = [str(python.parent / "opentelemetry-instrument"), *argv]
    env = user_environment(
        OTEL_TRACES_EXPORTER="label_studio",
        OTEL_LABEL_STUDIO_PROJECT_NAME=project_name,
        LABEL_STUDIO_URL=label_studio.url,
        LABEL_STUDIO_API_KEY=label_studio.pat,
    )
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "made 3 calls"
    assert "Traceback" not in done.stderr and "RuntimeError" not in done.stderr, done.stderr[-3000:]
    projects = [p for p in ls.projects.list(title=project_name) if p.title == project_name]
    assert projects, f"Python {version}, {way}: no project; the app said: {done.stderr[-2000:]}"
    tasks = list(ls.tasks.list(project=projects[0].id, fields="all"))
    prompts = sorted(str(task.data["prompt"]) for task in tasks)
    assert len(prompts) == 3, f"Python {version}, {way}: {len(prompts)} tasks; {done.stderr[-2000:]}"
    for index, prompt in enumerate(prompts):
        assert f"Question {index}" in prompt
