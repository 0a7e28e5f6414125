"""Run ``otel-label-studio serve`` as a real process (the console script) for the receiver tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import httpx

from tests.support import secrets_watch
from tests.support.labelstudio_server import LabelStudioServer, free_port

SCRIPT = Path(sys.executable).parent / "otel-label-studio"
START_TIMEOUT_SECONDS = 90  # a loaded 2-core machine imports the package slowly


@dataclass
class Sidecar:
    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    data_dir: Path
    log_path: Path
    token: str | None
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def traces_url(self) -> str:
        return f"{self.http_url}/v1/traces"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, and the exit status (the process must stop within ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup, as when a node dies."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def respawn(self, command: Sequence[str] | None = None, wait: bool = True) -> None:
        """Start again after it stopped: same ports, same data directory (the same spool)."""
        assert self.process.poll() is not None
        full = [
            *(command or self.command[: self.command.index("serve")]),
            *self.command[self.command.index("serve") :],
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(full, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            wait_until_healthy(self)


def start(
    label_studio: LabelStudioServer,
    data_dir: Path,
    project_name: str,
    *,
    token: str | None = "sidecar-test-token-0123456789",
    api_key: str | None = None,
    args: Sequence[str] = (),
    http_port: int | None = None,
    grpc_port: int | None = None,
    url: str | None = None,
    command: Sequence[str] | None = None,
    wait: bool = True,
) -> Sidecar:
    """Start serve; ``url`` points it elsewhere than the Label Studio (a proxy), ``command`` replaces
    the console script (a wrapper that injects a crash)."""
    secrets_watch.register(token, api_key or label_studio.pat)
    http_port = http_port or free_port()
    grpc_port = grpc_port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-serve-{http_port}.log"
    env = {
        **os.environ,
        "LABEL_STUDIO_URL": url or label_studio.url,
        "LABEL_STUDIO_API_KEY": api_key or label_studio.pat,
        "OTEL_LABEL_STUDIO_LOG_LEVEL": "DEBUG",
    }
    if token:
        env["OTEL_LABEL_STUDIO_AUTH_TOKEN"] = token
    command = [
        *(command or [str(SCRIPT)]),
        "serve",
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
        "--data-dir",
        str(data_dir),
        "--project-name",
        project_name,
        *args,
    ]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    sidecar = Sidecar(process, http_port, grpc_port, data_dir, log_path, token, command, env)
    if wait:
        wait_until_healthy(sidecar)
    return sidecar


def wait_until_healthy(sidecar: Sidecar) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if sidecar.process.poll() is not None:
            raise RuntimeError(f"serve exited with {sidecar.process.returncode}:\n{sidecar.logs()}")
        try:
            if httpx.get(f"{sidecar.http_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sidecar.kill()
    raise RuntimeError(f"serve did not become healthy in {START_TIMEOUT_SECONDS}s:\n{sidecar.logs()}")
