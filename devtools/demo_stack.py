"""`make demo` and `make stop`: a local Label Studio, the sidecar, and demo traffic both ways.

    python -m devtools.demo_stack up   --label-studio-bin .venv-labelstudio/bin/label-studio
    python -m devtools.demo_stack down

(from the repository root: ``devtools`` is developer tooling, not part of the installed package)

Everything lives under one state directory (default ``.local/demo``, which git ignores): Label
Studio's SQLite data, the sidecar's spool, logs, the PIDs of the two servers and the local admin's
login. ``up`` reuses servers that are still running, so a second run is quick; ``down`` stops
exactly the processes ``up`` recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import httpx

from . import local_label_studio
from .local_label_studio import ADMIN_EMAIL

PROMPT_PROJECT = "Demo in-process (prompt)"
CHAT_PROJECT = "Demo via sidecar (chat)"
READY_SECONDS = 300
DEMO_APP = Path(__file__).with_name("demo.py")  # run as a script: no import path needed
WIPED = ("label-studio-data", "spool", "label-studio.log", "serve.log", "stack.json")  # what `up` makes


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError("no free port")


class Stack:
    def __init__(self, state_dir: Path):
        self.dir = state_dir
        self.file = state_dir / "stack.json"
        self.state: dict = json.loads(self.file.read_text()) if self.file.exists() else {}

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.file.write_text(json.dumps(self.state, indent=2))
        self.file.chmod(0o600)  # it holds the admin's password and token

    @property
    def ls_url(self) -> str:
        return f"http://127.0.0.1:{self.state['ls_port']}"

    @property
    def serve_url(self) -> str:
        return f"http://127.0.0.1:{self.state['http_port']}"

    def label_studio(self, binary: Path, port: int) -> bool:
        """Start Label Studio unless ours still runs; True when it was reused."""
        if _alive(self.state.get("ls_pid")) and _healthy(f"{self.ls_url}/health"):
            return True
        self.state.setdefault("password", secrets.token_urlsafe(12))
        self.state.setdefault("token", secrets.token_hex(20))
        self.state["ls_port"] = _free_port(self.state.get("ls_port") or port)  # the same port when it is free
        data = self.dir / "label-studio-data"
        data.mkdir(parents=True, exist_ok=True)
        env = local_label_studio.environment(
            data, password=self.state["password"], legacy_token=self.state["token"]
        )
        argv = local_label_studio.command(binary, self.state["ls_port"])
        process = local_label_studio.spawn(argv, env, data, self.dir / "label-studio.log")
        self.state["ls_pid"] = process.pid
        self.save()
        _wait(f"{self.ls_url}/health", process, self.dir / "label-studio.log", READY_SECONDS)
        return False

    def serve(self, port: int, grpc_port: int) -> bool:
        """Start the sidecar unless ours still runs; True when it was reused."""
        if _alive(self.state.get("serve_pid")) and _healthy(f"{self.serve_url}/healthz"):
            return True
        self.state["http_port"] = _free_port(port)
        self.state["grpc_port"] = _free_port(grpc_port)
        env = {**os.environ, "LABEL_STUDIO_URL": self.ls_url, "LABEL_STUDIO_API_KEY": self.state["token"]}
        script = Path(sys.executable).parent / "otel-label-studio"
        command = [
            str(script), "serve",
            "--http-port", str(self.state["http_port"]), "--grpc-port", str(self.state["grpc_port"]),
            "--data-dir", str(self.dir / "spool"), "--project-name", CHAT_PROJECT, "--mode", "chat",
            "--log-format", "text",
        ]  # fmt: skip
        with open(self.dir / "serve.log", "ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.state["serve_pid"] = process.pid
        self.save()
        _wait(f"{self.serve_url}/healthz", process, self.dir / "serve.log", 60)
        return False

    def traffic(self, calls: int) -> None:
        """The demo app twice: in-process (prompt layout) and through the sidecar (chat layout)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LABEL_STUDIO_"))}
        demo = [sys.executable, str(DEMO_APP), "--calls", str(calls)]
        in_process = {
            **base,
            "LABEL_STUDIO_URL": self.ls_url,
            "LABEL_STUDIO_API_KEY": self.state["token"],
            "OTEL_LABEL_STUDIO_PROJECT_NAME": PROMPT_PROJECT,
        }
        via_sidecar = {**base, "OTEL_EXPORTER_OTLP_ENDPOINT": self.serve_url}
        for env, extra in ((in_process, ["--in-process"]), (via_sidecar, [])):
            subprocess.run([*demo, *extra], env=env, check=True, timeout=300)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _queue_depth(self.serve_url) > 0:
            time.sleep(0.2)

    def wipe(self) -> list[str]:
        """Delete what ``up`` keeps (after ``down``): Label Studio's data, the spool, logs, the state file."""
        removed = []
        for name in WIPED:
            path = self.dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            else:
                continue
            removed.append(name)
        self.state = {}
        return removed

    def down(self) -> list[str]:
        stopped = []
        for name, key in (("otel-label-studio serve", "serve_pid"), ("Label Studio", "ls_pid")):
            pid = self.state.pop(key, None)
            if _alive(pid):
                _stop_group(pid)
                stopped.append(f"{name} (pid {pid})")
        if self.state:
            self.save()
        return stopped


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited with {process.returncode}; see {log}:\n{log.read_text()[-2000:]}")
        if _healthy(url):
            return
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f}s; see {log}")


def _queue_depth(serve_url: str) -> float:
    try:
        text = httpx.get(f"{serve_url}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0
    for line in text.splitlines():
        if line.startswith("otel_label_studio_spool_records "):
            return float(line.split()[1])
    return 0


def _stop_group(pid: int) -> None:
    """SIGTERM the process group started for ``pid`` (Label Studio forks workers), then SIGKILL."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
        with contextlib.suppress(ChildProcessError):  # reap it when it is our child
            os.waitpid(pid, os.WNOHANG)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)


def _projects(stack: Stack) -> dict[str, Any]:
    """The demo's two projects that exist, by title."""
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=stack.ls_url, api_key=stack.state["token"])
    projects = {}
    for title in (PROMPT_PROJECT, CHAT_PROJECT):
        pager: Any = ls.projects.list(title=title)
        found = [project for project in pager if project.title == title]
        if found:
            projects[title] = found[0]
    return projects


def _report(stack: Stack) -> list[str]:
    projects = _projects(stack)
    lines = []
    for title in (PROMPT_PROJECT, CHAT_PROJECT):
        project = projects.get(title)
        if project is not None:
            lines.append(f"  {title}: {stack.ls_url}/projects/{project.id}  ({project.task_number} tasks)")
        else:
            lines.append(f"  {title}: no project yet (see {stack.dir}/serve.log)")
    return lines


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is under it (as a command types it)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def handover(stack: Stack, project_ids: dict[str, int]) -> list[str]:
    """What the commands need, printed at the end of ``up``: Label Studio's URL, the login, the API
    key, the spool, and commands that work as printed."""
    script = _shown(Path(sys.executable).parent / "otel-label-studio")
    spool = _shown(stack.dir / "spool")
    chat = project_ids.get(CHAT_PROJECT)
    lines = [
        "",
        f"Label Studio: {stack.ls_url}  (log in as {ADMIN_EMAIL} with password {stack.state['password']})",
        f"API key:      {stack.state['token']}  (the admin's legacy token)",
        f"Sidecar:      {stack.serve_url} (OTLP/HTTP), 127.0.0.1:{stack.state['grpc_port']} (OTLP/gRPC)",
        f"Spool:        {spool}",
        "Projects:     "
        + ", ".join(
            f"{project_ids[title]} = {title}"
            for title in (PROMPT_PROJECT, CHAT_PROJECT)
            if title in project_ids
        ),
        "",
        "Try the commands on it (copy-paste):",
        f"  export LABEL_STUDIO_URL={stack.ls_url} LABEL_STUDIO_API_KEY={stack.state['token']}",
    ]
    if chat is not None:
        lines.append(f"  {script} report --project-id {chat}")
    lines.append(f"  {script} spool stats --data-dir {spool}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.demo_stack", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument(
        "--wipe",
        action="store_true",
        help="with down: also delete the demo's Label Studio data, spool and logs (a fresh start)",
    )
    parser.add_argument("--state-dir", type=Path, default=Path(".local/demo"), help="default: .local/demo")
    parser.add_argument("--label-studio-bin", type=Path, default=Path(".venv-labelstudio/bin/label-studio"))
    parser.add_argument(
        "--ls-port", type=int, default=8080, help="preferred Label Studio port (default 8080)"
    )
    parser.add_argument("--http-port", type=int, default=4318, help="preferred OTLP/HTTP port (default 4318)")
    parser.add_argument("--grpc-port", type=int, default=4317, help="preferred OTLP/gRPC port (default 4317)")
    parser.add_argument("--calls", type=int, default=6, help="LLM calls per demo run (default 6)")
    args = parser.parse_args(argv)
    stack = Stack(args.state_dir.resolve())
    if args.action == "down":
        stopped = stack.down()
        print("stopped " + ", ".join(stopped) if stopped else "nothing of the demo was running")
        if args.wipe:
            removed = stack.wipe()
            print(f"wiped {', '.join(removed)} in {stack.dir}" if removed else "nothing to wipe")
        return 0
    if args.wipe:
        parser.error("--wipe goes with down")
    binary = args.label_studio_bin.resolve()  # Label Studio runs from its data directory
    if not binary.exists():
        parser.error(f"no Label Studio at {args.label_studio_bin}: run `make demo` (it installs one)")
    started = time.monotonic()
    print("Label Studio ...", "reused" if stack.label_studio(binary, args.ls_port) else "started")
    print(
        "otel-label-studio serve ...", "reused" if stack.serve(args.http_port, args.grpc_port) else "started"
    )
    earlier = sum(int(project.task_number or 0) for project in _projects(stack).values())
    if earlier:
        print(
            f"The demo projects already hold {earlier} tasks from earlier runs: this run adds {args.calls} "
            "more to each. For a fresh start: `make demo-reset`."
        )
    stack.traffic(args.calls)
    print(f"\nDemo traffic sent in {time.monotonic() - started:.0f}s. Projects:")
    for line in _report(stack):
        print(line)
    for line in handover(stack, {title: int(project.id) for title, project in _projects(stack).items()}):
        print(line)
    print("\nEverything keeps running; `make stop` stops it. State and logs: " + str(stack.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
