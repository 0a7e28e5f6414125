"""The ``otel-label-studio`` command: help, bad options stopping at start, the spool commands."""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Iterator

import pytest

from otel_label_studio import config
from otel_label_studio.cli.options import SERVE_SETTINGS
from otel_label_studio.config import parse_size
from otel_label_studio.feedback.outbox import FeedbackOutbox
from otel_label_studio.store.spool import Spool
from tests.support.builders import record
from tests.support.prerequisites import REPO_ROOT

SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")
KEY = "cli-test-key-0123456789abcdef0123456789ab"
ZERO_TIMEOUT = {"OTEL_LABEL_STUDIO_TIMEOUT": "0"}


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_LABEL_STUDIO_", "LABEL_STUDIO_"))}
    base["LABEL_STUDIO_API_KEY"] = KEY
    return subprocess.run(
        [SCRIPT, *args], env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def test_help_explains_every_option_and_its_variable():
    top = run("--help")
    assert top.returncode == 0 and "serve" in top.stdout and "spool" in top.stdout
    serve = run("serve", "--help")
    assert serve.returncode == 0
    text = " ".join(serve.stdout.split())
    for name in SERVE_SETTINGS:  # derived from the settings model: every setting serve reads
        spec = config.spec(name)
        assert spec.env in text
        assert spec.flag is None or spec.flag in text
    assert "LABEL_STUDIO_API_KEY" in text and "x-label-studio-project" in text
    for name in ("stats", "dead-letters", "retry"):
        assert run("spool", name, "--help").returncode == 0


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--http-port", "70000"], {}, "--http-port: '70000' is not a port"),
        (["--grpc-port", "x"], {}, "--grpc-port: invalid literal"),
        (
            [],
            {"OTEL_LABEL_STUDIO_MODE": "dialogue"},
            "OTEL_LABEL_STUDIO_MODE: 'dialogue' is not one of prompt, chat",
        ),
        (["--mode", "dialogue"], {}, "--mode: 'dialogue' is not one of prompt, chat"),
        (["--max-body-bytes", "lots"], {}, "--max-body-bytes: 'lots' is not a size"),
        (["--project-id", "0"], {}, "--project-id: '0' must be a positive whole number"),
        (
            ["--project-config", "/nonexistent/config.xml"],
            {},
            "label config file /nonexistent/config.xml cannot be read",
        ),
        (["--url", "localhost:8080"], {}, "has no scheme: add http:// (http://localhost:8080)"),
        (
            ["--url", "http://127.0.0.1:8080/projects/1"],
            {},
            "--url: 'http://127.0.0.1:8080/projects/1' is a page of Label Studio, "
            "not its base URL: use http://127.0.0.1:8080",
        ),
        (
            [],
            {"LABEL_STUDIO_URL": "http://127.0.0.1:8080/projects/1"},
            "not its base URL: use http://127.0.0.1:8080",
        ),
        ([], {"LABEL_STUDIO_API_KEY": ""}, "LABEL_STUDIO_API_KEY is not set"),
        (["--include-errors", "maybe"], {}, "--include-errors"),
        (
            ["--redact", "(unclosed"],
            {},
            "--redact: redact pattern '(unclosed' is not a valid regular expression",
        ),
        ([], {"OTEL_LABEL_STUDIO_REDACT": "[1]"}, "OTEL_LABEL_STUDIO_REDACT: must be a JSON list of strings"),
    ],
)
def test_bad_options_stop_at_start_with_what_to_fix(tmp_path, args, env, message):
    result = run("serve", "--data-dir", str(tmp_path / "data"), *args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert KEY not in result.stderr + result.stdout


def test_a_config_that_cannot_take_tasks_stops_at_start(tmp_path):
    config = tmp_path / "config.xml"
    config.write_text("<View><Image name='img' value='$image'/></View>")
    result = run("serve", "--data-dir", str(tmp_path / "data"), "--project-config", str(config))
    assert result.returncode == 2
    assert "project config:" in result.stderr


def test_a_port_in_use_stops_at_start(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(
            "serve", "--data-dir", str(tmp_path / "data"), "--http-port", str(port), "--grpc-port", "0"
        )
    assert result.returncode == 2
    assert f"cannot listen for OTLP/HTTP on 127.0.0.1:{port}" in result.stderr
    assert "usage:" not in result.stderr  # what to fix, not the command line's syntax


def test_an_unwritable_data_dir_stops_at_start(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("serve", "--data-dir", str(blocker / "data"), "--http-port", "0", "--grpc-port", "0")
    assert result.returncode == 2
    assert "cannot create data directory" in result.stderr


def test_version_and_help_say_what_is_true():
    version = run("--version")
    assert (
        version.returncode == 0
        and version.stdout.strip() == f"otel-label-studio {metadata.version('otel-label-studio')}"
    )
    serve = " ".join(run("serve", "--help").stdout.split())
    assert "default: 64MiB" in serve and "default: 1GiB" in serve and "67108864" not in serve
    stats = " ".join(run("spool", "stats", "--help").stdout.split())
    assert "created if missing" not in stats and "it must exist" in stats
    top = " ".join(run("--help").stdout.split())
    assert "win rates" in top  # report on a pairwise project: the command list says it, not agreement alone


def test_pyproject_license_is_an_spdx_expression():
    text = (REPO_ROOT / "pyproject.toml").read_text()
    assert re.search(r'^license = "Apache-2.0"$', text, re.MULTILINE)  # the table form is deprecated
    assert 'requires = ["setuptools>=77"]' in text  # the first setuptools to read the string form


def test_sizes():
    from otel_label_studio.config import format_size

    assert format_size(64 * 1024 * 1024) == "64MiB" and format_size(1 << 30) == "1GiB"
    assert format_size(1000) == "1000" and parse_size(format_size(3 * 1024)) == 3 * 1024
    assert parse_size("1048576") == 1048576
    assert parse_size("64MiB") == 64 * 1024 * 1024
    assert parse_size("10MB") == 10_000_000
    assert parse_size("1gib") == 1 << 30
    with pytest.raises(ValueError):
        parse_size("0")


def test_spool_commands(tmp_path):
    data = tmp_path / "data"
    spool = Spool.in_directory(str(data))
    spool.add([record(1), record(2), record(3)])
    first, second, third = spool.take(10)
    spool.dead(first, "HTTP 400: task data lacks $prompt")
    spool.delivered([second], project_id=1)
    spool.close()
    assert (
        json.loads(run("spool", "stats", "--data-dir", str(data), "--json").stdout)["feedback_events_waiting"]
        == 0
    )  # serve took no webhooks: no outbox
    outbox = FeedbackOutbox.in_directory(str(data))
    outbox.put(b"logs request", 2)
    outbox.close()

    stats = run("spool", "stats", "--data-dir", str(data), "--json")
    assert stats.returncode == 0, stats.stderr
    values = json.loads(stats.stdout)
    assert (values["depth"], values["dead_letters"], values["delivered_remembered"]) == (1, 1, 1)
    assert values["feedback_events_waiting"] == 2
    text = run("spool", "stats", "--data-dir", str(data)).stdout
    assert "waiting:          1 record (" in text and "feedback:         2 evaluation events" in text

    letters = run("spool", "dead-letters", "--data-dir", str(data))
    assert letters.returncode == 0
    assert first.record.span_id in letters.stdout and "task data lacks $prompt" in letters.stdout

    retried = run("spool", "retry", "--data-dir", str(data), "--json")
    assert json.loads(retried.stdout) == {"requeued": 1}
    after = json.loads(run("spool", "stats", "--data-dir", str(data), "--json").stdout)
    assert (after["depth"], after["dead_letters"]) == (2, 0)
    assert run("spool", "dead-letters", "--data-dir", str(data)).stdout.strip() == "no dead letters"


def test_spool_commands_say_when_there_is_no_spool(tmp_path):
    result = run("spool", "stats", "--data-dir", str(tmp_path / "nothing"))
    assert result.returncode == 2
    assert "no spool at" in result.stderr and "--data-dir" in result.stderr


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--timeout", "0"], {}, "--timeout: '0' must be a number of seconds above 0"),
        (["--import-timeout", "0"], {}, "--import-timeout: '0' must be a number of seconds above 0"),
        ([], ZERO_TIMEOUT, "OTEL_LABEL_STUDIO_TIMEOUT: '0' must be a number of seconds above 0"),
    ],
)
def test_a_zero_timeout_is_refused_not_replaced(tmp_path, args, env, message):
    """`--timeout 0` used to pass the command line and be replaced by the default without a word."""
    served = run(
        "serve", "--data-dir", str(tmp_path / "data"), "--http-port", "0", "--grpc-port", "0", *args, env=env
    )
    assert served.returncode == 2 and message in served.stderr
    if args[:1] != ["--import-timeout"]:
        checked = run("doctor", "--no-ports", "--url", "http://127.0.0.1:1", *args, env=env)
        assert checked.returncode == 2 and message in checked.stderr


@pytest.mark.parametrize("command", ["export", "webhook"])
def test_export_and_webhook_read_the_url_and_timeout_like_every_command(command):
    extra = ["--format", "sft", "--output", "-"] if command == "export" else ["--target", "http://b:4318"]
    page = run(command, "--project-id", "1", *extra, "--url", "http://127.0.0.1:1/projects/1")
    assert page.returncode == 2
    assert "--url: 'http://127.0.0.1:1/projects/1' is a page of Label Studio, not its base URL: use " in (
        page.stderr
    )
    zero = run(
        command, "--project-id", "1", *extra, env={"LABEL_STUDIO_URL": "http://127.0.0.1:1", **ZERO_TIMEOUT}
    )
    assert zero.returncode == 2 and "OTEL_LABEL_STUDIO_TIMEOUT: '0' must be a number" in zero.stderr
    unnamed = run(command, *extra, env={"LABEL_STUDIO_URL": "http://127.0.0.1:1"})
    assert unnamed.returncode == 2
    assert "--project-id (or LABEL_STUDIO_PROJECT_ID) is required" in unnamed.stderr


def test_replay_reads_the_redact_variable_like_serve(tmp_path):
    """replay used to pass redact=() and so ignored OTEL_LABEL_STUDIO_REDACT."""
    saved = tmp_path / "none.jsonl"
    saved.write_text("")
    result = run(
        "replay",
        str(saved),
        "--no-progress",
        env={"LABEL_STUDIO_URL": "http://127.0.0.1:1", "OTEL_LABEL_STUDIO_REDACT": "[1]"},
    )
    assert result.returncode == 2
    assert "OTEL_LABEL_STUDIO_REDACT: must be a JSON list of strings" in result.stderr


def test_replay_offers_only_the_modes_it_takes(tmp_path):
    """replay --help listed pairwise under --mode, and then refused it."""
    saved = tmp_path / "none.jsonl"
    saved.write_text("")
    help_text = " ".join(run("replay", "--help").stdout.split())
    mode = help_text[help_text.index("--mode MODE ") : help_text.index("--project-config FILE ")]
    assert "agent" in mode and "pairwise (two answers" not in mode, mode
    assert "not pairwise: replay does not form pairs" in mode
    flag = run("replay", str(saved), "--mode", "pairwise", "--no-progress")
    assert flag.returncode == 2
    assert "--mode: invalid choice: 'pairwise' (choose from 'prompt', 'chat', 'agent')" in flag.stderr
    variable = run("replay", str(saved), "--no-progress", env={"OTEL_LABEL_STUDIO_MODE": "pairwise"})
    assert variable.returncode == 2
    assert "OTEL_LABEL_STUDIO_MODE=pairwise: replay does not form pairs" in variable.stderr


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command that runs (serve, spool stats, rules check, ...), with its parser."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
    for action in subparsers:
        for name, sub in action.choices.items():
            yield from _commands(sub, (*path, name))


def test_every_option_of_every_command_says_what_it_does_and_its_default():
    from otel_label_studio.cli import build_parser

    problems = []
    commands = list(_commands(build_parser()))
    assert len(commands) >= 11  # serve doctor replay export webhook report, spool x4, rules check
    for path, parser in commands:
        shown = " ".join(run(*path, "--help").stdout.split())  # what the real command prints
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS or action.dest == "help":
                continue
            flag, text = action.option_strings[0], " ".join((action.help or "").split())
            where = f"{' '.join(path)} {flag}"
            if len(text) < 12:
                problems.append(f"{where}: no help that says what it does ({text!r})")
            takes_value = action.nargs != 0
            if takes_value and not action.required and "default" not in text and "required" not in text:
                problems.append(f"{where}: takes a value but its help names no default: {text!r}")
            if "shutdown()" in text or "the argument is the XML itself" in text:
                problems.append(f"{where}: the in-process exporter's meaning, not this command's: {text!r}")
            if text and text.replace("%%", "%")[:40] not in shown:
                problems.append(f"{where}: its help is not in `{' '.join(path)} --help`")
    assert not problems, "\n".join(problems)
