"""`make demo` ends with what the commands need: Label Studio's URL, the login, the API key, the
spool, and commands that work as printed (``devtools.demo_stack.handover``)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from devtools.demo_stack import CHAT_PROJECT, PROMPT_PROJECT, Stack, handover
from otel_label_studio import config
from otel_label_studio.cli import main
from otel_label_studio.store.spool import Spool


def demo_stack(state_dir: Path) -> Stack:
    stack = Stack(state_dir)
    stack.state.update(
        ls_port=8080, http_port=4318, grpc_port=4317, password="pw-123", token="f" * 40, ls_pid=1, serve_pid=2
    )
    return stack


def test_the_handover_names_the_url_login_key_spool_and_commands_that_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    stack = demo_stack(tmp_path / ".local" / "demo")
    Spool.in_directory(str(stack.dir / "spool")).close()  # what serve made
    lines = handover(stack, {PROMPT_PROJECT: 1, CHAT_PROJECT: 2})
    text = "\n".join(lines)
    assert "Label Studio: http://127.0.0.1:8080  (log in as admin@example.com with password pw-123)" in text
    assert f"API key:      {'f' * 40}" in text
    assert "Spool:        .local/demo/spool" in text
    assert f"Projects:     1 = {PROMPT_PROJECT}, 2 = {CHAT_PROJECT}" in text
    commands = [line.strip() for line in lines[lines.index("Try the commands on it (copy-paste):") + 1 :]]
    export, report, stats = commands
    words = shlex.split(export)
    assert words[0] == "export"
    variables = dict(word.split("=", 1) for word in words[1:])
    assert variables == {
        config.spec("url").env: "http://127.0.0.1:8080",
        config.spec("api_key").env: "f" * 40,
    }
    script = str(Path(sys.executable).parent / "otel-label-studio")
    assert report == f"{script} report --project-id 2"
    assert shlex.split(stats)[1:] == ["spool", "stats", "--data-dir", ".local/demo/spool"]
    capsys.readouterr()
    assert main(shlex.split(stats)[1:]) == 0  # as printed
    assert "spool:            " in capsys.readouterr().out


def test_spool_commands_find_the_one_spool_under_the_directory_given(tmp_path, capsys):
    Spool.in_directory(str(tmp_path / "demo" / "spool")).close()
    assert main(["spool", "stats", "--data-dir", str(tmp_path / "demo")]) == 0
    said = capsys.readouterr()
    assert f"spool:            {tmp_path / 'demo' / 'spool' / 'spool.sqlite3'}" in said.out
    assert f"no spool in {tmp_path / 'demo'}; using the one in {tmp_path / 'demo' / 'spool'}" in said.err
    Spool.in_directory(str(tmp_path / "demo" / "other")).close()
    assert main(["spool", "stats", "--data-dir", str(tmp_path / "demo")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"otel-label-studio spool stats: error: no spool in {tmp_path / 'demo'}, but one in each"
    )
    assert main(["spool", "stats", "--data-dir", str(tmp_path / "empty")]) == 2
    assert "no spool at " in capsys.readouterr().err
