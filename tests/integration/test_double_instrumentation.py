"""Both LangChain instrumentations installed, a real app under ``opentelemetry-instrument``: every call
described twice, one task per call, one warning with the fix; and the fix, applied, leaves one
instrumentation on.

The app runs in the test's own environment, which the lock (``requirements/dev.txt``, the ``test``
extra) gives both ``opentelemetry-instrumentation-langchain`` and ``openinference-instrumentation-langchain``.
Without the ``langchain`` package (langchain-core alone, as here) ``opentelemetry-instrument`` turns on
OpenInference's instrumentor only, and the app calls ``LangchainInstrumentor().instrument()`` as the
README says to: LangChain is instrumented twice all the same. The console exporter beside Label Studio
shows which instrumentations made spans, so the test cannot pass on a run that was instrumented once.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from otel_label_studio.doctor import langchain_instrumentations
from tests.support.child_env import user_environment
from tests.support.label_studio_reads import tasks_of
from tests.support.labelstudio_server import LabelStudioServer
from tests.support.prerequisites import missing

pytestmark = pytest.mark.integration

APP = """\
from opentelemetry.instrumentation.langchain import LangchainInstrumentor

LangchainInstrumentor().instrument()  # langchain-core alone: the README says to call it once

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage

model = FakeListChatModel(responses=["Paris.", "Rome."])
for question in ("Capital of France?", "Capital of Italy?"):
    print(model.invoke([SystemMessage("Answer briefly."), HumanMessage(question)]).content)
"""
WARNING = "LangChain is instrumented twice"
OPENINFERENCE_LLM_SPAN = '"openinference.span.kind": "LLM"'
OPENLLMETRY_LLM_SPAN = '"gen_ai.operation.name": "chat"'


@pytest.fixture(scope="module", autouse=True)
def both_installed() -> None:
    found = langchain_instrumentations(entry_points(group="opentelemetry_instrumentor"))
    if len(found) < 2:
        missing(f"only {found} here: install the test extra (make setup) for both LangChain instrumentations")


def run_app(label_studio: LabelStudioServer, project: str, workdir: Path, **variables: str):
    app = workdir / "app.py"
    app.write_text(APP)
    env = user_environment(
        OTEL_TRACES_EXPORTER="console,label_studio",
        OTEL_LABEL_STUDIO_PROJECT_NAME=project,
        LABEL_STUDIO_URL=label_studio.url,
        LABEL_STUDIO_API_KEY=label_studio.pat,
        **variables,
    )
    instrument = str(Path(sys.executable).parent / "opentelemetry-instrument")
    done = subprocess.run(
        [instrument, sys.executable, str(app)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("Paris.\nRome.\n"), done.stdout[:500]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


def prompts_and_dialects(ls, project: str) -> list[tuple[str, str]]:
    return sorted((str(task.data["prompt"]), task.meta["dialect"]) for task in tasks_of(ls, project))


def test_one_task_per_call_one_warning_and_the_fix_it_names_leaves_one_instrumentation_on(
    label_studio: LabelStudioServer, ls, project_name: str, tmp_path: Path
) -> None:
    done = run_app(label_studio, project_name, tmp_path)
    # really instrumented twice: each call has an OpenInference and an OpenLLMetry LLM span
    assert done.stdout.count(OPENINFERENCE_LLM_SPAN) == 2 and done.stdout.count(OPENLLMETRY_LLM_SPAN) == 2
    assert done.stderr.count(WARNING) == 1, done.stderr[-3000:]
    assert "pip uninstall openinference-instrumentation-langchain" in done.stderr
    tasks = prompts_and_dialects(ls, project_name)
    assert [dialect for _, dialect in tasks] == ["genai", "genai"], tasks
    assert "Capital of France?" in tasks[0][0] and "Capital of Italy?" in tasks[1][0]

    # the warning's own fix, applied (the app already instruments LangChain itself, as the fix asks)
    (value,) = re.findall(r"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=([\w,]+)", done.stderr)
    fixed = run_app(
        label_studio, project_name + "-fixed", tmp_path, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=value
    )
    assert fixed.stdout.count(OPENINFERENCE_LLM_SPAN) == 0 and fixed.stdout.count(OPENLLMETRY_LLM_SPAN) == 2
    assert WARNING not in fixed.stderr, fixed.stderr[-3000:]
    assert [dialect for _, dialect in prompts_and_dialects(ls, project_name + "-fixed")] == ["genai", "genai"]
