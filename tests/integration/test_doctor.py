"""`otel-label-studio doctor` against the real Label Studio: each finding one line, with a fix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from otel_label_studio.doctor import langchain_instrumentations
from tests.support import sidecar
from tests.support.labelstudio_server import free_port
from tests.support.prerequisites import missing

pytestmark = pytest.mark.integration

SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")


def doctor(
    url: str, key: str | None, *args: str, command: str = "doctor", **variables: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_LABEL_STUDIO_", "LABEL_STUDIO_"))}
    if key is not None:
        env["LABEL_STUDIO_API_KEY"] = key
    env.update(variables)
    return subprocess.run(
        [SCRIPT, command, "--url", url, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_a_good_personal_access_token(label_studio, project_name):
    result = doctor(label_studio.url, label_studio.pat, "--project-name", project_name, "--no-ports")
    assert result.returncode == 0, result.stdout
    assert "ok   key: a personal access token, accepted for admin@example.com" in result.stdout
    assert f"no project titled {project_name!r} yet" in result.stdout
    assert result.stdout.strip().endswith("all good")
    assert label_studio.pat not in result.stdout + result.stderr


def test_a_good_legacy_token_and_an_existing_project_whose_config_fits(label_studio, ls, project_name):
    from otel_label_studio import CHAT_CONFIG

    project = ls.projects.create(title=project_name, label_config=CHAT_CONFIG)
    result = doctor(
        label_studio.url, label_studio.legacy_token, "--project-id", str(project.id), "--no-ports"
    )
    assert result.returncode == 0, result.stdout
    assert "ok   key: a legacy token, accepted" in result.stdout
    assert f"(id {project.id}) is readable" in result.stdout
    assert "ok   config: tasks fit: dialogue -> $prompt, response -> response" in result.stdout


def test_a_project_that_cannot_take_tasks(label_studio, ls, project_name):
    ls.projects.create(
        title=project_name,
        label_config=(
            '<View><Text name="t" value="$text"/>'
            '<Choices name="c" toName="t"><Choice value="a"/></Choices></View>'
        ),
    )
    result = doctor(label_studio.url, label_studio.pat, "--project-name", project_name, "--no-ports")
    assert result.returncode == 1
    assert "FAIL config:" in result.stdout and "-> add a <TextArea>" in result.stdout


def test_a_wrong_key(label_studio):
    result = doctor(label_studio.url, "0123456789abcdef0123456789abcdef01234567", "--no-ports")
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if line.startswith("FAIL key:"))
    # the words every command uses for a refused key (delivery/problems.py)
    assert f"Label Studio at {label_studio.url} refused the legacy token (HTTP 401" in line and "->" in line
    assert line.count("refused") == 1, line
    assert "0123456789abcdef0123456789abcdef01234567" not in result.stdout


def test_a_wrong_url_and_a_busy_port():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        result = doctor(f"http://127.0.0.1:{dead}", "key", "--http-port", str(taken), "--grpc-port", "0")
    assert result.returncode == 1
    assert f"FAIL url: cannot reach Label Studio at http://127.0.0.1:{dead}" in result.stdout
    assert f"FAIL port: OTLP/HTTP 127.0.0.1:{taken} is in use by another program -> stop it" in result.stdout
    assert "2 problems to fix" in result.stdout


@pytest.mark.parametrize("token", ["legacy_token", "pat"])
def test_a_page_url_names_the_base_url_and_prints_no_page(label_studio, token):
    page = f"{label_studio.url}/projects/1"
    result = doctor(page, getattr(label_studio, token), "--no-ports")
    assert result.returncode == 1, result.stdout
    assert (
        f"FAIL url: {page!r} is a page of Label Studio, not its base URL: use {label_studio.url}"
        in result.stdout
    )
    assert f"-> set LABEL_STUDIO_URL / --url to {label_studio.url}" in result.stdout
    assert "FAIL key" not in result.stdout  # the key is not blamed
    output = result.stdout + result.stderr
    assert "<" not in output and "Traceback" not in output, output


def test_a_url_without_a_scheme_says_add_http(label_studio):
    bare = label_studio.url.removeprefix("http://")
    result = doctor(bare, label_studio.pat, "--no-ports")
    assert result.returncode == 1
    assert f"FAIL url: {bare!r} has no scheme: add http:// (http://{bare})" in result.stdout


def test_each_receiver_port_is_checked_on_its_own_protocol(label_studio, tmp_path, project_name):
    side = sidecar.start(label_studio, tmp_path / "data", project_name)
    try:
        with socket.socket() as other:  # another program, on neither protocol
            other.bind(("127.0.0.1", 0))
            other.listen()
            taken = other.getsockname()[1]
            free = free_port()
            # serve's own gRPC port, with an HTTP port that is free: both fine (no false FAIL)
            ours = doctor(
                label_studio.url,
                label_studio.pat,
                "--http-port",
                str(free),
                "--grpc-port",
                str(side.grpc_port),
            )
            # serve's HTTP port, with a gRPC port another program holds: that one fails (no false ok)
            theirs = doctor(
                label_studio.url,
                label_studio.pat,
                "--http-port",
                str(side.http_port),
                "--grpc-port",
                str(taken),
            )
    finally:
        assert side.terminate() == 0
    assert f"ok   port: OTLP/HTTP 127.0.0.1:{free} is free for serve" in ours.stdout
    assert (
        f"ok   port: OTLP/gRPC 127.0.0.1:{side.grpc_port} is held by a running, healthy serve" in ours.stdout
    )
    assert (
        f"ok   port: OTLP/HTTP 127.0.0.1:{side.http_port} is held by a running, healthy serve"
        in theirs.stdout
    )
    assert f"FAIL port: OTLP/gRPC 127.0.0.1:{taken} is in use by another program" in theirs.stdout


RULES = "rules:\n  - name: everything\n    sample: 1.0\n"
RUN_RULES = "rules:\n  - name: tool-runs\n    match: {run.tools: {exists: true}}\n"
BAD_RULES = "rules:\n  - name: everything\n    sampel: 1.0\n"


@pytest.mark.parametrize(
    ("text", "mode", "via_variable", "problem"),
    [
        (RULES, "pairwise", False, "review rules do not apply to mode pairwise"),
        (RUN_RULES, "prompt", True, "line 3: run.tools in rule 'tool-runs' is a run's field"),
        (BAD_RULES, "chat", False, "line 3: unknown key 'sampel' in rule 'everything'"),
    ],
    ids=["pairwise-takes-no-rules", "run-keys-in-mode-prompt-by-variable", "bad-file"],
)
def test_a_rules_file_serve_would_refuse_is_a_failed_check(
    label_studio, tmp_path, project_name, text, mode, via_variable, problem
):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    args = ("--project-name", project_name, "--mode", mode, "--http-port", "0", "--grpc-port", "0")
    given = {"OTEL_LABEL_STUDIO_REVIEW_RULES": str(path)} if via_variable else {}
    if not via_variable:
        args += ("--review-rules", str(path))
    result = doctor(label_studio.url, label_studio.pat, *args, "--no-ports", **given)
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("FAIL rules:"))
    assert "serve would refuse to start:" in line and problem in line, line
    assert f"-> correct {path} or the mode as it says" in line
    assert result.stdout.strip().endswith("1 problem to fix")
    # serve, given the same, refuses to start with the same problem
    serve = doctor(label_studio.url, label_studio.pat, *args, command="serve", **given)
    assert serve.returncode == 2 and problem in serve.stderr, serve.stderr


def test_a_rules_file_that_fits_the_mode_is_ok(label_studio, tmp_path, project_name):
    path = tmp_path / "rules.yaml"
    path.write_text(RUN_RULES)
    result = doctor(
        label_studio.url,
        label_studio.pat,
        "--project-name",
        project_name,
        "--mode",
        "agent",
        "--review-rules",
        str(path),
        "--no-ports",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok   rules: {path} loads and fits mode agent" in result.stdout


def test_both_langchain_instrumentations_installed_is_a_warning_with_the_fix(label_studio, project_name):
    from importlib.metadata import entry_points

    if len(langchain_instrumentations(entry_points(group="opentelemetry_instrumentor"))) < 2:
        missing("the test extra installs openinference-instrumentation-langchain beside ours: make setup")
    result = doctor(label_studio.url, label_studio.pat, "--project-name", project_name, "--no-ports")
    assert result.returncode == 0, result.stdout  # a warning: each call still makes one task
    line = next(line for line in result.stdout.splitlines() if line.startswith("warn instrumentation:"))
    both = "openinference-instrumentation-langchain and opentelemetry-instrumentation-langchain"
    assert f"{both} are both installed" in line, line
    assert "-> Keep one: pip uninstall openinference-instrumentation-langchain" in line
    assert (
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=langchain" in line
        and "LangchainInstrumentor().instrument()" in line
    )
