"""One error style across commands (issue 27): each command that takes a Label Studio URL, key,
project id or output file, given a bad one, says so at once, in the same words and with the same
exit status as every other command, and never prints a traceback.

Real subprocesses of the command line against the session's real Label Studio; the wrong URL is a
plain ``http.server`` on loopback (it answers, but not as Label Studio), the unreachable one a
closed port. The shared words are written out here, not imported from the code under test.
"""

from __future__ import annotations

import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from otel_label_studio.receiver.replay import frame
from otel_label_studio.store.spool import Spool
from tests.support.labelstudio_server import free_port
from tests.support.otlp_requests import llm_spans

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "otel_label_studio.cli"]
BAD_KEY = "0123456789abcdef0123456789abcdef01234567"
AT_ONCE = 20.0  # seconds: the interpreter's start on a busy machine, never the 60 s of retries
SECRET = "a-webhook-secret-of-32-characters-or-more"

#: The commands that talk to Label Studio about one project, with what each needs besides it.
COMMANDS = {
    "export": ["export", "--format", "sft", "--output", "{tmp}/out.jsonl", "--no-progress"],
    "report": ["report", "--no-progress"],
    "replay": ["replay", "{capture}", "--no-progress"],
    "webhook": ["webhook", "--target", "http://127.0.0.1:4318", "--webhook-secret", SECRET],
    "spool drain": ["spool", "drain", "--data-dir", "{spool}", "--no-progress"],
    "doctor": ["doctor", "--no-ports"],
}
BAD_INPUTS = ("missing project", "unreachable URL", "wrong URL", "bad key")
#: The commands that write a file: the option naming it.
OUTPUTS = {"export": "--output", "report": "--html"}
UNWRITABLE = {
    "missing directory": (
        "{tmp}/no/such/dir/out.jsonl",
        "cannot write {path}: no directory {tmp}/no/such/dir",
    ),
    "a directory": ("{tmp}", "cannot write {path}: it is a directory"),
    "no permission": ("/sys/otel-label-studio-out.jsonl", "cannot write {path}: permission denied"),
}


@pytest.fixture(scope="module")
def not_label_studio() -> Iterator[str]:
    """A web server on loopback that answers every path, but is not Label Studio."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=os.devnull + "-none")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def project(label_studio) -> int:
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=label_studio.url, api_key=label_studio.legacy_token)
    config = (
        '<View><Text name="prompt" value="$prompt"/>'
        '<TextArea name="response" toName="prompt" value="$response"/></View>'
    )
    return int(ls.projects.create(title="cli-errors", label_config=config).id or 0)


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    capture = tmp_path / "capture.pb"
    capture.write_bytes(frame([llm_spans(["What is OTLP?"])]))
    spool = tmp_path / "spool"
    Spool.in_directory(str(spool)).close()
    return {"tmp": str(tmp_path), "capture": str(capture), "spool": str(spool)}


def run(args: list[str], url: str, key: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": key}
    env.pop("LABEL_STUDIO_PROJECT_ID", None)
    started = time.monotonic()
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=90)
    return result, time.monotonic() - started


FIXES = {
    "missing project": "check --project-id (or LABEL_STUDIO_PROJECT_ID), and that LABEL_STUDIO_URL and the "
    "key are those of the Label Studio that holds the project (a project of another organization answers "
    "the same)",
    "unreachable URL": "start Label Studio, or set LABEL_STUDIO_URL (or --url) to where it runs",
    "wrong URL": "set LABEL_STUDIO_URL (or --url) to Label Studio's base URL, scheme://host:port "
    "(http://localhost:8080)",
    "bad key": "check LABEL_STUDIO_API_KEY: copy the token from Label Studio > Account & Settings",
}


def bad_setup(bad: str, label_studio, project: int, not_label_studio: str) -> tuple[str, str, int, str]:
    """The URL, key and project id of a bad input, and the words every command starts to say for it
    (its fix, in FIXES, ends the line)."""
    url, key = label_studio.url, label_studio.legacy_token
    if bad == "missing project":
        return url, key, 999, f"no project 999 on {url}"
    if bad == "unreachable URL":
        closed = f"http://127.0.0.1:{free_port()}"
        return closed, key, project, f"cannot reach Label Studio at {closed} ("
    if bad == "wrong URL":
        return not_label_studio, key, project, f"{not_label_studio} does not answer as Label Studio"
    assert bad == "bad key"
    return url, BAD_KEY, project, f"Label Studio at {url} refused the legacy token (HTTP 401"


@pytest.mark.parametrize("bad", BAD_INPUTS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_url_key_or_project_is_said_at_once_in_the_same_words(
    command, bad, label_studio, project, not_label_studio, places
):
    url, key, project_id, words = bad_setup(bad, label_studio, project, not_label_studio)
    args = [part.format(**places) for part in COMMANDS[command]] + ["--project-id", str(project_id)]
    result, took = run(args, url, key)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert took < AT_ONCE, f"{command} took {took:.0f}s: {output}"
    if command == "doctor":  # doctor lists findings: exit status 1 when one must be fixed
        assert result.returncode == 1, output
        failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
        assert any(words in line and line.endswith(f" -> {FIXES[bad]}") for line in failed), output
        return
    assert result.returncode == 2, output
    prog = "otel-label-studio " + command
    assert result.stderr.strip() == next(
        line for line in result.stderr.splitlines() if line.startswith(f"{prog}: error: ")
    ), result.stderr  # one line, no usage text
    assert words in result.stderr and result.stderr.strip().endswith(f": {FIXES[bad]}"), result.stderr
    assert "usage:" not in output


@pytest.mark.parametrize("case", UNWRITABLE)
@pytest.mark.parametrize("command", OUTPUTS)
def test_an_unwritable_output_is_said_at_once_in_the_same_words(command, case, label_studio, project, places):
    template, said = UNWRITABLE[case]
    path = template.format(**places)
    words = said.format(path=path, **places)
    args = [part.format(**places) for part in COMMANDS[command]] + ["--project-id", str(project)]
    if command == "export":
        args[args.index("--output") + 1] = path
    else:
        args += ["--html", path]
    result, took = run(args, label_studio.url, label_studio.legacy_token)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert took < AT_ONCE, output
    assert result.returncode == 2, output
    fix = "give a file in a directory that exists and you may write"
    assert result.stderr.strip() == f"otel-label-studio {command}: error: {words}: {fix}", result.stderr
    assert not os.path.isfile(path) or case == "a directory"


@pytest.mark.parametrize("bad", BAD_INPUTS)
def test_serve_says_a_bad_url_key_or_project_at_start_and_keeps_running(
    bad, label_studio, project, not_label_studio, tmp_path
):
    """serve is a sidecar: it takes spans into its spool while Label Studio is away, so it keeps
    running; what is wrong is logged at once, in the same words, not at the first span."""
    url, key, project_id, words = bad_setup(bad, label_studio, project, not_label_studio)
    env = {**os.environ, "LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": key}
    log = tmp_path / "serve.log"
    command = [*CLI, "serve", "--http-port", str(free_port()), "--grpc-port", str(free_port()),
               "--data-dir", str(tmp_path / "data"), "--project-id", str(project_id)]  # fmt: skip
    with open(log, "wb") as out:
        serve = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + AT_ONCE
        while words not in log.read_text() and time.monotonic() < deadline:
            assert serve.poll() is None, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert words in text and FIXES[bad] in text, text
        assert "Traceback" not in text, text
        assert serve.poll() is None, text  # still running: Label Studio may be fixed later
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(30)


def test_a_usage_error_is_one_line_with_where_the_help_is():
    result = subprocess.run([*CLI, "export", "--format", "sft"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "otel-label-studio export: error: the following arguments are required: --output "
        "(see otel-label-studio export --help)"
    )
    extra = subprocess.run([*CLI, "webhook", "--no-such-option"], capture_output=True, text=True, timeout=60)
    assert extra.returncode == 2 and len(extra.stderr.strip().splitlines()) == 1, extra.stderr
    assert extra.stderr.startswith("otel-label-studio webhook: error: ")
