"""Zero-code with only ``langchain-core`` (no ``langchain`` package): ``opentelemetry-instrument``
leaves ``opentelemetry-instrumentation-langchain`` off (its distribution declares ``langchain`` as
what it instruments) and says so only at DEBUG. ``doctor`` says it, with what to install, and the
distro logs it once at the app's start. Run in a real child environment lacking ``langchain``
(``.venv-py/X.Y``: the package and langchain-core, requirements/app.txt)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.child_env import user_environment
from tests.support.prerequisites import REPO_ROOT, missing

pytestmark = pytest.mark.integration

SAID = (
    "opentelemetry-instrumentation-langchain is installed, but opentelemetry-instrument leaves it off: it "
    "instruments the langchain package and it is not installed"
)
FIX = "-> pip install langchain"


@pytest.fixture(scope="module")
def python() -> Path:
    """A child environment's Python with langchain-core and without langchain."""
    for venv in sorted((REPO_ROOT / ".venv-py").glob("3.*")):
        python = venv / "bin" / "python"
        if (venv / ".installed").is_file() and subprocess.run([python, "-c", "import langchain"]).returncode:
            return python
    missing("no .venv-py/X.Y without langchain: run `make pythons` (make test does)")
    raise AssertionError("not reached")


def child_env() -> dict[str, str]:
    # this checkout's code, whichever checkout the child environment was installed from
    return user_environment(PYTHONPATH=str(REPO_ROOT / "src"), LABEL_STUDIO_URL="http://127.0.0.1:9")


def test_doctor_says_the_instrumentation_stays_off_and_what_to_install(python):
    result = subprocess.run(
        [python, "-m", "otel_label_studio.cli", "doctor", "--no-ports"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("warn instrumentation:")]
    assert len(lines) == 1 and SAID in lines[0] and FIX in lines[0], result.stdout
    assert "instruments LangChain once" not in result.stdout  # it does not
    assert "Traceback" not in result.stdout + result.stderr


def test_the_app_under_opentelemetry_instrument_is_told_once_at_start(python):
    app = "import langchain_core; print('the app ran')"
    env = {**child_env(), "LABEL_STUDIO_API_KEY": "not-used-no-span-is-made"}
    result = subprocess.run(
        [python.parent / "opentelemetry-instrument", python, "-c", app],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "the app ran" in result.stdout, result.stdout + result.stderr
    assert result.stderr.count(SAID) == 1 and FIX in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
