"""Start a real Label Studio for the tests, on loopback, from its own virtual environment.

The server gets a fresh SQLite data directory, a preset admin, legacy tokens enabled at
organization creation (so both token kinds can be tested) and a Personal Access Token minted
through the same login flow a user goes through in the browser.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from devtools import local_label_studio
from devtools.local_label_studio import ADMIN_EMAIL

ADMIN_PASSWORD = "otel-label-studio-test"
READY_TIMEOUT_SECONDS = 300


@dataclass
class LabelStudioServer:
    url: str
    legacy_token: str
    pat: str
    email: str = ADMIN_EMAIL
    password: str = ADMIN_PASSWORD
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    command: list[str] | None = None
    env: dict[str, str] | None = None
    data_dir: Path | None = None

    def restart(self) -> None:
        """Start this server again after ``stop()``: same port, same data, same tokens."""
        assert self.command is not None and self.process is not None and self.process.poll() is not None
        self.process = local_label_studio.spawn(
            self.command, self.env or {}, self.data_dir or Path("."), self.log_path
        )
        wait_ready(self.url, self.process, self.log_path)

    def stop(self) -> None:
        """Stop the server this session started (its process group, by PID)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def nowhere() -> LabelStudioServer:
    """A Label Studio nobody answers (a free loopback port): for tests of the receiver alone,
    where delivery only waits."""
    return LabelStudioServer(f"http://127.0.0.1:{free_port()}", "", "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(repo_root: Path) -> Path | None:
    configured = os.environ.get("OTEL_LS_TEST_LABEL_STUDIO_BIN")
    candidates = [Path(configured)] if configured else []
    candidates.append(repo_root / ".venv-labelstudio" / "bin" / "label-studio")
    return next((c for c in candidates if c.is_file()), None)


def start(binary: Path, data_dir: Path) -> LabelStudioServer:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    legacy_token = secrets.token_hex(20)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "label-studio.log"
    env = local_label_studio.environment(data_dir, password=ADMIN_PASSWORD, legacy_token=legacy_token)
    command = local_label_studio.command(binary, port)
    process = local_label_studio.spawn(command, env, data_dir, log_path)
    server = LabelStudioServer(
        url, legacy_token, "", process=process, log_path=log_path, command=command, env=env, data_dir=data_dir
    )
    try:
        wait_ready(url, process, log_path)
        server.pat = mint_pat(url, ADMIN_EMAIL, ADMIN_PASSWORD)
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(url: str, process: subprocess.Popen[bytes] | None, log_path: Path | None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path else ""
            raise RuntimeError(f"Label Studio exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"Label Studio at {url} not ready after {READY_TIMEOUT_SECONDS}s")


def mint_pat(url: str, email: str, password: str) -> str:
    """Log in as a user would and create a Personal Access Token (a JWT refresh token)."""
    with httpx.Client(base_url=url, timeout=30) as client:
        client.get("/user/login/")
        response = client.post(
            "/user/login/",
            data={
                "csrfmiddlewaretoken": client.cookies.get("csrftoken", ""),
                "email": email,
                "password": password,
            },
            headers={"Referer": f"{url}/user/login/"},
        )
        if response.status_code not in (200, 302):
            raise RuntimeError(f"login failed: HTTP {response.status_code}")
        response = client.post(
            "/api/token/",
            headers={"X-CSRFToken": client.cookies.get("csrftoken", ""), "Referer": f"{url}/"},
        )
        response.raise_for_status()
        return str(response.json()["token"])
